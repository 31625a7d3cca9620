"""Fixtures shared by every test: a real Celery worker process, a browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, connections

from config.celery import QUEUES
from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Every test starts in the default language: a page served in Spanish leaves Spanish
    active in the thread (the locale middleware never deactivates it), and a later test in the
    same process read Spanish dates and words."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


def _database_url_for_worker() -> str:
    """The URL of the database this test process really uses (pytest-django's test database)."""
    params = connection.get_connection_params()
    user = params.get("user") or "postgres"
    password = f":{params['password']}" if params.get("password") else ""
    host = params.get("host") or "127.0.0.1"
    port = params.get("port") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{connection.settings_dict['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen[bytes]]:
    """Starts a real ``celery worker`` process on the test Redis and the test database.

    Tests that use it see only committed data (``transactional_db``), as production workers do.
    The queues are purged first so no message from an earlier test is served.
    """
    celery_app.control.purge()
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    env = {**os.environ, "DATABASE_URL": _database_url_for_worker()}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            ",".join(QUEUES),
            "--concurrency",
            "1",
            "--hostname",
            name,
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if celery_app.control.ping(destination=[name], timeout=0.5):
            break
        if process.poll() is not None:
            pytest.fail(f"celery worker exited with {process.returncode} before answering")
    else:
        process.kill()
        pytest.fail("celery worker did not answer a ping within 30 s")
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.fail("Debian's chromium is missing: scripts/ensure_chromium.sh installs it")
    return path


@pytest.fixture
def browser_page(chromium_path: str) -> Iterator[object]:
    """A Playwright page in Debian's chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # around it are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        try:
            yield page
        finally:
            # ORM calls made while Playwright runs live in its own context: close them here, or
            # the test database cannot be dropped at the end of the session.
            connections.close_all()
            browser.close()


@pytest.fixture
def site_url(transactional_db: None) -> Iterator[str]:
    """A live server for one test, stopped (with its connections) before the database goes."""
    from django.test.testcases import _StaticFilesHandler
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("localhost", start=False)
    # contrib.staticfiles' handler (pytest-django's choice) refuses to serve when DEBUG is off, so
    # every stylesheet answered 500 and browser tests saw unstyled pages: serve the collected
    # files (STATIC_ROOT, as whitenoise does in production) instead.
    server.thread.static_handler = _StaticFilesHandler
    server.start()
    try:
        yield str(server.url)
    finally:
        server.stop()
