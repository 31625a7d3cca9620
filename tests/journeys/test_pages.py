"""Who is allowed and who is refused on every journey page, for the whole persona cast.

Out-of-scope objects answer 404 (the same as a missing one); a page a role never uses answers
403; anonymous visitors are sent to the login page.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.personas import (
    LEARNER_ATTRS,
    PERSONA_NAMES,
    SECTION_ATTRS,
    VISIBLE_LEARNERS,
    VISIBLE_ORGANISATIONS,
    VISIBLE_SECTIONS,
    Cast,
)

pytestmark = pytest.mark.django_db

# An inactive login cannot sign in at all (tests/learners/test_views.py checks it).
SIGNED_IN = [name for name in PERSONA_NAMES if name != "deactivated_teacher"]
STAFF = {
    "teacher",
    "co_teacher",
    "teacher_elsewhere",
    "other_district_teacher",
    "school_admin",
    "district_admin",
    "state_admin",
    "teacher_guardian",
    "teacher_admin",
}
STUDENTS = {"student", "other_student"}


def _statuses(cast: Cast, persona: str, urls: dict[str, str]) -> dict[str, int]:
    """The status of each URL for the persona (one login for all of them)."""
    client = Client()
    client.force_login(cast.persona(persona))
    return {name: client.get(url).status_code for name, url in urls.items()}


# The cell and the stylesheet go through the same scoping selectors as the learner page and the
# sections: a few targets per persona (one of them in scope for most) keep these matrices fast.
CELL_TARGETS = ("own", "same_section", "other_section_learner", "other_school_learner")
STYLESHEET_TARGETS = ("school", "other_school", "district_school", "other_state_school")


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_the_section_grid_is_for_staff_who_see_the_section(shared_cast: Cast, persona: str) -> None:
    got = _statuses(
        shared_cast,
        persona,
        {
            name: reverse("mastery:section_grid", args=[getattr(shared_cast, name).pk])
            for name in SECTION_ATTRS
        },
    )
    if persona not in STAFF:
        expected = dict.fromkeys(SECTION_ATTRS, 403)
    else:
        expected = {
            name: 200 if name in VISIBLE_SECTIONS[persona] else 404 for name in SECTION_ATTRS
        }
    assert got == expected


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_the_learner_page_answers_404_for_every_learner_out_of_scope(
    shared_cast: Cast, persona: str
) -> None:
    got = _statuses(
        shared_cast,
        persona,
        {
            name: reverse("mastery:learner_page", args=[getattr(shared_cast, attr).pk])
            for name, attr in LEARNER_ATTRS.items()
        },
    )
    assert got == {name: 200 if name in VISIBLE_LEARNERS[persona] else 404 for name in got}


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_a_cell_answers_404_for_every_learner_out_of_scope(shared_cast: Cast, persona: str) -> None:
    from tests.journeys.helpers import make_tree

    standard = make_tree(domains=1, per_domain=1).standards[0]
    got = _statuses(
        shared_cast,
        persona,
        {
            name: reverse(
                "mastery:cell_detail",
                args=[getattr(shared_cast, LEARNER_ATTRS[name]).pk, standard.pk],
            )
            for name in CELL_TARGETS
        },
    )
    assert got == {name: 200 if name in VISIBLE_LEARNERS[persona] else 404 for name in got}


def test_a_cell_of_a_missing_or_malformed_standard_is_not_found(shared_cast: Cast) -> None:
    client = Client()
    client.force_login(shared_cast.teacher)
    assert (
        client.get(f"/mastery/learners/{shared_cast.own.pk}/standards/999999999/").status_code
        == 404
    )
    assert (
        client.get(
            f"/mastery/learners/{shared_cast.own.pk}/standards/99999999999999999999/"
        ).status_code
        == 404
    )


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_my_mastery_is_only_for_students(shared_cast: Cast, persona: str) -> None:
    got = _statuses(shared_cast, persona, {"me": reverse("mastery:my_mastery")})
    assert got == {"me": 200 if persona in STUDENTS else 403}


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_the_scale_stylesheet_is_for_those_who_see_the_organisation(
    shared_cast: Cast, persona: str
) -> None:
    got = _statuses(
        shared_cast,
        persona,
        {
            name: reverse("mastery:scale_css", args=[getattr(shared_cast, name).pk])
            for name in STYLESHEET_TARGETS
        },
    )
    assert got == {name: 200 if name in VISIBLE_ORGANISATIONS[persona] else 404 for name in got}


def test_anonymous_visitors_are_sent_to_the_login_page(shared_cast: Cast) -> None:
    urls = [
        reverse("mastery:section_grid", args=[shared_cast.section.pk]),
        reverse("mastery:learner_page", args=[shared_cast.own.pk]),
        reverse("mastery:cell_detail", args=[shared_cast.own.pk, 1]),
        reverse("mastery:my_mastery"),
        reverse("mastery:scale_css", args=[shared_cast.school.pk]),
    ]
    for url in urls:
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_journey_pages_are_never_cached(shared_cast: Cast) -> None:
    client = Client()
    client.force_login(shared_cast.teacher)
    for url in (
        reverse("mastery:section_grid", args=[shared_cast.section.pk]),
        reverse("mastery:learner_page", args=[shared_cast.own.pk]),
    ):
        assert "no-store" in client.get(url)["Cache-Control"]
