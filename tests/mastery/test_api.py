"""The mastery API: scoped like every other endpoint, denials included (RELIABILITY S1, S2)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from mastery import services
from mastery.models import BulkRecompute, MasteryRecord, StaleMastery
from tests.mastery.helpers import T0, make_framework, rate
from tests.personas import ADMINISTERED, LEARNER_ATTRS, PERSONA_NAMES, VISIBLE_LEARNERS, Cast

SIGNED_IN = [name for name in PERSONA_NAMES if name != "deactivated_teacher"]
HOUR = datetime.timedelta(hours=1)


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def all_pages(client: APIClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.content
        items.extend(response.data["results"])
        next_url = response.data["next"]
    return items


@pytest.fixture
def rated(cast: Cast) -> Cast:
    """Every learner of the cast rated once on a statement of a fresh framework, recomputed."""
    _, _, statement, _ = make_framework()
    for attr in LEARNER_ATTRS.values():
        rate(getattr(cast, attr), statement, "3", rater=cast.state_admin, recorded_at=T0)
    services.recompute_pairs(
        pairs=list(StaleMastery.objects.values_list("learner_id", "standard_id"))
    )
    return cast


def _learner_ids(cast: Cast, persona: str) -> set[int]:
    return {getattr(cast, LEARNER_ATTRS[name]).pk for name in VISIBLE_LEARNERS[persona]}


def test_record_lists_are_exactly_each_persona_s_learners(rated: Cast) -> None:
    for persona in SIGNED_IN:
        items = all_pages(api(rated.persona(persona)), "/api/v1/mastery/records/")
        learners = {item["learner"] for item in items}
        expected = _learner_ids(rated, persona)
        assert learners == expected, persona
        # two records per learner: the statement and its grouping
        assert len(items) == 2 * len(expected), persona


def test_a_record_outside_the_scope_answers_404(rated: Cast) -> None:
    other = MasteryRecord.objects.get(
        learner=rated.other_state_learner, standard__parent__isnull=False
    )
    own = MasteryRecord.objects.get(learner=rated.own, standard__parent__isnull=False)
    for persona in SIGNED_IN:
        client = api(rated.persona(persona))
        expected = 200 if rated.own.pk in _learner_ids(rated, persona) else 404
        assert client.get(f"/api/v1/mastery/records/{own.pk}/").status_code == expected, persona
        if persona != "state_admin":
            assert client.get(f"/api/v1/mastery/records/{other.pk}/").status_code == 404
    assert api(rated.teacher).get("/api/v1/mastery/records/x1/").status_code == 404


def test_a_record_explains_itself_and_says_how_fresh_it_is(rated: Cast) -> None:
    record = MasteryRecord.objects.get(learner=rated.own, standard__parent__isnull=False)
    response = api(rated.guardian).get(f"/api/v1/mastery/records/{record.pk}/")
    assert response.status_code == 200
    body = response.data
    assert (body["state"], body["score"], body["level_label"], body["stale"]) == (
        "scored",
        "3.0000",
        "Proficient",
        False,
    )
    assert body["computed_at"] == record.computed_at.isoformat().replace("+00:00", "Z")
    assert [i["score"] for i in body["explanation"]["inputs"]] == ["3"]
    services.mark_stale(pairs=[(record.learner_id, record.standard_id)])
    assert api(rated.guardian).get(f"/api/v1/mastery/records/{record.pk}/").data["stale"] is True


def test_event_lists_are_exactly_each_persona_s_learners(rated: Cast) -> None:
    for persona in SIGNED_IN:
        items = all_pages(api(rated.persona(persona)), "/api/v1/mastery/events/")
        assert {item["learner"] for item in items} == _learner_ids(rated, persona), persona


def test_as_of_answers_for_visible_learners_only(rated: Cast) -> None:
    record = MasteryRecord.objects.get(learner=rated.own, standard__parent__isnull=False)
    client = api(rated.student)

    def as_of(learner: int, standard: int, at: datetime.datetime) -> Any:
        query = {"learner": learner, "standard": standard, "at": at.isoformat()}
        return client.get("/api/v1/mastery/as-of/", query)

    ok = as_of(rated.own.pk, record.standard_id, T0 + HOUR)
    assert (ok.status_code, ok.data["score"], ok.data["evidence_count"]) == (200, "3.00", 1)
    before = as_of(rated.own.pk, record.standard_id, T0 - HOUR)
    assert (before.data["state"], before.data["evidence_count"]) == ("not_assessed", 0)
    assert as_of(rated.same_section.pk, record.standard_id, T0 + HOUR).status_code == 404
    assert as_of(rated.own.pk, 999999999, T0 + HOUR).status_code == 404


def test_as_of_names_the_bad_parameter(rated: Cast) -> None:
    response = api(rated.student).get(
        f"/api/v1/mastery/as-of/?learner={rated.own.pk}&standard=1&at=yesterday"
    )
    assert response.status_code == 400
    assert set(response.data) == {"at"}


def test_only_administrators_start_bulk_recomputes_and_see_them(rated: Cast) -> None:
    body = {"organisation": rated.school.pk, "reason": "policy", "batch_size": 2}
    for persona in SIGNED_IN:
        response = api(rated.persona(persona)).post(
            "/api/v1/mastery/bulk-recomputes/", body, format="json"
        )
        expected = 201 if "school" in ADMINISTERED[persona] else 404
        assert response.status_code == expected, persona
    assert BulkRecompute.objects.count() == 3  # school, district and state admins
    job = BulkRecompute.objects.order_by("pk").first()
    assert job is not None
    for persona in SIGNED_IN:
        items = all_pages(api(rated.persona(persona)), "/api/v1/mastery/bulk-recomputes/")
        assert len(items) == (3 if "school" in ADMINISTERED[persona] else 0), persona
    for persona, expected in (("school_admin", 200), ("teacher_admin", 404), ("teacher", 404)):
        detail = api(rated.persona(persona)).get(f"/api/v1/mastery/bulk-recomputes/{job.pk}/")
        assert detail.status_code == expected, persona


def test_a_bulk_recompute_reports_its_progress(rated: Cast) -> None:
    client = api(rated.school_admin)
    created = client.post(
        "/api/v1/mastery/bulk-recomputes/",
        {"organisation": rated.school.pk, "reason": "scale", "batch_size": 2},
        format="json",
    )
    assert created.status_code == 201
    assert (created.data["batch_count"], created.data["batches_done"], created.data["percent"]) == (
        2,
        0,
        0,
    )
    job = BulkRecompute.objects.get(pk=created.data["id"])
    first = job.batches.order_by("number").first()
    assert first is not None
    services.run_bulk_batch(batch_id=first.pk)
    halfway = client.get(f"/api/v1/mastery/bulk-recomputes/{job.pk}/").data
    assert (halfway["status"], halfway["batches_done"], halfway["percent"]) == ("running", 1, 50)


def test_bad_bulk_input_names_the_field_and_starts_nothing(rated: Cast) -> None:
    client = api(rated.school_admin)
    response = client.post(
        "/api/v1/mastery/bulk-recomputes/",
        {"organisation": rated.school.pk, "reason": "whim", "batch_size": 0},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.data) == {"reason", "batch_size"}
    assert not BulkRecompute.objects.exists()


def test_anonymous_requests_are_refused(db: None) -> None:
    for path in ("records/", "events/", "bulk-recomputes/", "as-of/"):
        assert APIClient().get(f"/api/v1/mastery/{path}").status_code in {401, 403}


def test_the_api_never_writes_records(rated: Cast) -> None:
    record = MasteryRecord.objects.filter(learner=rated.own).first()
    assert record is not None
    client = api(rated.state_admin)
    url = f"/api/v1/mastery/records/{record.pk}/"
    assert client.put(url, {"score": "4"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert client.post("/api/v1/mastery/records/", {}, format="json").status_code == 405
    assert MasteryRecord.objects.get(pk=record.pk).computed_at <= timezone.now()
