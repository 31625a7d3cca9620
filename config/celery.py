"""The Celery application: settings come from Django's (namespace ``CELERY_``)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_prerun
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("mastery_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
QUEUES = ("mastery", "bulk", "reports")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.autodiscover_tasks()


@task_prerun.connect
def drop_broken_connections(task: Any = None, **_: Any) -> None:
    """Before a task on a worker, close any database connection that failed and is unusable.

    Workers keep their connection between tasks (``CELERY_DB_REUSE_MAX``). When PostgreSQL
    terminated it, the task that hit the error failed cleanly (``OperationalError``, retried
    with backoff); closing the dead connection here lets the retry open a new one instead of
    failing on the same corpse. A connection that merely saw an error but still answers is kept.
    Eager tasks (run inside a request) are left alone.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is None or conn.in_atomic_block:
            continue
        if conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()
