"""The three journeys end to end in Debian's chromium (Playwright), with screenshots.

1. A teacher logs ratings with quick entry and sees the grid change; a cell opens its evidence
   and explanation in place.
2. A student submits a project with a file, a reflection and a self-rating; the teacher scores
   it from the review queue; the student sees the new mastery; the guardian reads it, with
   nothing to change; the student opening another learner's page gets "not found".
3. An administrator previews a policy change before saving it (at the end of the first test).

The tests run on the real broker with no worker: after each step that records ratings, the test
does what a mastery worker would do (``run_worker``: rebuild every stale record) before looking
at the pages again. Screenshots land in ``screenshots/`` (ignored by git).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils.timezone import now

from mastery.models import MasteryRecord
from standards.models import Priority
from tests.journeys.helpers import Tree, make_tree, quick_entry, require, run_worker
from tests.pagecheck import SCREENSHOTS
from tests.personas import Cast, build_cast

PASSWORD = "Journey-pass-2026"

pytestmark = pytest.mark.browser


@pytest.fixture
def world(site_url: str, settings: Any) -> tuple[Cast, Tree]:
    # Plain static URLs served by the live server from the source folders (the manifest
    # storage of the test settings needs a collectstatic run the live server does not read).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cast = build_cast()
    for user in (cast.teacher, cast.student, cast.guardian, cast.school_admin):
        user.set_password(PASSWORD)
        user.save()
    tree = make_tree(domains=2, per_domain=3)
    require(cast.school, cast.term, tree.of_domain(0), priority=Priority.POWER)
    require(cast.school, cast.term, tree.of_domain(1))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return cast, tree


def sign_in(page: Any, site_url: str, user: User, next_url: str = "/") -> None:
    page.context.clear_cookies()
    page.goto(f"{site_url}/accounts/login/?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site_url}{next_url}")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_teacher_logs_ratings_with_quick_entry_and_sees_the_grid_change(
    site_url: str, browser_page: Any, world: tuple[Cast, Tree]
) -> None:
    cast, tree = world
    page = browser_page
    grid = f"/mastery/sections/{cast.section.pk}/grid/"
    sign_in(page, site_url, cast.teacher, grid)
    page.get_by_role("heading", name="Maths 5A: mastery grid").wait_for()
    first = page.locator("#grid tbody tr").first.locator("td").first
    assert first.inner_text().strip() == "—"

    page.get_by_role("link", name="Quick entry for this section").click()
    page.get_by_role("heading", name="Quick entry: Maths 5A").wait_for()
    page.get_by_label("Every learner of the section").check()
    page.get_by_label("5.NF.A.1: Statement 1").check()
    page.get_by_label("5.NF.A.2: Statement 2").check()
    page.get_by_label("3 Proficient").check()
    page.get_by_label("Note").fill("Explained equivalent fractions at the board.")
    shot(page, "quick-entry")
    page.get_by_role("button", name="Record ratings").click()
    page.wait_for_url(f"{site_url}{grid}")
    assert page.get_by_text("Recorded 4 ratings for 2 learners").is_visible()
    assert page.get_by_text("4 recomputes pending").is_visible()

    assert run_worker() == 4  # what the mastery worker does after the commit
    page.reload()
    assert page.get_by_text("Up to date with every counted rating.").is_visible()
    assert first.inner_text().strip() == "Proficient"
    shot(page, "grid")

    # Keyboard: one tab stop for the grid, arrow keys between cells.
    first.locator("a").focus()
    page.keyboard.press("ArrowRight")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == f"/mastery/learners/{cast.own.pk}/standards/{tree.standards[1].pk}/"

    # A cell opens the learner's evidence and the explanation in place.
    first.locator("a").click()
    panel = page.locator("#cell-panel")
    panel.get_by_role("heading", name="Ada Own: 5.NF.A.1").wait_for()
    assert panel.get_by_text("Observation", exact=False).first.is_visible()
    panel.get_by_text("How this level was computed").click()
    assert panel.locator("code", has_text="decaying_average").is_visible()
    shot(page, "grid-cell")
    page.keyboard.press("Escape")
    assert panel.is_hidden()

    # Filters: power standards only.
    page.get_by_label("Power standards only").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"{site_url}{grid}?domain=&state=&power=on")
    assert page.locator("#grid thead th").count() == 1 + 3

    # The school's administrator previews a policy change before saving it (in this test, to
    # keep the browser suite short): a later 1 for Ada gives 1.70 under the decaying average,
    # 3 under "highest".
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards[:1], "1", when=now())
    run_worker()
    policy = f"/standards/organisations/{cast.school.pk}/policy/"
    sign_in(page, site_url, cast.school_admin, policy)
    page.get_by_label("Method").select_option("highest")
    # "highest" takes no weight: the weight field hides and what it holds is ignored.
    assert page.get_by_label("Weight of the newest score (%)").is_hidden()
    page.get_by_role("button", name="Preview the change").click()
    preview = page.locator("#whatif")
    preview.get_by_role("heading", name="What-if preview: nothing is saved yet").wait_for()
    assert "1 learner" in preview.inner_text()
    assert "5.NF.A.1: Beginning → Proficient (mastered)" in preview.inner_text()
    shot(page, "policy-what-if")
    page.get_by_role("button", name="Save the policy").click()
    page.get_by_text(
        "The calculation policy was saved; the levels are being recomputed."
    ).wait_for()


def test_a_student_submits_the_teacher_scores_and_the_family_sees_it(
    site_url: str, browser_page: Any, world: tuple[Cast, Tree], tmp_path: Path
) -> None:
    cast, tree = world
    page = browser_page
    standard = tree.standards[3]  # 5.MD.A.1, required
    artifact = tmp_path / "bridge-notes.txt"
    artifact.write_text("Span 30 cm, load 2 kg, triangles in every bay.\n")

    sign_in(page, site_url, cast.student, "/evidence/submit/")
    page.get_by_label("Title").fill("Bridge project")
    page.get_by_label("Kind").select_option("project")
    page.get_by_label("Where the learning happened").select_option("community")
    page.get_by_label("Description").fill("We built a model bridge and measured its load.")
    page.get_by_label("Files (optional: choose several at once if you like)").set_input_files(
        str(artifact)
    )
    page.get_by_label("What did I learn?").fill("Triangles make a frame rigid.")
    page.get_by_label("How did I get there?").fill("Three models that failed first.")
    page.get_by_label("How did I show it?").fill("The bridge held 2 kg.")
    page.get_by_label("How will I use it?").fill("Designing a shelf at home.")
    page.get_by_label("Standard 1 (code)").fill(standard.human_code)
    page.get_by_label("My level for standard 1").select_option("3")
    shot(page, "submit-evidence")
    page.get_by_role("button", name="Submit evidence").click()
    page.get_by_text("Your evidence was submitted to your teachers.").wait_for()

    sign_in(page, site_url, cast.teacher, "/evidence/review/")
    queue = page.locator("article", has_text="Bridge project")
    assert queue.get_by_text("Download bridge-notes.txt").is_visible()
    queue.get_by_text("Reflection").click()
    assert queue.get_by_text("Triangles make a frame rigid.").is_visible()
    assert queue.get_by_text(f"{standard.human_code} 3").is_visible()
    shot(page, "review-queue")
    queue.get_by_role("link", name="Review and score Bridge project").click()
    page.get_by_label(f"Level for {standard.human_code}").select_option("4")
    page.get_by_label("Comment").fill("Clear measurements: well done.")
    page.get_by_role("button", name="Save the review").click()
    page.get_by_text("Review saved.").wait_for()

    run_worker()  # what the mastery worker does after the commit
    record = MasteryRecord.objects.get(learner=cast.own, standard=standard)
    assert (record.level_label, record.mastered) == ("Advanced", True)

    sign_in(page, site_url, cast.student, "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My mastery").click()
    page.get_by_role("heading", name="My progress").wait_for()
    card = page.locator("article.standard-card", has_text=standard.human_code)
    assert "Advanced: your 1 piece of evidence comes to 4; mastered from 3." in card.inner_text()
    assert "You rated yourself Proficient." in card.inner_text()  # beside the teacher's level
    assert page.get_by_role("heading", name="Mastered over time").is_visible()
    shot(page, "my-mastery")

    other = page.goto(f"{site_url}/mastery/learners/{cast.same_section.pk}/")
    assert other is not None
    assert other.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    shot(page, "not-found")

    sign_in(page, site_url, cast.guardian, "/learners/")
    page.get_by_role("link", name="Mastery of Ada Own").click()
    page.get_by_role("heading", name="Progress of Ada Own").wait_for()
    assert page.get_by_text("This page is read-only.").is_visible()
    card = page.locator("article.standard-card", has_text=standard.human_code)
    assert card.get_by_text("Advanced:").is_visible()
    assert page.locator("form[method=post]").count() == 1  # only "Sign out"
    shot(page, "guardian-learner")
