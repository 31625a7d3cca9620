"""Shared helpers of the bench scripts (``bench/recompute.py``, ``latency.py``, ``http_load.py``,
``chaos.py``): a dedicated bench database with a synthetic state loaded through the real models'
tables, Celery workers and gunicorn as subprocesses with the right environment, and the summary
block every script prints.

Never a test database, never the shared Redis' other databases: the bench databases are
``mastery_bench_state*`` and the broker is Redis database 5 (``BENCH_REDIS_URL`` to change it;
``BENCH_DB_PREFIX`` replaces ``mastery_bench`` in every bench database's name, so engineers
sharing one server keep their bench databases apart).

The synthetic state (``StateSize``, defaults: 100,000 learners x 40 standards x 2.5 ratings):
a state, districts of 10 schools, schools of 1,000 grade-5 learners, sections of 25 learners
with one teacher each (a login, a role assignment), one framework of flat standards required
for grade 5 by the state (the first quarter "power"), eight evidence occasions per learner a week
apart (each evidence scored, as quick entry leaves it), and ``1 + Poisson(E - 1)`` teacher
ratings per learner and standard on distinct occasions, so that every pair is rated (4 million
records). Ratings go in with one binary ``COPY`` straight into ``evidence_rating``; the big
tables' secondary indexes and foreign keys are dropped for the load and created again after it
(one sort per index, one join per foreign key), and the script checks that the schema is then
exactly the migrations' one. Loaded once per size, then reused (``--reload`` to rebuild).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

OUT = ROOT / "bench" / "out"  # logs of the subprocesses (ignored by git)
DATA_DIR = ROOT / "data" / "bench"  # static files, media and reports of the bench servers
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "mastery_bench")  # every bench database's name
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789abcdef"  # noqa: S105
PASSWORD = "bench-password-2026"  # noqa: S105  (synthetic bench logins only)

LEARNERS_PER_SCHOOL = 1000
SCHOOLS_PER_DISTRICT = 10
SECTION_SIZE = 25
OCCASIONS = 8
GRADE = "05"
ADMIN_USER_ID = 1
TEACHER_USER_BASE = 1000  # teacher of section s is user TEACHER_USER_BASE + s
SCHOOL_BASE = 1000  # school k (from 0) is organisation SCHOOL_BASE + k
STATE_ID = 1
FRAMEWORK_ID = 1
TERM_ID = 1
SCORES = (1.0, 2.0, 2.5, 3.0, 3.5, 4.0)
LOAD_TABLES = ("evidence_evidence", "evidence_evidencestatuschange", "evidence_rating")


# --- environment ---------------------------------------------------------------------------------


def database_url(name: str) -> str:
    """A URL of database ``name`` on the bench server (the admin URL's server)."""
    parts = urllib.parse.urlsplit(ADMIN_URL)
    return urllib.parse.urlunsplit(("postgres", parts.netloc, "/" + name, "", ""))


def service_env(database: str, redis_url: str | None) -> dict[str, str]:
    """The environment of a bench server process: production settings (debug off) on the bench
    database and broker; plain HTTP on loopback, so no SSL redirect."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "SECRET_KEY": SECRET_KEY,
        "SECURE_SSL_REDIRECT": "false",
        "DB_CONN_MAX_AGE": "60",  # as .env.example has it for production
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(DATA_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def setup_django(database: str, redis_url: str | None) -> None:
    """Configure this process as the bench's client of the platform (same settings as servers)."""
    os.environ.update(service_env(database, redis_url))
    if not redis_url:
        os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def migrate(database: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=service_env(database, None),
        check=True,
    )


def collectstatic(database: str) -> None:
    """Debug is off on the bench servers, so pages need the hashed static files' manifest."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=service_env(database, None),
        check=True,
    )


def flush_redis(url: str) -> None:
    """Empty the bench's own Redis database (never another one: FLUSHDB, not FLUSHALL)."""
    import redis

    if urllib.parse.urlsplit(url).port in (None, 6379) and url != REDIS_URL:
        raise RuntimeError(f"refusing to flush {url}: only the bench's own Redis database")
    redis.Redis.from_url(url).flushdb()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def server_facts() -> dict[str, str]:
    """The PostgreSQL settings that matter for the figures, as the bench server has them."""
    from django.db import connection

    facts: dict[str, str] = {}
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        facts["postgresql"] = str(cursor.fetchone()[0]).split()[0]
        for name in ("shared_buffers", "work_mem", "max_parallel_workers_per_gather"):
            cursor.execute(f"SHOW {name}")
            facts[name] = str(cursor.fetchone()[0])
    facts["cores"] = str(os.cpu_count())
    return facts


def log_path(name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT / name


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN when there are no values."""
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, step: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


# --- the summary block ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Check:
    """One target: what was measured against what was wanted."""

    name: str
    measured: str
    target: str
    met: bool
    miss: str = ""  # by how much, when missed


def print_summary(title: str, figures: Sequence[tuple[str, str]], checks: Sequence[Check]) -> bool:
    """Print the closing block of a bench script; True when every target is met."""
    width = max([len(name) for name, _ in figures] + [len(c.name) for c in checks] + [10])
    print()
    print(f"== summary: {title}  ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)")
    print(f"   {'load average':<{width}}  {load_average()}")
    for name, value in figures:
        print(f"   {name:<{width}}  {value}")
    for check in checks:
        verdict = "met" if check.met else f"MISSED{f' by {check.miss}' if check.miss else ''}"
        print(f"   {check.name:<{width}}  {check.measured} (target {check.target}): {verdict}")
    return all(check.met for check in checks)


# --- the synthetic state -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StateSize:
    learners: int = 100_000
    standards: int = 40
    ratings_per_pair: float = 2.5
    seed: int = 2026
    database: str = ""

    @property
    def name(self) -> str:
        if self.database:
            return self.database
        if (self.learners, self.standards, self.ratings_per_pair) == (100_000, 40, 2.5):
            return f"{DB_PREFIX}_state"
        return f"{DB_PREFIX}_state_{self.learners}x{self.standards}"

    @property
    def sections(self) -> int:
        return (self.learners + SECTION_SIZE - 1) // SECTION_SIZE

    @property
    def schools(self) -> int:
        return (self.learners + LEARNERS_PER_SCHOOL - 1) // LEARNERS_PER_SCHOOL

    def fingerprint(self) -> dict[str, Any]:
        return {
            "learners": self.learners,
            "standards": self.standards,
            "ratings_per_pair": self.ratings_per_pair,
            "seed": self.seed,
        }


def add_size_arguments(parser: argparse.ArgumentParser, *, learners: int = 100_000) -> None:
    parser.add_argument("--learners", type=int, default=learners, help="learners in the state")
    parser.add_argument("--standards", type=int, default=40, help="standards per learner")
    parser.add_argument(
        "--ratings-per-pair", type=float, default=2.5, help="mean ratings per learner x standard"
    )
    parser.add_argument("--database", default="", help="bench database (default from the size)")
    parser.add_argument("--reload", action="store_true", help="rebuild the data even if present")


def size_from(args: argparse.Namespace) -> StateSize:
    if args.learners < SECTION_SIZE:
        raise SystemExit(f"--learners: at least {SECTION_SIZE}")
    if not 1 <= args.standards <= 1000:
        raise SystemExit("--standards: 1..1000")
    if not 1 <= args.ratings_per_pair <= OCCASIONS:
        raise SystemExit(f"--ratings-per-pair: 1..{OCCASIONS}")
    return StateSize(args.learners, args.standards, args.ratings_per_pair, database=args.database)


_LOCK: list[Any] = []


def hold_bench_lock() -> None:
    """One bench at a time: they share the broker database (a flush would drop another run's
    queued tasks) and two runs would skew each other's timings."""
    import fcntl

    handle = log_path("bench.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(
            "another bench script is running (bench/out/bench.lock): wait for it"
        ) from None
    _LOCK.append(handle)


def prepare(size: StateSize, redis_url: str | None, *, reload: bool = False) -> dict[str, Any]:
    """Create and migrate the bench database, set this process up on it, load the state unless
    it is already there. Returns what the load did (or that it was reused)."""
    hold_bench_lock()
    ensure_database(size.name)
    migrate(size.name)
    setup_django(size.name, redis_url)
    if not reload and _loaded_fingerprint() == size.fingerprint():
        return {"reused": True, "database": size.name}
    return {"reused": False, "database": size.name, **load_state(size)}


def _loaded_fingerprint() -> dict[str, Any] | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_state') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT fingerprint FROM bench_state")
        row = cursor.fetchone()
    return None if row is None else dict(json.loads(row[0]) if isinstance(row[0], str) else row[0])


def term_start() -> datetime.date:
    """The term began 120 days ago, so every loaded rating lies in the past."""
    return datetime.date.today() - datetime.timedelta(days=120)


def load_state(size: StateSize) -> dict[str, Any]:
    """Load the synthetic state (see the module docstring); returns timings and counts."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    timings: dict[str, Any] = {}
    started = time.perf_counter()
    start = term_start()
    start_at = datetime.datetime.combine(start, datetime.time(9), datetime.UTC)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_state")
        tables = [
            "audit_auditentry", "audit_disclosure", "reports_reportrequest",
            "mastery_masteryrecord", "mastery_masteryevent", "mastery_stalemastery",
            "mastery_sweepcursor", "mastery_bulkrecomputebatch", "mastery_bulkrecompute",
            "evidence_ratingremoval", "evidence_rating", "evidence_evidencestatuschange",
            "evidence_evidence", "standards_requirement", "standards_standard",
            "standards_framework", "learners_enrollment", "learners_roleassignment",
            "learners_section", "learners_learner", "learners_term", "learners_organisation",
            "authtoken_token", "django_session", "auth_user",
        ]  # fmt: skip
        cursor.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_name = ANY(%s)",
            [tables],
        )
        present = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"TRUNCATE {', '.join(present)} RESTART IDENTITY CASCADE")
        _load_people(cursor, size, start, make_password(PASSWORD))
        _load_standards(cursor, size)
    timings["skeleton_s"] = round(time.perf_counter() - started, 1)
    with _without_secondary_indexes(LOAD_TABLES) as rebuild, connection.cursor() as cursor:
        moment = time.perf_counter()
        cursor.execute(
            "INSERT INTO evidence_evidence (id, learner_id, kind, title, description,"
            " setting, demonstrated_at, recorded_at, submitted_by_id, section_id, source_key)"
            " SELECT (l - 1) * %(occ)s + k + 1, l, 'observation', 'Observation ' || (k + 1),"
            " '', 'in_school', %(start)s::timestamptz"
            " + make_interval(days => 7 * k, hours => mod(l, 8)::int),"
            " %(start)s::timestamptz + make_interval(days => 7 * k + 1),"
            " %(teacher)s + (l - 1) / %(size)s + 1, (l - 1) / %(size)s + 1, ''"
            " FROM generate_series(1, %(n)s::bigint) l, generate_series(0, %(occ)s - 1) k",
            {"occ": OCCASIONS, "start": start_at, "teacher": TEACHER_USER_BASE,
             "size": SECTION_SIZE, "n": size.learners},
        )  # fmt: skip
        cursor.execute(
            "INSERT INTO evidence_evidencestatuschange (id, evidence_id, status, changed_by_id,"
            " changed_at, comment) SELECT id, id, 'scored', submitted_by_id, recorded_at, ''"
            " FROM evidence_evidence"
        )
        timings["evidence_s"] = round(time.perf_counter() - moment, 1)
        moment = time.perf_counter()
        ratings = _copy_ratings(cursor, size, start_at)
        seconds = time.perf_counter() - moment
        timings["ratings"] = ratings
        timings["ratings_copy_s"] = round(seconds, 1)
        timings["ratings_copy_rows_per_s"] = round(ratings / seconds)
    timings["indexes_and_keys_s"] = round(rebuild.seconds, 1)
    with connection.cursor() as cursor:
        _reset_sequences(cursor)
        moment = time.perf_counter()
        for table in (*LOAD_TABLES, "learners_learner", "learners_enrollment", "auth_user"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        timings["vacuum_analyze_s"] = round(time.perf_counter() - moment, 1)
        cursor.execute("CREATE TABLE bench_state (fingerprint jsonb, loaded_at timestamptz)")
        cursor.execute(
            "INSERT INTO bench_state VALUES (%s, now())", [json.dumps(size.fingerprint())]
        )
    timings["schema_matches_migrations"] = rebuild.matches
    timings["load_s"] = round(time.perf_counter() - started, 1)
    return timings


def _load_people(cursor: Any, size: StateSize, start: datetime.date, password: str) -> None:
    """Organisations, the term, users (admin, one teacher per section), learners, sections,
    enrollments and role assignments: set-based INSERT ... SELECT, all constraints checked."""
    districts = (size.schools + SCHOOLS_PER_DISTRICT - 1) // SCHOOLS_PER_DISTRICT
    cursor.execute(
        "INSERT INTO learners_organisation (id, kind, name, parent_id, sourced_id, external_id,"
        " created_at, updated_at) VALUES (%s, 'state', 'Bench State', NULL, 'bench-state', 'BS',"
        " now(), now())",
        [STATE_ID],
    )
    cursor.execute(
        "INSERT INTO learners_organisation (id, kind, name, parent_id, sourced_id, external_id,"
        " created_at, updated_at) SELECT 1 + d, 'district', 'District ' || d, %s,"
        " 'bench-district-' || d, 'D' || d, now(), now() FROM generate_series(1, %s) d",
        [STATE_ID, districts],
    )
    cursor.execute(
        "INSERT INTO learners_organisation (id, kind, name, parent_id, sourced_id, external_id,"
        " created_at, updated_at) SELECT %(base)s + k, 'school', 'School ' || k,"
        " 2 + k / %(per)s, 'bench-school-' || k, lpad(k::text, 8, '0'), now(), now()"
        " FROM generate_series(0, %(n)s - 1) k",
        {"base": SCHOOL_BASE, "per": SCHOOLS_PER_DISTRICT, "n": size.schools},
    )
    cursor.execute(
        "INSERT INTO learners_term (id, title, kind, organisation_id, parent_id, school_year,"
        " start_date, end_date, sourced_id, created_at, updated_at) VALUES"
        " (%s, 'Bench year', 'schoolYear', %s, NULL, %s, %s, %s, 'bench-term', now(), now())",
        [TERM_ID, STATE_ID, (start + datetime.timedelta(days=300)).year, start,
         start + datetime.timedelta(days=300)],
    )  # fmt: skip
    cursor.execute(
        "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name,"
        " email, is_staff, is_active, date_joined) VALUES"
        " (%s, %s, false, 'bench-admin', '', '', '', false, true, now())",
        [ADMIN_USER_ID, password],
    )
    cursor.execute(
        "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name,"
        " email, is_staff, is_active, date_joined) SELECT %(base)s + s, %(password)s, false,"
        " 'bench-teacher-' || s, '', '', '', false, true, now()"
        " FROM generate_series(1, %(n)s) s",
        {"base": TEACHER_USER_BASE, "password": password, "n": size.sections},
    )
    cursor.execute(
        "INSERT INTO learners_learner (id, school_id, state_id, local_id, state_student_id,"
        " given_name, family_name, preferred_name, grade_level, active, user_id, sourced_id,"
        " created_at, updated_at) SELECT l, %(base)s + (l - 1) / %(per)s, %(state)s, 'L' || l,"
        " 'S' || lpad(l::text, 9, '0'), 'Given', 'Family', '', %(grade)s, true, NULL, '',"
        " now(), now() FROM generate_series(1, %(n)s) l",
        {"base": SCHOOL_BASE, "per": LEARNERS_PER_SCHOOL, "state": STATE_ID, "grade": GRADE,
         "n": size.learners},
    )  # fmt: skip
    cursor.execute(
        "INSERT INTO learners_section (id, title, school_id, term_id, course_id, course_code,"
        " section_code, subject, grade_levels, sourced_id, created_at, updated_at)"
        " SELECT s, 'Maths 5 group ' || s, %(base)s + (s - 1) * %(size)s / %(per)s, %(term)s,"
        " NULL, 'MATH5', 'G' || s, 'Mathematics', %(grade)s, '', now(), now()"
        " FROM generate_series(1, %(n)s) s",
        {"base": SCHOOL_BASE, "size": SECTION_SIZE, "per": LEARNERS_PER_SCHOOL, "term": TERM_ID,
         "grade": GRADE, "n": size.sections},
    )  # fmt: skip
    cursor.execute(
        "INSERT INTO learners_enrollment (learner_id, section_id, begin_date, end_date,"
        " sourced_id, created_at, updated_at) SELECT l, (l - 1) / %s + 1, NULL, NULL, '',"
        " now(), now() FROM generate_series(1, %s) l",
        [SECTION_SIZE, size.learners],
    )
    cursor.execute(
        "INSERT INTO learners_roleassignment (user_id, kind, organisation_id, section_id,"
        " begin_date, end_date, sourced_id, created_at, updated_at)"
        " SELECT %(base)s + s.id, 'teacher', s.school_id, s.id, NULL, NULL, '', now(), now()"
        " FROM learners_section s",
        {"base": TEACHER_USER_BASE},
    )
    cursor.execute(
        "INSERT INTO learners_roleassignment (user_id, kind, organisation_id, section_id,"
        " begin_date, end_date, sourced_id, created_at, updated_at)"
        " VALUES (%s, 'state_admin', %s, NULL, NULL, NULL, '', now(), now())",
        [ADMIN_USER_ID, STATE_ID],
    )


def _load_standards(cursor: Any, size: StateSize) -> None:
    cursor.execute(
        "INSERT INTO standards_framework (id, identifier, uri, title, creator, publisher,"
        " description, subjects, language, version, adoption_status, official_source_url,"
        " notes, extra, package_parts, source_format, organisation_id, imported_by_id,"
        " created_at, updated_at) VALUES (%s, 'bench-framework', '', 'Bench mathematics', '',"
        " '', '', '[]', 'en', '', '', '', '', '{}', '{}', 'csv', NULL, NULL, now(), now())",
        [FRAMEWORK_ID],
    )
    cursor.execute(
        "INSERT INTO standards_standard (id, framework_id, identifier, uri, parent_id,"
        " position, depth, item_type, human_code, list_enumeration, statement, grade_levels,"
        " is_grouping, status, extra, created_at, updated_at)"
        " SELECT g, %s, md5('bench-' || g)::uuid::text, '', NULL, g, 0, 'Standard',"
        " '5.M.' || g, '', 'Statement ' || g, '[\"05\"]', false, 'active', '{}', now(), now()"
        " FROM generate_series(1, %s) g",
        [FRAMEWORK_ID, size.standards],
    )
    cursor.execute(
        "INSERT INTO standards_requirement (organisation_id, term_id, grade_level, standard_id,"
        " priority, created_by_id, created_at, updated_at) SELECT %s, %s, %s, g,"
        " CASE WHEN g <= %s THEN 'power' ELSE 'supporting' END, NULL, now(), now()"
        " FROM generate_series(1, %s) g",
        [STATE_ID, TERM_ID, GRADE, max(1, size.standards // 4), size.standards],
    )


_PG_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def _copy_ratings(cursor: Any, size: StateSize, start_at: datetime.datetime) -> int:
    """Every rating in one binary COPY straight into ``evidence_rating`` (every column but the
    identity), built by numpy in blocks of learners; within a block rows go in time order, as
    ratings arrive."""
    import numpy as np

    dtype = np.dtype(
        [
            ("fields", ">i2"),
            ("l_evidence", ">i4"), ("evidence", ">i8"),
            ("l_learner", ">i4"), ("learner", ">i8"),
            ("l_demonstrated", ">i4"), ("demonstrated", ">i8"),
            ("l_standard", ">i4"), ("standard", ">i8"),
            # numeric: digit count, weight, sign, display scale, two base-10000 digits
            ("l_score", ">i4"), ("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">i2"),
            ("dscale", ">i2"), ("units", ">i2"), ("fraction", ">i2"),
            ("l_source", ">i4"), ("source", "S7"),
            ("l_rater", ">i4"), ("rater", ">i4"),
            ("l_recorded", ">i4"), ("recorded", ">i8"),
            ("l_comment", ">i4"),
            ("l_supersedes", ">i4"),
        ]
    )  # fmt: skip
    rng = np.random.default_rng(size.seed)
    scores = np.array(SCORES)
    day_us = 86_400 * 1_000_000
    base_us = int((start_at - _PG_EPOCH).total_seconds()) * 1_000_000
    total = 0
    step = 10_000
    columns = (
        "evidence_id, learner_id, demonstrated_at, standard_id, score, source, rater_id,"
        " recorded_at, comment, supersedes_id"
    )
    with cursor.cursor.copy(f"COPY evidence_rating ({columns}) FROM STDIN (FORMAT binary)") as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8)
        for low in range(1, size.learners + 1, step):
            high = min(low + step, size.learners + 1)
            pairs = (high - low) * size.standards
            counts = np.minimum(1 + rng.poisson(size.ratings_per_pair - 1, pairs), OCCASIONS)
            # Distinct occasions per pair: the first ``count`` of a random permutation of 8.
            order = np.argsort(rng.random((pairs, OCCASIONS)), axis=1)
            occasion = order[np.arange(OCCASIONS) < counts[:, None]].astype(np.int64)
            learner = np.repeat(
                np.repeat(np.arange(low, high, dtype=np.int64), size.standards), counts
            )
            standard = np.repeat(np.tile(np.arange(1, size.standards + 1), high - low), counts)
            rows = int(counts.sum())
            score = scores[rng.integers(0, scores.shape[0], rows)]
            by_time = np.lexsort((learner, occasion))
            learner, standard, occasion, score = (
                learner[by_time], standard[by_time], occasion[by_time], score[by_time]
            )  # fmt: skip
            block = np.zeros(rows, dtype)
            block["fields"] = 10
            for field in ("l_evidence", "l_learner", "l_demonstrated", "l_standard", "l_recorded"):
                block[field] = 8
            block["l_score"], block["ndigits"], block["dscale"] = 12, 2, 2
            block["units"] = np.floor(score).astype(np.int16)
            block["fraction"] = np.rint((score - np.floor(score)) * 10_000).astype(np.int16)
            block["l_source"], block["source"] = 7, b"teacher"
            block["l_rater"], block["l_comment"], block["l_supersedes"] = 4, 0, -1
            block["evidence"] = (learner - 1) * OCCASIONS + occasion + 1
            block["learner"] = learner
            block["standard"] = standard
            block["demonstrated"] = base_us + occasion * 7 * day_us + (learner % 8) * 3_600_000_000
            block["recorded"] = base_us + (occasion * 7 + 1) * day_us
            block["rater"] = TEACHER_USER_BASE + (learner - 1) // SECTION_SIZE + 1
            copy.write(block.tobytes())
            total += rows
        copy.write(b"\xff\xff")
    return total


def _reset_sequences(cursor: Any) -> None:
    """Rows were inserted with explicit ids: move every identity past them."""
    cursor.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND column_name = 'id' AND is_identity = 'YES'"
    )
    for (table,) in cursor.fetchall():
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" GREATEST((SELECT max(id) FROM {table}), 1))"
        )


@dataclasses.dataclass
class _Rebuild:
    seconds: float = 0.0
    matches: bool = False


def _schema(cursor: Any, tables: Sequence[str]) -> set[tuple[str, str, str]]:
    cursor.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)",
        [list(tables)],
    )
    found = {(str(t), str(n), str(d)) for t, n, d in cursor.fetchall()}
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid::regclass::text = ANY(%s)",
        [list(tables)],
    )
    return found | {(str(t), str(n), str(d)) for t, n, d in cursor.fetchall()}


@contextlib.contextmanager
def _without_secondary_indexes(tables: Sequence[str]) -> Iterator[_Rebuild]:
    """Drop the tables' secondary indexes, unique constraints and foreign keys (primary keys and
    checks stay); build them again after the block, and check the schema is exactly as before."""
    from django.db import connection

    rebuild = _Rebuild()
    with connection.cursor() as cursor:
        before = _schema(cursor, tables)
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype"
            " FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s)"
            " AND contype IN ('u', 'f') ORDER BY contype DESC",
            [list(tables)],
        )
        constraints = cursor.fetchall()
        for table, name, _, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cursor.execute(
            "SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i"
            " WHERE i.tablename = ANY(%s) AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            [list(tables)],
        )
        indexes = cursor.fetchall()
        for _, name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield rebuild
    finally:
        # Even after a failed load: the next run must find the migrations' schema.
        started = time.perf_counter()
        _rebuild(indexes, constraints, rebuild)
        rebuild.matches = _schema_now(tables) == before
        rebuild.seconds = time.perf_counter() - started
    if not rebuild.matches:
        raise RuntimeError("the schema after the load differs from the migrations' schema")


def _schema_now(tables: Sequence[str]) -> set[tuple[str, str, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        return _schema(cursor, tables)


def _rebuild(indexes: Sequence[Any], constraints: Sequence[Any], rebuild: _Rebuild) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, _, definition in indexes:
            cursor.execute(definition)
        # Unique constraints first ('u' sorts after 'f' descending), then the foreign keys.
        for table, name, definition, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute("RESET maintenance_work_mem")


def reset_derived_state() -> None:
    """Forget every mastery record, event, marker and bulk job (the ratings stay)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE mastery_masteryevent, mastery_masteryrecord, mastery_stalemastery,"
            " mastery_bulkrecomputebatch, mastery_bulkrecompute"
        )
        cursor.execute("VACUUM ANALYZE mastery_masteryrecord")


