"""Benchmark of the state accountability export (``reports.state_export``), streamed as of a day.

Loads synthetic data into a dedicated database (``mastery_bench_report``, created here; never a
test database): a state with two districts of 20 schools each, N learners (grade 05, half per
district), 40 required standards (10 power), Poisson(2.5) teacher ratings per learner and
standard (about 2.5 N x 40 ratings, copied in with binary ``COPY``), and stored mastery records
for every pair (for the reference query). Then, in the same run:

- the export (CSV) of one district (N/2 learners) and of the whole state (N learners), each in
  its own process so that each reports its own peak RSS (flat memory: the two peaks match);
- the reference: a bare ``COPY (SELECT ...) TO STDOUT`` of the same rows (learner x required
  standard, joined with codes and the stored records, with the export's columns: its
  provenance too, the records' calculation version, rules key and digest in hex), i.e. what
  exporting stored records would cost, and the bare COPY of the counted ratings the export
  reads.

    .venv/bin/python bench/report.py                    # 100,000 learners (10 M ratings)
    .venv/bin/python bench/report.py --learners 20000   # a quick run
    .venv/bin/python bench/report.py --reload           # rebuild the data even if present

Wall times drift on shared machines: compare the ratio, measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: import the project (and bench.common) from the repository root.
sys.path.insert(0, str(ROOT))

DB = os.environ.get("BENCH_DB_PREFIX", "mastery_bench") + "_report"
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB}")
STANDARDS = 40
POWER = 10
SCHOOLS_PER_DISTRICT = 20
AS_OF = datetime.date(2026, 10, 31)
TERM_START = datetime.date(2026, 8, 20)
SEED = 2026


def _django() -> None:
    os.environ["DATABASE_URL"] = BENCH_URL
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def _ensure_database() -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB}"')


def _migrate() -> None:
    env = {**os.environ, "DATABASE_URL": BENCH_URL, "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    env.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def _loaded(learners: int) -> bool:
    """The data is there, and no row version says it came after the as-of day (a database
    versioned after it was loaded: the export of that day would read a world without it)."""
    from django.db import connection

    from mastery.core import end_of_day

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM learners_learner),"
            " EXISTS (SELECT 1 FROM common_rowversion WHERE valid_from > %s),"
            " (SELECT ratings_digest FROM mastery_masteryrecord ORDER BY id LIMIT 1)",
            [end_of_day(AS_OF)],
        )
        row = cursor.fetchone()
    # Records loaded before they carried their provenance (no digest): loaded again.
    return bool(row and row[0] == learners and not row[1] and row[2] is not None)


def _load(learners: int) -> dict[str, Any]:
    """Synthetic data, deterministic (seeded): the ratings go in with binary COPY."""
    import numpy as np
    from django.db import connection

    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    with connection.cursor() as cursor:
        # The row versions too (TRUNCATE passes their append-only row trigger): the synthetic
        # world has no history, so an export as of AS_OF reads it as it is (the live tables).
        cursor.execute(
            "TRUNCATE mastery_masteryrecord, evidence_rating, evidence_evidence,"
            " standards_requirement, standards_standard, standards_framework,"
            " learners_learner, learners_term, learners_organisation, auth_user,"
            " common_rowversion CASCADE"
        )
        # Foreign keys are triggers: replica mode skips them for this bulk load (bench only).
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined) VALUES"
            " (1, '!', false, 'bench-teacher', '', '', '', false, true, now())"
        )
        cursor.execute(
            "INSERT INTO learners_organisation (id, kind, name, parent_id, sourced_id,"
            " external_id, created_at, updated_at) VALUES"
            " (1, 'state', 'Bench State', NULL, 'bench-state', 'BS', now(), now()),"
            " (2, 'district', 'District One', 1, 'bench-d1', 'D1', now(), now()),"
            " (3, 'district', 'District Two', 1, 'bench-d2', 'D2', now(), now())"
        )
        cursor.execute(
            "INSERT INTO learners_organisation (id, kind, name, parent_id, sourced_id,"
            " external_id, created_at, updated_at)"
            " SELECT 10 + g, 'school', 'School ' || g, CASE WHEN g < %s THEN 2 ELSE 3 END,"
            " 'bench-school-' || g, lpad(g::text, 12, '0'), now(), now()"
            " FROM generate_series(0, %s) g",
            [SCHOOLS_PER_DISTRICT, 2 * SCHOOLS_PER_DISTRICT - 1],
        )
        cursor.execute(
            "INSERT INTO learners_term (id, title, kind, organisation_id, parent_id, school_year,"
            " start_date, end_date, sourced_id, created_at, updated_at) VALUES"
            " (1, 'Fall 2026', 'semester', 1, NULL, 2027, %s, %s, 'bench-term', now(), now())",
            [TERM_START, datetime.date(2027, 1, 20)],
        )
        # Learners 1..N/2 in district one's schools, the rest in district two's.
        half = learners // 2
        cursor.execute(
            "INSERT INTO learners_learner (id, school_id, state_id, local_id, state_student_id,"
            " given_name, family_name, preferred_name, grade_level, active, user_id, sourced_id,"
            " created_at, updated_at)"
            " SELECT g, 10 + CASE WHEN g <= %(half)s THEN mod(g, %(per)s)"
            " ELSE %(per)s + mod(g, %(per)s) END, 1, 'L' || g, 'S' || lpad(g::text, 9, '0'),"
            " 'Given', 'Family', '', '05', true, NULL, '', now(), now()"
            " FROM generate_series(1, %(n)s) g",
            {"half": half, "per": SCHOOLS_PER_DISTRICT, "n": learners},
        )
        cursor.execute(
            "INSERT INTO standards_framework (id, identifier, uri, title, creator, publisher,"
            " description, subjects, language, version, adoption_status, official_source_url,"
            " notes, extra, package_parts, source_format, organisation_id, imported_by_id,"
            " created_at, updated_at) VALUES (1, 'bench-framework', '', 'Bench maths', '', '',"
            " '', '[]', 'en', '', '', '', '', '{}', '{}', 'csv', NULL, NULL, now(), now())"
        )
        cursor.execute(
            "INSERT INTO standards_standard (id, framework_id, identifier, uri, parent_id,"
            " position, depth, item_type, human_code, list_enumeration, statement, grade_levels,"
            " is_grouping, status, extra, created_at, updated_at)"
            " SELECT g, 1, md5('bench-' || g)::uuid::text, '', NULL, g, 1, 'Standard',"
            " '5.B.' || g, '', 'Statement ' || g, '[\"05\"]', false, 'active', '{}', now(), now()"
            " FROM generate_series(1, %s) g",
            [STANDARDS],
        )
        cursor.execute(
            "INSERT INTO standards_requirement (organisation_id, term_id, grade_level,"
            " standard_id, priority, created_by_id, created_at, updated_at)"
            " SELECT 1, 1, '05', g, CASE WHEN g <= %s THEN 'power' ELSE 'supporting' END,"
            " NULL, now(), now() FROM generate_series(1, %s) g",
            [POWER, STANDARDS],
        )
        # Eight evidence occasions per learner; each rating belongs to one of its learner's.
        cursor.execute(
            "INSERT INTO evidence_evidence (id, learner_id, kind, title, description, setting,"
            " demonstrated_at, recorded_at, submitted_by_id, section_id, source_key)"
            " SELECT (l - 1) * 8 + k, l, 'observation', 'Observed', '', 'in_school',"
            " %(start)s::timestamptz + make_interval(days => 7 * k, hours => mod(l, 8)),"
            " %(start)s::timestamptz + make_interval(days => 7 * k + 1), 1, NULL, ''"
            " FROM generate_series(1, %(n)s) l, generate_series(0, 7) k",
            {"start": datetime.datetime.combine(TERM_START, datetime.time(9), datetime.UTC),
             "n": learners},
        )  # fmt: skip
    ratings = _copy_ratings(rng, learners)
    with _without_indexes("mastery_masteryrecord"), connection.cursor() as cursor:
        # With their provenance (rules key and digest, as the workers keep them): the
        # reference writes the export's columns, the provenance included.
        cursor.execute(
            "INSERT INTO mastery_masteryrecord (learner_id, standard_id, state, score,"
            " level_points, level_label, mastered, first_mastered_at, evidence_count,"
            " explanation, calculation_version, computed_at, rules_key, ratings_digest)"
            " SELECT l, s, 'scored', 3.25, 3, 'Proficient', true, now(), 3, '{}', '1', now(),"
            " 4412674927404843298, (hashint8(l * 1000003 + s)::int8 << 32)"
            " | (hashint8(l * 1000003 + s + 1)::int8 & 4294967295)"
            " FROM generate_series(1::bigint, %s) l, generate_series(1::bigint, %s) s",
            [learners, STANDARDS],
        )
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = origin")
        for table in (
            "evidence_rating",
            "evidence_evidence",
            "mastery_masteryrecord",
            "learners_learner",
            "standards_requirement",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")  # fmt: skip
    return {"ratings": ratings, "load_s": round(time.perf_counter() - started, 1)}


@contextlib.contextmanager
def _without_indexes(table: str) -> Iterator[None]:
    """Drop a table's secondary indexes and unique constraints, and build them again after the
    block: one sort per index instead of ten million insertions into it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'u'",
            [table],
        )
        constraints = cursor.fetchall()
        for name, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        for name, definition in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


