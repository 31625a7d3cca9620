"""Row versions: the roster and the settings as they stood at a moment (ADR 8)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from common import history
from common.models import RowVersion
from learners import selectors as learner_selectors
from learners.models import Enrollment, Learner
from standards import selectors, services
from standards.models import Framework, Requirement, Standard
from standards.validation import LevelInput
from tests.factories import SchoolFactory
from tests.history import settle_versions
from tests.personas import Cast, cast

__all__ = ["cast"]

pytestmark = pytest.mark.django_db


def _framework() -> tuple[Framework, Standard, Standard]:
    framework = Framework.objects.create(identifier="fw-history", title="History maths")
    a = Standard.objects.create(
        framework=framework, identifier="h-a", human_code="H.A", statement="A"
    )
    b = Standard.objects.create(
        framework=framework, identifier="h-b", human_code="H.B", statement="B"
    )
    return framework, a, b


def _levels(*points: int) -> list[LevelInput]:
    colours = ["#1565c0", "#2e7d32", "#f9a825", "#c62828", "#6a1b9a"]
    return [
        LevelInput(points=Decimal(p), label=f"L{p}", colour=colours[i], cut_point=Decimal(p))
        for i, p in enumerate(sorted(points, reverse=True))
    ]


def test_every_change_of_a_tracked_column_is_versioned_and_nothing_else(cast: Cast) -> None:
    learner = cast.own
    before = RowVersion.objects.filter(table_name="learners_learner", row_id=learner.pk).count()
    Learner.objects.filter(pk=learner.pk).update(given_name="Renamed")  # not tracked
    Learner.objects.filter(pk=learner.pk).update(grade_level="06")
    versions = list(
        RowVersion.objects.filter(table_name="learners_learner", row_id=learner.pk)
        .order_by("id")
        .values_list("data", "learner_id")
    )
    assert len(versions) == before + 1
    assert versions[-1] == (
        {"school_id": cast.school.pk, "grade_level": "06", "active": True},
        learner.pk,
    )
    assert "Renamed" not in str(versions)  # never names


def test_a_move_a_new_requirement_and_new_settings_leave_the_past_as_it_stood(cast: Cast) -> None:
    framework, a, b = _framework()
    Requirement.objects.create(
        organisation=cast.school, term=cast.term, grade_level="05", standard=a, priority="power"
    )
    services.update_scale(
        actor=cast.school_admin, organisation=cast.school, levels=_levels(4, 3, 2, 1),
        mastery_threshold="3",
    )  # fmt: skip
    services.set_policy(
        actor=cast.school_admin, organisation=cast.school, method="highest", params={},
        min_evidence=1,
    )  # fmt: skip
    then = timezone.now() - datetime.timedelta(days=30)
    settle_versions(then - datetime.timedelta(days=1))

    # Later: the learner moves, a requirement is added and one removed, the rules change.
    Learner.objects.filter(pk=cast.own.pk).update(school=cast.other_school, grade_level="06")
    Requirement.objects.filter(standard=a).delete()
    Requirement.objects.create(
        organisation=cast.school, term=cast.term, grade_level="05", standard=b, priority="power"
    )
    services.update_scale(
        actor=cast.school_admin, organisation=cast.school, levels=_levels(5, 4, 3, 2, 1),
        mastery_threshold="4",
    )  # fmt: skip
    services.remove_policy(actor=cast.school_admin, organisation=cast.school)

    placed = learner_selectors.placements_as_of([cast.own.pk], then)[cast.own.pk]
    assert (placed.school_id, placed.grade_level) == (cast.school.pk, "05")
    old = selectors.requirements_for(cast.school, "05", cast.term, at=then)
    assert [r.standard_id for r in old.required] == [a.pk]
    now = selectors.requirements_for(cast.school, "05", cast.term)
    assert [r.standard_id for r in now.required] == [b.pk]
    old_scale = selectors.scale_for(cast.school, at=then)
    assert [level.points for level in old_scale.levels] == [4, 3, 2, 1]
    assert old_scale.mastery_threshold == 3
    assert selectors.scale_for(cast.school).mastery_threshold == 4
    assert selectors.policy_for(cast.school, framework, at=then).method == "highest"
    assert selectors.policy_for(cast.school, framework).method == "decaying_average"


def test_the_as_of_resolvers_agree_with_the_live_ones_when_nothing_changed(cast: Cast) -> None:
    framework, a, _b = _framework()
    Requirement.objects.create(
        organisation=cast.district, term=cast.term, grade_level="05", standard=a
    )
    Requirement.objects.create(
        organisation=cast.school, term=cast.term, grade_level="05", standard=a, priority="power"
    )
    services.set_policy(
        actor=cast.district_admin, organisation=cast.district, method="average", params={},
        min_evidence=2,
    )  # fmt: skip
    services.set_policy(
        actor=cast.state_admin, organisation=cast.state, framework=framework, method="latest",
        params={}, min_evidence=1,
    )  # fmt: skip
    services.update_scale(
        actor=cast.district_admin, organisation=cast.district, levels=_levels(3, 2, 1),
        mastery_threshold="2",
    )  # fmt: skip
    at = timezone.now() + datetime.timedelta(seconds=1)
    assert selectors.settings_as_of(at).live  # nothing changed since: the live tables answer
    # The versions read as such (``live=False``), and the live tables read in their form
    # (``live=True``), give what the live selectors give.
    stood = selectors.SettingsAsOf(at, live=False)
    now = selectors.SettingsAsOf(at, live=True)
    for organisation in (cast.school, cast.other_school, cast.district_school):
        for settings in (stood, now):
            assert selectors.scale_for(organisation, at=settings) == selectors.scale_for(
                organisation
            )
            for fw in (None, framework.pk):
                assert selectors.policy_for(organisation, fw, at=settings) == selectors.policy_for(
                    organisation, fw
                )
        assert selectors.requirements_for(
            organisation, "05", cast.term, at=stood
        ) == selectors.requirements_for(organisation, "05", cast.term)
    assert selectors.standard_rows([a.pk], at=stood) == selectors.standard_rows([a.pk])


def test_the_roster_pages_and_enrollments_as_they_stood(cast: Cast) -> None:
    then = timezone.now() - datetime.timedelta(days=10)
    settle_versions(then - datetime.timedelta(days=1))
    Learner.objects.filter(pk=cast.same_section.pk).update(school=cast.other_school)
    Learner.objects.filter(pk=cast.former.pk).update(active=False)
    Enrollment.objects.filter(learner=cast.own, section=cast.section).delete()

    schools = [cast.school.pk]
    old = learner_selectors.active_learner_page_as_of(schools, then, after=0, size=100)
    now = learner_selectors.active_learner_page_as_of(schools, None, after=0, size=100)
    assert {p.learner_id for p in old} == {
        cast.own.pk, cast.same_section.pk, cast.former.pk, cast.other_section_learner.pk,
    }  # fmt: skip
    assert {p.learner_id for p in now} == {cast.own.pk, cast.other_section_learner.pk}
    first = learner_selectors.active_learner_page_as_of(schools, then, after=0, size=2)
    rest = learner_selectors.active_learner_page_as_of(
        schools, then, after=first[-1].learner_id, size=100
    )
    assert [p.learner_id for p in first + rest] == sorted(p.learner_id for p in old)
    day = timezone.localdate() - datetime.timedelta(days=10)
    assert learner_selectors.enrolled_learner_ids_as_of(cast.section.pk, day, then) == sorted(
        [cast.own.pk, cast.same_section.pk, cast.former.pk]
    )


def test_row_versions_refuse_update_and_delete(cast: Cast) -> None:
    for statement in (
        "UPDATE common_rowversion SET deleted = true",
        "DELETE FROM common_rowversion",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)


def test_changed_after_tells_whether_the_live_table_is_what_stood(cast: Cast) -> None:
    then = timezone.now() - datetime.timedelta(days=3)
    settle_versions(then - datetime.timedelta(days=1))
    assert not history.changed_after(["learners_learner"], then)
    SchoolFactory()
    assert not history.changed_after(["learners_learner"], then)
    assert history.changed_after(["learners_organisation"], then)


def test_backdated_seed_data_stood_since_then_and_history_stays_append_only(cast: Cast) -> None:
    then = timezone.now() - datetime.timedelta(days=40)
    added = history.backdate_versions(then)
    assert added > 0
    assert history.backdate_versions(then) == 0  # a second call adds nothing
    placed = learner_selectors.placements_as_of([cast.own.pk], then + datetime.timedelta(days=1))
    assert placed[cast.own.pk].school_id == cast.school.pk
    Learner.objects.filter(pk=cast.own.pk).update(grade_level="06")
    stood = learner_selectors.placements_as_of([cast.own.pk], then + datetime.timedelta(days=1))
    assert stood[cast.own.pk].grade_level == "05"
    earlier = then - datetime.timedelta(days=1)
    assert learner_selectors.placements_as_of([cast.own.pk], earlier) == {}
