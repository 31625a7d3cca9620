"""The equity audit of a seeded district equals an independent SQL count, every cell under 10
is suppressed, and the file comes through the reports queue to its administrators only.

The district: two schools, three sections (15, 15 and 14 learners), three teachers (one
teaching in both schools), two required standards, the policy "highest" with at least two
ratings (so mastered, insufficient evidence and the first mastered day are plain SQL), ratings
drawn from a seeded generator with corrections and removals among them, overrides (one cleared
again) and stored demographics (sex, one race flag) for every learner.
"""

from __future__ import annotations

import csv
import datetime
import io
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from evidence import services as evidence_services
from evidence.models import Rating
from evidence.services import RatingEntry
from learners.models import Learner, LearnerDemographics, Organisation, Section, Term
from mastery import services as mastery_services
from mastery.models import MasteryOverride
from moderation.equity import (
    LEARNER_PARTITIONS,
    MIN_CELL,
    STANDARD_PARTITIONS,
    SUPPRESSED,
    audit_tables,
    equity_audit,
    suppress,
)
from reports import services as report_services
from standards.models import CalculationPolicy, Priority, Requirement
from tests.evidence.conftest import Standards, make_standards
from tests.factories import (
    AdminAssignmentFactory,
    DistrictFactory,
    EnrollmentFactory,
    LearnerFactory,
    SchoolFactory,
    SectionFactory,
    TeacherAssignmentFactory,
    TermFactory,
    UserFactory,
)


@dataclass
class Seeded:
    district: Organisation
    schools: list[Organisation]
    sections: list[Section]
    term: Term
    admin: User
    school_admin: User
    teacher: User
    standards: Standards


def _seed() -> Seeded:
    rng = random.Random(20)
    district = DistrictFactory(name="Equity District")
    hill = SchoolFactory(name="Hill", parent=district)
    lake = SchoolFactory(name="Lake", parent=district)
    term = TermFactory(title="Autumn")
    sections = [
        SectionFactory(title="H1", school=hill, term=term),
        SectionFactory(title="H2", school=hill, term=term),
        SectionFactory(title="L1", school=lake, term=term),
    ]
    start = term.start_date + datetime.timedelta(days=1)
    teachers = [UserFactory(first_name=f"T{i}", last_name="Teacher") for i in range(3)]
    TeacherAssignmentFactory(user=teachers[0], section=sections[0], begin_date=term.start_date)
    TeacherAssignmentFactory(user=teachers[1], section=sections[1], begin_date=term.start_date)
    TeacherAssignmentFactory(user=teachers[1], section=sections[2], begin_date=term.start_date)
    TeacherAssignmentFactory(user=teachers[2], section=sections[2], begin_date=term.start_date)
    admin = UserFactory()
    AdminAssignmentFactory(user=admin, organisation=district)
    school_admin = UserFactory()
    AdminAssignmentFactory(user=school_admin, organisation=hill)
    standards = make_standards(identifier="equity-fw")
    CalculationPolicy.objects.create(organisation=district, method="highest", min_evidence=2)
    for standard, priority in (
        (standards.counting, Priority.POWER),
        (standards.adding, Priority.SUPPORTING),
    ):
        Requirement.objects.create(
            organisation=district, term=term, grade_level="05", standard=standard, priority=priority
        )
    learners: list[tuple[Learner, Section]] = []
    for section, size in zip(sections, (15, 15, 14), strict=True):
        for _ in range(size):
            learner = LearnerFactory(school=section.school, grade_level="05")
            EnrollmentFactory(learner=learner, section=section, begin_date=term.start_date)
            learners.append((learner, section))
    # Learners outside the audit: another grade (nothing required) and an inactive one.
    LearnerFactory(school=hill, grade_level="08")
    LearnerFactory(school=lake, grade_level="05", active=False)
    teacher_of = {
        sections[0].pk: teachers[0],
        sections[1].pk: teachers[1],
        sections[2].pk: teachers[2],
    }
    # The k-th rating of each pair on day start + 9k (+1 or 2): one quick entry per
    # (section, k), so no pair is rated twice in one call.
    batches: dict[tuple[int, int], list[RatingEntry]] = defaultdict(list)
    for learner, section in learners:
        for standard in (standards.counting, standards.adding):
            for k in range(rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5, 6])):
                batches[(section.pk, k)].append(
                    RatingEntry(learner.pk, standard.pk, rng.choice(["1", "2", "2.5", "3", "4"]))
                )
    by_pk = {section.pk: section for section in sections}
    for (section_id, k), entries in sorted(batches.items()):
        evidence_services.record_ratings(
            actor=teacher_of[section_id],
            entries=entries,
            title=f"Check {k}",
            demonstrated_at=start + datetime.timedelta(days=9 * k + rng.choice([1, 2])),
            section=by_pk[section_id],
        )
    ratings = list(Rating.objects.order_by("pk"))
    for rating in rng.sample(ratings, 12):
        evidence_services.supersede_rating(
            actor=admin, rating=rating, score=rng.choice(["1", "4"]), comment="re-marked"
        )
    fresh = list(Rating.objects.filter(superseded_by__isnull=True).order_by("pk"))
    for rating in rng.sample(fresh, 8):
        if not Rating.objects.filter(supersedes=rating).exists():
            evidence_services.remove_rating(actor=admin, rating=rating, reason="wrong learner")
    overridden = rng.sample(learners, 7)
    for learner, _ in overridden:
        mastery_services.set_override(
            actor=admin,
            learner=learner,
            standard=standards.counting,
            level="4",
            reason="Seen in the workshop",
        )
    # One cleared again: no longer in force.
    cleared = MasteryOverride.objects.get(learner=overridden[0][0])
    mastery_services.clear_override(actor=admin, override=cleared, reason="Entered in error")
    # Prior learning: two ratings before the term, so the first learner mastered before it.
    for days in (20, 15):
        evidence_services.record_evidence(
            actor=admin,
            learner=learners[0][0],
            kind="prior_learning",
            title="Summer school",
            demonstrated_at=term.start_date - datetime.timedelta(days=days),
            scores={standards.adding.pk: "4"},
        )
    for index, (learner, _) in enumerate(learners):
        LearnerDemographics.objects.create(
            learner=learner, sex="female" if index % 2 else "male", asian=index % 3 == 0
        )
    return Seeded(
        district, [hill, lake], sections, term, admin, school_admin, teachers[1], standards
    )