_PG_EPOCH_US = int(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC).timestamp() * 1_000_000)


def _copy_ratings(rng: Any, learners: int) -> int:
    """Ratings straight into ``evidence_rating`` with one binary COPY built by numpy: every
    column fixed-width (the score as a two-digit numeric, which PostgreSQL normalises), the
    evidence's times by the same formula as the evidence rows."""
    import numpy as np
    from django.db import connection

    pair = [(">i4", "len"), (">i8", "v")]
    dtype = np.dtype(
        [("fields", ">i2")]
        + [(f"{name}_{part}", kind) for name in ("evidence", "learner", "demonstrated",
                                                  "standard") for kind, part in pair]
        + [("score_len", ">i4"), ("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">i2"),
           ("dscale", ">i2"), ("whole", ">i2"), ("fraction", ">i2")]
        + [("source_len", ">i4"), ("source", "S7"), ("rater_len", ">i4"), ("rater", ">i4")]
        + [(f"recorded_{part}", kind) for kind, part in pair]
        + [("comment_len", ">i4")]
    )  # fmt: skip
    levels = np.array([100, 200, 250, 300, 350, 400], np.int64)
    start_us = (
        int(
            datetime.datetime.combine(TERM_START, datetime.time(9), datetime.UTC).timestamp()
            * 1_000_000
        )
        - _PG_EPOCH_US
    )
    day_us, hour_us = 86_400_000_000, 3_600_000_000
    total = 0
    step = 10_000
    with _without_indexes("evidence_rating"), connection.cursor() as cursor:
        raw = cursor.cursor
        columns = (
            "evidence_id, learner_id, demonstrated_at, standard_id, score, source, rater_id,"
            " recorded_at, comment"
        )
        with raw.copy(f"COPY evidence_rating ({columns}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8)
            for low in range(1, learners + 1, step):
                high = min(low + step, learners + 1)
                counts = rng.poisson(2.5, (high - low) * STANDARDS)
                rows = int(counts.sum())
                learner = np.repeat(
                    np.repeat(np.arange(low, high, dtype=np.int64), STANDARDS), counts
                )
                standard = np.repeat(
                    np.tile(np.arange(1, STANDARDS + 1, dtype=np.int64), high - low), counts
                )
                occasion = rng.integers(0, 8, rows)
                score = levels[rng.integers(0, levels.shape[0], rows)]
                block = np.zeros(rows, dtype)
                block["fields"] = 9
                for name in ("evidence", "learner", "demonstrated", "standard", "recorded"):
                    block[f"{name}_len"] = 8
                block["evidence_v"] = (learner - 1) * 8 + occasion
                block["learner_v"] = learner
                block["demonstrated_v"] = start_us + occasion * 7 * day_us + (learner % 8) * hour_us
                block["standard_v"] = standard
                block["score_len"], block["ndigits"], block["dscale"] = 12, 2, 2
                block["whole"], block["fraction"] = score // 100, (score % 100) * 100
                block["source_len"], block["source"] = 7, b"teacher"
                block["rater_len"], block["rater"] = 4, 1
                block["recorded_v"] = start_us + (occasion * 7 + 1) * day_us
                copy.write(block.tobytes())
                total += rows
            copy.write(b"\xff\xff")
    return total


def _rss_mb(field: str = "VmHWM") -> float:
    """Peak (``VmHWM``) or current (``VmRSS``) resident memory of this process, in MB.

    Not ``getrusage``: on Linux a child's ``ru_maxrss`` starts from its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_export(organisation_id: int) -> dict[str, Any]:
    """One export in this process (called in a child process: its own peak RSS)."""
    from learners.models import Organisation, Term
    from reports.state_export import write_state_export

    organisation = Organisation.objects.get(pk=organisation_id)
    term = Term.objects.get(pk=1)
    baseline = _rss_mb("VmRSS")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        started = time.perf_counter()
        with path.open("w", encoding="utf-8", newline="") as out:
            written = write_state_export(
                organisation=organisation, term=term, as_of=AS_OF, file_format="csv", out=out
            )
        seconds = time.perf_counter() - started
        size = path.stat().st_size
    return {
        "organisation": organisation_id,
        "learners": written.learners,
        "rows": written.rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(written.rows / seconds),
        "bytes": size,
        "peak_rss_mb": round(_rss_mb(), 1),
        "rss_before_mb": round(baseline, 1),
    }


def _reference(
    organisation_id: int, *, ratings_too: bool = True, provenance: bool = True
) -> dict[str, Any]:
    """Bare ``COPY (SELECT ...) TO STDOUT`` runs with psql (no Python per row), to a file:
    the same rows from the stored records (learner x required standard with codes), and the
    counted ratings the export reads, in the engine's order. ``provenance=False``: the rows
    without the five provenance columns (the reference of the figures before 2026-12-07's
    evening, kept for comparison)."""
    from mastery.core import end_of_day

    at = end_of_day(AS_OF).isoformat()
    schools = (
        f"SELECT id FROM learners_organisation WHERE id = {organisation_id}"
        f" OR parent_id = {organisation_id} OR parent_id IN"
        f" (SELECT id FROM learners_organisation WHERE parent_id = {organisation_id})"
    )
    stored = (
        "SELECT l.state_student_id, COALESCE(NULLIF(o.external_id, ''), o.id::text),"
        " l.grade_level, t.title, s.identifier, s.human_code,"
        " CASE WHEN m.id IS NULL THEN 'not_assessed' WHEN m.mastered THEN 'mastered'"
        " ELSE 'not_yet' END, m.level_label, m.score,"
        " (m.first_mastered_at AT TIME ZONE 'UTC')::date,"
        " COALESCE(m.evidence_count, 0), 'decaying_average'"
        + (
            ", m.calculation_version, NULL, NULL, lpad(to_hex(m.rules_key), 16, '0'),"
            " lpad(to_hex(m.ratings_digest), 16, '0')"
            if provenance
            else ""
        )
        + " FROM learners_learner l JOIN learners_organisation o ON o.id = l.school_id"
        " JOIN standards_requirement q ON q.grade_level = l.grade_level AND q.term_id = 1"
        " JOIN standards_standard s ON s.id = q.standard_id"
        " JOIN learners_term t ON t.id = q.term_id"
        " LEFT JOIN mastery_masteryrecord m ON m.learner_id = l.id AND m.standard_id = s.id"
        f" WHERE l.active AND l.school_id IN ({schools})"
    )
    ratings = (
        "SELECT r.learner_id, r.standard_id, r.score, r.demonstrated_at"
        " FROM evidence_rating r JOIN learners_learner l ON l.id = r.learner_id"
        f" WHERE l.school_id IN ({schools}) AND r.recorded_at <= '{at}'"
        " ORDER BY r.learner_id, r.standard_id, r.demonstrated_at, r.recorded_at, r.id"
    )
    url = BENCH_URL.replace("postgres://", "postgresql://", 1)
    out: dict[str, Any] = {}
    queries = [("stored_records", stored)] + ([("ratings", ratings)] if ratings_too else [])
    for name, query in queries:
        with tempfile.TemporaryFile() as sink:
            started = time.perf_counter()
            subprocess.run(
                ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                 f"COPY ({query}) TO STDOUT (FORMAT csv)"],
                stdout=sink,
                check=True,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            sink.seek(0)
            rows = sum(block.count(b"\n") for block in iter(lambda: sink.read(1 << 20), b""))
        out[name] = {
            "rows": rows,
            "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds),
        }
    return out


def _child(organisation_id: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--export-only", str(organisation_id)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--export-only", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        _django()
        print(json.dumps(_run_export(args.export_only)))
        return
    if args.learners < 2 * SCHOOLS_PER_DISTRICT:
        parser.error(f"--learners: at least {2 * SCHOOLS_PER_DISTRICT}")
    from bench import common

    common.hold_bench_lock()  # one bench at a time: two would skew each other's timings
    _ensure_database()
    _migrate()
    _django()
    load: dict[str, Any] = {"reused": True}
    if args.reload or not _loaded(args.learners):
        load = _load(args.learners)
    print(f"data: {args.learners} learners x {STANDARDS} standards {json.dumps(load)}")
    # The reference before and after the exports: the machines drift within minutes.
    before = _reference(1)
    half = _child(2)
    full = _child(1)
    after = _reference(1, ratings_too=False)
    without = _reference(1, ratings_too=False, provenance=False)["stored_records"]
    stored = {
        "rows": before["stored_records"]["rows"],
        "seconds": [before["stored_records"]["seconds"], after["stored_records"]["seconds"]],
        "rows_per_s": round(
            (before["stored_records"]["rows_per_s"] + after["stored_records"]["rows_per_s"]) / 2
        ),
    }
    ratings = before["ratings"]
    print(f"export, one district: {json.dumps(half)}")
    print(f"export, whole state:  {json.dumps(full)}")
    print(f"reference, psql COPY of the same rows from stored records: {json.dumps(stored)}")
    print(f"reference, psql COPY of the ratings the export reads: {json.dumps(ratings)}")
    print(
        "for comparison, the stored records without their five provenance columns (the"
        f" reference before 2026-12-07 evening): {json.dumps(without)}, export / it"
        f" {full['rows_per_s'] / without['rows_per_s']:.2f}"
    )
    if full["rows"] != stored["rows"]:
        raise SystemExit(f"export: {full['rows']:,} rows, the reference {stored['rows']:,}")
    ratio = full["rows_per_s"] / stored["rows_per_s"]
    growth = full["peak_rss_mb"] / half["peak_rss_mb"]
    met = common.print_summary(
        "state accountability export (bench/report.py)",
        [
            ("export rows", f"{full['rows']:,} ({full['learners']:,} learners x {STANDARDS})"),
            ("export rate", f"{full['rows_per_s']:,} rows/s ({full['seconds']} s)"),
            ("bare COPY rate", f"{stored['rows_per_s']:,} rows/s (same rows, stored records)"),
            ("peak RSS", f"{half['peak_rss_mb']} MB at {half['learners']:,} learners,"
                         f" {full['peak_rss_mb']} MB at {full['learners']:,}"),
        ],
        [
            common.Check("export / bare COPY", f"{ratio:.2f}", ">= 0.90", ratio >= 0.9,
                         f"{0.9 - ratio:.2f}"),
            common.Check("peak RSS, learners doubled", f"x{growth:.2f}", "<= x1.20 (flat)",
                         growth <= 1.2, f"x{growth - 1.2:.2f}"),
        ],
    )  # fmt: skip
    if not met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
