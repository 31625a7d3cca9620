"""Freshness knows about rules (ADR 8): a record computed under rules other than those in force
is stale. Pages and the API say it is being recomputed (never "up to date"), verify_mastery
counts it stale (not wrong), and the sweep finds and repairs it, scanning the records only
after the rules changed and leaving them to a young bulk recompute."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from mastery import selectors, services
from mastery.models import BulkRecompute, BulkStatus, MasteryRecord, StaleMastery
from standards.models import CalculationPolicy
from tests.mastery.helpers import T0, World, rate

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
UP_TO_DATE = "Up to date with every counted rating."


def _settle() -> None:
    services.recompute_pairs(
        pairs=list(StaleMastery.objects.values_list("learner_id", "standard_id"))
    )


@pytest.fixture
def rated(world: World) -> World:
    for learner in world.learners:
        rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
        rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
        rate(learner, world.b, "3", rater=world.teacher, demonstrated_at=T0)
    _settle()
    return world


def _pages(world: World) -> dict[str, str]:
    client = Client()
    client.force_login(world.teacher)
    learner = world.learners[0]
    record = MasteryRecord.objects.get(learner=learner, standard=world.a)
    return {
        "record": client.get(f"/mastery/records/{record.pk}/").content.decode(),
        "learner": client.get(f"/mastery/learners/{learner.pk}/").content.decode(),
        "cell": client.get(
            f"/mastery/learners/{learner.pk}/standards/{world.a.pk}/?panel=1"
        ).content.decode(),
    }


def _api_stale(world: World) -> list[bool]:
    api = APIClient()
    api.force_authenticate(world.teacher)
    body = api.get(f"/api/v1/mastery/records/?learner={world.learners[0].pk}").json()
    return [row["stale"] for row in body["results"]]


def test_a_policy_changed_without_a_recompute_leaves_records_stale_not_up_to_date(
    rated: World,
) -> None:
    report = selectors.verify_mastery()
    assert (report.checked, report.stale, report.wrong) == (6, 0, 0)
    assert all(UP_TO_DATE in page or "up to date" not in page for page in _pages(rated).values())
    assert UP_TO_DATE in _pages(rated)["record"]
    assert _api_stale(rated) == [False, False, False]
    # Changed in SQL (no service, no bulk recompute): every record of the school is stale.
    CalculationPolicy.objects.filter(organisation=rated.school).update(method="highest")
    report = selectors.verify_mastery()
    assert (report.stale, report.wrong) == (6, 0), report.as_json()
    for name, page in _pages(rated).items():
        assert UP_TO_DATE not in page, name
        assert "ecomputing" in page or "being recomputed" in page or "pending" in page, name
    assert _api_stale(rated) == [True, True, True]
    # The sweep finds them, marks them; their recomputes repair them.
    outcome = services.sweep_stale_mastery()
    assert outcome.marked == 4  # the statements (the roll-up rule did not change)
    _settle()
    report = selectors.verify_mastery()
    assert (report.stale, report.wrong) == (0, 0)
    assert MasteryRecord.objects.get(learner=rated.learners[0], standard=rated.a).score == 4
    assert UP_TO_DATE in _pages(rated)["record"]
    assert _api_stale(rated) == [False, False, False]
    # Nothing changed since: the next sweep does not scan or mark anything.
    assert services.sweep_stale_mastery().marked == 0


def test_records_without_a_key_are_stale_and_repaired(rated: World) -> None:
    MasteryRecord.objects.update(rules_key=None)
    assert selectors.verify_mastery().stale == 6
    assert services.sweep_stale_mastery().marked == 6
    _settle()
    assert selectors.verify_mastery().stale == 0


def test_the_sweep_leaves_the_records_to_a_young_bulk_recompute(rated: World) -> None:
    CalculationPolicy.objects.filter(organisation=rated.school).update(method="highest")
    job = services.start_bulk_recompute(
        actor=rated.teacher, organisation=rated.school, reason="policy"
    )
    assert services.sweep_stale_mastery().marked == 0
    BulkRecompute.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - services.BULK_GRACE - DAY
    )
    assert services.sweep_stale_mastery().marked == 4  # its messages were lost, presumably
    for batch in job.batches.all():
        services.run_bulk_batch(batch_id=batch.pk)
    job.refresh_from_db()
    assert job.status == BulkStatus.DONE
    _settle()
    assert selectors.verify_mastery().as_json()["stale"] == 0


def test_a_bulk_recompute_rewrites_the_keys_once(rated: World) -> None:
    CalculationPolicy.objects.filter(organisation=rated.school).update(
        params={"weight": 50}, method="decaying_average"
    )
    for _ in range(2):
        job = services.start_bulk_recompute(
            actor=rated.teacher, organisation=rated.school, reason="policy"
        )
        for batch in job.batches.all():
            services.run_bulk_batch(batch_id=batch.pk)
        report = selectors.verify_mastery()
        assert (report.stale, report.wrong) == (0, 0)
    assert sum(b.records_written for b in job.batches.all()) == 0
