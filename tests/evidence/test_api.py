"""The evidence API under /api/v1/: scoped lists, 404 outside scope, writes through services."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from evidence import selectors, services
from evidence.models import Artifact, Evidence, EvidenceKind, Rating, RatingSource
from evidence.services import ReflectionInput
from mastery import core
from tests.evidence import files
from tests.evidence.conftest import Standards
from tests.personas import PERSONA_NAMES, Cast

pytestmark = pytest.mark.django_db

YESTERDAY = timezone.now() - datetime.timedelta(days=1)
SEES_OWN = {"teacher", "co_teacher", "school_admin", "district_admin", "state_admin"} | {
    "student",
    "guardian",
}
ACTIVE_PERSONAS = [name for name in PERSONA_NAMES if name != "deactivated_teacher"]


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def submission(cast: Cast, standards: Standards) -> Evidence:
    return services.submit_evidence(
        actor=cast.student,
        kind=EvidenceKind.PROJECT,
        title="Garden fractions",
        description="I split the beds.",
        demonstrated_at=YESTERDAY,
        reflection=ReflectionInput(what_i_learned="Eighths"),
        self_scores={standards.fractions.pk: 3},
        files=[SimpleUploadedFile("plan.png", files.png())],
    )


def _as(api: APIClient, cast: Cast, persona: str) -> APIClient:
    api.force_authenticate(cast.persona(persona))
    return api


def _statuses(api: APIClient, cast: Cast, method: str, url: str, **kwargs: Any) -> dict[str, int]:
    found = {}
    for persona in ACTIVE_PERSONAS:
        found[persona] = getattr(_as(api, cast, persona), method)(url, **kwargs).status_code
    return found


def _allowed(allowed: set[str], ok: int = 200, denied: int = 404) -> dict[str, int]:
    return {persona: ok if persona in allowed else denied for persona in ACTIVE_PERSONAS}


# --- reads --------------------------------------------------------------------------------------


def test_lists_hold_exactly_the_rows_each_persona_may_see(
    api: APIClient, cast: Cast, standards: Standards, submission: Evidence
) -> None:
    services.record_evidence(
        actor=cast.teacher_elsewhere,
        learner=cast.other_school_learner,
        kind=EvidenceKind.OBSERVATION,
        title="Elsewhere",
        demonstrated_at=YESTERDAY,
        scores={standards.counting.pk: 2},
    )
    for persona in ACTIVE_PERSONAS:
        user = cast.persona(persona)
        client = _as(api, cast, persona)
        evidence = client.get("/api/v1/evidence/").json()
        ratings = client.get("/api/v1/ratings/").json()
        artifacts = client.get("/api/v1/artifacts/").json()
        assert {row["id"] for row in evidence["results"]} == set(
            selectors.visible_evidence(user).values_list("pk", flat=True)
        ), persona
        assert {row["id"] for row in ratings["results"]} == set(
            selectors.visible_ratings(user).values_list("pk", flat=True)
        ), persona
        assert {row["id"] for row in artifacts["results"]} == set(
            selectors.visible_artifacts(user).values_list("pk", flat=True)
        ), persona


def test_objects_out_of_scope_answer_404(api: APIClient, cast: Cast, submission: Evidence) -> None:
    rating = Rating.objects.get()
    artifact = Artifact.objects.get()
    for url in (
        f"/api/v1/evidence/{submission.pk}/",
        f"/api/v1/ratings/{rating.pk}/",
        f"/api/v1/artifacts/{artifact.pk}/",
        f"/api/v1/artifacts/{artifact.pk}/download/",
    ):
        assert _statuses(api, cast, "get", url) == _allowed(SEES_OWN), url


def test_evidence_detail_carries_reflections_artifacts_and_ratings(
    api: APIClient, cast: Cast, submission: Evidence
) -> None:
    data = _as(api, cast, "guardian").get(f"/api/v1/evidence/{submission.pk}/").json()
    assert data["status"] == "submitted"
    assert data["reflections"][0]["what_i_learned"] == "<p>Eighths</p>"
    assert data["artifacts"][0]["download_url"].endswith("/download/")
    assert data["ratings"][0]["source"] == "self"


def test_a_download_is_an_attachment_with_the_detected_type(
    api: APIClient, cast: Cast, submission: Evidence
) -> None:
    artifact = Artifact.objects.get()
    response = _as(api, cast, "student").get(f"/api/v1/artifacts/{artifact.pk}/download/")
    assert response["Content-Disposition"] == 'attachment; filename="plan.png"'
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_anonymous_requests_are_refused(api: APIClient, cast: Cast) -> None:
    assert api.get("/api/v1/evidence/").status_code in (401, 403)
    assert api.post("/api/v1/ratings/", {}, format="json").status_code in (401, 403)


def test_the_ratings_list_filters_by_learner_and_standard(
    api: APIClient, cast: Cast, standards: Standards
) -> None:
    services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind=EvidenceKind.OBSERVATION,
        title="x",
        demonstrated_at=YESTERDAY,
        scores={standards.counting.pk: 2, standards.adding.pk: 3},
    )
    client = _as(api, cast, "teacher")
    rows = client.get(f"/api/v1/ratings/?learner={cast.own.pk}&standard={standards.adding.pk}")
    assert [row["score"] for row in rows.json()["results"]] == ["3.00"]
    assert client.get("/api/v1/ratings/?learner=abc").status_code == 400


def test_list_queries_do_not_grow_with_rows(
    api: APIClient, cast: Cast, standards: Standards
) -> None:
    client = _as(api, cast, "teacher")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/ratings/").status_code == 200
            assert client.get("/api/v1/evidence/").status_code == 200
        return len(queries)

    services.record_ratings(
        actor=cast.teacher,
        entries=[services.RatingEntry(cast.own.pk, standards.counting.pk, 2)],
        title="one",
        demonstrated_at=YESTERDAY,
    )
    few = count()
    services.record_ratings(
        actor=cast.teacher,
        entries=[
            services.RatingEntry(learner.pk, standard.pk, 3)
            for learner in (cast.own, cast.same_section)
            for standard in standards.ratable()
        ],
        title="many",
        demonstrated_at=YESTERDAY,
    )
    assert count() == few


# --- writes -------------------------------------------------------------------------------------


def _ratings_body(
    cast: Cast, standards: Standards, learner_id: int | None = None
) -> dict[str, Any]:
    return {
        "title": "Exit ticket",
        "demonstrated_at": YESTERDAY.isoformat(),
        "entries": [
            {"learner": learner_id or cast.own.pk, "standard": standards.counting.pk, "score": 3},
            {"learner": learner_id or cast.own.pk, "standard": standards.adding.pk, "score": "2.5"},
        ],
    }


def test_a_teacher_posts_ratings(api: APIClient, cast: Cast, standards: Standards) -> None:
    response = _as(api, cast, "teacher").post(
        "/api/v1/ratings/", _ratings_body(cast, standards), format="json"
    )
    assert response.status_code == 201
    assert [(row["standard"], row["score"]) for row in response.json()] == [
        (standards.counting.pk, "3.00"),
        (standards.adding.pk, "2.50"),
    ]
    assert Rating.objects.filter(source=RatingSource.TEACHER).count() == 2


def test_posting_ratings_is_refused_outside_scope_and_to_other_roles(
    api: APIClient, cast: Cast, standards: Standards
) -> None:
    body = _ratings_body(cast, standards)
    assert _statuses(api, cast, "post", "/api/v1/ratings/", data=body, format="json") == {
        **_allowed(set(), denied=403),
        "teacher": 201,
        "co_teacher": 201,
        "school_admin": 201,
        "district_admin": 201,
        "state_admin": 201,
        "teacher_elsewhere": 400,
        "other_district_teacher": 400,
        "teacher_guardian": 400,
        "teacher_admin": 400,
    }
    response = _as(api, cast, "teacher_elsewhere").post("/api/v1/ratings/", body, format="json")
    assert response.json() == {"entries[0]": [f"Learner {cast.own.pk} is not one of yours."]}


def test_bad_rating_posts_are_400_and_write_nothing(
    api: APIClient, cast: Cast, standards: Standards
) -> None:
    client = _as(api, cast, "teacher")
    for body in (
        {},
        {**_ratings_body(cast, standards), "entries": []},
        {**_ratings_body(cast, standards), "demonstrated_at": "yesterday"},
        {
            **_ratings_body(cast, standards),
            "entries": [{"learner": cast.own.pk, "standard": standards.counting.pk, "score": 9}],
        },
        {**_ratings_body(cast, standards), "source": "override", "rater": cast.outsider.pk},
    ):
        response = client.post("/api/v1/ratings/", body, format="json")
        if "rater" in body:
            # Unknown fields cannot set what the service decides (rater, source).
            assert response.status_code == 201
            assert set(Rating.objects.values_list("rater_id", "source")) == {
                (cast.teacher.pk, "teacher")
            }
        else:
            assert response.status_code == 400, body
            assert Rating.objects.count() == 0
            if any(entry["score"] == 9 for entry in body.get("entries", [])):
                # The entry is the key; its message does not name the field again.
                assert response.json() == {"entries[0]": ["9 is outside the scale (1 to 4)."]}


def test_staff_record_evidence_and_students_submit_theirs(
    api: APIClient, cast: Cast, standards: Standards
) -> None:
    response = _as(api, cast, "teacher").post(
        "/api/v1/evidence/",
        {
            "learner": cast.own.pk,
            "kind": "observation",
            "title": "Group work",
            "demonstrated_at": YESTERDAY.isoformat(),
            "scores": {str(standards.counting.pk): 3},
            "links": ["https://example.org/photo"],
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "scored"
    denied = _as(api, cast, "teacher_elsewhere").post(
        "/api/v1/evidence/",
        {
            "learner": cast.own.pk,
            "kind": "observation",
            "title": "x",
            "demonstrated_at": "2026-01-01T00:00:00Z",
        },
        format="json",
    )
    assert denied.status_code == 400
    assert "learner" in denied.json()
    submitted = _as(api, cast, "student").post(
        "/api/v1/submissions/",
        {
            "kind": "project",
            "title": "Mine",
            "description": "Look",
            "demonstrated_at": YESTERDAY.isoformat(),
            "reflection": {"what_i_learned": "Lots"},
            "self_scores": {str(standards.fractions.pk): 4},
        },
        format="json",
    )
    assert submitted.status_code == 201
    assert submitted.json()["status"] == "submitted"
    for persona in ("teacher", "guardian"):
        refused = _as(api, cast, persona).post(
            "/api/v1/submissions/", {"kind": "project", "title": "x"}, format="json"
        )
        assert refused.status_code == 403


def test_review_supersede_and_remove_through_the_api(
    api: APIClient, cast: Cast, standards: Standards, submission: Evidence
) -> None:
    client = _as(api, cast, "teacher")
    reviewed = client.post(
        f"/api/v1/evidence/{submission.pk}/review/",
        {"decision": "score", "scores": {str(standards.fractions.pk): 2}},
        format="json",
    )
    assert reviewed.json()["status"] == "scored"
    rating = Rating.objects.get(source=RatingSource.TEACHER)
    corrected = client.post(
        f"/api/v1/ratings/{rating.pk}/supersede/", {"score": 3, "comment": "Typo"}, format="json"
    )
    assert corrected.status_code == 201
    assert corrected.json()["supersedes"] == rating.pk
    removed = client.post(
        f"/api/v1/ratings/{corrected.json()['id']}/remove/", {"reason": "Wrong"}, format="json"
    )
    assert removed.status_code == 204
    assert list(core.counted_ratings()) == []
    # An override of mastery is the mastery app's (tests/mastery/test_overrides.py).
    gone = client.post("/api/v1/ratings/override/", {"learner": cast.own.pk}, format="json")
    assert gone.status_code in (404, 405)


@pytest.mark.parametrize("persona", ["guardian", "student", "teacher_elsewhere"])
def test_writes_on_objects_outside_change_scope_answer_404(
    api: APIClient, cast: Cast, standards: Standards, submission: Evidence, persona: str
) -> None:
    services.review_submission(
        actor=cast.teacher,
        evidence=submission,
        decision="score",
        scores={standards.fractions.pk: 2},
    )
    rating = Rating.objects.get(source=RatingSource.TEACHER)
    client = _as(api, cast, persona)
    statuses = [
        client.post(
            f"/api/v1/evidence/{submission.pk}/review/",
            {"decision": "return", "comment": "x"},
            format="json",
        ).status_code,
        client.post(
            f"/api/v1/ratings/{rating.pk}/supersede/", {"score": 1, "comment": "x"}, format="json"
        ).status_code,
        client.post(
            f"/api/v1/ratings/{rating.pk}/remove/", {"reason": "x"}, format="json"
        ).status_code,
        client.post(
            f"/api/v1/evidence/{submission.pk}/remove/", {"reason": "x"}, format="json"
        ).status_code,
    ]
    assert statuses == [404, 404, 404, 404]
    assert Rating.objects.count() == 2


def test_artifacts_are_uploaded_through_the_api_and_hostile_ones_refused(
    api: APIClient, cast: Cast, submission: Evidence
) -> None:
    client = _as(api, cast, "student")
    added = client.post(
        f"/api/v1/evidence/{submission.pk}/artifacts/",
        {"file": SimpleUploadedFile("more.pdf", files.pdf())},
        format="multipart",
    )
    assert added.status_code == 201
    assert added.json()[0]["content_type"] == "application/pdf"
    refused = client.post(
        f"/api/v1/evidence/{submission.pk}/artifacts/",
        {"file": SimpleUploadedFile("x.html", b"<html><script>alert(1)</script></html>")},
        format="multipart",
    )
    assert refused.status_code == 400
    assert "files" in refused.json()
    guardian = _as(api, cast, "guardian").post(
        f"/api/v1/evidence/{submission.pk}/artifacts/",
        {"url": "https://example.org/x"},
        format="multipart",
    )
    assert guardian.status_code == 404


def test_the_csv_import_endpoint_reports_or_lists_problems(
    api: APIClient, cast: Cast, standards: Standards
) -> None:
    day = YESTERDAY.date().isoformat()
    client = _as(api, cast, "teacher")
    good = f"learner_id,standard,score,demonstrated_on,title\n{cast.own.pk},K.CC.A.1,3,{day},Q\n"
    dry = client.post(
        "/api/v1/ratings/import/",
        {"file": SimpleUploadedFile("r.csv", good.encode()), "dry_run": True},
        format="multipart",
    )
    assert (dry.status_code, dry.json()["created"], Rating.objects.count()) == (200, 1, 0)
    done = client.post(
        "/api/v1/ratings/import/",
        {"file": SimpleUploadedFile("r.csv", good.encode())},
        format="multipart",
    )
    assert (done.status_code, Rating.objects.count()) == (201, 1)
    bad = good.replace(str(cast.own.pk), "x")
    refused = client.post(
        "/api/v1/ratings/import/",
        {"file": SimpleUploadedFile("r.csv", bad.encode())},
        format="multipart",
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "problems": [
            {
                "file": "ratings.csv",
                "row": 2,
                "column": "learner_id",
                "reason": "'x' is not a learner id",
                "severity": "error",
                "record": "",
            }
        ],
        "error_count": 1,
    }
    student = _as(api, cast, "student").post(
        "/api/v1/ratings/import/",
        {"file": SimpleUploadedFile("r.csv", good.encode())},
        format="multipart",
    )
    assert student.status_code == 403


def test_the_schema_describes_the_evidence_endpoints(api: APIClient, cast: Cast) -> None:
    schema = _as(api, cast, "teacher").get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/evidence/",
        "/api/v1/evidence/{id}/review/",
        "/api/v1/submissions/",
        "/api/v1/ratings/",
        "/api/v1/ratings/{id}/supersede/",
        "/api/v1/ratings/import/",
        "/api/v1/artifacts/{id}/download/",
    ):
        assert path in schema["paths"], path


def test_the_evidence_list_filters_by_status_for_a_review_queue(
    api: APIClient, cast: Cast, standards: Standards, submission: Evidence
) -> None:
    services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind=EvidenceKind.OBSERVATION,
        title="Scored",
        demonstrated_at=YESTERDAY,
        scores={standards.counting.pk: 2},
    )
    client = _as(api, cast, "teacher")
    waiting = client.get("/api/v1/evidence/?status=submitted").json()["results"]
    assert [row["id"] for row in waiting] == [submission.pk]
    assert client.get("/api/v1/evidence/?status=lost").status_code == 400
