"""The learner's mastery page: progress by domain, levels with the self-rating beside them, the
growth chart, freshness, and what each role may do there (guardians only read)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import Evidence
from mastery.progress import learner_progress
from standards import services as standards_services
from standards.models import Priority
from tests.factories import LearnerProfileFactory
from tests.journeys.helpers import make_tree, quick_entry, require, run_worker
from tests.personas import Cast

pytestmark = pytest.mark.django_db


def _page(user: object, url: str) -> str:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _world(cast: Cast) -> list[object]:
    tree = make_tree(domains=2, per_domain=2)
    require(cast.school, cast.term, tree.of_domain(0), priority=Priority.POWER)
    require(cast.school, cast.term, tree.of_domain(1))
    quick_entry(cast.teacher, cast.section, [cast.own], tree.of_domain(0), "3")
    quick_entry(cast.teacher, cast.section, [cast.own], tree.of_domain(1)[:1], "2")
    evidence_services.submit_evidence(
        actor=cast.student, kind="project", title="Garden plot", description="Measured it.",
        demonstrated_at=timezone.now() - datetime.timedelta(days=1),
        self_scores={tree.standards[2].pk: "4"},
    )  # fmt: skip
    run_worker()
    return list(tree.standards)


def test_progress_counts_required_and_power_standards_by_domain(cast: Cast) -> None:
    _world(cast)
    progress = learner_progress(cast.own)
    assert (progress.mastered_required, progress.required) == (2, 4)
    assert (progress.mastered_power, progress.power) == (2, 2)
    assert [(d.domain.label, d.mastered_required, d.required) for d in progress.domains] == [
        ("Number and Operations—Fractions", 2, 2),
        ("Measurement and Data", 0, 2),
    ]
    assert progress.chart.rows[-1][1] == 2  # two required standards mastered so far


def test_the_learner_page_shows_the_self_rating_beside_the_teachers_level(cast: Cast) -> None:
    standards = _world(cast)
    page = _page(cast.teacher, reverse("mastery:learner_page", args=[cast.own.pk]))
    row = re.search(rf"{re.escape(str(standards[2].human_code))}</a>.*?</tr>", page, re.S)
    assert row is not None
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(0)))
    assert "Developing Not yet" in cells
    assert "Advanced (4)" in cells  # the learner's own rating, beside the teacher's level
    assert "2 of 4" in page
    assert '<svg class="step-chart"' in page
    assert "Required standards mastered over time" in page
    assert "Up to date with every counted rating." in page


def test_the_page_says_when_a_recompute_is_pending(cast: Cast) -> None:
    standards = _world(cast)
    quick_entry(cast.teacher, cast.section, [cast.own], standards[3:], "4")
    page = _page(cast.guardian, reverse("mastery:learner_page", args=[cast.own.pk]))
    assert "Some levels are being updated and may change in a moment." in page
    assert '<span class="pending-note">(being updated)</span>' in page


def test_a_guardian_reads_the_page_without_any_form_to_change_it(cast: Cast) -> None:
    _world(cast)
    LearnerProfileFactory(learner=cast.own, goals="Explain fractions to my brother.")
    page = _page(cast.guardian, reverse("mastery:learner_page", args=[cast.own.pk]))
    assert "This page is read-only." in page
    assert "Explain fractions to my brother." in page
    assert "Garden plot" in page
    # The only form on the page is the sign-out button of the layout.
    assert re.findall(r'<form method="post" action="([^"]+)"', page) == [reverse("logout")]
    assert "Quick entry" not in page
    assert "Submit evidence" not in page


def test_the_teacher_gets_quick_entry_for_the_learners_section(cast: Cast) -> None:
    _world(cast)
    page = _page(cast.teacher, reverse("mastery:learner_page", args=[cast.own.pk]))
    quick = reverse("evidence:record_ratings", args=[cast.section.pk])
    assert f'href="{quick}?learner={cast.own.pk}&amp;next=' in page
    assert "This page is read-only." not in page


def test_my_mastery_lists_what_was_returned_to_revise(cast: Cast) -> None:
    _world(cast)
    submission = Evidence.objects.get(title="Garden plot")
    evidence_services.review_submission(
        actor=cast.teacher, evidence=submission, decision="return", comment="Add a photo."
    )
    page = _page(cast.student, reverse("mastery:my_mastery"))
    assert re.search(r"<h1>\s*My progress\s*</h1>", page)
    assert reverse("evidence:revise", args=[submission.pk]) in page
    assert "Add a photo." in page
    assert reverse("evidence:submit") in page
    assert reverse("standards:my_electives") in page


def _learner_page_queries(user: object, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    client.get(url)  # the session and the user are cached after the first request
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_learner_page_runs_the_same_number_of_queries_for_more_standards_and_evidence(
    cast: Cast,
) -> None:
    url = reverse("mastery:learner_page", args=[cast.own.pk])
    first = make_tree(domains=1, per_domain=2)
    require(cast.school, cast.term, first.standards, priority=Priority.POWER)
    quick_entry(cast.teacher, cast.section, [cast.own], first.standards, "3")
    run_worker()
    small = _learner_page_queries(cast.teacher, url)
    second = make_tree(domains=3, per_domain=4)
    require(cast.school, cast.term, second.standards)
    for day in range(1, 6):
        quick_entry(
            cast.teacher,
            cast.section,
            [cast.own],
            second.standards,
            str(1 + day % 4),
            when=timezone.now() - datetime.timedelta(days=day),
        )
    run_worker()
    quick_entry(cast.teacher, cast.section, [cast.own], second.standards[:3], "4")  # pending
    large = _learner_page_queries(cast.teacher, url)
    assert small == large, (small, large)
    assert small > 8  # the page's own reads really were captured
    assert small <= 19, small  # 26 before the learner page read its progress in plain SQL


def test_a_required_domain_with_its_rolled_up_record_is_up_to_date(cast: Cast) -> None:
    # A grouping's record is keyed by the grouping rules (ADR 8): once rolled up from fresh
    # children it is not waiting for a recompute, on the page and in its count.
    tree = make_tree(domains=1, per_domain=2)
    require(cast.school, cast.term, [tree.domains[0], *tree.standards])
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "4")
    run_worker()
    progress = learner_progress(cast.own)
    domain = next(item for item in progress.standards if item.standard_id == tree.domains[0].pk)
    assert domain.record_id is not None
    assert domain.required
    assert (domain.pending, progress.pending) == (False, 0)
    page = _page(cast.teacher, reverse("mastery:learner_page", args=[cast.own.pk]))
    assert "Up to date with every counted rating." in page


def test_the_latest_evidence_lists_its_first_ratings_and_links_to_the_rest(cast: Cast) -> None:
    # The timeline is bounded whatever the number of ratings: a piece rated on 24 standards
    # shows its first 20 and sends the teacher to its own page for the other 4.
    tree = make_tree(domains=4, per_domain=6)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "3")
    piece = Evidence.objects.get(learner=cast.own)
    page = _page(cast.teacher, reverse("mastery:learner_page", args=[cast.own.pk]))
    latest = page[page.index('id="evidence-heading"') :]
    assert latest.count(": 3.00 (Teacher)") == 20
    detail = reverse("evidence:detail", args=[piece.pk])
    assert f'<a href="{detail}">4 more ratings on its page</a>' in latest
    assert f'href="{reverse("evidence:learner", args=[cast.own.pk])}"' in latest


def test_the_teacher_reads_the_learners_elective_choice_and_profile(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=2)
    group = standards_services.create_elective_group(
        actor=cast.school_admin, organisation=cast.school, term=cast.term, grade_level="05",
        title="Pick one <b>now</b>", choose=1, standards=tree.standards,
    )  # fmt: skip
    standards_services.choose_elective(actor=cast.student, group=group, standard=tree.standards[1])
    LearnerProfileFactory(learner=cast.own, strengths="Patterns & shapes")
    page = _page(cast.teacher, reverse("mastery:learner_page", args=[cast.own.pk]))
    choices = page[page.index('id="electives-heading"') : page.index('id="evidence-heading"')]
    code = tree.standards[1].human_code
    assert f"Pick one &lt;b&gt;now&lt;/b&gt;: {code} (Waiting for approval)" in choices
    assert "Patterns &amp; shapes" in page
