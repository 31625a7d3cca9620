"""In chromium: a teacher and a student sign in through a real OpenID Connect provider on
loopback and land on their home page; a person the roster does not have and a deactivated one
are refused with a plain page. Then LTI launches from a test platform on another site
(127.0.0.1, while we are localhost: the launch is a real cross-site form post) open the
teacher's section grid and the student's own mastery, and a parent's launch opens nothing.
Every page of ours is checked at phone and laptop sizes. One browser for the module."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from identity.models import IdentityProvider, LtiDeployment, LtiPlatform
from identity.sealing import seal
from learners.models import RosterIdentity
from tests.identity.platform import CLIENT_ID, DEPLOYMENT, ISSUER, MEMBERSHIP, running_platform
from tests.identity.provider import running_provider
from tests.pagecheck import SCREENSHOTS, SIZES, check_page
from tests.personas import build_cast

ACCOUNTS = {
    "ms-rivera": {"email": "teacher@example.org", "email_verified": True},
    "sam": {"email": "student@example.org", "email_verified": True},
    "stranger": {"email": "stranger@example.org", "email_verified": True},
    "left-school": {"email": "deactivated_teacher@example.org", "email_verified": True},
}


def _check_both_sizes(page: Any, what: str, shot: str = "") -> None:
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        check_page(page, what=what)
        if shot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{shot}-{name}.png"))


@pytest.mark.browser
def test_single_sign_on_and_lti_launches_in_a_browser(site_url: str, browser_page: Any) -> None:
    cast = build_cast()
    with running_provider([f"{site_url}/identity/sso/callback/"], ACCOUNTS) as idp:
        IdentityProvider.objects.create(
            organisation=cast.district, name="Northside accounts", issuer=idp.issuer,
            client_id=idp.client_id, client_secret_sealed=seal(idp.client_secret),
        )  # fmt: skip
        page = browser_page
        first = True
        for login, lands_on, heading in (
            ("ms-rivera", f"{site_url}/", None),
            ("sam", f"{site_url}/", None),
            ("stranger", f"{site_url}/identity/refused/unknown/", "We could not find you"),
            ("left-school", f"{site_url}/identity/refused/deactivated/", "account is turned off"),
        ):  # fmt: skip
            page.context.clear_cookies()  # each person at their own computer (no provider session)
            page.goto(f"{site_url}/")
            if first:
                _check_both_sizes(
                    page, "the sign-in page with a school account button", "sso-sign-in"
                )
                first = False
            page.get_by_role("link", name="Sign in with Northside accounts").click()
            # The provider's own page (not ours: its look is the provider's business).
            page.wait_for_selector("input[name=login]")
            page.fill("input[name=login]", login)
            page.fill("input[name=password]", "their-password-at-the-provider")
            page.locator("button[type=submit]").click()
            page.wait_for_url(lands_on)
            _check_both_sizes(page, f"where {login} lands", f"sso-{login}")
            if heading is None:
                assert page.get_by_role("button", name="Sign out").is_visible()
                page.get_by_role("button", name="Sign out").click()
                page.wait_for_url(f"{site_url}/accounts/login/")
            else:
                assert page.get_by_role("heading", name=heading).is_visible()
                assert page.get_by_role("link", name="Back to the sign-in page").is_visible()

    _lti_launches(site_url, page, cast)


def _lti_launches(site_url: str, page: Any, cast: Any) -> None:
    for user, sourced_id in (
        (cast.teacher, "or-t"),
        (cast.student, "or-s"),
        (cast.guardian, "or-g"),
    ):
        RosterIdentity.objects.create(user=user, sourced_id=sourced_id)
    cast.section.sourced_id = "or-section"
    cast.section.save(update_fields=["sourced_id"])
    with running_platform() as lms:
        lms.people.update(
            teacher={"roles": [MEMBERSHIP + "Instructor"], "person": "or-t",
                     "course_section_sourced_id": "or-section"},
            student={"roles": [MEMBERSHIP + "Learner"], "person": "or-s"},
            parent={"roles": [MEMBERSHIP + "Mentor"], "person": "or-g"},
        )  # fmt: skip
        platform = LtiPlatform.objects.create(
            organisation=cast.district, name="District LMS", issuer=ISSUER, client_id=CLIENT_ID,
            auth_login_url=lms.auth_url, key_set_url=lms.key_set_url,
        )  # fmt: skip
        LtiDeployment.objects.create(platform=platform, deployment_id=DEPLOYMENT)
        grid = reverse("mastery:section_grid", args=[cast.section.pk])
        for hint, lands_on, heading in (
            ("teacher", grid, cast.section.title),
            ("student", reverse("mastery:my_mastery"), None),
            ("parent", "/identity/refused/families/", "Nothing to open here for families"),
        ):  # fmt: skip
            page.context.clear_cookies()
            query = {"iss": ISSUER, "login_hint": hint, "target_link_uri": f"{site_url}/",
                     "client_id": CLIENT_ID, "lti_deployment_id": DEPLOYMENT}  # fmt: skip
            # The platform's link opens our login initiation; the rest is redirects and the
            # platform's auto-submitted form.
            page.goto(f"{site_url}/identity/lti/login/?{urlencode(query)}")
            page.wait_for_url(f"{site_url}{lands_on}")
            _check_both_sizes(page, f"where the {hint}'s launch lands")
            if heading is not None:
                assert page.get_by_role("heading", name=heading).first.is_visible()