def analyze_derived_tables() -> None:
    """ANALYZE the tables a bulk recompute fills, as autovacuum eventually would (on this shared
    server it had not after 40 minutes): without statistics the planner's estimates for the
    records table are off by three orders of magnitude, which pushes the grid's queries past
    ``jit_above_cost`` (0.75 s of JIT compilation per query, see docs/performance.md)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("mastery_masteryrecord", "mastery_masteryevent", "mastery_stalemastery"):
            cursor.execute(f"ANALYZE {table}")


def counts() -> dict[str, int]:
    from django.db import connection

    out: dict[str, int] = {}
    with connection.cursor() as cursor:
        for name, table in (
            ("learners", "learners_learner"),
            ("ratings", "evidence_rating"),
            ("records", "mastery_masteryrecord"),
            ("markers", "mastery_stalemastery"),
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")
            out[name] = int(cursor.fetchone()[0])
    return out


# --- subprocesses: Celery workers, beat, gunicorn, Redis -----------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started it ends (Linux), so that
    no worker or server outlives the bench (an orphan bulk worker on the bench broker would take
    the next run's batches for another database). Servers stop gracefully on SIGTERM."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn(command: list[str], *, env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
    """Start a bench subprocess in its own process group, logging to bench/out/``log``; it is
    terminated if the thread that started it ends (so start long-lived ones from the main
    thread or a thread that outlives them)."""
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log_path(log).open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # only a prctl call between fork and exec
    )


class Workers:
    """Celery worker processes on the bench database and broker, started and stopped here."""

    def __init__(self, env: dict[str, str], *, queues: str, concurrency: int, tag: str) -> None:
        self.env = env
        self.queues = queues
        self.concurrency = concurrency
        self.tag = tag
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._started = 0

    def start(self, count: int = 1, *, wait: bool = True) -> list[str]:
        names = []
        for _ in range(count):
            self._started += 1
            name = f"bench-{self.tag}-{self._started}-{os.getpid()}@localhost"
            self.processes[name] = spawn(
                [
                    sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queues,
                    "--concurrency", str(self.concurrency), "--hostname", name,
                    "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
                ],
                env=self.env, log=f"worker-{self.tag}-{self._started}.log",
            )  # fmt: skip
            names.append(name)
        if wait:
            self.wait_ready(names)
        return names

    def wait_ready(self, names: Sequence[str], timeout: float = 60) -> None:
        from config.celery import app

        for name in names:
            process = self.processes[name]

            def answers(name: str = name, process: subprocess.Popen[bytes] = process) -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"worker {name} exited with {process.returncode}")
                return bool(app.control.ping(destination=[name], timeout=0.5))

            wait_until(answers, timeout=timeout, what=f"worker {name} to answer a ping")

    def children(self, name: str) -> list[int]:
        """The pool processes of one worker (prefork children)."""
        pid = self.processes[name].pid
        try:
            return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def kill(self, name: str) -> None:
        """SIGKILL a whole worker (main process and its pool), as a crashed machine would."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def cpu_seconds(self) -> float:
        """CPU used so far by the live workers (main processes and pools)."""
        return sum(tree_cpu_seconds(p.pid) for p in self.processes.values() if p.poll() is None)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            self.processes.pop(name)


