"""Celery entry points of the reports app (queue ``reports``): ids in, one service call.

``generate_report`` is safe to run twice, late or concurrently: a finished report is left
alone and a newer attempt takes a running one over (``services.generate_report``), so
``acks_late`` with ``reject_on_worker_lost`` is safe. Only transient database errors are
retried, with backoff and a bound; anything else marks the report failed and fails loudly.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from reports import services

_RETRY: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="reports.tasks.generate_report", bind=True, **_RETRY)
def generate_report(self: Any, report_id: int) -> dict[str, Any]:
    """Generate one requested report (``services.generate_report``, under a lease held by this
    message: a redelivery of it takes over, another message waits for the lease to expire)."""
    report = services.generate_report(report_id=int(report_id), task_id=self.request.id or "")
    return {"report_id": int(report_id), "status": report.status if report else "skipped"}


@shared_task(name="reports.tasks.requeue_reports", **_RETRY)
def requeue_reports() -> int:
    """Periodic (Celery beat, every minute): send what the broker missed, take up reports whose
    worker died (``services.requeue_reports``)."""
    return services.requeue_reports()
