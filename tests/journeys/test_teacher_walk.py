"""A teacher's day in chromium, every page checked at 1366x768 and 390x844 (tests/pagecheck.py).

Home (what needs attention), the grid (readable column labels, a statement on tap, the focus
ring on every level colour, the cell panel on a phone), 25 learners rated on 3 standards with
different levels in one save by keyboard alone (the key presses are counted), quick entry with
a level per learner, the review queue (filtered by section, a bulk decision).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import Evidence, Rating
from learners.selectors import section_roster
from standards.models import Framework, Priority, Standard
from tests.factories import EnrollmentFactory, LearnerFactory
from tests.journeys.browsing import (
    Keys,
    look,
    serve_static_from_source,
    set_password,
    sign_in,
    visit,
)
from tests.journeys.helpers import require, run_worker
from tests.pagecheck import LAPTOP, PHONE
from tests.personas import build_cast

pytestmark = pytest.mark.browser

LEVELS = {"4": "Advanced", "3": "Proficient", "2": "Developing", "1": "Beginning"}


def _ccss_tree() -> list[Standard]:
    """Three standards coded as CCSS codes them: their full codes share a long prefix."""
    framework = Framework.objects.create(
        identifier="walk-ccss", title="Walk maths", source_format="case"
    )
    domain = Standard.objects.create(
        framework=framework,
        identifier="walk-nf",
        statement="Number and Operations—Fractions",
        item_type="Domain",
        is_grouping=True,
        depth=1,
    )
    return [
        Standard.objects.create(
            framework=framework,
            identifier=f"walk-{n}",
            parent=domain,
            human_code=f"CCSS.Math.Content.5.NF.A.{n}",
            statement=f"Fractions statement {n}: add and subtract with unlike denominators.",
            item_type="Standard",
            depth=2,
            position=n,
        )
        for n in (1, 2, 3)
    ]


def test_a_teachers_day_on_a_laptop_and_a_phone(
    site_url: str, browser_page: Any, settings: Any
) -> None:
    serve_static_from_source(settings)
    cast = build_cast()
    set_password(cast.teacher)
    standards = _ccss_tree()
    require(cast.school, cast.term, standards[:1], priority=Priority.POWER)
    require(cast.school, cast.term, standards[1:])
    for n in range(23):
        learner = LearnerFactory(school=cast.school, given_name=f"Kid{n:02d}")
        EnrollmentFactory(learner=learner, section=cast.section)
    evidence_services.submit_evidence(
        actor=cast.student,
        kind="project",
        title="Fraction strips",
        description="Strips folded in halves and quarters.",
        demonstrated_at=timezone.now() - datetime.timedelta(days=1),
        section=cast.section,
        self_scores={standards[0].pk: "3"},
    )
    page = browser_page
    grid = f"/mastery/sections/{cast.section.pk}/grid/"

    # Home: the section with what needs attention.
    sign_in(page, site_url, cast.teacher)
    assert page.get_by_text("1 submission to review").is_visible()
    assert page.get_by_text("24 learners without evidence in the last 14 days").is_visible()
    look(page, "home-teacher", shots=True)

    # The grid: readable labels, the statement on tap, no column for the self-rating.
    visit(page, site_url, grid, "grid")
    labels = page.locator("#grid thead button.col").all_inner_texts()
    assert labels == ["5.NF.A.1", "5.NF.A.2", "5.NF.A.3"]
    page.locator("#grid thead button.col").first.click()
    tip = page.locator("#grid thead th.open .col-tip")
    assert "Fractions statement 1" in tip.inner_text()
    assert "CCSS.Math.Content.5.NF.A.1" in tip.inner_text()

    # 25 learners x 3 standards, a different level per learner, by keyboard alone, one save.
    page.goto(f"{site_url}{grid}")
    keys = Keys(page)
    keys.press("Tab", 2)  # the skip links: "Skip to content", "Skip to the grid"
    keys.press("Enter")
    learners = list(
        section_roster(cast.teacher, cast.section).order_by("family_name", "given_name", "pk")
    )
    assert len(learners) == 25
    typed = {}
    for column, standard in enumerate(standards):
        for row, learner in enumerate(learners):
            digit = str(1 + (row + column) % 4)
            typed[(learner.pk, standard.pk)] = digit
            keys.press(digit)
    assert page.get_by_text("75 levels for 25 learners typed, not saved yet").is_visible()
    keys.press("Tab")  # out of the grid: the save button
    keys.press("Enter")
    page.get_by_text("Recorded 75 ratings for 25 learners").wait_for()
    print(f"\ngrid entry: 25 learners x 3 standards in {keys.count} key presses")
    assert keys.count == 80
    assert Evidence.objects.filter(section=cast.section, title="Observation").count() == 25
    saved = {
        (r.learner_id, r.standard_id): str(int(r.score))
        for r in Rating.objects.filter(evidence__title="Observation")
    }
    assert saved == typed
    run_worker()
    page.reload()
    first_row = page.locator("#grid tbody tr").first.locator("td")
    assert first_row.all_inner_texts() == [LEVELS[typed[(learners[0].pk, s.pk)]] for s in standards]
    look(page, "grid-rated", shots=True)

    # The focus ring shows on a "Developing" cell (orange): black outside, white inside.
    developing = page.locator("#grid td.lv-2 a").first
    developing.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    assert outline == "rgb(0, 0, 0)"

    # The cell panel fits a phone.
    page.set_viewport_size(PHONE)
    page.locator("#grid tbody tr").first.locator("td a").first.click()
    panel = page.locator("#cell-panel")
    panel.get_by_role("button", name="Close").wait_for()
    box = panel.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    look(page, "grid-cell-panel", shots=True)

    page.keyboard.press("Escape")

    # The same cell without JavaScript: its own page.
    visit(
        page,
        site_url,
        f"/mastery/learners/{learners[0].pk}/standards/{standards[0].pk}/",
        "grid-cell",
        shots=True,
    )

    # Quick entry: a level per learner.
    page.set_viewport_size(LAPTOP)
    visit(page, site_url, f"/evidence/record/{cast.section.pk}/", "quick-entry")
    page.get_by_label(f"Level for {cast.own.display_name}").select_option("4")
    page.get_by_label(f"Level for {cast.same_section.display_name}").select_option("2")
    page.get_by_label("5.NF.A.3: Fractions statement 3").check()
    page.get_by_role("button", name="Record ratings").click()
    page.get_by_text("Recorded 2 ratings for 2 learners").wait_for()

    # The review queue: narrowed to the section, the submission scored at its self-rating.
    visit(page, site_url, f"/evidence/review/?section={cast.section.pk}", "review-queue")
    page.get_by_label(f"Tick Fraction strips by {cast.own.display_name}").check()
    page.get_by_role("button", name="Apply to the ticked submissions").click()
    page.get_by_text("Scored 1 submission.").wait_for()

    # The learner page, its transcript request, and the other pages of the day.
    visit(page, site_url, f"/mastery/learners/{cast.own.pk}/", "learner-page-staff")
    page.get_by_role("button", name=f"Mastery transcript of {cast.own.display_name}").click()
    page.get_by_role("heading", name=f"Learner mastery transcript of {cast.own.display_name}")
    look(page, "report-waiting")
    for path, name in (
        ("/learners/sections/", "my-sections"),
        (f"/learners/sections/{cast.section.pk}/", "section"),
        ("/learners/", "learners"),
        (f"/learners/{cast.own.pk}/", "learner"),
        ("/evidence/", "evidence"),
    ):
        visit(page, site_url, path, name)
