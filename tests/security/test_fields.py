"""Answers carry only the fields a role needs; writes cannot set fields they should not (S3).

Field snapshots: each role's answer has exactly these keys (a new field is a decision, made
here). Mass assignment: fields a client must not choose (who recorded, when, ids, the learner
behind an evidence) are ignored or refused, never stored.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from evidence import services as evidence_services
from evidence.models import Evidence, Rating
from tests.evidence.conftest import Standards, standards
from tests.personas import Cast, cast

__all__ = ["cast", "standards"]

LEARNER = {
    "id", "school", "local_id", "state_student_id", "given_name", "family_name",
    "preferred_name", "grade_level", "active",
}  # fmt: skip
PROFILE = {"strengths", "interests", "how_i_learn_best", "goals", "updated_at"}


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def recorded(cast: Cast, standards: Standards) -> Evidence:
    return evidence_services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind="observation",
        title="Counting",
        description="Counted to 20.",
        demonstrated_at=timezone.now() - datetime.timedelta(hours=2),
        section=cast.section,
        scores={standards.counting.pk: 3},
    )


@pytest.mark.parametrize("persona", ["teacher", "guardian", "student", "school_admin"])
def test_every_role_gets_the_same_learner_fields_and_nothing_about_logins(
    cast: Cast, persona: str
) -> None:
    client = _api(cast.persona(persona))
    assert set(client.get(f"/api/v1/learners/{cast.own.pk}/").json()) == LEARNER
    assert set(client.get(f"/api/v1/learners/{cast.own.pk}/profile/").json()) == PROFILE


@pytest.mark.parametrize("persona", ["teacher", "guardian", "student"])
def test_evidence_and_rating_answers_never_carry_other_peoples_details(
    cast: Cast, recorded: Evidence, persona: str
) -> None:
    client = _api(cast.persona(persona))
    evidence = client.get(f"/api/v1/evidence/{recorded.pk}/").json()
    rating_id = Rating.objects.get(evidence=recorded).pk
    rating = client.get(f"/api/v1/ratings/{rating_id}/").json()
    text = repr(evidence) + repr(rating)
    # Staff are named by id only: no username, email or password field anywhere.
    for leaked in ("'username'", "'email'", "'password'", cast.teacher.email):
        assert leaked not in text, leaked


def test_a_client_cannot_choose_who_recorded_when_or_the_row_ids(
    cast: Cast, standards: Standards
) -> None:
    long_ago = "2001-01-01T00:00:00Z"
    response = _api(cast.teacher).post(
        "/api/v1/evidence/",
        {
            "learner": cast.own.pk,
            "kind": "observation",
            "title": "Seen",
            "demonstrated_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(),
            "id": 999_999,
            "submitted_by": cast.school_admin.pk,
            "recorded_at": long_ago,
            "status": "scored",
            "source_key": "forged",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = Evidence.objects.get(pk=response.json()["id"])
    assert created.pk != 999_999
    assert created.submitted_by_id == cast.teacher.pk
    assert created.recorded_at > timezone.now() - datetime.timedelta(minutes=5)
    assert created.source_key != "forged"


def test_a_rating_correction_keeps_its_learner_standard_and_rater(
    cast: Cast, recorded: Evidence, standards: Standards
) -> None:
    rating = Rating.objects.get(evidence=recorded)
    response = _api(cast.teacher).post(
        f"/api/v1/ratings/{rating.pk}/supersede/",
        {
            "score": 2,
            "comment": "moderated",
            "learner": cast.other_school_learner.pk,
            "standard": standards.adding.pk,
            "rater": cast.school_admin.pk,
            "source": "override",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    correction = Rating.objects.get(pk=response.json()["id"])
    assert (correction.learner_id, correction.standard_id, correction.rater_id) == (
        cast.own.pk, standards.counting.pk, cast.teacher.pk,
    )  # fmt: skip
    assert correction.source != "override"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_learner_records_cannot_be_rewritten_through_the_api(
    cast: Cast, recorded: Evidence, method: str
) -> None:
    client = _api(cast.school_admin)
    for url in (
        f"/api/v1/learners/{cast.own.pk}/",
        f"/api/v1/evidence/{recorded.pk}/",
        f"/api/v1/ratings/{Rating.objects.get(evidence=recorded).pk}/",
    ):
        response = getattr(client, method)(url, {"given_name": "X", "score": 4}, format="json")
        assert response.status_code == 405, (method, url)
    cast.own.refresh_from_db()
    assert cast.own.given_name == "Ada"
