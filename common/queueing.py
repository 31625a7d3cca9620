"""Sending work to the workers without ever making a request wait on the broker (R4, R11).

The database is the outbox: every piece of queued work has a row saying it is still to do (a
stale mastery marker, a queued report, a pending e-mail), and a periodic task sends again what
is left. A message is only a prompt to start now, so :func:`send` tries once, briefly, and says
whether it went; the caller's row stays for the sweep when it did not. Results are stored for
no task that nobody reads (``CELERY_TASK_IGNORE_RESULT``): the Redis result backend's reconnect
loop held report requests for about 19 s when Redis was down.

After a failure, :func:`send` answers False at once for ``BROKER_BACKOFF_SECONDS`` (3 s) without
trying again: with the broker unreachable every request would otherwise pay the attempt.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Final

logger = logging.getLogger(__name__)

BROKER_BACKOFF_SECONDS: Final = 3.0

_lock = threading.Lock()
_down_until = 0.0


def broker_recently_down() -> bool:
    """True while this process is skipping the broker after a failed send."""
    return time.monotonic() < _down_until


def send(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Publish ``task(*args, **kwargs)`` (ids only); True if the broker took it.

    Never raises for a broker problem, never waits more than the connection's short timeout
    (config/settings.py), and not at all while the broker is known to be down.
    """
    global _down_until
    if broker_recently_down():
        return False
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except Exception:  # kombu, redis and socket errors alike: the broker did not take it
        with _lock:
            _down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning(
            "broker unreachable: the work stays in the database for the sweep",
            extra={"task": getattr(task, "name", str(task))},
        )
        return False
    return True


def forget_failures() -> None:
    """Try the broker again at the next send (tests; a process that knows it is back)."""
    global _down_until
    with _lock:
        _down_until = 0.0
