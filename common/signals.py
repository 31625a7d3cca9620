"""Celery task context for logs: each task's log lines carry the task id as their request id."""

from __future__ import annotations

from typing import Any

from celery.signals import task_postrun, task_prerun

from common.logging import request_id_var


@task_prerun.connect
def _set_task_request_id(task_id: str | None = None, **_: Any) -> None:
    request_id_var.set(task_id or "-")


@task_postrun.connect
def _clear_task_request_id(**_: Any) -> None:
    request_id_var.set("-")
