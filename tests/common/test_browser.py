from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.pagecheck import SCREENSHOTS, SIZES, check_page


@pytest.mark.browser
def test_a_user_signs_in_through_the_login_page(site_url: str, browser_page: Any) -> None:
    User.objects.create_user("browser-user", password="Browser-pass-2026")
    page = browser_page
    page.goto(f"{site_url}/")
    assert page.url.endswith("/accounts/login/?next=/")
    for size in SIZES.values():
        page.set_viewport_size(size)
        check_page(page, what="the login page")
    page.set_viewport_size(SIZES["laptop"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "login.png"))
    page.get_by_label("Username").fill("browser-user")
    page.get_by_label("Password").fill("Browser-pass-2026")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site_url}/")
    assert page.get_by_role("heading", name="Welcome").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "home.png"))


@pytest.mark.browser
def test_the_page_check_catches_sideways_scrolling_and_serious_violations(
    browser_page: Any,
) -> None:
    page = browser_page
    page.set_viewport_size(SIZES["phone"])
    page.set_content(
        "<!doctype html><html lang='en'><title>t</title><main><h1>Fine</h1></main></html>"
    )
    check_page(page, what="a plain page")
    page.set_content(
        "<!doctype html><html lang='en'><title>t</title><main><div style='width:600px'>wide</div>"
        "</main></html>"
    )
    with pytest.raises(AssertionError, match="scrolls sideways by 218px"):
        check_page(page, what="a wide page")
    page.set_content(
        "<!doctype html><html lang='en'><title>t</title><main><img src='x.png'></main></html>"
    )
    with pytest.raises(AssertionError, match="critical image-alt"):
        check_page(page, what="an image without alt text")


@pytest.mark.browser
def test_browser_tests_see_the_pages_styled(site_url: str, browser_page: Any) -> None:
    page = browser_page
    page.goto(f"{site_url}/accounts/login/")
    stylesheets = page.eval_on_selector_all(
        "link[rel=stylesheet]", "links => links.map(l => l.href)"
    )
    assert stylesheets
    for href in stylesheets:
        assert page.request.get(href).status == 200, href
