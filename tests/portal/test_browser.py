"""A student and a guardian walk their pages in Debian's chromium, in English and in Spanish
(the browser's language), at phone and laptop sizes: every page passes ``check_page`` (no
sideways scrolling, 0 serious or critical axe-core violations), shows no code word of the
engine, and explains every number in words. Screenshots of the learner's home and the
guardian's page at phone size land in ``screenshots/``.

One test, one browser: the walk is the costly part, each page is opened once per language and
checked at both sizes.
"""

from __future__ import annotations

import datetime
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from evidence import services as evidence_services
from evidence.models import Evidence
from notifications import services as notification_services
from portal import services as portal_services
from standards.models import Association, ElectiveGroup, Priority
from tests.journeys.helpers import make_tree, quick_entry, require, run_worker
from tests.pagecheck import LAPTOP, PHONE, SCREENSHOTS, check_page
from tests.personas import build_cast
from tests.portal.test_pages import CODE_WORDS, ISO_MOMENT

PASSWORD = "Portal-walk-2026"

pytestmark = pytest.mark.browser

# Text nodes holding a digit must hold a word too (standard codes excepted): "2 of 6 required
# standards mastered", never a bare "2" or "2.23".
BARE_NUMBERS = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    if (!/[0-9]/.test(text)) continue;
    if (node.parentElement.closest('.code, script, style, option, textarea, label')) continue;
    if (!/\\p{L}{3,}/u.test(text)) found.push(text);
  }
  return found;
}"""


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def world(site_url: str, settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MEDIA_ROOT = tmp_path / "media"
    cast = build_cast()
    for user in (cast.student, cast.guardian):
        user.set_password(PASSWORD)
        user.save()
    tree = make_tree(domains=2, per_domain=3)
    require(cast.school, cast.term, tree.of_domain(0), priority=Priority.POWER)
    require(cast.school, cast.term, tree.of_domain(1))
    Association.objects.create(
        framework=tree.standards[0].framework,
        identifier="walk-precedes",
        association_type="precedes",
        origin=tree.standards[0],
        origin_identifier=tree.standards[0].identifier,
        destination=tree.standards[3],
        destination_identifier=tree.standards[3].identifier,
    )
    earlier = timezone.now() - datetime.timedelta(days=20)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards[:1], "3", when=earlier)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards[:2], "4")
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards[1:2], "1")
    submitted = evidence_services.submit_evidence(
        actor=cast.student,
        kind="project",
        title="Fraction wall",
        description="Strips folded in halves, thirds and quarters.",
        demonstrated_at=timezone.now() - datetime.timedelta(days=2),
        self_scores={tree.standards[2].pk: "4"},
        links=["https://example.org/wall", "https://example.org/wall-video"],
        files=[
            SimpleUploadedFile("wall.png", _photo(), content_type="image/png"),
            SimpleUploadedFile("notes.txt", b"Halves, thirds, quarters.\n"),
        ],
    )
    evidence_services.review_submission(
        actor=cast.teacher,
        evidence=submitted,
        decision="score",
        scores={tree.standards[2].pk: 2},
        comment="Label the thirds.",
    )
    run_worker()
    notification_services.notify_standard_mastered(
        learner_id=cast.own.pk, standard_id=tree.standards[0].pk
    )
    portal_services.save_goal(
        actor=cast.student,
        title="Explain equivalent fractions",
        standards=str(tree.standards[1].human_code),
        target_date=cast.term.end_date,
    )
    notification_services.save_preferences(
        actor=cast.guardian, language="", receive={}, digests=[cast.own.pk]
    )
    electives = ElectiveGroup.objects.create(
        organisation=cast.school, term=cast.term, grade_level="05", title="Geometry", choose=1
    )
    electives.standards.set(tree.standards[4:6])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    teacher_note = Evidence.objects.filter(learner=cast.own).exclude(pk=submitted.pk).first()
    assert teacher_note is not None
    return {"cast": cast, "submitted": submitted, "teacher_note": teacher_note}


def _sign_in(page: Any, site_url: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{site_url}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{site_url}/")


def _check_words(page: Any, what: str) -> None:
    text = page.evaluate("() => document.querySelector('main').textContent")
    text = re.sub(r"\s+", " ", text)
    for word in CODE_WORDS:
        at = text.find(word)
        assert at < 0, f"{what}: code word {word!r} in ...{text[max(0, at - 60) : at + 60]}"
    iso = ISO_MOMENT.search(text)
    assert iso is None, f"{what}: a timestamp for machines: {iso.group(0) if iso else ''}"
    bare = page.evaluate(BARE_NUMBERS)
    assert bare == [], f"{what}: numbers without words: {bare}"


def _walk(page: Any, url: str, what: str, shot: str = "") -> None:
    page.set_viewport_size(PHONE)
    page.goto(url)
    _check_words(page, what)
    check_page(page, what=f"{what} (phone)")
    if shot:
        page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
    page.set_viewport_size(LAPTOP)
    check_page(page, what=f"{what} (laptop)")


def test_a_student_and_a_guardian_walk_their_pages_in_english_and_spanish(
    site_url: str, browser_page: Any, world: dict[str, Any]
) -> None:
    cast = world["cast"]
    submitted = world["submitted"]
    browser = browser_page.context.browser
    student_pages = [
        ("/", "student home", "learner-home"),
        (reverse("mastery:my_mastery"), "my progress", ""),
        (reverse("evidence:detail", args=[submitted.pk]), "my submission", ""),
        (reverse("evidence:detail", args=[world["teacher_note"].pk]), "teacher's note", ""),
        (reverse("evidence:submit"), "submit evidence", ""),
        (reverse("portal:goals"), "my goals", ""),
        (reverse("learners:my_profile"), "my profile", ""),
        (reverse("standards:my_electives"), "my electives", ""),
        (reverse("portal:notifications"), "notifications", ""),
        (reverse("portal:settings"), "settings", ""),
        (reverse("badges:learner_credentials", args=[cast.own.pk]), "credentials", ""),
    ]
    guardian_pages = [
        ("/", "guardian home", "guardian-home"),
        (reverse("mastery:learner_page", args=[cast.own.pk]), "child's progress", "guardian"),
        (reverse("evidence:learner", args=[cast.own.pk]), "child's evidence", ""),
        (reverse("evidence:detail", args=[submitted.pk]), "child's submission", ""),
        (reverse("portal:notifications"), "guardian notifications", ""),
        (reverse("portal:settings"), "guardian settings", ""),
        (reverse("badges:learner_credentials", args=[cast.own.pk]), "child's credentials", ""),
    ]
    expected = {
        "en": ("What to work on next", "Progress of"),
        "es": ("En qué trabajar ahora", "Progreso de"),
    }
    for language in ("en", "es"):
        context = browser.new_context(locale=language)  # the browser's language decides
        page = context.new_page()
        try:
            _sign_in(page, site_url, cast.student.username)
            for path, what, shot in student_pages:
                _walk(
                    page,
                    f"{site_url}{path}",
                    f"{what} [{language}]",
                    f"{shot}-{language}-phone" if shot else "",
                )
                assert page.evaluate("document.documentElement.lang") == language
                if path == "/":
                    assert page.get_by_text(expected[language][0]).first.is_visible()
            # The image's preview is a re-encoded PNG the page shows.
            page.goto(f"{site_url}{reverse('evidence:detail', args=[submitted.pk])}")
            preview = page.locator(".previews img").first
            answer = page.request.get(f"{site_url}{preview.get_attribute('src')}")
            assert (answer.status, answer.headers["content-type"]) == (200, "image/png")
            assert answer.headers["x-content-type-options"] == "nosniff"
            preview.scroll_into_view_if_needed()
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=preview.element_handle()
            )
            assert preview.evaluate("img => img.naturalWidth") == 64
            _sign_in(page, site_url, cast.guardian.username)
            for path, what, shot in guardian_pages:
                _walk(
                    page,
                    f"{site_url}{path}",
                    f"{what} [{language}]",
                    f"{shot}-{language}-phone" if shot else "",
                )
                if what == "child's progress":
                    assert (
                        page.get_by_role("heading", level=1)
                        .inner_text()
                        .startswith(expected[language][1])
                    )
        finally:
            context.close()
