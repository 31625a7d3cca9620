"""Reports as of a past day use the world as it stood then (issue 15, ADR 8).

A report of day D, made again after later roster moves (a learner to another school, a school
to another district), changed grades, ended and deleted
enrollments, new and deleted requirements, elective choices made and withdrawn, an elective group
changed, a standard retired and another moved, the calculation policy changed and removed, the
scale changed (levels and threshold), new evidence recorded after D but dated before it, and
overrides set after D, gives the same bytes, for every report and format, through the report
service (the code the pages, the API, the worker and ``manage.py generate_report`` run). The
same report of today shows every one of those changes, so the comparison can fail.
"""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from learners.models import Enrollment, Learner, Organisation
from mastery import services as mastery_services
from mastery.models import MasteryOverride
from reports.models import ReportKind
from reports.selectors import ReportScope
from reports.services import generate_to_path
from reports.state_export import write_state_export
from reports.transcript import transcript
from standards import services as standards_services
from standards.models import (
    CalculationPolicy,
    ChoiceStatus,
    ElectiveChoice,
    ElectiveGroup,
    Requirement,
    Standard,
    StandardStatus,
)
from standards.validation import LevelInput
from tests.factories import LearnerFactory
from tests.journeys.helpers import run_worker
from tests.reports.world import World, add_rating, end_of, noon, remove, settle

pytestmark = pytest.mark.django_db


def _levels(*points: int) -> list[LevelInput]:
    colours = ["#1565c0", "#2e7d32", "#f9a825", "#c62828", "#6a1b9a"]
    return [
        LevelInput(points=Decimal(p), label=f"Level {p}", colour=colours[i], cut_point=Decimal(p))
        for i, p in enumerate(sorted(points, reverse=True))
    ]


@dataclass(frozen=True)
class Before:
    """What stood on day D besides the world: the school's own scale and policy, an override
    set the day before D."""

    policy: CalculationPolicy
    override: MasteryOverride


def _before(world: World) -> Before:
    cast = world.cast
    standards_services.update_scale(
        actor=cast.school_admin, organisation=cast.school, levels=_levels(4, 3, 2, 1),
        mastery_threshold="3",
    )  # fmt: skip
    policy = standards_services.set_policy(
        actor=cast.school_admin, organisation=cast.school, method="decaying_average",
        params={"weight": 75}, min_evidence=1,
    )  # fmt: skip
    override = mastery_services.set_override(
        actor=cast.school_admin, learner=cast.own, standard=world.d, score="4",
        reason="Portfolio reviewed with the department",
    )  # fmt: skip
    MasteryOverride.objects.filter(pk=override.pk).update(
        set_at=noon(world.day - datetime.timedelta(days=1))
    )
    settle(world)
    return Before(policy, override)


def _scopes(world: World) -> dict[str, ReportScope]:
    cast, day, term = world.cast, world.day, world.term
    scopes = {
        f"state.{f}": ReportScope(ReportKind.STATE_EXPORT, f, day, cast.district, term)
        for f in ("csv", "json", "ndjson")
    }
    for f in ("csv", "xlsx"):
        scopes[f"school.{f}"] = ReportScope(ReportKind.SCHOOL_REPORT, f, day, cast.school, term)
        scopes[f"gradebook.{f}"] = ReportScope(
            ReportKind.SECTION_EXPORT, f, day, section=cast.section
        )
        scopes[f"equity.{f}"] = ReportScope(ReportKind.EQUITY_AUDIT, f, day, cast.district, term)
    for learner in (cast.own, cast.same_section):
        scopes[f"transcript.{learner.pk}.pdf"] = ReportScope(
            ReportKind.TRANSCRIPT, "pdf", day, term=term, learner=learner
        )
    return scopes


