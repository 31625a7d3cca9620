"""Every read, export and change of learner records is audited, allowed or denied (S5)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from evidence import services as evidence_services
from evidence.models import Artifact, Rating
from privacy import audit_reads
from tests.evidence.conftest import Standards, standards
from tests.evidence.files import png
from tests.personas import Cast, cast
from tests.security.routes import all_route_names

__all__ = ["cast", "standards"]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _entries(**filters: Any) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def test_every_route_is_classified_for_the_audit() -> None:
    """A new route must say whether it touches learner records (privacy/audit_reads.py)."""
    unclassified = [name for name in all_route_names() if not audit_reads.is_classified(name)]
    assert unclassified == []


def test_a_teacher_reading_a_learner_page_leaves_one_entry_with_the_request_id(
    cast: Cast,
) -> None:
    response = _client(cast.teacher).get(reverse("learners:learner_detail", args=[cast.own.pk]))
    assert response.status_code == 200
    [entry] = _entries()
    assert (entry.actor_id, entry.role, entry.learner_id, entry.action, entry.outcome) == (
        cast.teacher.pk, "teacher", cast.own.pk, "record.read", "allowed",
    )  # fmt: skip
    assert entry.request_id == response["X-Request-ID"]
    assert entry.detail == {"route": "learners:learner_detail", "method": "GET", "status": 200}


def test_a_denied_read_names_the_learner_it_aimed_at(cast: Cast) -> None:
    url = reverse("mastery:learner_page", args=[cast.other_school_learner.pk])
    assert _client(cast.teacher).get(url).status_code == 404
    [entry] = _entries()
    assert (entry.learner_id, entry.outcome, entry.detail["status"]) == (
        cast.other_school_learner.pk, "denied", 404,
    )  # fmt: skip


def test_an_anonymous_visitor_is_recorded_as_denied(cast: Cast) -> None:
    url = reverse("learners:learner_detail", args=[cast.own.pk])
    assert Client().get(url).status_code == 302
    [entry] = _entries()
    assert (entry.actor_id, entry.role, entry.outcome) == (None, "anonymous", "denied")


def test_an_api_list_records_each_learner_of_the_page_in_one_insert(cast: Cast) -> None:
    client = _api(cast.school_admin)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/learners/")
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert inserts[0].startswith("INSERT INTO audit_auditentry")
    shown = {item["id"] for item in response.json()["results"]}
    assert {e.learner_id for e in _entries(action="record.read")} == shown
    assert len(shown) == 4


def test_a_section_grid_records_its_current_roster(cast: Cast) -> None:
    url = reverse("mastery:section_grid", args=[cast.section.pk])
    assert _client(cast.teacher).get(url).status_code == 200
    # The former learner's enrolment ended yesterday: not on the page, not in the log.
    assert {e.learner_id for e in _entries()} == {cast.own.pk, cast.same_section.pk}
    assert {e.object_id for e in _entries()} == {str(cast.section.pk)}


def test_changes_and_downloads_are_recorded_as_such(
    cast: Cast, standards: Standards, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    client = _api(cast.teacher)
    response = client.post(
        "/api/v1/ratings/",
        {
            "title": "Quick check",
            "demonstrated_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(),
            "entries": [
                {"learner": cast.own.pk, "standard": standards.counting.pk, "score": "3"},
                {"learner": cast.same_section.pk, "standard": standards.counting.pk, "score": 2},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    changes = _entries(action="record.change")
    assert {e.learner_id for e in changes} == {cast.own.pk, cast.same_section.pk}
    assert Rating.objects.filter(learner=cast.own).exists()

    evidence = evidence_services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind="observation",
        title="photo",
        demonstrated_at=timezone.now() - datetime.timedelta(hours=1),
        files=[SimpleUploadedFile("photo.png", png(), content_type="image/png")],
    )
    artifact = Artifact.objects.get(evidence=evidence)
    download = _client(cast.guardian).get(reverse("evidence:download", args=[artifact.pk]))
    assert download.status_code == 200
    [export] = _entries(action="record.export")
    assert (export.actor_id, export.role, export.learner_id, export.object_id) == (
        cast.guardian.pk, "guardian", cast.own.pk, str(artifact.pk),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("student", {"own"}), ("teacher_guardian", {"other_section_learner", "other_school_learner"})],
)
def test_own_pages_and_union_roles_record_exactly_their_learners(
    cast: Cast, persona: str, expected: set[str]
) -> None:
    client = _api(cast.persona(persona))
    client.get("/api/v1/learners/")
    assert {e.learner_id for e in _entries()} == {getattr(cast, n).pk for n in expected}
    assert {e.role for e in _entries()} == {",".join(sorted(_roles(persona)))}


def _roles(persona: str) -> set[str]:
    from tests.personas import ROLES

    return ROLES[persona]


def test_routes_without_learner_data_leave_no_entry(cast: Cast) -> None:
    client = _client(cast.teacher)
    assert client.get(reverse("standards:framework_list")).status_code == 200
    assert client.get("/api/v1/organisations/").status_code == 200
    assert _entries() == []


def test_a_list_page_without_named_learners_leaves_one_entry(cast: Cast) -> None:
    assert _client(cast.teacher).get(reverse("learners:learner_list")).status_code == 200
    [entry] = _entries()
    assert (entry.learner_id, entry.action, entry.object_type) == (
        None, "record.read", "learners.learner",
    )  # fmt: skip
