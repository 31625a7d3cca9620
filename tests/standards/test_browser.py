"""The main standards journey in a real browser: import a framework, browse and search it."""

from __future__ import annotations

from typing import Any

import pytest

from standards.models import Framework
from tests.factories import AdminAssignmentFactory, StateFactory, UserFactory
from tests.pagecheck import SCREENSHOTS
from tests.standards.conftest import FIXTURES, SMALL_IDENTIFIER

PASSWORD = "Browser-pass-2026"


@pytest.mark.browser
def test_state_admin_imports_a_package_then_searches_its_tree(
    site_url: str, browser_page: Any
) -> None:
    state = StateFactory(name="Stateland")
    admin = UserFactory(username="state-admin-browser")
    admin.set_password(PASSWORD)
    admin.save()
    AdminAssignmentFactory(user=admin, organisation=state)

    page = browser_page
    page.goto(f"{site_url}/accounts/login/?next=/standards/import/")
    page.get_by_label("Username").fill("state-admin-browser")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site_url}/standards/import/")

    page.get_by_label("Owner").select_option(label=str(state))
    page.get_by_label("File").set_input_files(str(FIXTURES / "small_case_1_1.json"))
    page.get_by_role("button", name="Check and import").click()
    page.get_by_role("heading", name="Imported : Example Local Mathematics").wait_for()
    assert Framework.objects.get(identifier=SMALL_IDENTIFIER).organisation_id == state.pk
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "standards-import.png"), full_page=True)

    page.get_by_role("link", name="Browse the framework").click()
    page.get_by_role("heading", name="Example Local Mathematics").wait_for()
    assert page.get_by_text("Count to 100 by ones and by tens.").is_visible()
    page.get_by_label("Code or text").fill("shapes")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="1 match").wait_for()
    assert page.locator("mark", has_text="Name two-dimensional shapes").first.is_visible()
    page.screenshot(path=str(SCREENSHOTS / "standards-tree.png"), full_page=True)
