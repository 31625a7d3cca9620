"""Celery entry points of the common app."""

from __future__ import annotations

from celery import shared_task

from common.health import check_database


# The one task whose result someone reads (the worker check waits for it).
@shared_task(name="common.tasks.ping", queue="mastery", ignore_result=False)
def ping() -> str:
    """Answers from a worker with its view of the database: proves a worker serves this queue."""
    return check_database() or "pong"
