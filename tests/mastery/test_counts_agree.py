"""The learner page, its chart, the school report and the state export count a learner's
required standards with the same function (``mastery.core.required_standards`` and
``requirement_counts``), so they agree: power and supporting requirements, a required grouping
(rolled up) and an approved elective; percentages rounded, not truncated (1 of 6: 17%)."""

from __future__ import annotations

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mastery import core, rules
from mastery.derive import Override
from mastery.progress import learner_progress
from reports.school_report import school_rows
from reports.state_export import write_state_export
from standards.models import Priority
from standards.selectors import DEFAULT_POLICY, DEFAULT_SCALE
from standards.services import choose_elective, create_elective_group, decide_elective_choice
from tests.journeys.helpers import Tree, make_tree, quick_entry, require, run_worker
from tests.personas import Cast

pytestmark = pytest.mark.django_db


def _world(cast: Cast) -> Tree:
    """Six required standards, one mastered: s0 (power, mastered), s1 (power, not yet), s2 (not
    assessed), s4 (not yet), the second domain as a grouping (s3 mastered, s4 not, s5 none: not
    mastered) and the elective s5 the learner chose and the teacher approved."""
    tree = make_tree(domains=3, per_domain=3)
    s = tree.standards
    require(cast.school, cast.term, s[0:2], priority=Priority.POWER)
    require(cast.school, cast.term, [s[2], s[4], tree.domains[1]])
    group = create_elective_group(
        actor=cast.district_admin,
        organisation=cast.district,
        term=cast.term,
        grade_level="05",
        title="Choose one",
        choose=1,
        standards=[s[5], s[6]],
    )
    choice = choose_elective(actor=cast.student, group=group, standard=s[5])
    decide_elective_choice(actor=cast.teacher, choice=choice, approve=True, note="Yes")
    quick_entry(cast.teacher, cast.section, [cast.own], [s[0]], "3")
    quick_entry(cast.teacher, cast.section, [cast.own], [s[1], s[4]], "2")
    quick_entry(cast.teacher, cast.section, [cast.own], [s[3]], "4")
    run_worker()
    return tree


def test_the_page_its_chart_the_school_report_and_the_state_export_agree(cast: Cast) -> None:
    _world(cast)
    today = timezone.localdate()

    required = core.required_standards([cast.own], cast.term)[cast.own.pk]
    assert len(required) == 6

    progress = learner_progress(cast.own)
    page_counts = (progress.mastered_required, progress.required)
    power_counts = (progress.mastered_power, progress.power)
    assert (page_counts, power_counts, progress.percent_required) == ((1, 6), (1, 2), 17)
    assert ", of 6 required" in progress.chart.description

    client = Client()
    client.force_login(cast.teacher)
    page = client.get(reverse("mastery:learner_page", args=[cast.own.pk])).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "1 of 6 (17%)" in text
    assert "of 6 required" in text  # the chart's description

    lines, _tally, _plan = school_rows(school=cast.school, term=cast.term, as_of=today)
    [line] = [line for line in lines if line.learner.id == cast.own.pk]
    assert (line.mastered, line.required) == page_counts
    assert (line.power_mastered, line.power_required) == power_counts

    out = io.StringIO()
    write_state_export(
        organisation=cast.school, term=cast.term, as_of=today, file_format="csv", out=out
    )
    rows = [
        row
        for row in csv.DictReader(io.StringIO(out.getvalue()))
        if row["state_student_id"] == cast.own.state_student_id
    ]
    assert (sum(row["state"] == "mastered" for row in rows), len(rows)) == page_counts


def test_a_school_report_of_today_reads_the_records_and_says_how_fresh_they_are(
    cast: Cast,
) -> None:
    tree = _world(cast)
    today = timezone.localdate()

    def line_of(summary: dict[str, int]) -> tuple[int, int]:
        lines, _tally, _plan = school_rows(
            school=cast.school, term=cast.term, as_of=today, summary=summary
        )
        [line] = [line for line in lines if line.learner.id == cast.own.pk]
        return line.mastered, line.required

    summary: dict[str, int] = {}
    assert line_of(summary) == (1, 6)
    assert summary == {"pending_recomputes": 0}
    # A rating the workers have not taken in yet: today's report shows the record as it is and
    # says one figure is pending; the recompute brings both to the new figure.
    quick_entry(cast.teacher, cast.section, [cast.own], [tree.standards[2]], "4")
    summary = {}
    assert line_of(summary) == (1, 6)
    assert summary == {"pending_recomputes": 1}
    assert learner_progress(cast.own).mastered_required == 1
    run_worker()
    summary = {}
    assert line_of(summary) == (2, 6)
    assert summary == {"pending_recomputes": 0}
    assert learner_progress(cast.own).mastered_required == 2


@pytest.mark.parametrize(
    ("part", "whole", "shown"),
    [
        (1, 6, 17),
        (1, 8, 13),
        (1, 7, 14),
        (5, 6, 83),
        (1, 200, 1),
        (1, 201, 0),
        (0, 0, 0),
        (3, 3, 100),
    ],
)
def test_percentages_are_rounded_not_truncated(part: int, whole: int, shown: int) -> None:
    assert core.percent(part, whole) == shown


def test_the_core_evaluates_a_record_with_its_override_applied() -> None:
    """core.evaluate_record: the counted ratings alone, or with a teacher's override of 4 in
    force (4.00, mastered, method override, the ratings' evidence count)."""
    settings = core.engine_rules(DEFAULT_POLICY, DEFAULT_SCALE)
    moment = datetime.datetime(2026, 10, 1, 12, tzinfo=datetime.UTC)
    ratings = [
        rules.Rating(Decimal(score), moment + datetime.timedelta(days=i), moment, i + 1)
        for i, score in enumerate(["3", "4", "3", "4", "3.5"])
    ]
    alone = core.evaluate_record(ratings, settings)
    assert alone.score != Decimal("4.00")
    override = Override(
        id=1,
        score=Decimal(4),
        set_at=moment + datetime.timedelta(days=10),
        set_by_id=1,
        set_by_name="A teacher",
        reason="Seen in the lab",
    )
    with_override = core.evaluate_record(ratings, settings, override)
    assert (with_override.score, with_override.mastered) == (Decimal("4.00"), True)
    assert with_override.explanation["method"] == core.OVERRIDE
    assert with_override.evidence_count == alone.evidence_count == 5
