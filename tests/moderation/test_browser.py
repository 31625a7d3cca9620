"""Moderation end to end in Debian's chromium, every page at phone and laptop widths (no
sideways scrolling, 0 serious axe violations): a district administrator shares a common task
and starts a round; the reviewer rates a piece blind; the administrator reads the agreement,
closes the round adopting the moderated rating, keeps demographics and queues the equity
audit; a teacher records a task's results, reads their own agreement beside the group's, and
finds a record whose estimators disagree marked on the grid and side by side on its cell."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from evidence import services as evidence_services
from mastery import services as mastery_services
from mastery.models import MasteryRecord
from moderation.models import ModerationItem, ModerationRound
from tests.moderation.world import CANARY_GIVEN, District, build_district
from tests.pagecheck import SIZES, check_page

PASSWORD = "Moderation-pass-2026"

pytestmark = pytest.mark.browser


@pytest.fixture
def district(site_url: str, settings: Any, tmp_path: Any) -> District:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MEDIA_ROOT = tmp_path / "media"
    built = build_district()
    for user in [*built.teachers(), built.district_admin]:
        user.set_password(PASSWORD)
        user.save()
    return built


def sign_in(page: Any, site_url: str, user: User, next_url: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{site_url}/accounts/login/?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site_url}{next_url}")


def checked(page: Any, what: str) -> None:
    for size in SIZES.values():
        page.set_viewport_size(size)
        check_page(page, what=what)
    page.set_viewport_size(SIZES["laptop"])


def test_a_round_from_start_to_adoption_and_a_common_task(
    site_url: str, browser_page: Any, district: District
) -> None:
    page = browser_page
    admin = district.district_admin
    sign_in(page, site_url, admin, "/moderation/")
    checked(page, "the moderation index (administrator)")
    page.goto(f"{site_url}/moderation/tasks/new/")
    page.get_by_label("Title").fill("Counting jars")
    page.get_by_label("Prompt").fill("Estimate, then count, the beans in the jar.")
    page.get_by_label("Standards").fill(district.standards.counting.human_code)
    page.get_by_label("What Proficient (3) looks like").fill("Counts every bean, checks by tens.")
    checked(page, "the new common task form")
    page.get_by_role("button", name="Share the task").click()
    page.wait_for_url("**/moderation/tasks/*/")
    checked(page, "a common task")

    page.goto(f"{site_url}/moderation/rounds/new/")
    page.get_by_label("Title").fill("Counting, autumn")
    page.get_by_label("Standards").fill(district.standards.counting.human_code)
    page.get_by_label("Pieces to sample").fill("12")
    page.get_by_label("Seed").fill("5")
    checked(page, "the new round form")
    page.get_by_role("button", name="Draw the sample").click()
    page.wait_for_url("**/moderation/rounds/*/")
    round_ = ModerationRound.objects.get(title="Counting, autumn")
    assert round_.items.count() == 12
    checked(page, "an open round")

    item = ModerationItem.objects.get(round=round_, rating=district.canary_rating)
    sign_in(page, site_url, item.reviewer, "/moderation/reviews/")
    checked(page, "the reviewer's pieces")
    page.get_by_role("link", name=f"Piece {item.position}", exact=True).click()
    page.wait_for_url(f"**/moderation/reviews/{item.pk}/")
    assert CANARY_GIVEN not in page.content()
    checked(page, "a blind piece")
    page.get_by_label("Advanced (4)").check()
    page.get_by_role("button", name="Save my rating").click()
    page.wait_for_load_state()
    assert item.ratings.count() == 1

    sign_in(page, site_url, admin, f"/moderation/rounds/{round_.pk}/")
    assert page.get_by_role("table", name="The whole round").is_visible()
    page.get_by_label("Adopt the moderated ratings").check()
    page.get_by_label("Reason").fill("Agreed at the calibration meeting")
    page.get_by_role("button", name="Close the round").click()
    page.wait_for_url(f"**/moderation/rounds/{round_.pk}/")
    assert "1 moderated ratings adopted" in page.content()
    checked(page, "a closed round")
    item.refresh_from_db()
    assert item.adopted_rating is not None

    page.goto(f"{site_url}/moderation/equity/")
    checked(page, "the equity audit page")
    page.get_by_role("button", name=f"Keep them for {district.district.name}").click()
    page.wait_for_url("**/moderation/equity/")
    page.get_by_role("button", name="Queue the audit").click()
    page.wait_for_url("**/reports/*/")
    checked(page, "the queued equity audit")

    teacher = district.t_b1
    sign_in(page, site_url, teacher, "/moderation/tasks/")
    checked(page, "the common tasks (teacher)")
    page.get_by_role("link", name="Counting jars").click()
    page.get_by_role("link", name=district.b1.title).click()
    page.wait_for_url("**/sections/*/")
    checked(page, "a task's results form")
    page.get_by_role("button", name="Record the results").click()
    page.wait_for_load_state()
    assert "Choose a level for at least one learner." in page.content()

    page.goto(f"{site_url}/moderation/")
    assert "Everyone in these rounds" in page.content()
    checked(page, "the moderation index (teacher: own agreement beside the group's)")

    # 4 then 1 on adding: the average 2.50 beside the latest 1.00, a level apart: flagged.
    learner, adding = district.learners[8], district.standards.adding
    evidence_services.record_evidence(
        actor=teacher, learner=learner, kind="observation", title="Adding again",
        demonstrated_at=timezone.now(), scores={adding.pk: "1"},
    )  # fmt: skip
    mastery_services.recompute_mastery(learner_id=learner.pk, standard_id=adding.pk)
    assert MasteryRecord.objects.get(learner=learner, standard=adding).inconsistent
    page.goto(f"{site_url}/mastery/sections/{district.b1.pk}/grid/")
    assert page.locator("td.flagged").count() == 1
    # The flag's words for screen readers are clipped by the grid's scrolling region, wherever
    # the column: positioned against the page, a flag in a far column widened 390 px phones.
    assert page.evaluate(
        "() => !!document.querySelector('td.flagged .visually-hidden')"
        ".offsetParent.closest('.grid-scroll')"
    )
    checked(page, "the grid with a flagged cell")
    page.goto(f"{site_url}/mastery/learners/{learner.pk}/standards/{adding.pk}/")
    assert "the evidence is inconsistent: look again" in page.content()
    checked(page, "a flagged cell's page (the estimators side by side)")
