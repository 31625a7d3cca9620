"""Benchmark of the ratings CSV import (``evidence.services.import_ratings_csv``) against COPY.

A state of N learners x 40 standards (``bench/common.py``'s synthetic state, 2.5 ratings per
pair already there) is loaded once into ``mastery_bench_import_base_<N>``; every run imports
into a fresh copy of it (``mastery_bench_import``, ``CREATE DATABASE ... TEMPLATE``), so runs
never see each other's rows. Two vendor files, generated once into ``bench/out``: one rating
per learner and standard, learners by ``local_id``, standards by code, one assessment title
per file (so one evidence per learner), a comment on every tenth row:

- the quarter file (N/4 learners: ``--rows``/4 rows) and the full file (``--rows`` rows), each
  imported by the state administrator in its own process (its own peak RSS: memory is flat when
  the two peaks match), through the service every path calls (page, API, command), timed from
  the call to its commit (markers and the bulk recompute job included, the job's run not);
- in the same run, before and after the imports, the references: the same rows (evidence of
  the same learners) with one ``COPY`` into ``evidence_rating`` with its indexes and its keys
  checked (``SET CONSTRAINTS ALL IMMEDIATE``, then rolled back), and into a bare table of the
  same shape (no index, no key).

    .venv/bin/python bench/import.py                       # 1,000,000 rows (25,000 learners)
    .venv/bin/python bench/import.py --rows 100000         # a quick run
    .venv/bin/python bench/import.py --recompute           # also run the bulk job it queued

Target (issue 21): the import at >= 0.5 of the COPY with keys; memory flat (the full file's
peak RSS within 1.2x of the quarter file's). Wall times drift on shared machines: compare the
ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: import the project (and bench.common) from the repository root.
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

WORKING = f"{common.DB_PREFIX}_import"
STANDARDS = 40
RATING_COLUMNS = (
    "evidence_id, learner_id, demonstrated_at, standard_id, score, source, rater_id, comment,"
    " supersedes_id, recorded_at"
)
TITLES = {"quarter": "Bench assessment A", "full": "Bench assessment B"}


def _base(rows: int) -> common.StateSize:
    learners = max(common.SECTION_SIZE, rows // STANDARDS)
    return common.StateSize(
        learners=learners,
        standards=STANDARDS,
        database=f"{common.DB_PREFIX}_import_base_{learners}",
    )


def _the_day() -> datetime.date:
    return common.term_start() + datetime.timedelta(days=60)


def _file(rows: int, which: str) -> Path:
    """The vendor file (generated once, deterministic): one row per learner and standard."""
    learners = rows // STANDARDS if which == "full" else rows // STANDARDS // 4
    path = common.log_path(f"import-{which}-{learners}x{STANDARDS}.csv")
    if path.exists():
        return path
    rng = random.Random(2026)
    title = TITLES[which]
    day = _the_day().isoformat()
    scores = ("1", "2", "2.5", "3", "3.5", "4")
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8", newline="") as out:
        out.write("local_id,standard,score,demonstrated_on,title,comment\n")
        number = 0
        for learner in range(1, learners + 1):
            lines = []
            for standard in range(1, STANDARDS + 1):
                number += 1
                comment = f"Item set {number % 7}" if number % 10 == 0 else ""
                lines.append(
                    f"L{learner},5.M.{standard},{rng.choice(scores)},{day},{title},{comment}\n"
                )
            out.write("".join(lines))
    partial.rename(path)
    return path


def _rss_mb(field: str = "VmHWM") -> float:
    """Peak (``VmHWM``) or current (``VmRSS``) resident memory of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _import_child(path: Path) -> dict[str, Any]:
    """One import in this process (a child of the bench: its own peak RSS)."""
    common.setup_django(WORKING, common.REDIS_URL)
    from django.contrib.auth import get_user_model

    from evidence.services import import_ratings_csv

    actor = get_user_model().objects.get(pk=common.ADMIN_USER_ID)
    baseline = _rss_mb("VmRSS")
    started = time.perf_counter()
    with path.open("rb") as stream:
        report = import_ratings_csv(actor=actor, data=stream)
    seconds = time.perf_counter() - started
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "rows": report.rows,
        "created": report.created,
        "evidence_created": report.evidence_created,
        "learners": report.learners,
        "jobs": report.recompute_job_ids,
        "seconds": round(seconds, 2),
        "rows_per_s": round(report.rows / seconds),
        "peak_rss_mb": round(_rss_mb(), 1),
        "rss_before_mb": round(baseline, 1),
    }