def start_beat(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Celery beat (the sweep every minute), its schedule file under bench/out."""
    schedule = log_path("celerybeat-schedule")
    for stale in OUT.glob("celerybeat-schedule*"):
        stale.unlink()
    return spawn(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--schedule", str(schedule),
         "--loglevel", "WARNING"],
        env=env, log="beat.log",
    )  # fmt: skip


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process, its live descendants and the
    children it has reaped (a killed or recycled pool process still counts)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the name).
        total += sum(int(x) for x in fields[11:15]) / ticks
        pending += [int(child) for child in children]
    return total


class ActivitySampler:
    """What the bench database's backends are doing, sampled from ``pg_stat_activity`` every
    ``every`` seconds in a thread of its own: a poor man's profile of the server side (each
    active backend counts once per sample under the start of its statement; "idle" backends
    are waiting for their client, i.e. for Python)."""

    def __init__(self, database: str, *, every: float = 0.25) -> None:
        import collections
        import threading

        from django.db import connection

        with connection.cursor() as cursor:  # this process's own (polling) session: not counted
            cursor.execute("SELECT pg_backend_pid()")
            self.own = int(cursor.fetchone()[0])
        self.database = database
        self.every = every
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ActivitySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(database_url(self.database), autocommit=True) as conn:
            while not self._stop.wait(self.every):
                rows = conn.execute(
                    "SELECT state, wait_event_type, regexp_replace(left(query, 48), '\\s+', ' ',"
                    " 'g') FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND pid <> %s"
                    " AND backend_type = 'client backend'",
                    [self.own],
                ).fetchall()
                self.samples += 1
                for state, wait, query in rows:
                    if state != "active":
                        self.counts[f"idle: {state}"] += 1
                    else:
                        self.counts[f"{query.strip()}{f' [{wait}]' if wait else ''}"] += 1

    def top(self, count: int = 8) -> list[tuple[str, float]]:
        """The most frequent activities with their share of all backend samples."""
        total = sum(self.counts.values()) or 1
        return [(name, n / total) for name, n in self.counts.most_common(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """gunicorn serving the platform on loopback (sync workers, production settings)."""

    def __init__(self, env: dict[str, str], *, workers: int) -> None:
        self.port = free_port()
        self.workers = workers
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = spawn(
            [str(gunicorn), "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--timeout", "120", "--log-level", "warning"],
            env=env, log="gunicorn.log",
        )  # fmt: skip
        wait_until(self._answers, timeout=60, what="gunicorn to answer /healthz", step=0.2)

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}: see bench/out")
        try:
            status, _, _ = request("GET", self.port, "/healthz")
        except OSError:
            return False
        return status == 200

    def cpu_seconds(self) -> float:
        """CPU used so far by the master and its workers."""
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        stop_process(self.process)


def request(
    method: str,
    port: int,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to the bench server on loopback: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def login(port: int, username: str) -> str:
    """Sign in through the real login form (CSRF and all); returns the session cookie value."""
    status, headers, body = request("GET", port, "/accounts/login/")
    if status != 200:
        raise RuntimeError(f"GET /accounts/login/ answered {status}")
    csrf = re.search(r"csrftoken=([^;]+)", headers.get("set-cookie", ""))
    field = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if not csrf or not field:
        raise RuntimeError("the login page has no CSRF token")
    form = urllib.parse.urlencode(
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": field.group(1).decode()}
    ).encode()
    status, headers, _ = request(
        "POST",
        port,
        "/accounts/login/",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf.group(1)}",
        },
    )
    session = re.search(r"sessionid=([^;]+)", headers.get("set-cookie", ""))
    if status != 302 or not session:
        raise RuntimeError(f"login of {username} answered {status} without a session")
    return session.group(1)


def api_tokens(user_ids: Sequence[int]) -> dict[int, str]:
    """An API token for each of these users (created when missing)."""
    from rest_framework.authtoken.models import Token

    return {user_id: Token.objects.get_or_create(user_id=user_id)[0].key for user_id in user_ids}


def ensure_records(env: dict[str, str], *, concurrency: int = 2) -> dict[str, Any]:
    """Make every loaded pair's record exist and be current before a bench that reads or writes
    them: a full bulk recompute through bulk workers when records are missing or markers are
    left, then one sweep (so the next sweeps only look at new ratings). A sweep that marks
    records (written before the rules they carry changed, e.g. by an older version of the code)
    means they are not current: one more bulk recompute, then the sweep again, so the bench never
    measures a backlog of recomputes it did not cause."""
    from mastery.services import sweep_stale_mastery

    before = counts()
    result: dict[str, Any] = {"records_before": before["records"]}
    needed = bool(before["markers"] or before["records"] < before["ratings"] // 100)
    for attempt in (1, 2):
        if needed:
            workers = Workers(env, queues="bulk", concurrency=concurrency, tag="setup")
            try:
                workers.start()
                result[f"bulk_recompute_{attempt}_s"] = round(run_bulk_recompute().seconds, 1)
            finally:
                workers.stop()
            analyze_derived_tables()
        seconds, outcome = timed(lambda: sweep_stale_mastery())
        result[f"sweep_{attempt}_s"] = round(seconds, 1)
        result[f"sweep_{attempt}_marked"] = outcome.marked
        if not outcome.marked:
            break
        needed = True
    return result


@dataclasses.dataclass(frozen=True)
class BulkRun:
    job_id: int
    seconds: float
    batches: int
    checked: int
    written: int
    events: int
    status: str


def run_bulk_recompute(*, batch_size: int = 1000, timeout: float = 3600) -> BulkRun:
    """The platform's full bulk recompute of the bench state, by the state administrator,
    through its real path (``start_bulk_recompute``: batches on the ``bulk`` queue, served by
    running workers); timed from the call to the last batch done."""
    from django.contrib.auth.models import User
    from django.db.models import Sum

    from learners.models import Organisation
    from mastery.models import BulkRecompute, BulkStatus
    from mastery.services import start_bulk_recompute

    actor = User.objects.get(pk=ADMIN_USER_ID)
    state = Organisation.objects.get(pk=STATE_ID)
    started = time.perf_counter()
    job = start_bulk_recompute(
        actor=actor, organisation=state, reason="policy", batch_size=batch_size
    )

    def finished() -> bool:
        status = BulkRecompute.objects.values_list("status", flat=True).get(pk=job.pk)
        return status in (BulkStatus.DONE, BulkStatus.FAILED)

    wait_until(finished, timeout=timeout, what=f"bulk recompute {job.pk}", step=0.05)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    totals = job.batches.aggregate(
        checked=Sum("records_checked"), written=Sum("records_written"), events=Sum("events_written")
    )
    return BulkRun(
        job.pk, seconds, job.batch_count, int(totals["checked"] or 0),
        int(totals["written"] or 0), int(totals["events"] or 0), job.status,
    )  # fmt: skip


# --- a stream of ratings through the API, and when each record caught up ------------------------


@dataclasses.dataclass
class Posted:
    """One rating of the stream: what is posted, and when each step was seen (perf_counter)."""

    index: int
    section: int
    learner: int
    standard: int
    score: str
    expected: int  # the record's evidence_count once this rating (and those before) count
    scheduled: float = float("nan")
    sent: float = float("nan")
    answered: float = float("nan")
    status: int = 0
    updated: float = float("nan")

    @property
    def latency(self) -> float:
        """Posted (request sent) to the record seen updated, in seconds."""
        return self.updated - self.sent


def section_learners(section: int, learners: int) -> range:
    return range((section - 1) * SECTION_SIZE + 1, min(section * SECTION_SIZE, learners) + 1)


class RatingStream:
    """Teachers post ratings through the API (quick entry: one standard for a few learners of
    their section per request) at a fixed rate, open loop (sender threads, so a slow answer does
    not slow the schedule); a poller watches the records of the pairs posted and notes when each
    one counts the new rating (``evidence_count`` reaches the pair's counted ratings), every
    ``poll`` seconds."""

    def __init__(
        self,
        *,
        port: int,
        database: str,
        size: StateSize,
        teachers: int,
        seed: int,
        poll: float = 0.005,
    ) -> None:
        import random

        self.port = port
        self.database = database
        self.poll = poll
        self.random = random.Random(seed)
        step = max(1, size.sections // teachers)
        self.sections = [1 + i * step for i in range(min(teachers, size.sections))]
        self.tokens = {
            section: token
            for section, token in zip(
                self.sections,
                api_tokens([TEACHER_USER_BASE + s for s in self.sections]).values(),
                strict=True,
            )
        }
        self.size = size
        self.posts: list[Posted] = []
        self.requests: list[list[Posted]] = []
        self._stop = False
        self.errors: list[str] = []
        # 503 answers (the database briefly unreachable): sent again after a short pause, as a
        # client honouring Retry-After would (sooner, to keep the run short), at most this many
        # times; each one is noted with whether it carried Retry-After.
        self.retry_unavailable = 0
        self.unavailable: list[bool] = []

    def counted(self) -> dict[tuple[int, int], int]:
        """The counted ratings of every pair of the chosen sections, from the ratings table."""
        from django.db import connection

        from mastery.sql import counted_predicate

        learners = [
            learner for s in self.sections for learner in section_learners(s, self.size.learners)
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.learner_id, r.standard_id, count(*) FROM evidence_rating r"
                f" WHERE r.learner_id = ANY(%s) AND {counted_predicate('r')}"
                " GROUP BY 1, 2",
                [learners],
            )
            return {(int(row[0]), int(row[1])): int(row[2]) for row in cursor.fetchall()}

    def plan(self, count: int, *, per_post: int = 1) -> list[Posted]:
        """``count`` ratings in requests of ``per_post`` ratings (quick entry of one standard
        for that many learners of one section), each with the evidence count its record must
        reach."""
        known = self.counted()
        running: dict[tuple[int, int], int] = {}
        self.posts, self.requests = [], []
        while len(self.posts) < count:
            section = self.random.choice(self.sections)
            roster = list(section_learners(section, self.size.learners))
            chosen = self.random.sample(roster, min(per_post, len(roster), count - len(self.posts)))
            standard = self.random.randint(1, self.size.standards)
            group = []
            for learner in chosen:
                pair = (learner, standard)
                running[pair] = running.get(pair, known.get(pair, 0)) + 1
                score = f"{self.random.choice(SCORES):.2f}"
                group.append(
                    Posted(len(self.posts), section, learner, standard, score, running[pair])
                )
                self.posts.append(group[-1])
            self.requests.append(group)
        return self.posts

    def _post(self, group: list[Posted]) -> None:
        first = group[0]
        body = json.dumps(
            {
                "title": "Bench check",
                "demonstrated_at": datetime.datetime.now(datetime.UTC).isoformat(),
                "section": first.section,
                "entries": [
                    {"learner": p.learner, "standard": p.standard, "score": p.score} for p in group
                ],
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Token {self.tokens[first.section]}",
        }
        sent = time.perf_counter()
        for attempt in range(self.retry_unavailable + 1):
            try:
                status, answer_headers, data = request(
                    "POST", self.port, "/api/v1/ratings/", body=body, headers=headers, timeout=60
                )
            except OSError as exc:
                status, answer_headers, data = 0, {}, str(exc).encode()
            if status == 503:
                self.unavailable.append("retry-after" in answer_headers)
            if status != 503 or attempt == self.retry_unavailable:
                break
            time.sleep(0.2)
        answered = time.perf_counter()
        for post in group:
            post.sent, post.answered, post.status = sent, answered, status
        if status != 201:
            self.errors.append(f"request of rating {first.index}: {status} {data[:200]!r}")

    def _poller(self) -> None:
        import psycopg

        conn: psycopg.Connection[Any] | None = None
        while not self._stop:
            waiting = [
                p
                for p in self.posts
                if p.status == 201 and p.updated != p.updated  # NaN
            ]
            if not waiting:
                time.sleep(self.poll)
                continue
            pairs = sorted({(p.learner, p.standard) for p in waiting})
            try:
                if conn is None:
                    conn = psycopg.connect(database_url(self.database), autocommit=True)
                rows = conn.execute(
                    "SELECT m.learner_id, m.standard_id, m.evidence_count"
                    " FROM mastery_masteryrecord m JOIN unnest(%s::bigint[], %s::bigint[])"
                    " AS p(l, s) ON m.learner_id = p.l AND m.standard_id = p.s",
                    [[p[0] for p in pairs], [p[1] for p in pairs]],
                ).fetchall()
            except psycopg.Error:
                conn = None
                time.sleep(0.1)
                continue
            seen = time.perf_counter()
            have = {(int(r[0]), int(r[1])): int(r[2]) for r in rows}
            for post in waiting:
                if have.get((post.learner, post.standard), -1) >= post.expected:
                    post.updated = seen
            time.sleep(self.poll)
        if conn is not None:
            conn.close()

    def run(self, rate: float, *, senders: int = 16) -> float:
        """Post every planned rating at ``rate`` per second; returns the seconds it took."""
        import queue
        import threading

        jobs: queue.Queue[list[Posted] | None] = queue.Queue()

        def send() -> None:
            while (job := jobs.get()) is not None:
                self._post(job)

        self._stop = False
        poller = threading.Thread(target=self._poller, daemon=True)
        poller.start()
        threads = [threading.Thread(target=send, daemon=True) for _ in range(senders)]
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        for group in self.requests:
            scheduled = started + group[0].index / rate
            for post in group:
                post.scheduled = scheduled
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            jobs.put(group)
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join()
        self._poller_thread = poller
        return time.perf_counter() - started

    def pending(self) -> list[Posted]:
        return [p for p in self.posts if p.status == 201 and p.updated != p.updated]

    def wait_fresh(self, timeout: float) -> float:
        """Wait until every accepted rating is counted by its record (or ``timeout``); returns
        the seconds waited. Stops the poller."""
        started = time.perf_counter()
        deadline = started + timeout
        while self.pending() and time.perf_counter() < deadline:
            time.sleep(0.05)
        self._stop = True
        self._poller_thread.join()
        return time.perf_counter() - started

    def touched_learners(self) -> list[int]:
        return sorted({p.learner for p in self.posts})


def stale_markers() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM mastery_stalemastery")
        return int(cursor.fetchone()[0])
