"""The privacy pages and API: administrators only, scoped, confirmed, audited."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit import services as audit
from audit.models import AuditEntry
from learners.models import Learner
from privacy.models import ErasureRecord
from tests.personas import Cast


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _api(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)  # type: ignore[arg-type]
    return client


@pytest.mark.parametrize(
    ("persona", "status"),
    [("teacher", 403), ("guardian", 403), ("student", 403), ("school_admin", 200)],
)
def test_the_privacy_index_is_for_administrators(cast: Cast, persona: str, status: int) -> None:
    assert _client(cast.persona(persona)).get(reverse("privacy:index")).status_code == status


@pytest.mark.parametrize(
    ("persona", "target", "status"),
    [
        ("school_admin", "own", 200),
        ("school_admin", "other_school_learner", 404),
        ("district_admin", "other_school_learner", 200),
        ("teacher_admin", "other_district_learner", 200),
        ("teacher_admin", "other_section_learner", 404),
        ("teacher", "own", 404),
        ("guardian", "own", 404),
        ("state_admin", "other_state_learner", 404),
    ],
)
def test_the_learner_page_and_export_follow_administration(
    cast: Cast, roots: tuple[Path, Path], persona: str, target: str, status: int
) -> None:
    client = _client(cast.persona(persona))
    learner = getattr(cast, target)
    assert client.get(reverse("privacy:learner_erase", args=[learner.pk])).status_code == status
    export = client.get(reverse("privacy:learner_export", args=[learner.pk]))
    assert export.status_code == status
    if status == 200:
        assert export["Content-Disposition"].startswith("attachment;")
        assert "no-store" in export["Cache-Control"]
        body = b"".join(export.streaming_content)  # type: ignore[attr-defined]
        assert "learner.json" in zipfile.ZipFile(io.BytesIO(body)).namelist()
    else:
        denied = AuditEntry.objects.filter(action="privacy.export", outcome="denied").get()
        assert denied.learner_id == learner.pk


def test_erasing_needs_the_learners_name_typed_again(cast: Cast, roots: tuple[Path, Path]) -> None:
    client = _client(cast.school_admin)
    url = reverse("privacy:learner_erase", args=[cast.own.pk])
    name = f"{cast.own.given_name} {cast.own.family_name}"
    assert f"Type: {name}" in client.get(url).content.decode()
    wrong = client.post(url, {"confirm": f"{cast.same_section.given_name} Own"})
    assert wrong.status_code == 200
    assert "does not match" in wrong.content.decode()
    assert Learner.objects.filter(pk=cast.own.pk).exists()
    done = client.post(url, {"confirm": f"  {name.upper()} "})
    assert done.status_code == 302
    assert not Learner.objects.filter(pk=cast.own.pk).exists()
    index = client.get(reverse("privacy:index"))
    assert ErasureRecord.objects.get().pk in index.context["erasures"].values_list("pk", flat=True)
    # A second attempt finds nothing: the same answer as any learner out of scope.
    assert client.post(url, {"confirm": name}).status_code == 404


def test_a_learner_is_found_by_name_or_local_id_among_the_administered_ones(cast: Cast) -> None:
    client = _client(cast.school_admin)
    url = reverse("privacy:index")
    found = client.post(url, {"learner": cast.own.local_id})
    assert found.status_code == 302
    assert found["Location"] == reverse("privacy:learner_erase", args=[cast.own.pk])
    by_name = client.post(url, {"learner": f"{cast.own.given_name} {cast.own.family_name}"})
    assert by_name["Location"] == found["Location"]
    elsewhere = client.post(url, {"learner": cast.other_school_learner.family_name})
    assert elsewhere.status_code == 200
    assert "No learner of yours matches" in elsewhere.content.decode()


def test_the_api_erases_and_refuses_like_the_page(cast: Cast, roots: tuple[Path, Path]) -> None:
    url = f"/api/v1/privacy/learners/{cast.own.pk}/erase/"
    assert _api(cast.teacher).post(url, {"confirm": cast.own.pk}).status_code == 404
    assert _api(cast.school_admin).post(url, {"confirm": 1}).status_code in {400, 404}
    response = _api(cast.school_admin).post(url, {"confirm": cast.own.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["rows_removed"] >= 2
    assert not Learner.objects.filter(pk=cast.own.pk).exists()


def test_the_api_export_is_a_zip(cast: Cast, roots: tuple[Path, Path]) -> None:
    response = _api(cast.school_admin).get(f"/api/v1/privacy/learners/{cast.own.pk}/export/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    document = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("learner.json"))
    assert document["learner_id"] == cast.own.pk


def test_the_access_log_lists_exactly_the_administered_learners_entries(cast: Cast) -> None:
    for learner in cast.all_learners():
        audit.record_access(actor=cast.teacher, action="record.read", learner_id=learner.pk)
    audit.record_access(actor=cast.teacher, action="record.read")  # no learner: operator only
    expected = {
        "school_admin": {cast.own, cast.same_section, cast.former, cast.other_section_learner},
        "teacher_admin": {cast.other_district_learner},
    }
    for persona, learners in expected.items():
        client = _api(cast.persona(persona))
        seen: list[int] = []
        url: str | None = "/api/v1/privacy/access-log/?action=record.read"
        while url:
            page = client.get(url).json()
            seen += [item["learner"] for item in page["results"]]
            url = page["next"]
        assert sorted(seen) == sorted(learner.pk for learner in learners), persona
    assert _api(cast.teacher).get("/api/v1/privacy/access-log/").status_code == 403
    only = _api(cast.school_admin).get(
        "/api/v1/privacy/access-log/", {"learner": cast.own.pk, "outcome": "allowed"}
    )
    assert [item["learner"] for item in only.json()["results"]] == [cast.own.pk]
    bad = _api(cast.school_admin).get("/api/v1/privacy/access-log/", {"since": "2026-13-01"})
    assert bad.status_code == 400


def test_the_access_log_page_searches_and_pages(cast: Cast) -> None:
    for _ in range(3):
        audit.record_access(actor=cast.teacher, action="record.read", learner_id=cast.own.pk)
    client = _client(cast.school_admin)
    page = client.get(reverse("privacy:access_log"), {"learner": cast.own.local_id})
    assert page.status_code == 200
    assert page.context["page"].paginator.count == 3
    bad = client.get(reverse("privacy:access_log"), {"since": "2026-02-02", "until": "2026-01-01"})
    assert "before the start date" in bad.content.decode()
    assert _client(cast.guardian).get(reverse("privacy:access_log")).status_code == 403


def test_the_erase_command_reports_and_is_idempotent(
    cast: Cast, roots: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("erase_learner", str(cast.own.pk), "--json")
    first = json.loads(capsys.readouterr().out)
    assert first["remaining"] == {}
    assert first["rows_removed"] > 0
    call_command("erase_learner", str(cast.own.pk), "--json")
    second = json.loads(capsys.readouterr().out)
    assert second["already_erased"]
    assert second["rows_removed"] == 0