def _generate(scopes: dict[str, ReportScope], folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, scope in scopes.items():
        path = folder / name
        generate_to_path(scope=scope, output=path)
        out[name] = path.read_bytes()
    return out


def _later(world: World) -> Standard:
    """Every kind of change after day D (made now); returns the standard created and required
    after D."""
    cast, day = world.cast, world.day
    # The roster: a move to another school, a new grade, a learner who left, enrollments ended
    # and deleted.
    Learner.objects.filter(pk=cast.same_section.pk).update(school=cast.other_school)
    Learner.objects.filter(pk=cast.other_section_learner.pk).update(grade_level="06")
    Learner.objects.filter(pk=cast.other_school_peer.pk).update(active=False)
    Enrollment.objects.filter(learner=cast.own, section=cast.section).update(
        end_date=day - datetime.timedelta(days=1)
    )
    Enrollment.objects.filter(learner=cast.former, section=cast.section).delete()
    Organisation.objects.filter(pk=cast.district_school.pk).update(parent=cast.district)
    # Requirements, electives and the standards' tree.
    late = Standard.objects.create(
        framework=world.framework, identifier=f"{world.c.identifier}-late", human_code="5.N.9",
        statement="Required later", depth=1,
    )  # fmt: skip
    Requirement.objects.create(
        organisation=cast.school, term=world.term, grade_level="05", standard=late,
        priority="power",
    )  # fmt: skip
    Requirement.objects.create(
        organisation=cast.district, term=world.term, grade_level="05", standard=world.e2,
        priority="supporting",
    )  # fmt: skip
    Requirement.objects.filter(organisation=cast.school, standard=world.d).delete()
    group = ElectiveGroup.objects.get(organisation=cast.school, term=world.term)
    ElectiveGroup.objects.filter(pk=group.pk).update(priority="power", title="Pick one")
    ElectiveChoice.objects.filter(learner=cast.own, standard=world.e1).update(
        status=ChoiceStatus.WITHDRAWN
    )
    ElectiveChoice.objects.create(
        group=group, learner=cast.former, standard=world.e2, status=ChoiceStatus.APPROVED,
        chosen_by=cast.teacher, decided_by=cast.teacher,
        decided_at=end_of(day) - datetime.timedelta(days=2),  # dated before D, made after it
    )  # fmt: skip
    Standard.objects.filter(pk=world.b.pk).update(status=StandardStatus.RETIRED)
    Standard.objects.filter(pk=world.c.pk).update(parent=world.domain, depth=2)
    # The rules: the school's policy changed, the other school's removed, the scale changed.
    standards_services.set_policy(
        actor=cast.school_admin, organisation=cast.school, method="highest", params={},
        min_evidence=1,
    )  # fmt: skip
    standards_services.remove_policy(actor=cast.district_admin, organisation=cast.other_school)
    standards_services.update_scale(
        actor=cast.school_admin, organisation=cast.school, levels=_levels(5, 4, 3, 2, 1),
        mastery_threshold="4",
    )  # fmt: skip
    # Evidence recorded now though demonstrated before D: a rating, a correction, a removal.
    before_d = noon(day - datetime.timedelta(days=2))
    now = timezone.now()
    add_rating(cast.own, world.a, "1", demonstrated=before_d, recorded=now,
               rater=cast.school_admin, section=cast.section)  # fmt: skip
    first = world.ratings[0]
    add_rating(first.learner, first.standard, "4", demonstrated=first.demonstrated_at,
               recorded=now, rater=cast.school_admin, supersedes=first)  # fmt: skip
    remove(world.ratings[1], at=now, by=cast.school_admin)
    # Overrides set after D: one replaces the override in force on D, one is new.
    mastery_services.set_override(
        actor=cast.school_admin, learner=cast.own, standard=world.d, score="2",
        reason="Reviewed again",
    )  # fmt: skip
    mastery_services.set_override(
        actor=cast.school_admin, learner=cast.own, standard=world.c, score="1",
        reason="Set after the day",
    )  # fmt: skip
    return late


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def _row(rows: list[dict[str, str]], learner: Learner, standard: Standard) -> dict[str, str]:
    return next(
        r
        for r in rows
        if r["state_student_id"] == learner.state_student_id
        and r["standard_identifier"] == standard.identifier
    )


def test_every_report_of_a_past_day_is_byte_identical_after_later_changes(
    world: World, tmp_path: Path
) -> None:
    before = _before(world)
    scopes = _scopes(world)
    first = _generate(scopes, tmp_path / "first")

    _later(world)
    again = _generate(scopes, tmp_path / "again")

    assert [name for name in scopes if again[name] != first[name]] == []
    # The rows are the world of day D: the moved learner at their school then, the retired
    # standard and the deleted requirement required, the policy and scale then.
    cast = world.cast
    rows = _rows(again["state.csv"])
    school = cast.school.external_id or str(cast.school.pk)
    assert _row(rows, cast.same_section, world.b)["school_id"] == school
    assert _row(rows, cast.other_section_learner, world.d)["grade"] == "05"
    assert _row(rows, cast.own, world.e1)  # the elective choice withdrawn later
    school_rows = [r for r in rows if r["school_id"] == school]
    assert {r["policy_id"] for r in school_rows} == {str(before.policy.pk)}
    assert "decaying_average" in {r["method"] for r in school_rows}  # "highest" later
    assert any(r["human_code"] == "5.G.2" for r in rows)  # retired later
    ssid = cast.other_district_learner.state_student_id
    assert not any(r["state_student_id"] == ssid for r in rows)  # their school moved in later
    assert not any(r["human_code"] == "5.N.9" for r in rows)  # required later


def test_the_same_reports_of_today_show_the_changes(world: World, tmp_path: Path) -> None:
    before = _before(world)
    cast, today = world.cast, timezone.localdate()
    scope = ReportScope(ReportKind.STATE_EXPORT, "csv", today, cast.district, world.term)
    old = _rows(_generate({"state.csv": scope}, tmp_path / "old")["state.csv"])
    late = _later(world)
    rows = _rows(_generate({"state.csv": scope}, tmp_path / "new")["state.csv"])

    assert rows != old
    other_school = cast.other_school.external_id or str(cast.other_school.pk)
    school = cast.school.external_id or str(cast.school.pk)
    assert {r["school_id"] for r in rows if r["state_student_id"] == (
        cast.same_section.state_student_id)} == {other_school}  # fmt: skip
    assert not any(r["state_student_id"] == cast.other_school_peer.state_student_id for r in rows)
    ssid = cast.other_district_learner.state_student_id
    assert any(r["state_student_id"] == ssid for r in rows)  # their school moved in
    assert not any(r["human_code"] == "5.G.2" for r in rows)  # retired
    assert _row(rows, cast.own, late)["human_code"] == "5.N.9"  # required now
    assert not any(
        r["state_student_id"] == cast.own.state_student_id and r["human_code"] == "5.N.2"
        for r in rows
    )  # the requirement was deleted
    methods = {r["method"] for r in rows if r["school_id"] == school}
    assert "highest" in methods
    assert "decaying_average" not in methods
    assert {r["rules_key"] for r in rows if r["school_id"] == school}.isdisjoint(
        r["rules_key"] for r in old if r["school_id"] == school
    )  # the policy and the scale changed
    assert {r["policy_id"] for r in rows if r["school_id"] == school} == {str(before.policy.pk)}
    # The gradebook of today: the roster without the ended and deleted enrollments.
    gradebook = ReportScope(ReportKind.SECTION_EXPORT, "csv", today, section=cast.section)
    names = [r["local_id"] for r in _rows(_generate({"g": gradebook}, tmp_path / "g")["g"])]
    assert cast.own.local_id not in names
    assert cast.former.local_id not in names


def test_a_past_report_shows_the_override_in_force_that_day_and_not_a_later_one(
    world: World, tmp_path: Path
) -> None:
    _before(world)
    cast = world.cast
    _later(world)
    scope = ReportScope(ReportKind.STATE_EXPORT, "csv", world.day, cast.district, world.term)
    rows = _rows(_generate({"state.csv": scope}, tmp_path)["state.csv"])
    overridden = _row(rows, cast.own, world.d)
    assert (overridden["method"], overridden["score"], overridden["state"]) == (
        "override",
        "4.00",
        "mastered",
    )
    assert overridden["level"] == "Level 4"
    assert _row(rows, cast.own, world.c)["method"] != "override"  # set after D

    lines = transcript(learner=cast.own, term=world.term, as_of=world.day).lines
    by_code = {line.standard.human_code: line.result for line in lines}
    assert (by_code["5.N.2"].method, by_code["5.N.2"].score) == ("override", "4.00")
    assert by_code["5.N.1"].method != "override"

    today = ReportScope(
        ReportKind.STATE_EXPORT, "csv", timezone.localdate(), cast.district, world.term
    )
    run_worker()  # a report of today reads the records: once the workers took the override in
    now_rows = _rows(_generate({"today.csv": today}, tmp_path / "today")["today.csv"])
    assert (_row(now_rows, cast.own, world.c)["method"], _row(now_rows, cast.own, world.c)[
        "score"]) == ("override", "1.00")  # fmt: skip


def _export_queries(world: World) -> tuple[int, str]:
    out = io.StringIO()
    with CaptureQueriesContext(connection) as queries:
        write_state_export(
            organisation=world.cast.district, term=world.term, as_of=world.day,
            file_format="csv", out=out,
        )  # fmt: skip
    return len(queries), out.getvalue()


def _newcomers(world: World, count: int) -> None:
    """``count`` learners at the school, each with an approved elective choice (dated before
    D), and the school's policy changed: all now, after D."""
    cast = world.cast
    group = ElectiveGroup.objects.get(organisation=cast.school, term=world.term)
    for learner in LearnerFactory.create_batch(count, school=cast.school):
        ElectiveChoice.objects.create(
            group=group, learner=learner, standard=world.e2, status=ChoiceStatus.APPROVED,
            chosen_by=cast.teacher, decided_by=cast.teacher,
            decided_at=end_of(world.day) - datetime.timedelta(days=3),
        )  # fmt: skip
    method = "highest" if count == 1 else "latest"
    standards_services.set_policy(
        actor=cast.school_admin, organisation=cast.school, method=method, params={},
        min_evidence=1,
    )  # fmt: skip


def test_a_past_export_reads_the_history_per_page_not_per_learner(world: World) -> None:
    _before(world)
    _newcomers(world, 1)  # after D: the roster, the choices and the settings read as they stood
    few, text = _export_queries(world)
    _newcomers(world, 40)
    settle(world)  # forty-one more learners stood on D
    _newcomers(world, 1)
    many, more = _export_queries(world)
    assert many == few
    assert len(more.splitlines()) == len(text.splitlines()) + 41 * 6  # 5 required, 1 elective
