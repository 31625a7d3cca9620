"""Request ids on log records.

The id lives in a context variable, set by ``RequestIdMiddleware`` for a request and by the Celery
signal handlers for a task, so every log line of that unit of work can be joined up.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (``-`` outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
