"""The mastery pages: bulk recomputes for administrators, a record's explanation for anyone
who may see the learner; out of scope answers 404, and every number says how fresh it is."""

from __future__ import annotations

import pytest
from django.test import Client

from mastery import services
from mastery.models import BulkRecompute, MasteryRecord
from tests.mastery.helpers import T0, make_framework, rate
from tests.personas import ADMINISTERED, PERSONA_NAMES, VISIBLE_LEARNERS, Cast

SIGNED_IN = [name for name in PERSONA_NAMES if name != "deactivated_teacher"]


def client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def record(cast: Cast) -> MasteryRecord:
    _, _, statement, _ = make_framework()
    rate(cast.own, statement, "3", rater=cast.state_admin, recorded_at=T0)
    services.recompute_mastery(learner_id=cast.own.pk, standard_id=statement.pk)
    return MasteryRecord.objects.get(learner=cast.own, standard=statement)


def test_the_record_page_is_for_those_who_may_see_the_learner(
    cast: Cast, record: MasteryRecord
) -> None:
    for persona in SIGNED_IN:
        response = client_for(cast.persona(persona)).get(f"/mastery/records/{record.pk}/")
        expected = 200 if "own" in VISIBLE_LEARNERS[persona] else 404
        assert response.status_code == expected, persona
    assert Client().get(f"/mastery/records/{record.pk}/").status_code == 302


def test_the_record_page_explains_the_number_and_says_how_fresh_it_is(
    cast: Cast, record: MasteryRecord
) -> None:
    page = client_for(cast.guardian).get(f"/mastery/records/{record.pk}/").content.decode()
    assert "Proficient" in page
    assert f'datetime="{record.computed_at.isoformat()}"' in page
    assert "Up to date with every counted rating." in page
    assert "<code>decaying_average</code>" in page  # the platform default policy
    services.mark_stale(pairs=[(record.learner_id, record.standard_id)])
    page = client_for(cast.guardian).get(f"/mastery/records/{record.pk}/").content.decode()
    assert "Recomputing: newer evidence or changed rules" in page


def test_the_bulk_page_is_for_administrators_only(cast: Cast) -> None:
    for persona in SIGNED_IN:
        response = client_for(cast.persona(persona)).get("/mastery/bulk/")
        assert response.status_code == (200 if ADMINISTERED[persona] else 403), persona


def test_an_administrator_starts_a_bulk_recompute_and_follows_its_progress(cast: Cast) -> None:
    client = client_for(cast.school_admin)
    response = client.post(
        "/mastery/bulk/", {"organisation": cast.school.pk, "reason": "policy", "framework": ""}
    )
    job = BulkRecompute.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/mastery/bulk/{job.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "0 of 1 (0%)" in page
    for batch in job.batches.all():
        services.run_bulk_batch(batch_id=batch.pk)
    page = client.get(response["Location"]).content.decode()
    assert "1 of 1 (100%)" in page
    assert "Done" in page
    assert f"/mastery/bulk/{job.pk}/" in client.get("/mastery/bulk/").content.decode()


def test_an_organisation_outside_the_scope_is_refused_and_nothing_starts(cast: Cast) -> None:
    response = client_for(cast.school_admin).post(
        "/mastery/bulk/", {"organisation": cast.other_school.pk, "reason": "policy"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not BulkRecompute.objects.exists()


def test_a_bulk_recompute_of_another_organisation_answers_404(cast: Cast) -> None:
    job = services.start_bulk_recompute(
        actor=cast.state_admin, organisation=cast.other_district, reason="scale"
    )
    assert client_for(cast.school_admin).get(f"/mastery/bulk/{job.pk}/").status_code == 404
    assert client_for(cast.state_admin).get(f"/mastery/bulk/{job.pk}/").status_code == 200


def test_the_cell_panel_record_page_and_api_show_the_estimators_and_the_flag(cast: Cast) -> None:
    """4 then 2 under the school's policy (the average by default): the average 3.00
    (Proficient) beside the latest 2.00 (Developing): flagged ("look again"), on the cell
    panel, the record page and the record's API answer. A grouping has no estimators."""
    _, domain, statement, _ = make_framework()
    rate(cast.own, statement, "4", rater=cast.teacher, demonstrated_at=T0)
    rate(cast.own, statement, "2", rater=cast.teacher, demonstrated_at=T0.replace(day=2))
    services.recompute_mastery(learner_id=cast.own.pk, standard_id=statement.pk)
    record = MasteryRecord.objects.get(learner=cast.own, standard=statement)
    client = client_for(cast.teacher)
    panel = client.get(f"/mastery/learners/{cast.own.pk}/standards/{statement.pk}/?panel=1")
    assert panel.status_code == 200
    text = panel.content.decode()
    assert "Estimators side by side" in text
    assert "the evidence is inconsistent: look again" in text
    assert "Most recent score" in text
    page = client.get(f"/mastery/records/{record.pk}/").content.decode()
    assert "the evidence is inconsistent: look again" in page
    body = client.get(f"/api/v1/mastery/records/{record.pk}/").json()
    assert body["estimators"]["flagged"] is True
    assert {e["method"]: e["level"] for e in body["estimators"]["estimates"]}["latest"] == (
        "Developing"
    )
    services.recompute_mastery(learner_id=cast.own.pk, standard_id=domain.pk)
    rolled = MasteryRecord.objects.get(learner=cast.own, standard=domain)
    assert client.get(f"/api/v1/mastery/records/{rolled.pk}/").json()["estimators"] is None
