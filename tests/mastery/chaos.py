"""Tools of the worker tests: wait for a condition, hold a row lock, find and kill a worker.

No mocks: a second real PostgreSQL connection holds the lock that freezes a recompute mid-flight
(inside its transaction, its message unacknowledged), and processes are killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from django.db import connection

from config.celery import QUEUES
from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "") -> None:
    """Poll ``condition`` (a database or broker read) until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.02)


def _params() -> dict[str, Any]:
    p = connection.get_connection_params()
    return {k: p[k] for k in ("dbname", "user", "password", "host", "port") if p.get(k)}


class RowLock:
    """A separate database session holding ``SELECT ... FOR UPDATE`` on rows until released."""

    def __init__(self, query: str, params: list[Any]) -> None:
        self.conn = psycopg.connect(**_params())
        self.conn.execute(query, params).fetchall()

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def sessions_waiting_on_a_lock() -> int:
    """Backends of the test database blocked on a lock right now."""
    with psycopg.connect(**_params(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


def children_of(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(x) for x in text.split()]


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def database_url() -> str:
    p = _params()
    password = f":{p['password']}" if p.get("password") else ""
    return (
        f"postgres://{p.get('user', 'postgres')}{password}@{p.get('host', '127.0.0.1')}:"
        f"{p.get('port', 5432)}/{p['dbname']}"
    )


def start_worker() -> subprocess.Popen[bytes]:
    """Another real worker on the test database and broker (as ``celery_worker_process``)."""
    name = f"chaos-{uuid.uuid4().hex[:8]}@localhost"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(QUEUES),
            "--concurrency", "1", "--hostname", name, "--without-gossip", "--without-mingle",
            "--loglevel", "ERROR",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url()},
    )  # fmt: skip
    wait_until(
        lambda: (
            bool(celery_app.control.ping(destination=[name], timeout=0.5))
            or process.poll() is not None
        ),
        timeout=30,
        what="the worker to answer a ping",
    )
    assert process.poll() is None, "the worker exited at start"
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
