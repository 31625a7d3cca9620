"""The embedded default runs on its own PostgreSQL and worker: ``make demo``'s path, end to end.

One server for the module, in a fresh data folder (``DATA_DIR``), driven through ``manage.py``
and ``scripts/demo.sh worker`` exactly as ``scripts/demo.sh`` drives them, with no DATABASE_URL
or REDIS_URL (the worker's messages wait in the folder broker); it is stopped and its folder
removed at the end. The folder is under the project's ``data/``, not pytest's
temporary folder: run as root, the server runs as ``nobody``, which may not enter
``/tmp/pytest-of-root``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from common.embedded_postgres import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[2]
OURS = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DATA_DIR"}
OURS |= {"MEDIA_ROOT", "REPORTS_ROOT"}

DEMO_SCRIPT = """
import datetime
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from evidence import selectors, services
from evidence.models import Rating
call_command("seed_demo", learners=30)
teacher = User.objects.get(username="teacher")
learner = selectors.visible_evidence(teacher).first().learner
day = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
data = f"learner_id,standard,score,date,title\\n{learner.pk},5.NBT.B.5,3,{day},Quiz\\n"
report = services.import_ratings_csv(actor=teacher, data=data.encode())
again = services.import_ratings_csv(actor=teacher, data=data.encode())
from audit.services import record_access
record_access(actor=teacher, action="demo.check", learner_id=learner.pk)
from common.health import run_checks
print("HEALTH", sorted(run_checks().items()))
print("IMPORT", report.created, again.unchanged, Rating.objects.filter(source="import").count())
"""


def manage(data_dir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in OURS}
    env["DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    folder = ROOT / "data" / "test" / f"embedded-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        EmbeddedPostgres(folder / "postgres").stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def demo(data_dir: Path) -> str:
    """Start the embedded server, migrate and seed a small demo (as ``make demo`` does);
    returns what the seed printed."""
    down = manage(data_dir, "migrate", "--noinput")
    assert down.returncode != 0
    assert "The embedded PostgreSQL" in down.stderr
    assert "is not running" in down.stderr
    assert "manage.py embedded_postgres start" in down.stderr
    for command in (["embedded_postgres", "start"], ["migrate", "--noinput", "-v", "0"]):
        result = manage(data_dir, *command)
        assert result.returncode == 0, result.stderr[-3000:]
    seeded = manage(data_dir, "shell", "-c", DEMO_SCRIPT)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    return seeded.stdout


def test_the_demo_seeds_and_imports_on_its_own_postgresql(data_dir: Path, demo: str) -> None:
    assert "evidence.demo: " in demo
    assert "mastery.demo: " in demo
    assert "IMPORT 1 1 1" in demo
    assert "HEALTH [('broker', 'ok'), ('database', 'ok')]" in demo
    status = manage(data_dir, "embedded_postgres", "status")
    assert status.returncode == 0
    assert "is running" in status.stdout
    server = EmbeddedPostgres(data_dir / "postgres")
    with psycopg.connect(**server.connection_params()) as conn:
        row = conn.execute("SELECT current_setting('listen_addresses')").fetchone()
    assert row == ("",)  # a Unix socket in its folder, no TCP port


@pytest.mark.parametrize(
    ("table", "assignment"),
    [
        ("evidence_rating", "score = 1"),
        ("evidence_evidence", "title = 'changed'"),
        ("audit_auditentry", "action = 'changed'"),
    ],
)
def test_the_embedded_database_refuses_update_and_delete_on_history(
    data_dir: Path, demo: str, table: str, assignment: str
) -> None:
    server = EmbeddedPostgres(data_dir / "postgres")
    with psycopg.connect(**server.connection_params()) as conn:
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        assert count is not None
        assert count[0] > 0
        update = f"UPDATE {table} SET {assignment}"  # noqa: S608
        delete = f"DELETE FROM {table}"  # noqa: S608
        for statement, verb in ((update, "UPDATE"), (delete, "DELETE")):
            with pytest.raises(psycopg.errors.RestrictViolation, match=f"{verb} on {table}"):
                conn.execute(statement)
            conn.rollback()
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == count  # noqa: S608


def test_the_demo_worker_brings_stale_records_up_to_date(data_dir: Path, demo: str) -> None:
    """The seed recomputed everything in bulk; the imported rating after it left one pair stale,
    its recompute queued as a file. The demo's worker takes it, as production's would."""
    server = EmbeddedPostgres(data_dir / "postgres")
    stale = "SELECT count(*) FROM mastery_stalemastery"
    with psycopg.connect(**server.connection_params(), autocommit=True) as conn:
        assert conn.execute(stale).fetchone() == (1,)
        assert list((data_dir / "broker" / "queue").glob("*.msg"))
        env = {key: value for key, value in os.environ.items() if key not in OURS}
        env["DATA_DIR"] = str(data_dir)
        worker = subprocess.Popen(["bash", "scripts/demo.sh", "worker"], cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 90
            while conn.execute(stale).fetchone() != (0,) and time.monotonic() < deadline:
                assert worker.poll() is None, "the demo worker exited"
                time.sleep(0.2)
            fresh = conn.execute(
                "SELECT m.computed_at >= r.recorded_at FROM evidence_rating r"
                " JOIN mastery_masteryrecord m ON (m.learner_id, m.standard_id)"
                " = (r.learner_id, r.standard_id) WHERE r.source = 'import'"
            ).fetchall()
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    assert fresh == [(True,)]
