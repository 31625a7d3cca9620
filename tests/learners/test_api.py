"""The learners API: every list scoped and paginated, out-of-scope objects 404, read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from learners import selectors
from learners.models import Learner
from tests.factories import EnrollmentFactory, LearnerFactory, LearnerProfileFactory
from tests.personas import (
    LEARNER_ATTRS,
    ORG_ATTRS,
    PERSONA_NAMES,
    SECTION_ATTRS,
    VISIBLE_LEARNERS,
    VISIBLE_ORGANISATIONS,
    VISIBLE_SECTIONS,
    Cast,
)

pytestmark = pytest.mark.django_db

SIGNED_IN = [name for name in PERSONA_NAMES if name != "deactivated_teacher"]


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def all_pages(client: APIClient, url: str) -> list[dict[str, Any]]:
    """Every item of a paginated list, following ``next`` links."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200
        items.extend(response.data["results"])
        next_url = response.data["next"]
    return items


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_learner_list_is_exactly_the_persona_scope(cast: Cast, persona: str) -> None:
    ids = {item["id"] for item in all_pages(api(cast.persona(persona)), "/api/v1/learners/")}
    expected = {getattr(cast, LEARNER_ATTRS[name]).pk for name in VISIBLE_LEARNERS[persona]}
    assert ids == expected


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_section_list_is_exactly_the_persona_scope(cast: Cast, persona: str) -> None:
    ids = {item["id"] for item in all_pages(api(cast.persona(persona)), "/api/v1/sections/")}
    assert ids == {getattr(cast, name).pk for name in VISIBLE_SECTIONS[persona]}


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_organisation_list_is_exactly_the_persona_scope(cast: Cast, persona: str) -> None:
    ids = {item["id"] for item in all_pages(api(cast.persona(persona)), "/api/v1/organisations/")}
    assert ids == {getattr(cast, name).pk for name in VISIBLE_ORGANISATIONS[persona]}


def test_every_out_of_scope_object_answers_404(cast: Cast) -> None:
    client = api(cast.teacher)
    for name, attr in LEARNER_ATTRS.items():
        status = 200 if name in VISIBLE_LEARNERS["teacher"] else 404
        learner = getattr(cast, attr)
        assert client.get(f"/api/v1/learners/{learner.pk}/").status_code == status, name
        assert client.get(f"/api/v1/learners/{learner.pk}/profile/").status_code == status
    for attr in SECTION_ATTRS:
        status = 200 if attr in VISIBLE_SECTIONS["teacher"] else 404
        section = getattr(cast, attr)
        assert client.get(f"/api/v1/sections/{section.pk}/").status_code == status, attr
        assert client.get(f"/api/v1/sections/{section.pk}/learners/").status_code == status
    for attr in ORG_ATTRS:
        status = 200 if attr in VISIBLE_ORGANISATIONS["teacher"] else 404
        org = getattr(cast, attr)
        assert client.get(f"/api/v1/organisations/{org.pk}/").status_code == status, attr


def test_section_learners_are_the_current_roster(cast: Cast) -> None:
    response = api(cast.teacher).get(f"/api/v1/sections/{cast.section.pk}/learners/")
    assert {item["id"] for item in response.data["results"]} == {
        cast.own.pk,
        cast.same_section.pk,
    }


def test_a_learner_sees_their_own_profile_through_the_api(cast: Cast) -> None:
    LearnerProfileFactory(learner=cast.own, goals="Times tables")
    response = api(cast.student).get(f"/api/v1/learners/{cast.own.pk}/profile/")
    assert response.data["goals"] == "Times tables"
    assert api(cast.guardian).get(f"/api/v1/learners/{cast.own.pk}/profile/").data["goals"] == (
        "Times tables"
    )
    unwritten = api(cast.teacher).get(f"/api/v1/learners/{cast.same_section.pk}/profile/")
    assert unwritten.data == {
        "strengths": "",
        "interests": "",
        "how_i_learn_best": "",
        "goals": "",
        "updated_at": None,
    }


def test_anonymous_requests_are_refused(cast: Cast) -> None:
    for path in ("learners", "sections", "organisations", "terms"):
        assert APIClient().get(f"/api/v1/{path}/").status_code in {401, 403}


def test_token_auth_gives_the_same_scope(cast: Cast) -> None:
    token = Token.objects.create(user=cast.guardian)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    ids = {item["id"] for item in client.get("/api/v1/learners/").data["results"]}
    assert ids == {cast.own.pk}


def test_a_deactivated_token_user_is_refused(cast: Cast) -> None:
    token = Token.objects.create(user=cast.deactivated_teacher)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/learners/").status_code in {401, 403}


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_api_is_read_only(cast: Cast, method: str) -> None:
    client = api(cast.state_admin)
    url = "/api/v1/learners/" if method == "post" else f"/api/v1/learners/{cast.own.pk}/"
    response = getattr(client, method)(url, {"given_name": "Changed"}, format="json")
    assert response.status_code == 405
    assert Learner.objects.get(pk=cast.own.pk).given_name == "Ada"


def test_lists_are_paginated_and_every_page_is_in_scope(cast: Cast) -> None:
    for _ in range(60):
        EnrollmentFactory(section=cast.section, learner=LearnerFactory(school=cast.school))
    first = api(cast.teacher).get("/api/v1/learners/")
    assert first.data["count"] == 62
    assert len(first.data["results"]) == 50
    ids = {item["id"] for item in all_pages(api(cast.teacher), "/api/v1/learners/")}
    assert ids == set(selectors.visible_learners(cast.teacher).values_list("pk", flat=True))


def test_learner_filters_stay_inside_scope(cast: Cast) -> None:
    response = api(cast.teacher).get("/api/v1/learners/", {"school": cast.other_school.pk})
    assert response.data["results"] == []


def test_learner_list_query_count_does_not_grow_with_rows(cast: Cast) -> None:
    client = api(cast.school_admin)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/learners/").status_code == 200
        return len(ctx.captured_queries)

    before = queries()
    for _ in range(10):
        LearnerFactory(school=cast.school)
    assert queries() == before


def test_terms_list_the_cast_term(cast: Cast) -> None:
    items = all_pages(api(cast.teacher), "/api/v1/terms/")
    assert [item["title"] for item in items] == ["This term"]


def test_the_openapi_schema_lists_the_learners_endpoints(cast: Cast) -> None:
    response = api(cast.teacher).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/learners/",
        "/api/v1/learners/{id}/profile/",
        "/api/v1/sections/{id}/learners/",
        "/api/v1/organisations/",
        "/api/v1/terms/",
    ):
        assert path in paths