@pytest.fixture(scope="module")
def _module_seeded(django_db_setup: None, django_db_blocker: Any) -> Iterator[Seeded]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _seed()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def seeded(_module_seeded: Seeded, db: None) -> Seeded:
    return _module_seeded


# --- the independent count --------------------------------------------------------------------

PAIRS_SQL = """
WITH counted AS (
    SELECT r.id, r.learner_id, r.standard_id, r.score, r.source, r.demonstrated_at, r.recorded_at
    FROM evidence_rating r
    WHERE r.source <> 'self' AND r.recorded_at <= %(at)s
      AND NOT EXISTS (SELECT 1 FROM evidence_rating s
                      WHERE s.supersedes_id = r.id AND s.recorded_at <= %(at)s)
      AND NOT EXISTS (SELECT 1 FROM evidence_ratingremoval m
                      WHERE m.rating_id = r.id AND m.removed_at <= %(at)s)
), ordered AS (
    SELECT c.*,
           row_number() OVER w AS k,
           max(c.score) OVER (w ROWS UNBOUNDED PRECEDING) AS running_best
    FROM counted c
    WINDOW w AS (PARTITION BY c.learner_id, c.standard_id
                 ORDER BY c.demonstrated_at, c.recorded_at, c.id)
)
SELECT l.id, l.school_id, st.id,
       count(o.id),
       coalesce(max(o.score), 0),
       (min(o.demonstrated_at) FILTER (WHERE o.k >= 2 AND o.running_best >= 3)
            AT TIME ZONE %(tz)s)::date,
       EXISTS (SELECT 1 FROM mastery_masteryoverride v
               WHERE v.learner_id = l.id AND v.standard_id = st.id AND v.set_at <= %(at)s
                 AND (v.cleared_at IS NULL OR v.cleared_at > %(at)s)),
       (SELECT (max(v.set_at) AT TIME ZONE %(tz)s)::date FROM mastery_masteryoverride v
        WHERE v.learner_id = l.id AND v.standard_id = st.id AND v.set_at <= %(at)s
          AND (v.cleared_at IS NULL OR v.cleared_at > %(at)s))
FROM learners_learner l
JOIN learners_organisation sc ON sc.id = l.school_id
CROSS JOIN standards_standard st
LEFT JOIN ordered o ON o.learner_id = l.id AND o.standard_id = st.id
WHERE l.active AND l.grade_level = '05' AND sc.parent_id = %(district)s
  AND st.id IN (%(counting)s, %(adding)s)
GROUP BY l.id, l.school_id, st.id
"""