def _prepare_child(rows: int, reload: bool) -> dict[str, Any]:
    """Load the base state (in a child: the parent keeps no connection to the template)."""
    size = _base(rows)
    common.ensure_database(size.name)
    common.migrate(size.name)
    common.setup_django(size.name, None)
    if not reload and common._loaded_fingerprint() == size.fingerprint():
        return {"reused": True, "database": size.name}
    return {"reused": False, "database": size.name, **common.load_state(size)}


def _child(*arguments: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, *arguments], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"bench/import.py {' '.join(arguments)} failed ({result.returncode})")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _fresh_copy(base: str) -> float:
    """The working database as a fresh copy of the base state; returns the seconds it took."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(common.ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{WORKING}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{WORKING}" TEMPLATE "{base}"')
    return time.perf_counter() - started


def _reference_rows(path: Path) -> bytes:
    """The full file's rows as ``evidence_rating`` rows in COPY text format: the same learners,
    standards, scores, dates and comments, on an evidence of the same learner (the base
    state's first occasion of each learner: its keys are real), rated by the administrator."""
    from django.utils import timezone

    now = timezone.now().isoformat()
    day = f"{_the_day().isoformat()} 00:00:00+00"
    out: list[str] = []
    with path.open(encoding="utf-8") as source:
        next(source)
        for line in source:
            local_id, code, score, _, _, comment = line.rstrip("\n").split(",")
            learner = int(local_id[1:])
            evidence = (learner - 1) * common.OCCASIONS + 1
            standard = code.rsplit(".", 1)[1]
            out.append(
                f"{evidence}\t{learner}\t{day}\t{standard}\t{score}\timport\t"
                f"{common.ADMIN_USER_ID}\t{comment}\t\\N\t{now}\n"
            )
    return "".join(out).encode()


def _references(data: bytes) -> dict[str, float]:
    """Seconds of one COPY of ``data`` into ``evidence_rating`` with its keys checked (rolled
    back) and into a bare table of the same shape; then VACUUM, so the rolled-back rows leave
    no dead entries for the next measure."""
    import psycopg

    url = common.database_url(WORKING).replace("postgres://", "postgresql://", 1)
    out: dict[str, float] = {}
    with psycopg.connect(url) as conn:
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY evidence_rating ({RATING_COLUMNS}) FROM STDIN") as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start : start + (1 << 20)])
        out["keys_s"] = time.perf_counter() - started
        conn.rollback()
        conn.execute("DROP TABLE IF EXISTS bench_import_bare")
        conn.execute(
            "CREATE TABLE bench_import_bare"
            " (LIKE evidence_rating INCLUDING IDENTITY INCLUDING DEFAULTS)"
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY bench_import_bare ({RATING_COLUMNS}) FROM STDIN") as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start : start + (1 << 20)])
        conn.commit()
        out["bare_s"] = time.perf_counter() - started
        conn.execute("DROP TABLE bench_import_bare")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM evidence_rating")
    return out


def _recompute(jobs: list[int]) -> dict[str, Any]:
    """Run the bulk jobs the full import queued with bulk workers; seconds until done."""
    from mastery.models import BulkRecompute, BulkStatus

    workers = common.Workers(
        common.service_env(WORKING, common.REDIS_URL), queues="bulk", concurrency=2, tag="import"
    )
    started = time.perf_counter()
    try:
        workers.start()

        def done() -> bool:
            states = set(BulkRecompute.objects.filter(pk__in=jobs).values_list("status", flat=True))
            return states <= {BulkStatus.DONE, BulkStatus.FAILED}

        common.wait_until(done, timeout=3600, what="the import's bulk recompute", step=0.2)
    finally:
        workers.stop()
    statuses = sorted(
        set(BulkRecompute.objects.filter(pk__in=jobs).values_list("status", flat=True))
    )
    return {"seconds": round(time.perf_counter() - started, 1), "status": statuses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the full file")
    parser.add_argument("--reload", action="store_true", help="rebuild the base state")
    parser.add_argument("--recompute", action="store_true", help="also run the queued job")
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--import-only", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rows < 4 * STANDARDS * common.SECTION_SIZE:
        parser.error(f"--rows: at least {4 * STANDARDS * common.SECTION_SIZE}")
    if args.prepare_only:
        print(json.dumps(_prepare_child(args.rows, args.reload)))
        return
    if args.import_only:
        print(json.dumps(_import_child(Path(args.import_only))))
        return

    common.hold_bench_lock()  # one bench at a time: two would skew each other's timings
    base = _base(args.rows)
    load = _child(
        "--rows", str(args.rows), "--prepare-only", *(["--reload"] if args.reload else [])
    )
    print(f"base state: {base.learners:,} learners x {STANDARDS} standards {json.dumps(load)}")
    quarter, full = _file(args.rows, "quarter"), _file(args.rows, "full")
    copy_s = _fresh_copy(base.name)
    print(f"fresh copy of the base state: {copy_s:.1f} s")
    common.flush_redis(common.REDIS_URL)
    common.setup_django(WORKING, common.REDIS_URL)
    data = _reference_rows(full)
    before = _references(data)
    print(f"references before: {json.dumps({k: round(v, 2) for k, v in before.items()})}")
    small = _child("--rows", str(args.rows), "--import-only", str(quarter))
    print(f"import, quarter file: {json.dumps(small)}")
    big = _child("--rows", str(args.rows), "--import-only", str(full))
    print(f"import, full file:    {json.dumps(big)}")
    after = _references(data)
    print(f"references after:  {json.dumps({k: round(v, 2) for k, v in after.items()})}")
    figures: list[tuple[str, str]] = []
    if args.recompute:
        recompute = _recompute(big["jobs"])
        print(f"bulk recompute of the full import's learners: {json.dumps(recompute)}")
        figures.append(
            ("bulk recompute after", f"{recompute['seconds']} s, {big['learners']:,} learners")
        )
    rows = big["rows"]
    keys_s = (before["keys_s"] + after["keys_s"]) / 2
    bare_s = (before["bare_s"] + after["bare_s"]) / 2
    to_keys = keys_s / big["seconds"]
    to_bare = bare_s / big["seconds"]
    growth = big["peak_rss_mb"] / small["peak_rss_mb"]
    met = common.print_summary(
        "ratings CSV import (bench/import.py)",
        [
            ("file", f"{rows:,} rows, {big['bytes'] / 2**20:.1f} MB, {big['learners']:,} learners"),
            ("import", f"{big['seconds']} s ({big['rows_per_s']:,} rows/s), bulk job queued"),
            ("COPY, keys checked", f"{keys_s:.2f} s ({rows / keys_s:,.0f} rows/s; before"
                                   f" {before['keys_s']:.2f}, after {after['keys_s']:.2f})"),
            ("COPY, bare table", f"{bare_s:.2f} s ({rows / bare_s:,.0f} rows/s)"),
            ("import / bare COPY", f"{to_bare:.2f}"),
            ("peak RSS", f"{small['peak_rss_mb']} MB at {small['rows']:,} rows,"
                         f" {big['peak_rss_mb']} MB at {rows:,}"),
            *figures,
        ],
        [
            common.Check("import / COPY with keys", f"{to_keys:.2f}", ">= 0.50", to_keys >= 0.5,
                         f"{0.5 - to_keys:.2f}"),
            common.Check("peak RSS, rows x4", f"x{growth:.2f}", "<= x1.20 (flat)",
                         growth <= 1.2, f"x{growth - 1.2:.2f}"),
        ],
    )  # fmt: skip
    if not met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
