"""The import pages with their problems and warnings, in a real browser at phone and laptop
sizes: no sideways scrolling and 0 serious axe-core violations (one browser for the module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.factories import UserFactory
from tests.learners.rosters import VALID, append, copy_roster, zip_roster
from tests.pagecheck import SIZES, check_page

PASSWORD = "Browser-pass-2026"


@pytest.mark.browser
def test_roster_and_framework_imports_show_their_problems_on_any_screen(
    site_url: str, browser_page: Any, tmp_path: Path
) -> None:
    root = UserFactory(username="import-root", is_superuser=True, is_staff=True)
    root.set_password(PASSWORD)
    root.save()
    folder = copy_roster(VALID, tmp_path / "roster")
    append(folder, "orgs.csv", "org-dept,,,Maths Department,department,,org-s1")
    archive = zip_roster(folder, tmp_path / "roster.zip")
    bad_case = tmp_path / "bad.json"
    bad_case.write_text('{"CFDocument": {"title": "x"}, "CFItems": [{"identifier": "a"}]}')

    page = browser_page
    page.goto(f"{site_url}/accounts/login/?next=/learners/roster/import/")
    page.get_by_label("Username").fill("import-root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site_url}/learners/roster/import/")

    page.get_by_label("OneRoster 1.1 CSV roster (zip)").set_input_files(str(archive))
    page.get_by_label("Only check it (write nothing)").check()
    page.get_by_role("button", name="Check and import").click()
    page.get_by_role("heading", name="Roster checked: nothing was written").wait_for()
    assert page.get_by_text("orgs are not kept").is_visible()
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        check_page(page, what=f"roster import dry run ({name})")

    page.goto(f"{site_url}/standards/import/")
    page.get_by_label("File").set_input_files(str(bad_case))
    page.get_by_role("button", name="Check and import").click()
    page.get_by_text("nothing was written").first.wait_for()
    assert page.get_by_text("is required and missing or empty").first.is_visible()
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        check_page(page, what=f"framework import refused ({name})")
