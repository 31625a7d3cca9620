"""Celery entry points of the mastery app: ids in, one service call, nothing else.

Routing (config/settings.py): ``mastery.tasks.bulk_*`` go to the ``bulk`` queue, the others to
``mastery``. Every task is safe to run twice, late or concurrently (the services rebuild from the
ratings and lock the rows they write), so ``acks_late`` with ``reject_on_worker_lost`` is safe:
a worker killed mid-task gets its message redelivered instead of lost. Only transient database
errors (``OperationalError``: a dropped connection, a deadlock, a serialisation failure) are
retried, with exponential backoff and a bound; anything else fails loudly with its ids.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from mastery import services

_RETRY: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


# Nobody reads a recompute's return value: not storing it saves a Redis write per task.
@shared_task(name="mastery.tasks.recompute_mastery", ignore_result=True, **_RETRY)
def recompute_mastery(learner_id: int, standard_id: int) -> dict[str, Any]:
    """Rebuild one learner's record on one standard (``services.recompute_mastery``)."""
    outcome = services.recompute_mastery(learner_id=int(learner_id), standard_id=int(standard_id))
    return {"skipped": outcome.skipped, "changed": outcome.changed, "events": outcome.events}


@shared_task(name="mastery.tasks.recompute_mastery_pairs", ignore_result=True, **_RETRY)
def recompute_mastery_pairs(pairs: list[list[int]]) -> int:
    """Rebuild many pairs, one transaction each (queued for every ``mark_stale`` call of more
    than one pair: a quick entry's ratings are one message)."""
    outcomes = services.recompute_pairs(pairs=[(int(p[0]), int(p[1])) for p in pairs])
    return sum(1 for outcome in outcomes if not outcome.skipped)


@shared_task(name="mastery.tasks.sweep_stale_mastery", **_RETRY)
def sweep_stale_mastery() -> dict[str, int]:
    """The periodic repair (Celery beat, every minute): ``services.sweep_stale_mastery``."""
    outcome = services.sweep_stale_mastery()
    return {"marked": outcome.marked, "requeued": outcome.requeued}


@shared_task(name="mastery.tasks.bulk_recompute_batch", **_RETRY)
def bulk_recompute_batch(batch_id: int) -> dict[str, int]:
    """One learner-id range of a bulk recompute (``services.run_bulk_batch``), on ``bulk``."""
    batch = services.run_bulk_batch(batch_id=int(batch_id))
    return {"checked": batch.records_checked, "written": batch.records_written}


@shared_task(name="mastery.tasks.requeue_bulk_batches", **_RETRY)
def requeue_bulk_batches() -> int:
    """Periodic (beat, every minute): batches never sent or lost are sent again."""
    return services.requeue_bulk_batches()
