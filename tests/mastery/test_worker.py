"""The recompute through a real Celery worker on the real Redis and PostgreSQL (slow tier).

What a killed worker and an emptied Redis do to the records, and how the sweep heals them. The
broker is the test Redis database (REDIS_URL): "Redis restarted empty" is a FLUSHDB of that
database, which loses every queued and unacknowledged message exactly as a restart of our
non-persistent Redis does, without touching the Redis others use.
"""

from __future__ import annotations

import datetime
import io
import json
import subprocess

import pytest
import redis
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from config.celery import app as celery_app
from mastery import selectors, services
from mastery.models import BulkRecompute, BulkStatus, MasteryRecord, StaleMastery
from standards.models import CalculationPolicy
from tests.mastery.chaos import (
    RowLock,
    children_of,
    kill,
    sessions_waiting_on_a_lock,
    start_worker,
    stop,
    wait_until,
)
from tests.mastery.helpers import T0, World, build_world, rate

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
DAY = datetime.timedelta(days=1)


def _count(learner_id: int, standard_id: int) -> int | None:
    record = MasteryRecord.objects.filter(learner_id=learner_id, standard_id=standard_id).first()
    return None if record is None else record.evidence_count


def _no_markers() -> bool:
    return not StaleMastery.objects.exists()


def _verify() -> dict[str, int]:
    out = io.StringIO()
    try:
        call_command("verify_mastery", "--json", stdout=out)
        status = 0
    except SystemExit as exc:
        status = int(str(exc.code))
    return {**json.loads(out.getvalue()), "exit": status}


def test_a_posted_rating_leads_to_its_record_updated(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    world = build_world()
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
    wait_until(lambda: _count(learner.pk, world.a.pk) == 1, what="the first recompute")
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
    wait_until(lambda: _count(learner.pk, world.a.pk) == 2, what="the second recompute")
    wait_until(_no_markers, what="the markers to be cleared")
    record = MasteryRecord.objects.get(learner=learner, standard=world.a)
    assert (str(record.score), record.level_label, record.mastered) == (
        "3.0000",
        "Proficient",
        True,
    )
    assert _count(learner.pk, world.domain.pk) == 2


def test_a_rolled_back_transaction_queues_nothing(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    world = build_world()
    doomed, witness = world.learners

    def failing() -> None:
        with transaction.atomic():
            rate(doomed, world.a, "3", rater=world.teacher)
            raise RuntimeError("the request fails after rating")

    with pytest.raises(RuntimeError):
        failing()
    # A later committed rating is processed after anything queued before it.
    rate(witness, world.a, "3", rater=world.teacher)
    wait_until(lambda: _count(witness.pk, world.a.pk) == 1, what="the witness recompute")
    assert _count(doomed.pk, world.a.pk) is None
    assert not StaleMastery.objects.filter(learner=doomed).exists()


def _freeze_recompute_of(world: World) -> RowLock:
    """Hold the lock on the first learner's record of ``a`` from another session."""
    return RowLock(
        "SELECT id FROM mastery_masteryrecord WHERE learner_id = %s AND standard_id = %s"
        " FOR UPDATE",
        [world.learners[0].pk, world.a.pk],
    )


def _settled_world() -> World:
    world = build_world(learners=3)
    for index, learner in enumerate(world.learners):
        rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
        rate(learner, world.b, str(index + 1), rater=world.teacher, demonstrated_at=T0)
    wait_until(_no_markers, what="the first recomputes")
    return world


def test_a_worker_killed_mid_recompute_gets_its_message_back(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    world = _settled_world()
    lock = _freeze_recompute_of(world)
    try:
        rate(world.learners[0], world.a, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
        wait_until(lambda: sessions_waiting_on_a_lock() == 1, what="the recompute to block")
        (child,) = children_of(celery_worker_process.pid)
        kill(child)
        # reject_on_worker_lost puts the message back; the replacement child takes it and blocks.
        wait_until(
            lambda: (
                children_of(celery_worker_process.pid) not in ([], [child])
                and sessions_waiting_on_a_lock() >= 1
            ),
            what="the message to be redelivered",
        )
    finally:
        lock.release()
    wait_until(lambda: _count(world.learners[0].pk, world.a.pk) == 2, what="the redelivery")
    wait_until(_no_markers, what="the markers to be cleared")
    assert _verify() == {"checked": 9, "stale": 0, "wrong": 0, "exit": 0}


def test_a_killed_worker_and_an_emptied_redis_are_healed_by_the_sweep(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    world = _settled_world()
    first, second, third = world.learners
    lock = _freeze_recompute_of(world)
    try:
        rate(first, world.a, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
        wait_until(lambda: sessions_waiting_on_a_lock() == 1, what="the recompute to block")
        rate(second, world.a, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
        rate(third, world.b, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
        for pid in [*children_of(celery_worker_process.pid), celery_worker_process.pid]:
            kill(pid)
        celery_worker_process.wait(timeout=10)
        redis.Redis.from_url(celery_app.conf.broker_url).flushdb()
    finally:
        lock.release()
    assert StaleMastery.objects.count() == 3
    assert _verify() == {"checked": 9, "stale": 6, "wrong": 0, "exit": 1}

    worker = start_worker()
    try:
        later = timezone.now() + services.SWEEP_GRACE + datetime.timedelta(seconds=1)
        assert services.sweep_stale_mastery(now=later) == services.SweepOutcome(0, 3)
        wait_until(_no_markers, what="the sweep's recomputes")
    finally:
        stop(worker)
    assert _verify() == {"checked": 9, "stale": 0, "wrong": 0, "exit": 0}
    assert [_count(learner.pk, world.a.pk) for learner in world.learners] == [2, 2, 1]


def test_a_bulk_recompute_runs_its_batches_on_the_bulk_queue(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    world = _settled_world()
    CalculationPolicy.objects.filter(organisation=world.school).update(method="highest")
    job = services.start_bulk_recompute(
        actor=world.teacher, organisation=world.school, reason="policy", batch_size=2
    )
    wait_until(
        lambda: BulkRecompute.objects.get(pk=job.pk).status == BulkStatus.DONE,
        what="the bulk recompute",
    )
    assert selectors.bulk_progress(job).done == 2
    assert _verify() == {"checked": 9, "stale": 0, "wrong": 0, "exit": 0}
