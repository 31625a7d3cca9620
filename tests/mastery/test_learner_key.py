"""The learner of a record or event is kept by a lock per write, not a key check per row.

mastery/migrations/0009 dropped the foreign keys of records and events to their learner (the
checks were a quarter of a bulk recompute's time). What they guaranteed still holds: no record
or event outlives its learner. Every writer holds the learner FOR KEY SHARE before it writes,
so an erasure under way (which locks the learner FOR UPDATE first) makes it wait and then write
nothing, and an erasure that comes second waits for it and then removes what it wrote; deleting
a learner whose records or events remain fails at COMMIT, as the key's NO ACTION did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from mastery import services
from mastery.models import (
    BulkRecompute,
    BulkRecomputeBatch,
    BulkStatus,
    MasteryEvent,
    MasteryRecord,
)
from privacy import services as privacy_services
from tests.factories import LearnerFactory
from tests.mastery.helpers import World, first_holds_second_waits, rate


def _left_of(learner_id: int) -> tuple[int, int]:
    return (
        MasteryRecord.objects.filter(learner_id=learner_id).count(),
        MasteryEvent.objects.filter(learner_id=learner_id).count(),
    )


def _delete_learner_row(learner_id: int) -> None:
    """The learner's row deleted by hand and our trigger checked now (the other keys on the
    learner stay deferred: the caller's transaction is rolled back)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM learners_learner WHERE id = %s", [learner_id])
        cursor.execute("SET CONSTRAINTS mastery_learner_keys IMMEDIATE")


class _RolledBack(Exception):
    pass


@transaction.atomic
def _delete_then_roll_back(learner_id: int) -> None:
    _delete_learner_row(learner_id)
    raise _RolledBack


@pytest.mark.django_db
def test_a_learner_whose_records_or_events_remain_cannot_be_deleted(world: World) -> None:
    rated, recorded = world.learners
    rate(rated, world.a, "3", rater=world.teacher)
    services.recompute_mastery(learner_id=rated.pk, standard_id=world.a.pk)
    MasteryRecord.objects.filter(learner=rated).delete()  # events, no record
    records, events = _left_of(rated.pk)
    assert records == 0
    assert events > 0
    services._create_record(recorded.pk, world.b.pk, timezone.now())  # a record, no event
    assert _left_of(recorded.pk) == (1, 0)
    for learner in (rated, recorded):
        with (
            pytest.raises(IntegrityError, match="still has mastery records or events"),
            transaction.atomic(),
        ):
            _delete_learner_row(learner.pk)
    # A learner with neither goes (rolled back here: other rows still point at it).
    other = LearnerFactory(school=world.school)
    with pytest.raises(_RolledBack):
        _delete_then_roll_back(other.pk)


def _erase(learner_id: int) -> Callable[[], Any]:
    return lambda: privacy_services.erase_learner(actor=None, learner_id=learner_id)


def _recompute(world: World) -> Callable[[], services.RecomputeOutcome]:
    """The first learner rated on ``a``, and a forced recompute of that pair."""
    learner = world.learners[0]
    rate(learner, world.a, "3", rater=world.teacher)
    return lambda: services.recompute_mastery(
        learner_id=learner.pk, standard_id=world.a.pk, force=True
    )


@pytest.mark.django_db(transaction=True)
def test_a_recompute_during_an_erasure_waits_then_writes_nothing(world: World) -> None:
    learner, recompute = world.learners[0], _recompute(world)

    results, errors, waited = first_holds_second_waits(_erase(learner.pk), recompute)

    assert errors == []
    assert waited
    assert results[1].skipped
    assert _left_of(learner.pk) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_an_erasure_during_a_recompute_waits_then_removes_what_it_wrote(world: World) -> None:
    learner, recompute = world.learners[0], _recompute(world)

    results, errors, waited = first_holds_second_waits(recompute, _erase(learner.pk))

    assert errors == []
    assert waited
    assert results[0].events > 0  # the recompute wrote the record and its events
    assert not results[1].already_erased
    assert _left_of(learner.pk) == (0, 0)


def _batch_of(world: World) -> BulkRecomputeBatch:
    ids = sorted(learner.pk for learner in world.learners)
    job = BulkRecompute.objects.create(
        organisation=world.school, reason="policy", batch_count=1, learner_count=len(ids)
    )
    return BulkRecomputeBatch.objects.create(
        job=job, number=1, learner_id_from=ids[0], learner_id_to=ids[-1]
    )


@pytest.mark.django_db(transaction=True)
def test_a_bulk_batch_during_an_erasure_waits_then_skips_the_learner(world: World) -> None:
    erased, kept = world.learners
    for learner in world.learners:
        rate(learner, world.a, "3", rater=world.teacher)
    batch = _batch_of(world)

    def run() -> BulkRecomputeBatch:
        return services.run_bulk_batch(batch_id=batch.pk)

    results, errors, waited = first_holds_second_waits(_erase(erased.pk), run)

    assert errors == []
    assert waited
    assert results[1].status == BulkStatus.DONE
    assert _left_of(erased.pk) == (0, 0)
    assert MasteryRecord.objects.get(learner=kept, standard=world.a).level_label == "Proficient"


@pytest.mark.django_db(transaction=True)
def test_an_erasure_during_a_bulk_batch_waits_then_removes_what_it_wrote(world: World) -> None:
    erased = world.learners[0]
    for learner in world.learners:
        rate(learner, world.a, "3", rater=world.teacher)
    batch = _batch_of(world)

    def run() -> BulkRecomputeBatch:
        return services.run_bulk_batch(batch_id=batch.pk)

    results, errors, waited = first_holds_second_waits(run, _erase(erased.pk))

    assert errors == []
    assert waited
    assert results[0].events_written > 0
    assert not results[1].already_erased
    assert _left_of(erased.pk) == (0, 0)
