"""Reports under lost services (R11, R12), with real processes (slow tier).

- **Broker down**: a Redis server of this test's own (never the shared one) serves a gunicorn
  web tier and a Celery worker. With it stopped, or frozen (SIGSTOP: connections open, no
  answer, as behind a failover or a firewall; the publish used to wait without end and gunicorn
  killed the request at 30 s), report requests answer in under a second, saying the report will
  start when the workers are back (API and page); once it is back, the periodic re-queue (what
  beat runs every minute) sends them and the worker generates them.
- **Worker killed mid-report**: a worker on the test Redis is frozen inside a state export (a
  second session holds a lock the export's read waits for) and killed with SIGKILL, main process
  and pool. The report stays "running" only until its lease (renewed every third of it while
  the worker lived) expires; the re-queue then sends it again, another worker takes it over and
  finishes it: every learner disclosed once, two attempts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from celery import Celery
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from audit.models import Disclosure
from config.celery import app as celery_app
from reports import services
from reports.models import ReportRequest, ReportStatus
from tests.conftest import ROOT
from tests.mastery.chaos import (
    _params,
    children_of,
    database_url,
    sessions_waiting_on_a_lock,
    wait_until,
)
from tests.personas import build_cast
from tests.reports.world import World, build_world

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LEASE = "2"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test's own on a free port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = ROOT / "data" / "test-redis" / uuid.uuid4().hex[:8]
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(answers, timeout=10, what="the private redis-server")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a frozen server cannot end otherwise
            self.process.terminate()
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        """The server hangs with its connections open (SIGSTOP): what a broker lost behind a
        firewall or a failover looks like; connecting still succeeds, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def _service_env(redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "REPORT_LEASE_SECONDS": LEASE,
        "REPORTS_ROOT": str(settings.REPORTS_ROOT),  # this test's own folder (conftest)
    }


def _start_worker(redis_url: str) -> subprocess.Popen[bytes]:
    """A worker in a session of its own (so the whole of it can be killed at once)."""
    name = f"reports-{uuid.uuid4().hex[:8]}@localhost"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "reports",
         "--concurrency", "1", "--hostname", name, "--without-gossip", "--without-mingle",
         "--loglevel", "ERROR"],
        cwd=ROOT, env=_service_env(redis_url), start_new_session=True,
    )  # fmt: skip
    broker = Celery(broker=redis_url, set_as_current=False)
    wait_until(
        lambda: (
            bool(broker.control.ping(destination=[name], timeout=0.5)) or process.poll() is not None
        ),
        timeout=40,
        what="the worker to answer",
    )
    assert process.poll() is None, "the worker exited at start"
    return process


def _end(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


def _state_export(world: World) -> dict[str, object]:
    return {
        "kind": "state_export",
        "format": "csv",
        "as_of": world.day.isoformat(),
        "organisation": world.cast.district.pk,
        "term": world.term.pk,
    }


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_report_requests_answer_at_once_with_redis_stopped_and_run_when_it_returns(
    private_redis: PrivateRedis, outage: str
) -> None:
    world = build_world(build_cast())
    admin = world.cast.district_admin
    token = Token.objects.create(user=admin).key
    session = Client()
    session.force_login(admin)
    cookie = session.cookies["sessionid"].value
    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--timeout", "30", "--log-level", "warning"],
        cwd=ROOT, env=_service_env(private_redis.url), start_new_session=True,
    )  # fmt: skip
    worker = _start_worker(private_redis.url)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200  # noqa: S310
            except OSError:
                return False

        wait_until(up, timeout=40, what="gunicorn")
        # A first request while Redis is up warms the web worker (imports, connections).
        first = _post_report(base, token, world)
        assert first["waiting_for_workers"] is False
        if outage == "stopped":
            private_redis.stop()
        else:
            private_redis.freeze()
        ids, seconds = [], []
        for _ in range(2):
            started = time.perf_counter()
            body = _post_report(base, token, world)
            seconds.append(time.perf_counter() - started)
            assert body["status"] == "queued"
            assert body["waiting_for_workers"] is True
            ids.append(body["id"])
        assert max(seconds) < 1.0, seconds
        print(f"\nreport requests, Redis {outage}: {', '.join(f'{x:.3f}' for x in seconds)} s")
        page = urllib.request.Request(  # noqa: S310 (loopback)
            f"{base}/reports/{ids[0]}/", headers={"Cookie": f"sessionid={cookie}"}
        )
        with urllib.request.urlopen(page, timeout=30) as answer:  # noqa: S310
            assert "will start as soon as the report workers are back" in answer.read().decode()
        assert [ReportRequest.objects.get(pk=pk).status for pk in ids] == ["queued", "queued"]

        if outage == "stopped":
            private_redis.start()
        else:
            private_redis.thaw()
        # What beat sends every minute: the re-queue, run by the worker once it reconnects.
        Celery(broker=private_redis.url, set_as_current=False).send_task(
            "reports.tasks.requeue_reports", queue="reports"
        )
        wait_until(
            lambda: set(ReportRequest.objects.values_list("status", flat=True)) == {"done"},
            timeout=90,
            what="both reports to be generated",
        )
    finally:
        _end(worker)
        _end(web)
    # Each generated once; noted as sent (a publish that timed out on the frozen server may have
    # been taken when it resumed: the worker that claims a report notes it sent).
    assert all(
        r.sent_at is not None and r.send_failed_at is None and r.attempts == 1
        for r in ReportRequest.objects.all()
    )


