"""An override of 4 reads 4 everywhere, with its reason and author (issue 15, ADR 8): set from
the cell panel (or the staff learner page), it shows on the grid (a mark), the cell panel, the
staff learner page, the student's and the guardian's pages in plain words, the API and the
transcript (method ``override``); only staff who may change the learner set or clear it."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from evidence import services as evidence_services
from mastery import services
from mastery.models import MasteryOverride, MasteryRecord, StaleMastery
from reports.school_report import school_rows
from reports.state_export import write_state_export
from reports.transcript import transcript
from tests.evidence.conftest import Standards, make_standards
from tests.journeys.helpers import require
from tests.personas import Cast

pytestmark = pytest.mark.django_db
REASON = "Explained place value to the whole class, unprompted"


def _settle() -> None:
    services.recompute_pairs(
        pairs=list(StaleMastery.objects.values_list("learner_id", "standard_id"))
    )


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def standards(db: None) -> Standards:
    return make_standards(identifier="fw-override-everywhere")


@pytest.fixture
def overridden(cast: Cast, standards: Standards) -> MasteryOverride:
    for score in ("2", "2"):
        evidence_services.record_evidence(
            actor=cast.teacher, learner=cast.own, kind="observation", title="Observed",
            demonstrated_at=timezone.now() - datetime.timedelta(days=2),
            scores={standards.counting.pk: score},
        )  # fmt: skip
    _settle()
    cell = reverse("mastery:cell_detail", args=[cast.own.pk, standards.counting.pk])
    page = _client(cast.teacher).get(f"{cell}?panel=1").content.decode()
    assert "Override the level" in page  # the form is in the grid's cell panel
    answer = _client(cast.teacher).post(
        reverse("mastery:override_set", args=[cast.own.pk]),
        {"standard": standards.counting.pk, "level": "4", "reason": REASON, "next": cell},
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert answer["Location"] == cell
    _settle()
    return MasteryOverride.objects.get(learner=cast.own, cleared_at__isnull=True)


def test_an_override_of_4_reads_4_everywhere_with_its_reason_and_author(
    cast: Cast, standards: Standards, overridden: MasteryOverride
) -> None:
    name = cast.teacher.get_full_name()
    assert overridden.set_by_id == cast.teacher.pk
    record = MasteryRecord.objects.get(learner=cast.own, standard=standards.counting)
    assert (record.score, record.level_label, record.mastered) == (Decimal(4), "Advanced", True)
    assert record.evidence_count == 2
    staff = _client(cast.teacher)
    # The grid: the level and a mark that says override (to screen readers too).
    grid = staff.get(reverse("mastery:section_grid", args=[cast.section.pk])).content.decode()
    assert "overridden" in grid
    assert "(override)" in grid
    assert "Advanced" in grid
    # The cell panel: who, when, why.
    cell = staff.get(
        reverse("mastery:cell_detail", args=[cast.own.pk, standards.counting.pk])
    ).content.decode()
    assert "Override in force" in cell
    assert name in cell
    assert REASON in cell
    assert "Clear the override" in cell
    # The staff learner page.
    learner_page = staff.get(reverse("mastery:learner_page", args=[cast.own.pk])).content.decode()
    assert f"Override by {name}" in learner_page
    assert REASON in learner_page
    assert "Advanced" in learner_page
    # The student's and the guardian's pages, in plain words.
    for reader, url in (
        (cast.student, reverse("mastery:my_mastery")),
        (cast.guardian, reverse("mastery:learner_page", args=[cast.own.pk])),
    ):
        page = _client(reader).get(url).content.decode()
        assert f"set by {name}" in page, reader
        assert REASON in page, reader
        assert "Advanced" in page, reader
        assert "Override the level" not in page
        assert "Set the override" not in page
    # The API: the record (its explanation says override, who and why) and the override.
    api = APIClient()
    api.force_authenticate(cast.guardian)
    rows = api.get(f"/api/v1/mastery/records/?learner={cast.own.pk}").json()["results"]
    row = next(r for r in rows if r["standard"] == standards.counting.pk)
    assert (Decimal(row["score"]), row["level_label"], row["mastered"]) == (4, "Advanced", True)
    detail = api.get(f"/api/v1/mastery/records/{row['id']}/").json()
    assert detail["explanation"]["method"] == "override"
    assert detail["explanation"]["override"]["set_by"] == name
    assert REASON in detail["explanation"]["override"]["reason"]
    listed = api.get(f"/api/v1/mastery/overrides/?learner={cast.own.pk}").json()["results"]
    assert [(o["set_by_name"], REASON in o["reason"]) for o in listed] == [(name, True)]
    # The state export (as of today, through the core): the learner's row on the standard.
    require(cast.school, cast.term, [standards.counting], grade=cast.own.grade_level)
    out = io.StringIO()
    write_state_export(
        organisation=cast.school, term=cast.term, as_of=timezone.localdate(), file_format="csv",
        out=out,
    )  # fmt: skip
    rows = [
        row for row in csv.DictReader(io.StringIO(out.getvalue()))
        if row["human_code"] == standards.counting.human_code and row["level"]
    ]  # fmt: skip
    assert [(r["level"], r["score"], r["method"]) for r in rows] == [
        ("Advanced", "4.00", "override")
    ]
    # The school report of today (it reads the records): the override masters the standard.
    lines, tally, _ = school_rows(school=cast.school, term=cast.term, as_of=timezone.localdate())
    own = next(line for line in lines if line.learner.id == cast.own.pk)
    assert (own.mastered, own.required) == (1, 1)
    assert [learner for learner, _ in tally.mastered[standards.counting.pk]] == [cast.own.pk]
    # The transcript (a report as of today, computed through the core).
    lines = transcript(learner=cast.own, term=cast.term, as_of=timezone.localdate()).lines
    line = next(li for li in lines if li.standard.id == standards.counting.pk)
    assert (line.result.level, line.result.score, line.result.method) == (
        "Advanced", "4.00", "override"
    )  # fmt: skip


def test_clearing_from_the_cell_page_gives_the_evidence_back(
    cast: Cast, standards: Standards, overridden: MasteryOverride
) -> None:
    answer = _client(cast.co_teacher).post(
        reverse("mastery:override_clear", args=[overridden.pk]), {"reason": "Re-assessed"}
    )
    assert answer.status_code == 302
    _settle()
    record = MasteryRecord.objects.get(learner=cast.own, standard=standards.counting)
    assert (record.score, record.mastered) == (Decimal(2), False)
    overridden.refresh_from_db()
    assert overridden.cleared_by_id == cast.co_teacher.pk


def test_the_learner_page_sets_an_override_too_and_refuses_without_a_reason(
    cast: Cast, standards: Standards
) -> None:
    evidence_services.record_evidence(
        actor=cast.teacher, learner=cast.own, kind="observation", title="Observed",
        demonstrated_at=timezone.now(), scores={standards.adding.pk: "2"},
    )  # fmt: skip
    _settle()
    staff = _client(cast.teacher)
    page = staff.get(reverse("mastery:learner_page", args=[cast.own.pk])).content.decode()
    assert "Override a level" in page
    url = reverse("mastery:override_set", args=[cast.own.pk])
    refused = staff.post(url, {"standard": standards.adding.pk, "level": "3", "reason": " "})
    assert refused.status_code == 400
    assert "This field is required" in refused.content.decode()
    assert not MasteryOverride.objects.exists()
    bad_score = staff.post(
        url, {"standard": standards.adding.pk, "level": "4", "score": "3.5", "reason": "Seen"}
    )
    assert bad_score.status_code == 400
    assert "Proficient, not Advanced" in bad_score.content.decode()
    done = staff.post(
        url,
        {
            "standard": standards.adding.pk, "level": "3", "reason": "Seen",
            "next": "https://elsewhere.example/",
        },
    )  # fmt: skip
    assert done.status_code == 302
    assert done["Location"].startswith("/mastery/learners/")  # never an outside address
    _settle()
    record = MasteryRecord.objects.get(learner=cast.own, standard=standards.adding)
    assert (record.score, record.level_label) == (Decimal(3), "Proficient")


@pytest.mark.parametrize(
    ("persona", "status"),
    [("guardian", 403), ("student", 403), ("teacher_elsewhere", 404), ("outsider", 403)],
)
def test_only_staff_who_may_change_the_learner_set_or_clear_overrides(
    cast: Cast, standards: Standards, persona: str, status: int
) -> None:
    override = services.set_override(
        actor=cast.teacher, learner=cast.own, standard=standards.counting, level=4, reason="Seen"
    )
    client = _client(cast.persona(persona))
    answer = client.post(
        reverse("mastery:override_set", args=[cast.own.pk]),
        {"standard": standards.counting.pk, "level": "1", "reason": "No"},
    )
    assert answer.status_code == status
    cleared = client.post(reverse("mastery:override_clear", args=[override.pk]))
    assert cleared.status_code in (403, 404)
    override.refresh_from_db()
    assert (override.cleared_at, MasteryOverride.objects.count()) == (None, 1)
    page = client.get(
        reverse("mastery:cell_detail", args=[cast.own.pk, standards.counting.pk])
    ).content.decode()
    assert "Set the override" not in page
    assert "Clear the override" not in page
