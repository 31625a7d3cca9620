"""In chromium: a teacher and a student sign in through a real OpenID Connect provider on
loopback and land on their home page; a person the roster does not have and a deactivated one
are refused with a plain page. Every page of ours is checked at phone and laptop sizes."""

from __future__ import annotations

from typing import Any

import pytest

from identity.models import IdentityProvider
from identity.sealing import seal
from tests.identity.provider import running_provider
from tests.pagecheck import SIZES, check_page
from tests.personas import build_cast

ACCOUNTS = {
    "ms-rivera": {"email": "teacher@example.org", "email_verified": True},
    "sam": {"email": "student@example.org", "email_verified": True},
    "stranger": {"email": "stranger@example.org", "email_verified": True},
    "left-school": {"email": "deactivated_teacher@example.org", "email_verified": True},
}


def _check_both_sizes(page: Any, what: str) -> None:
    for size in SIZES.values():
        page.set_viewport_size(size)
        check_page(page, what=what)


@pytest.mark.browser
def test_people_sign_in_with_their_school_account_or_are_refused_plainly(
    site_url: str, browser_page: Any
) -> None:
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
            ("left-school", f"{site_url}/identity/refused/deactivated/", "This account is turned off"),
        ):  # fmt: skip
            page.context.clear_cookies()  # each person at their own computer (no provider session)
            page.goto(f"{site_url}/")
            if first:
                _check_both_sizes(page, "the sign-in page with a school account button")
                first = False
            page.get_by_role("link", name="Sign in with Northside accounts").click()
            # The provider's own page (not ours: its look is the provider's business).
            page.wait_for_selector("input[name=login]")
            page.fill("input[name=login]", login)
            page.fill("input[name=password]", "their-password-at-the-provider")
            page.locator("button[type=submit]").click()
            page.wait_for_url(lands_on)
            _check_both_sizes(page, f"where {login} lands")
            if heading is None:
                assert page.get_by_role("button", name="Sign out").is_visible()
                page.get_by_role("button", name="Sign out").click()
                page.wait_for_url(f"{site_url}/accounts/login/")
            else:
                assert page.get_by_role("heading", name=heading).is_visible()
                assert page.get_by_role("link", name="Back to the sign-in page").is_visible()
