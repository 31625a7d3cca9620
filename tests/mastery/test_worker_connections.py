"""A real worker keeps its database connection between tasks (``CELERY_DB_REUSE_MAX``), still
fails cleanly and retries when PostgreSQL terminates it (R5), and applies a policy edited
between two of its recomputes at once (the process's rules cache).
"""

from __future__ import annotations

import datetime
import subprocess
from decimal import Decimal

import pytest
from django.db import connection

from mastery.models import MasteryRecord, StaleMastery
from standards.models import CalculationPolicy
from tests.mastery.chaos import wait_until
from tests.mastery.helpers import T0, build_world, rate

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
DAY = datetime.timedelta(days=1)


def _count(learner_id: int, standard_id: int) -> int | None:
    record = MasteryRecord.objects.filter(learner_id=learner_id, standard_id=standard_id).first()
    return None if record is None else record.evidence_count


def _other_backends() -> set[int]:
    """The backends on the test database other than this test's own (the worker's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        return {int(row[0]) for row in cursor.fetchall()}


def test_the_worker_keeps_its_connection_between_tasks(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    world = build_world()
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
    wait_until(lambda: _count(learner.pk, world.a.pk) == 1, what="the first recompute")
    first = _other_backends()
    assert first, "the worker closed its connection after the task"
    rate(learner, world.a, "3", rater=world.teacher, demonstrated_at=T0 + DAY)
    wait_until(lambda: _count(learner.pk, world.a.pk) == 2, what="the second recompute")
    assert _other_backends() == first


def test_a_terminated_connection_fails_the_task_cleanly_and_its_retry_succeeds(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    world = build_world()
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
    wait_until(lambda: _count(learner.pk, world.a.pk) == 1, what="the first recompute")
    killed = _other_backends()
    with connection.cursor() as cursor:
        for pid in killed:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_until(lambda: not (_other_backends() & killed), what="the backends to go")
    # The next task meets the dead connection: OperationalError, retried on a new connection.
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
    wait_until(lambda: _count(learner.pk, world.a.pk) == 2, timeout=60, what="the retry")
    wait_until(lambda: not StaleMastery.objects.exists(), what="the marker to be cleared")
    assert MasteryRecord.objects.get(learner=learner, standard=world.a).score == Decimal(3)
    assert _other_backends()
    assert not (_other_backends() & killed)


def test_a_policy_edited_between_two_recomputes_of_one_worker_is_applied_at_once(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    world = build_world()
    learner = world.learners[0]
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0)
    rate(learner, world.a, "1", rater=world.teacher, demonstrated_at=T0 + DAY)
    wait_until(lambda: _count(learner.pk, world.a.pk) == 2, what="the first recomputes")
    assert MasteryRecord.objects.get(learner=learner, standard=world.a).score == Decimal("2.5")
    CalculationPolicy.objects.filter(organisation=world.school).update(method="highest")
    rate(learner, world.a, "1", rater=world.teacher, demonstrated_at=T0 + 2 * DAY)
    wait_until(lambda: _count(learner.pk, world.a.pk) == 3, what="the recompute after the edit")
    assert MasteryRecord.objects.get(learner=learner, standard=world.a).score == Decimal(4)
