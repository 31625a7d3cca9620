"""Celery entry points of the common app."""

from __future__ import annotations

from celery import shared_task

from common.health import check_database


@shared_task(name="common.tasks.ping", queue="mastery")
def ping() -> str:
    """Answers from a worker with its view of the database: proves a worker serves this queue."""
    return check_database() or "pong"
