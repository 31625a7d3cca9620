"""Reflections, descriptions and comments never run script in a real browser (S11).

The evidence app's sanitiser tests check the HTML it keeps (tests/evidence/test_text.py).
Here a corpus of payloads (theirs, more, and mutations of each) is stored through the services
as evidence descriptions, comments, titles and a student's reflection, then every page that
shows them is opened in Debian's chromium as the teacher and as the student. Execution is
detected three ways: a dialog (``alert``/``confirm``/``prompt``), a ``window.__xss`` flag the
payloads set, and any Content-Security-Policy violation (the CSP would block an inline script
the sanitiser let through; the sanitiser alone must leave nothing to block).
"""

from __future__ import annotations

import datetime
import html
import urllib.parse
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import Evidence
from tests.evidence.conftest import make_standards
from tests.evidence.test_text import PAYLOADS as SANITISER_PAYLOADS
from tests.personas import Cast, build_cast

pytestmark = pytest.mark.browser

PASSWORD = "Xss-browser-pass-2026"
FLAG = "window.__xss=1"

BASE = [
    *SANITISER_PAYLOADS,
    f"<script>{FLAG}</script>",
    f"<img src=x onerror={FLAG}>",
    f"<svg><script>{FLAG}</script></svg>",
    f"<svg onload={FLAG}>",
    f"<iframe srcdoc='<script>parent.{FLAG}</script>'></iframe>",
    f"<input autofocus onfocus={FLAG}>",
    f"<select autofocus onfocus={FLAG}></select>",
    f"<textarea autofocus onfocus={FLAG}></textarea>",
    f"<keygen autofocus onfocus={FLAG}>",
    f"<video src=x onerror={FLAG}></video>",
    f"<audio src=x onerror={FLAG}></audio>",
    f"<marquee onstart={FLAG}>x</marquee>",
    f"<body onpageshow={FLAG}>",
    f'<a href="javascript:{FLAG}" id=xss>click</a>',
    f"<math href='javascript:{FLAG}'>x</math>",
    f"<object data='data:text/html,<script>{FLAG}</script>'></object>",
    "<img src=x:alert(1) onerror=eval(src)>",
    "<img src=`x`onerror=alert(1)>",
    "<img/src/onerror=alert(1)>",
    '<IMG SRC="jav&#x09;ascript:alert(1);">',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<svg><a><animate attributeName=href values=javascript:alert(1) /><text x=20 y=20>x</text></a>",
    "<style>@import 'javascript:alert(1)';</style>",
    '<div style="width:expression(alert(1))">',
    '<table background="javascript:alert(1)">',
    "<isindex type=image src=1 onerror=alert(1)>",
    "<form><button formaction=javascript:alert(1)>x</button></form>",
    "<base href=javascript:alert(1)//>",
    '"><script>alert(1)</script>',
    "'><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "<!--><script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<xmp><script>alert(1)</script></xmp>",
    "<noembed><img src=x onerror=alert(1)></noembed>",
    "<svg><foreignObject><iframe srcdoc='<script>alert(1)</script>'>",
    "{{constructor.constructor('alert(1)')()}}",
    "${alert(1)}",
    "javascript:alert(1)",
]


def _mutations(payload: str) -> list[str]:
    """The payload as written, in other cases, split by a newline, entity- and URL-encoded."""
    return [
        payload,
        payload.upper(),
        payload.replace("<", "<\n", 1),
        payload.replace(" ", "\t"),
        html.escape(payload),
        urllib.parse.quote(payload),
        payload.replace("alert", "al\u0000ert"),
    ]


CORPUS = sorted({variant for payload in BASE for variant in _mutations(payload)})
PER_FIELD = 25  # payloads per stored field (a description holds 20,000 characters)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _sign_in(page: Any, site_url: str, user: User) -> None:
    page.context.clear_cookies()
    page.goto(f"{site_url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site_url}/")


WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective));
"""


def test_no_stored_payload_runs_on_any_page_that_shows_it(
    site_url: str, browser_page: Any, settings: Any
) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cast: Cast = build_cast()
    for user in (cast.teacher, cast.student):
        user.set_password(PASSWORD)
        user.save()
    standards = make_standards(identifier="xss-fw")
    when = timezone.now() - datetime.timedelta(days=1)
    chunks = _chunks(CORPUS, PER_FIELD)
    recorded: list[Evidence] = []
    for number, chunk in enumerate(chunks):
        recorded.append(
            evidence_services.record_evidence(
                actor=cast.teacher,
                learner=cast.own,
                kind="observation",
                title=chunk[0][:200],
                description="\n".join(chunk),
                demonstrated_at=when,
                section=cast.section,
                scores={standards.counting.pk: 3} if number % 2 == 0 else None,
                comment="".join(chunk)[:4000],
            )
        )
    submitted = evidence_services.submit_evidence(
        actor=cast.student,
        kind="project",
        title=chunks[0][1][:200],
        description="\n".join(chunks[1]),
        demonstrated_at=when,
        section=cast.section,
        reflection=evidence_services.ReflectionInput(
            what_i_learned="".join(chunks[2])[:4900],
            how_i_got_there="".join(chunks[3])[:4900],
            how_i_showed_it="".join(chunks[4])[:4900],
            how_i_will_use_it="".join(chunks[5])[:4900],
        ),
    )
    teacher_pages = [
        *(reverse("evidence:detail", args=[item.pk]) for item in [*recorded, submitted]),
        reverse("evidence:learner", args=[cast.own.pk]),
        reverse("evidence:review_queue"),
        reverse("evidence:index"),
        reverse("mastery:learner_page", args=[cast.own.pk]),
        reverse("mastery:cell_detail", args=[cast.own.pk, standards.counting.pk]),
    ]
    student_pages = [
        reverse("evidence:detail", args=[submitted.pk]),
        reverse("evidence:learner", args=[cast.own.pk]),
        reverse("mastery:my_mastery"),
    ]

    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script(WATCH)
    visited = 0
    for user, urls in ((cast.teacher, teacher_pages), (cast.student, student_pages)):
        _sign_in(page, site_url, user)
        for url in urls:
            response = page.goto(f"{site_url}{url}")
            assert response is not None
            assert response.status == 200, url
            page.wait_for_load_state("load")
            # Focus and hover everything a payload could hang a handler on.
            page.keyboard.press("Tab")
            page.mouse.move(10, 10)
            assert page.evaluate("window.__xss") is None, url
            assert page.evaluate("window.__csp") == [], url
            visited += 1
    assert dialogs == []
    print(f"\nXSS in chromium: {len(CORPUS)} payloads on {visited} pages, 0 executions")


def test_the_detectors_see_a_script_that_runs_and_one_the_csp_blocks(
    site_url: str, browser_page: Any
) -> None:
    """Controls: the same watches catch a dialog and the flag on a page without our CSP, and a
    CSP violation when an inline script is forced into one of our pages."""
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script(WATCH)
    page.set_content(f"<script>{FLAG}; alert('ran')</script>")
    assert page.evaluate("window.__xss") == 1
    assert dialogs == ["ran"]
    page.goto(f"{site_url}{reverse('login')}")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        f" s.textContent = '{FLAG}'; document.body.appendChild(s); }}"
    )
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__xss") is None
    assert "script-src" in page.evaluate("window.__csp")[0]
