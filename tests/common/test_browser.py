from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


@pytest.mark.browser
def test_a_user_signs_in_through_the_login_page(site_url: str, browser_page: Any) -> None:
    User.objects.create_user("browser-user", password="Browser-pass-2026")
    page = browser_page
    page.goto(f"{site_url}/")
    assert page.url.endswith("/accounts/login/?next=/")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "login.png"))
    page.get_by_label("Username").fill("browser-user")
    page.get_by_label("Password").fill("Browser-pass-2026")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site_url}/")
    assert page.get_by_role("heading", name="Welcome").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "home.png"))