def _post_report(base: str, token: str, world: World) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{base}/api/v1/reports/",
        data=json.dumps(_state_export(world)).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        assert answer.status == 201
        body: dict[str, object] = json.loads(answer.read())
    return body


def _lock_learners() -> psycopg.Connection[tuple[object, ...]]:
    """A second session holding the learners table: the export's first read waits for it."""
    conn = psycopg.connect(**_params())
    conn.execute("LOCK TABLE learners_learner IN ACCESS EXCLUSIVE MODE")
    return conn


def _lease_expired(report_id: int) -> bool:
    with psycopg.connect(**_params(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT lease_expires_at < now() FROM reports_reportrequest WHERE id = %s",
            [report_id],
        ).fetchone()
    return bool(row and row[0])


def test_a_report_whose_worker_is_killed_finishes_after_its_lease_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = build_world(build_cast())
    monkeypatch.setenv("REPORT_LEASE_SECONDS", LEASE)
    celery_app.control.purge()
    # Requested first (its message waits in Redis), then the learners table is held, then a
    # worker starts: it claims the report and its export waits inside the table's lock.
    report_id = services.request_report(
        actor=world.cast.district_admin,
        kind="state_export",
        file_format="csv",
        as_of=world.day,
        organisation=world.cast.district.pk,
        term=world.term.pk,
    ).pk
    lock = _lock_learners()
    first = second = None
    try:
        first = _start_worker(celery_app.conf.broker_url)
        wait_until(
            lambda: (
                ReportRequest.objects.get(pk=report_id).status == ReportStatus.RUNNING
                and sessions_waiting_on_a_lock() == 1
            ),
            timeout=30,
            what="the worker to claim the report and wait inside it",
        )
        for pid in [*children_of(first.pid), first.pid]:
            os.kill(pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        lock.rollback()
        lock.close()
    assert ReportRequest.objects.get(pk=report_id).status == ReportStatus.RUNNING
    wait_until(lambda: _lease_expired(report_id), timeout=20, what="the lease to expire")
    try:
        second = _start_worker(celery_app.conf.broker_url)
        assert services.requeue_reports() == 1
        wait_until(
            lambda: ReportRequest.objects.get(pk=report_id).status == ReportStatus.DONE,
            timeout=60,
            what="the second attempt to finish",
        )
    finally:
        _end(second)
    done = ReportRequest.objects.get(pk=report_id)
    assert done.attempts == 2
    assert Path(services.reports_root() / done.file_name).is_file()
    disclosed = list(
        Disclosure.objects.filter(object_id=str(report_id)).values_list("learner_id", flat=True)
    )
    assert len(disclosed) == len(set(disclosed)) > 0
