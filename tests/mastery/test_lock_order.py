"""A teacher's change on a learner must never deadlock with a recompute of that learner.

A recompute holds the learner row FOR KEY SHARE (the key of its records: at its commit when
that was a foreign key, from its start since mastery/migrations/0009), deletes the pair's
marker, writes records and commits. A rating change, an override or an elective choice that
locked the learner row FOR UPDATE and then waited for that marker made the recompute's commit
wait for it: a deadlock (seen once in CI). They lock only what they must (the rating row; the
learner row FOR NO KEY UPDATE), so the recompute commits and they go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone

from evidence import services as evidence_services
from mastery import services, sql
from mastery.models import MasteryOverride, StaleMastery
from tests.mastery.helpers import World, rate

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def _alongside_a_recompute(world: World, change: Callable[[], object]) -> list[BaseException]:
    """Run ``change`` (in a thread, on its own connection) while another connection holds what
    a recompute of the learner holds just before its commit; the recompute commits once
    ``change`` waits on it. Returns the errors either raised."""
    learner = world.learners[0]
    services.mark_stale(pairs=[(learner.pk, world.a.pk)])
    holding, release = threading.Event(), threading.Event()
    changer_pid: list[int] = []
    errors: list[BaseException] = []

    def recompute() -> None:
        try:
            with transaction.atomic():
                # The learner FOR KEY SHARE and its advisory lock, as a recompute starts.
                assert sql.pair_context(learner.pk, world.a.pk) is not None
                StaleMastery.objects.filter(learner=learner, standard=world.a).delete()
                services._create_record(learner.pk, world.b.pk, timezone.now())
                holding.set()
                release.wait(20)
        except BaseException as error:  # reported to the test
            errors.append(error)
        finally:
            connection.close()

    def changer() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                changer_pid.append(cursor.fetchone()[0])  # type: ignore[index]
            change()
        except BaseException as error:  # reported to the test
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=recompute)
    first.start()
    assert holding.wait(20)
    second = threading.Thread(target=changer)
    second.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (changer_pid and _waiting_on_a_lock(changer_pid[0])):
        time.sleep(0.02)
    release.set()
    first.join(30)
    second.join(30)
    return errors


def test_a_removal_waiting_on_a_recompute_of_the_learner_does_not_deadlock(world: World) -> None:
    rating = rate(world.learners[0], world.a, "3", rater=world.teacher)

    def removal() -> object:
        return evidence_services.remove_rating(actor=world.teacher, rating=rating, reason="typo")

    assert _alongside_a_recompute(world, removal) == []


def test_a_correction_waiting_on_a_recompute_of_the_learner_does_not_deadlock(world: World) -> None:
    rating = rate(world.learners[0], world.a, "3", rater=world.teacher)

    def correction() -> object:
        return evidence_services.supersede_rating(
            actor=world.teacher, rating=rating, score="2", comment="misread"
        )

    assert _alongside_a_recompute(world, correction) == []


def test_an_override_waiting_on_a_recompute_of_the_learner_does_not_deadlock(world: World) -> None:
    def override() -> object:
        return services.set_override(
            actor=world.teacher,
            learner=world.learners[0],
            standard=world.a,
            level="4",
            reason="seen in class",
        )

    assert _alongside_a_recompute(world, override) == []
    assert MasteryOverride.objects.filter(cleared_at__isnull=True).count() == 1
