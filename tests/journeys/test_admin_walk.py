"""A school administrator's and the other roles' homes in chromium, every page checked at
1366x768 and 390x844 (tests/pagecheck.py), with a real Celery worker behind the pages.

The administrator adds a learner, enrolls them in a section by typing their name and sees them
in the grid (no database id is typed anywhere); picks required standards from the framework's
tree; previews a policy; requests a school report and watches it become ready as the worker
writes it; finds a learner's data by name. Then the home page of every other role is opened and
kept as screenshots (``screenshots/home-<role>-<size>.png``).
"""

from __future__ import annotations

from typing import Any

import pytest

from learners.models import Learner
from standards.models import Priority, Requirement
from tests.journeys.browsing import (
    look,
    serve_static_from_source,
    set_password,
    sign_in,
    visit,
)
from tests.journeys.helpers import make_tree, require
from tests.personas import build_cast

pytestmark = pytest.mark.browser


def test_a_school_administrators_day_and_every_roles_home(
    site_url: str, browser_page: Any, settings: Any, celery_worker_process: Any
) -> None:
    serve_static_from_source(settings)
    cast = build_cast()
    set_password(cast.school_admin, cast.district_admin, cast.student, cast.guardian)
    tree = make_tree(domains=2, per_domain=2)
    require(cast.school, cast.term, tree.of_domain(0), priority=Priority.POWER)
    page = browser_page

    # Home: the set-up checklist.
    sign_in(page, site_url, cast.school_admin)
    page.get_by_text("Hill School: set-up").wait_for()
    look(page, "home-school-admin", shots=True)

    # Add a learner, then enroll her by typing her name; she is in the grid.
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="People and classes"
    ).click()
    look(page, "people")
    page.get_by_role("link", name="Add a learner").click()
    page.get_by_label("School:", exact=True).select_option(label="Hill School")
    page.get_by_label("Given name:", exact=True).fill("Noor")
    page.get_by_label("Family name:", exact=True).fill("Haddad")
    page.get_by_label("Local id:", exact=True).fill("N-501")
    page.get_by_label("Grade level:", exact=True).select_option("05")
    look(page, "learner-add")
    page.get_by_role("button", name="Add the learner").click()
    page.get_by_text("Noor Haddad was added.").wait_for()
    page.get_by_role("link", name="Learners of Maths 5A").click()
    picker = page.get_by_label("Learner to enroll:", exact=True)
    picker.fill("Noor")
    page.locator("#id_learner-options option").first.wait_for(state="attached")
    assert page.locator("#id_learner-options option").first.get_attribute("value") == (
        "Noor Haddad (N-501)"
    )
    look(page, "section-enrollments")
    page.get_by_role("button", name="Enroll from today").click()
    page.get_by_text("Noor Haddad was enrolled in Maths 5A.").wait_for()
    page.get_by_role("link", name="Grid of Maths 5A").click()
    page.get_by_role("heading", name="Maths 5A: mastery grid").wait_for()
    assert page.locator("#grid tbody th", has_text="Noor Haddad").is_visible()
    look(page, "grid-admin")
    noor = Learner.objects.get(local_id="N-501")
    assert noor.enrollments.filter(section=cast.section).exists()

    # Requirements: ticked in the framework's tree.
    requirements = (
        f"/standards/organisations/{cast.school.pk}/requirements/"
        f"?term={cast.term.pk}&grade_level=05&framework={tree.framework.pk}"
    )
    page.goto(f"{site_url}/standards/organisations/{cast.school.pk}/requirements/")
    page.get_by_label("Term:", exact=True).select_option(label="This term")
    page.get_by_label("Grade level:", exact=True).select_option("05")
    framework = page.get_by_label("Pick from the framework:", exact=True)
    framework.select_option(label=tree.framework.title)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"{site_url}{requirements}")
    page.get_by_label(tree.of_domain(1)[0].human_code).check()
    look(page, "requirements")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_text("Saved.").wait_for()
    assert Requirement.objects.filter(standard=tree.of_domain(1)[0]).exists()

    # The policy: only the chosen method's parameters; the preview works on the first try.
    visit(page, site_url, f"/standards/organisations/{cast.school.pk}/policy/", "policy")
    assert page.get_by_label("Weight of the newest score (%):", exact=True).is_visible()
    page.get_by_label("Method:", exact=True).select_option("highest")
    assert page.get_by_label("Weight of the newest score (%):", exact=True).is_hidden()
    page.get_by_role("button", name="Preview the change").click()
    page.get_by_role("heading", name="What-if preview: nothing is saved yet").wait_for()
    look(page, "policy-preview")

    # A school report, requested by name and followed live while the worker writes it.
    visit(page, site_url, "/reports/", "reports")
    page.get_by_label("Report:", exact=True).select_option("school_report")
    assert page.get_by_label("Section:", exact=True).is_hidden()
    page.get_by_label("Organisation:", exact=True).select_option(label="Hill School (school)")
    page.get_by_label("Term:", exact=True).select_option(label="This term")
    page.get_by_role("button", name="Request the report").click()
    page.get_by_role("heading", name="School accountability report of Hill School").wait_for()
    page.locator("#report-status").get_by_text("Ready:").wait_for(timeout=60_000)
    assert page.get_by_role("link", name="Download").is_visible()
    look(page, "report-ready")

    # Privacy: a learner's data found by name.
    visit(page, site_url, "/privacy/", "privacy")
    page.get_by_label("Learner:", exact=True).fill("Noor Haddad")
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Data of Noor Haddad").wait_for()
    look(page, "privacy-learner")

    # The other pages of an administrator's work.
    learner_edit = f"/learners/{noor.pk}/edit/"
    for path, name in (
        ("/standards/settings/", "settings"),
        (f"/standards/organisations/{cast.school.pk}/scale/", "scale"),
        ("/standards/", "frameworks"),
        (f"/standards/frameworks/{tree.framework.pk}/", "framework"),
        ("/learners/roster/import/", "roster-import"),
        ("/mastery/bulk/", "recomputes"),
        ("/privacy/access-log/", "access-log"),
        (learner_edit, "learner-edit"),
        (f"/learners/sections/{cast.section.pk}/edit/", "section-edit"),
        ("/learners/manage/terms/add/", "term-add"),
    ):
        visit(page, site_url, path, name)

    # The other roles' homes.
    for user, name in (
        (cast.district_admin, "district-admin"),
        (cast.student, "student"),
        (cast.guardian, "guardian"),
    ):
        sign_in(page, site_url, user)
        look(page, f"home-{name}", shots=True)
