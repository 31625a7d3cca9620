"""Sending work to the workers without ever making a request wait on the broker (R4, R11).

The database is the outbox: every piece of queued work has a row saying it is still to do (a
stale mastery marker, a queued report, a pending e-mail), and a periodic task sends again what
is left. A message is only a prompt to start now, so :func:`send` tries once, briefly, and says
whether it went; the caller's row stays for the sweep when it did not. Results are stored for
no task that nobody reads (``CELERY_TASK_IGNORE_RESULT``): the Redis result backend's reconnect
loop held report requests for about 19 s when Redis was down.

After a failure, :func:`send` answers False at once for ``BROKER_BACKOFF_SECONDS`` (3 s) without
trying again: with the broker unreachable every request would otherwise pay the attempt.

A broker can also hang without closing its connections (a failover behind an address, a
firewall dropping packets, a paused server): kombu then waits for the reply without any timeout
(its default), and a report request held its web worker until gunicorn killed it at 30 s. So
:func:`send` publishes through a connection of its own (one per thread, the broker's settings
with connect and read timeouts of ``SEND_REPLY_TIMEOUT_SECONDS``), dropped after any failure. A send
whose connection broke (the broker restarted since it was made) is tried once more on a new
one; one that timed out is not (a hanging broker would only time out again). Only the sending
side gets the short timeout: a worker's consumer waits on BRPOP for a second at a time, which a
shorter read timeout would break.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any, Final

logger = logging.getLogger(__name__)

BROKER_BACKOFF_SECONDS: Final = 3.0
# How long one send waits to connect and for each reply (a healthy Redis on the same network
# answers in well under a millisecond).
SEND_REPLY_TIMEOUT_SECONDS: Final = 0.2

_lock = threading.Lock()
_down_until = 0.0
_local = threading.local()


def _connection() -> Any:
    """This thread's sending connection (made on first use, kept until a send fails)."""
    connection = getattr(_local, "connection", None)
    if connection is None:
        from config.celery import app

        timeouts = {
            "socket_timeout": SEND_REPLY_TIMEOUT_SECONDS,
            "socket_connect_timeout": SEND_REPLY_TIMEOUT_SECONDS,
            "max_retries": 0,  # kombu would otherwise retry connecting, first after 2 s
        }
        connection = app.connection_for_write(
            connect_timeout=SEND_REPLY_TIMEOUT_SECONDS, transport_options=timeouts
        )
        _local.connection = connection
    return connection


def _forget_in_child() -> None:
    _local.connection = None  # a forked process never shares its parent's socket


os.register_at_fork(after_in_child=_forget_in_child)


def _drop_connection() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.release()


def broker_recently_down() -> bool:
    """True while this process is skipping the broker after a failed send."""
    return time.monotonic() < _down_until


def send(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Publish ``task(*args, **kwargs)`` (ids only); True if the broker took it.

    Never raises for a broker problem, never waits more than the connection's short timeouts
    (config/settings.py and ``SEND_REPLY_TIMEOUT_SECONDS``), and not at all while the broker
    is known to be down.
    """
    global _down_until
    if broker_recently_down():
        return False
    for attempt in (1, 2):
        try:
            task.apply_async(args=args, kwargs=kwargs, connection=_connection(), retry=False)
        except Exception as exc:  # kombu, redis and socket errors alike: the broker did not take it
            _drop_connection()
            if attempt == 1 and not _timed_out(exc):
                continue  # a connection the broker closed since: once more on a new one
            break
        else:
            return True
    with _lock:
        _down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
    logger.warning(
        "broker unreachable: the work stays in the database for the sweep",
        extra={"task": getattr(task, "name", str(task))},
    )
    return False


def _timed_out(exc: BaseException) -> bool:
    """Whether the broker did not answer in time (kombu wraps redis' errors in its own)."""
    from redis.exceptions import TimeoutError as RedisTimeout

    error: BaseException | None = exc
    while error is not None:
        if isinstance(error, TimeoutError | RedisTimeout):
            return True
        error = error.__cause__ or error.__context__
    return False


def forget_failures() -> None:
    """Try the broker again at the next send (tests; a process that knows it is back)."""
    global _down_until
    _drop_connection()
    with _lock:
        _down_until = 0.0