MEMBERS_SQL = """
SELECT e.learner_id, s.id, a.user_id
FROM learners_enrollment e
JOIN learners_section s ON s.id = e.section_id AND s.term_id = %(term)s
LEFT JOIN learners_roleassignment a ON a.section_id = s.id AND a.kind = 'teacher'
WHERE (e.begin_date IS NULL OR e.begin_date <= %(day)s)
  AND (e.end_date IS NULL OR e.end_date >= %(day)s)
"""


def _sql_counts(seeded: Seeded, day: datetime.date) -> dict[tuple[str, object], Any]:
    """{(kind, key): (learner counts, {standard: counts})} from plain SQL and Python sums."""
    at = datetime.datetime.combine(day, datetime.time.max, tzinfo=timezone.get_current_timezone())
    params = {
        "at": at,
        "tz": settings.TIME_ZONE,
        "district": seeded.district.pk,
        "counting": seeded.standards.counting.pk,
        "adding": seeded.standards.adding.pk,
        "term": seeded.term.pk,
        "day": day,
    }
    with connection.cursor() as cursor:
        cursor.execute(PAIRS_SQL, params)
        pairs = cursor.fetchall()
        cursor.execute(MEMBERS_SQL, params)
        members = cursor.fetchall()
    sections: dict[int, set[int]] = defaultdict(set)
    teachers: dict[int, set[int]] = defaultdict(set)
    for learner_id, section_id, user_id in members:
        sections[learner_id].add(section_id)
        if user_id is not None:
            teachers[learner_id].add(user_id)
    subgroups: dict[int, set[str]] = defaultdict(set)
    for learner_id, sex, asian in LearnerDemographics.objects.values_list(
        "learner_id", "sex", "asian"
    ):
        subgroups[learner_id].add("Female" if sex == "female" else "Male")
        if asian:
            subgroups[learner_id].add("Asian")
    by_learner: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in pairs:
        by_learner[row[0]].append(row)
    start = seeded.term.start_date
    out: dict[tuple[str, object], Any] = {}
    for learner_id, rows in by_learner.items():
        keys = [("Organisation", seeded.district.pk), ("School", rows[0][1])]
        keys += [("Section", s) for s in sections[learner_id]]
        keys += [("Teacher", t) for t in teachers[learner_id]]
        keys += [("Subgroup", g) for g in subgroups[learner_id]]
        fewest = min(row[3] for row in rows)
        # An override in force (level 4 here) sets the record, as in every report (ADR 8): it
        # masters, and the record is not "insufficient evidence" whatever the ratings.
        mastered = [row[6] or (row[3] >= 2 and row[4] >= 3) for row in rows]
        insufficient = [row[3] == 1 and not row[6] for row in rows]
        for key in keys:
            learners, standards = out.setdefault(key, ([0] * 8, {}))
            learners[0] += 1
            learners[1 + min(fewest, 3)] += 1
            learners[5] += any(insufficient)
            learners[6] += any(row[6] for row in rows)
            learners[7] += any(mastered)
            for row, is_mastered, short in zip(rows, mastered, insufficient, strict=True):
                counts = standards.setdefault(row[2], [0] * 15)
                n = row[3]
                counts[0] += 1
                counts[
                    1 + (0 if n == 0 else 1 if n == 1 else 2 if n == 2 else 3 if n <= 4 else 4)
                ] += 1
                counts[6] += short
                counts[7] += row[6]
                counts[8] += is_mastered
                if not is_mastered:
                    counts[14] += 1
                else:
                    firsts = [day for day in (row[5], row[7] if row[6] else None) if day]
                    days = (min(firsts) - start).days
                    counts[9 + (0 if days < 0 else 1 + min(days // 28, 3))] += 1
    return out


def _key(kind: str, key: object) -> tuple[str, object]:
    return (kind, key)


def test_the_audit_equals_an_independent_sql_count(seeded: Seeded) -> None:
    day = timezone.localdate()
    audit = equity_audit(organisation=seeded.district, term=seeded.term, as_of=day)
    expected = _sql_counts(seeded, day)
    assert audit.learner_count == 44
    got: dict[tuple[str, object], Any] = {}
    for group, tally in audit.learners.items():
        got[(group.kind, group.key)] = (tally.counts(), {})
    for (group, sid), tally in audit.standards.items():
        got[(group.kind, group.key)][1][sid] = tally.counts()
    assert got == {key: (learners, standards) for key, (learners, standards) in expected.items()}
    # The groups the district has: itself, 2 schools, 3 sections, 3 teachers, 3 subgroups.
    kinds = sorted(kind for kind, _ in got)
    assert kinds.count("School") == 2
    assert kinds.count("Section") == 3
    assert kinds.count("Teacher") == 3
    assert kinds.count("Subgroup") == 3
    # Something of each measure is there to count: insufficient evidence, overrides, mastery,
    # every band of ratings, and mastery before the term and in several four-week spans.
    whole = got[("Organisation", seeded.district.pk)]
    assert whole[0][0] == 44
    assert all(whole[0][i] > 0 for i in (5, 6, 7))
    merged = [sum(c) for c in zip(*whole[1].values(), strict=True)]
    assert all(merged[i] > 0 for i in range(1, 6))
    assert merged[9] > 0
    assert sum(1 for i in (10, 11, 12, 13) if merged[i] > 0) >= 2


def test_every_cell_under_ten_is_suppressed_and_no_part_is_given_away(seeded: Seeded) -> None:
    day = timezone.localdate()
    audit = equity_audit(organisation=seeded.district, term=seeded.term, as_of=day)
    expected = _sql_counts(seeded, day)
    tables = {title: rows for title, _, rows in audit_tables(audit)}
    labels = {group.label: (group.kind, group.key) for group in audit.learners}
    codes = {
        seeded.standards.counting.human_code: seeded.standards.counting.pk,
        seeded.standards.adding.human_code: seeded.standards.adding.pk,
    }
    shown = hidden = 0
    for row in tables["Learners"]:
        values = expected[labels[row[1]]][0]
        shown, hidden = _check_row(row[2:], values, LEARNER_PARTITIONS, shown, hidden)
    for row in tables["By standard"]:
        values = expected[labels[row[1]]][1][codes[row[2]]]
        shown, hidden = _check_row(row[4:], values, STANDARD_PARTITIONS, shown, hidden)
    assert shown > 20
    assert hidden > 20
    # No learner is named anywhere in the file's tables.
    text = repr(tables)
    for learner in Learner.objects.all()[:44]:
        assert learner.family_name not in text


def _check_row(
    cells: tuple[object, ...],
    values: list[int],
    partitions: Any,
    shown: int,
    hidden: int,
) -> tuple[int, int]:
    assert len(cells) == len(values)
    for cell, value in zip(cells, values, strict=True):
        if value < MIN_CELL:
            assert cell == SUPPRESSED
        if cell == SUPPRESSED:
            hidden += 1
        else:
            assert cell == value
            shown += 1
    for total, parts in partitions:
        if cells[total] != SUPPRESSED:
            assert sum(1 for i in parts if cells[i] == SUPPRESSED) != 1, cells
    return shown, hidden


def test_suppression_hides_a_complement_when_one_part_would_be_given_away() -> None:
    # Total 30 = 25 + 5: the 5 is hidden, and so is the 25 (else 30 - 25 gives it away).
    assert suppress([30, 25, 5], [(0, (1, 2))]) == [30, SUPPRESSED, SUPPRESSED]
    assert suppress([30, 12, 13, 5], [(0, (1, 2, 3))]) == [30, SUPPRESSED, 13, SUPPRESSED]
    assert suppress([40, 20, 20], [(0, (1, 2))]) == [40, 20, 20]
    assert suppress([9, 5, 4], [(0, (1, 2))]) == [SUPPRESSED] * 3


def test_the_audit_comes_through_the_reports_queue_to_its_administrators_only(
    seeded: Seeded, settings: Any, tmp_path: Path
) -> None:
    settings.REPORTS_ROOT = tmp_path / "reports"
    day = timezone.localdate()
    for refused in (seeded.school_admin, seeded.teacher):
        client = Client()
        client.force_login(refused)
        answer = client.post(
            "/api/v1/reports/",
            {
                "kind": "equity_audit",
                "format": "csv",
                "as_of": day.isoformat(),
                "organisation": seeded.district.pk,
                "term": seeded.term.pk,
            },
            content_type="application/json",
        )
        assert answer.status_code == 404
    client = Client()
    client.force_login(seeded.admin)
    files = {}
    for file_format in ("csv", "xlsx"):
        answer = client.post(
            "/api/v1/reports/",
            {
                "kind": "equity_audit",
                "format": file_format,
                "as_of": day.isoformat(),
                "organisation": seeded.district.pk,
                "term": seeded.term.pk,
            },
            content_type="application/json",
        )
        assert answer.status_code == 201
        report_services.generate_report(report_id=answer.json()["id"])
        detail = client.get(f"/api/v1/reports/{answer.json()['id']}/").json()
        assert detail["status"] == "done"
        download = client.get(detail["download_url"])
        assert download.status_code == 200
        files[file_format] = b"".join(download.streaming_content)
    text = files["csv"].decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["item", "value"]
    assert ["learners", "44"] in rows
    assert any(row[:2] == ["Organisation", "Equity District"] for row in rows)
    book = openpyxl.load_workbook(io.BytesIO(files["xlsx"]), read_only=True)
    assert book.sheetnames == ["About", "Learners", "By standard"]
    actions = set(AuditEntry.objects.filter(actor=seeded.admin).values_list("action", "outcome"))
    assert {("report.request", "allowed"), ("report.download", "allowed")} <= actions
    assert AuditEntry.objects.filter(
        actor=seeded.school_admin, action="report.request", outcome="denied"
    ).exists()


def test_administrators_choose_to_keep_demographics_on_the_page_and_the_api(
    seeded: Seeded,
) -> None:
    from learners.models import DemographicsImport

    client = Client()
    client.force_login(seeded.admin)
    page = client.get("/moderation/equity/")
    assert page.status_code == 200
    assert "Keep them for Equity District" in page.content.decode()
    hill = seeded.schools[0]
    response = client.post(
        f"/moderation/equity/demographics/{seeded.district.pk}/", {"enabled": "on"}
    )
    assert response.status_code == 302
    assert DemographicsImport.objects.filter(organisation=seeded.district).exists()
    listed = {row["name"]: row for row in client.get("/api/v1/moderation/demographics/").json()}
    assert listed["Equity District"]["enabled"] is True
    assert listed["Hill"]["inherited"] is True
    assert listed["Equity District"]["stored"] == 44
    # Off (the API): what was kept below is deleted.
    off = client.post(
        "/api/v1/moderation/demographics/",
        {"organisation": seeded.district.pk, "enabled": False},
        content_type="application/json",
    )
    assert off.status_code == 200
    assert off.json()["stored"] == 0
    assert not LearnerDemographics.objects.filter(learner__school=hill).exists()
    # A school administrator cannot change the district's choice; a teacher cannot use it.
    other = Client()
    other.force_login(seeded.school_admin)
    assert other.post(f"/moderation/equity/demographics/{seeded.district.pk}/").status_code == 404
    teacher = Client()
    teacher.force_login(seeded.teacher)
    assert teacher.get("/moderation/equity/").status_code == 403
    assert teacher.get("/api/v1/moderation/demographics/").status_code == 403
