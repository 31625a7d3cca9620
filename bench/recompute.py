"""Benchmark of the full bulk recompute against what PostgreSQL allows, measured in one run.

Loads the synthetic state (``bench/common.py``: by default 100,000 learners x 40 standards x
2.5 ratings = 10 million ratings, binary COPY through the real tables) unless it is already
loaded, forgets every mastery record, then times:

(a) the read floor: one SQL pass over the same ratings computing count, max, average and latest
    per (learner, standard), writing nothing (best of two runs);
(c) the platform's own full bulk recompute (``mastery.services.start_bulk_recompute`` by the
    state administrator: learner-range batches on the ``bulk`` queue, served by real Celery
    workers) with the default policy, ``decaying_average`` (weight 65), into the empty records
    table, then ``verify_mastery`` on the result (0 stale, 0 wrong);
(b) the write floor: COPY of the same records (4 million rows of the mastery record's shape, the
    columns a bulk batch writes) into a temporary table and one ``INSERT ... SELECT ... ON
    CONFLICT DO UPDATE`` into an empty table of that shape (same indexes), then again into the
    now full table;
then the ratio (c) / ((a) + (b, empty)), target at most 2, and a repeated bulk recompute, which
must write 0 records since nothing changed.

    .venv/bin/python bench/recompute.py                      # the full 10 M ratings
    .venv/bin/python bench/recompute.py --learners 5000      # a smoke run, under a minute

Wall times drift on shared machines: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ comes first on the path: import the helpers as the package module
# bench.common from the repository root (where the Django project is), one module for all scripts.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from bench import common  # noqa: E402

# The outer aggregate consumes every column, so the planner cannot drop any per-pair aggregate.
# "latest" is the last score in the order the plan reads the ratings: the covering index's
# (learner, standard, demonstrated_at, recorded_at, id), the engine's order (the plan is
# printed). An ORDER BY inside array_agg gives the same values but sorts every group: 2x slower.
READ_FLOOR = (
    "SELECT count(*), sum(n), max(high), sum(mean), sum(latest) FROM ("
    " SELECT learner_id, standard_id, count(*) AS n, max(score) AS high, avg(score) AS mean,"
    " (array_agg(score))[count(*)] AS latest"
    " FROM evidence_rating GROUP BY learner_id, standard_id) per_pair"
)
FLOOR_TABLE = "bench_record_floor"
COLUMNS = (
    "learner_id, standard_id, state, score, level_points, level_label, mastered,"
    " first_mastered_at, evidence_count, explanation, calculation_version"
)


def read_floor() -> tuple[float, list[float], str]:
    """Best of two timed runs of the read floor, both times, and the plan's top nodes."""
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {READ_FLOOR}")
        plan = " / ".join(str(row[0]).strip().split("  (")[0] for row in cursor.fetchall()[:4])
        for _ in range(2):
            started = time.perf_counter()
            cursor.execute(READ_FLOOR)
            cursor.fetchall()
            times.append(time.perf_counter() - started)
    return min(times), times, plan


def sizes() -> dict[str, str]:
    """On-disk sizes of the tables the recompute reads and writes (heap, and all indexes)."""
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in ("evidence_rating", "evidence_evidence", "mastery_masteryrecord",
                      "mastery_masteryevent"):  # fmt: skip
            cursor.execute(
                "SELECT pg_size_pretty(pg_table_size(%s)), pg_size_pretty(pg_indexes_size(%s))",
                [table, table],
            )
            heap, indexes = cursor.fetchone()
            out[table] = f"{heap} + {indexes} indexes"
        cursor.execute("SELECT pg_size_pretty(pg_relation_size('evidence_rating_covering'))")
        out["evidence_rating_covering"] = str(cursor.fetchone()[0])
    return out


def write_floor(source: Path, targets: tuple[str, ...]) -> dict[str, float]:
    """COPY ``source`` (COPY text of ``COLUMNS``) into a temporary table + one upsert into a
    table shaped like the records table (same columns, indexes and constraints), once per
    ``targets`` entry: "empty" into it empty, "full" into it as the previous pass left it."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (LIKE mastery_masteryrecord INCLUDING ALL)")
    out: dict[str, float] = {}
    for label in targets:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE bench_floor_in (learner_id bigint, standard_id bigint,"
                " state varchar(24), score numeric(8,4), level_points numeric(8,4),"
                " level_label varchar(100), mastered boolean, first_mastered_at timestamptz,"
                " evidence_count integer, explanation jsonb, calculation_version varchar(20))"
                " ON COMMIT DROP"
            )
            with (
                source.open("rb") as data,
                cursor.cursor.copy(f"COPY bench_floor_in ({COLUMNS}) FROM STDIN") as copy,
            ):
                while block := data.read(1 << 20):
                    copy.write(block)
            cursor.execute(
                f"INSERT INTO {FLOOR_TABLE} AS m ({COLUMNS}, computed_at)"
                f" SELECT {COLUMNS}, now() FROM bench_floor_in"
                " ON CONFLICT (learner_id, standard_id) DO UPDATE SET state = EXCLUDED.state,"
                " score = EXCLUDED.score, level_points = EXCLUDED.level_points,"
                " level_label = EXCLUDED.level_label, mastered = EXCLUDED.mastered,"
                " first_mastered_at = EXCLUDED.first_mastered_at,"
                " evidence_count = EXCLUDED.evidence_count, explanation = EXCLUDED.explanation,"
                " calculation_version = EXCLUDED.calculation_version,"
                " computed_at = EXCLUDED.computed_at"
            )
        out[label] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {FLOOR_TABLE}")
    return out


def export_records(target: Path, *, explanation: str = "explanation") -> int:
    """The records the platform wrote, as COPY text of ``COLUMNS`` (the write floor's input),
    with ``explanation`` as the explanation column's expression."""
    from django.db import connection

    rows = 0
    with (
        target.open("wb") as out,
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY (SELECT {COLUMNS.replace('explanation', explanation)}"
            " FROM mastery_masteryrecord ORDER BY learner_id, standard_id) TO STDOUT"
        ) as copy,
    ):
        for block in copy:
            data = bytes(block)
            rows += data.count(b"\n")
            out.write(data)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_size_arguments(parser)
    parser.add_argument("--workers", type=int, default=1, help="bulk worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size of each worker")
    parser.add_argument("--batch-size", type=int, default=1000, help="learners per bulk batch")
    parser.add_argument("--no-repeat", action="store_true", help="skip the repeated recompute")
    args = parser.parse_args()
    size = common.size_from(args)

    print(f"load average at start: {common.load_average()}")
    prepared = common.prepare(size, common.REDIS_URL, reload=args.reload)
    print(f"data: {size.fingerprint()} {prepared}")
    print(f"server: {common.server_facts()}")
    common.flush_redis(common.REDIS_URL)
    common.reset_derived_state()
    totals = common.counts()
    print(f"rows: {totals}")

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE evidence_rating")  # visibility map fresh, as after a load

    a_seconds, a_runs, plan = read_floor()
    print(f"(a) read floor: {a_seconds:.1f} s (runs {', '.join(f'{t:.1f}' for t in a_runs)});"
          f" plan: {plan}")  # fmt: skip

    env = common.service_env(size.name, common.REDIS_URL)
    workers = common.Workers(env, queues="bulk", concurrency=args.concurrency, tag="bulk")
    workers.start(args.workers)
    repeat = None
    try:
        print(f"load average before (c): {common.load_average()}")
        cpu = workers.cpu_seconds()
        with common.ActivitySampler(size.name) as activity:
            c = common.run_bulk_recompute(batch_size=args.batch_size)
        c_cpu = workers.cpu_seconds() - cpu
        print(
            f"(c) platform bulk recompute: {c.seconds:.1f} s, {c.batches} batches, status"
            f" {c.status}, {c.checked:,} records checked, {c.written:,} written,"
            f" {c.events:,} events; {c.checked / c.seconds:,.0f} records/s,"
            f" {totals['ratings'] / c.seconds:,.0f} ratings/s; workers' CPU {c_cpu:.1f} s"
        )
        print("profile of (c), PostgreSQL side (share of backend samples):")
        for name, share in activity.top():
            print(f"  {share:6.1%}  {name}")
        if not args.no_repeat:
            repeat = common.run_bulk_recompute(batch_size=args.batch_size)
            print(
                f"repeat (nothing changed): {repeat.seconds:.1f} s, {repeat.written:,} written,"
                f" {repeat.events:,} events"
            )
    finally:
        workers.stop()

    from mastery.selectors import verify_mastery

    common.analyze_derived_tables()  # not timed: what autovacuum does later, for the next benches
    verify_seconds, report = common.timed(
        lambda: verify_mastery(processes=args.workers * args.concurrency)
    )
    print(
        f"verify_mastery: {verify_seconds:.1f} s, checked {report.checked:,},"
        f" stale {report.stale}, wrong {report.wrong}"
    )

    with tempfile.TemporaryDirectory(dir=common.log_path("")) as folder:
        lean = Path(folder) / "lean.copy"
        exported = export_records(lean, explanation="'{}'::jsonb")
        b = write_floor(lean, ("empty", "full"))
        lean.unlink()
        same = Path(folder) / "same.copy"
        export_records(same)
        b_same = write_floor(same, ("empty",))["empty"]
    print(
        f"(b) write floor, {exported:,} rows with an empty explanation: COPY + upsert into an"
        f" empty table {b['empty']:.1f} s, into the full table {b['full']:.1f} s"
    )
    print(
        f"(b') the same with the rows the platform wrote (as stored, explanations included):"
        f" {b_same:.1f} s into an empty table"
    )

    on_disk = sizes()
    print(f"sizes: {on_disk}")
    floor = a_seconds + b["empty"]
    ratio = c.seconds / floor
    ratio_same = c.seconds / (a_seconds + b_same)
    figures: list[tuple[str, str]] = [
        ("command", " ".join(["bench/recompute.py", *sys.argv[1:]])),
        ("data", f"{totals['learners']:,} learners, {totals['ratings']:,} ratings"),
        (
            "workers",
            f"{args.workers} x concurrency {args.concurrency}, batches of {args.batch_size}",
        ),
        ("(a) read floor", f"{a_seconds:.1f} s"),
        ("(b) write floor", f"{b['empty']:.1f} s empty target, {b['full']:.1f} s full target"),
        ("(b') platform's rows", f"{b_same:.1f} s empty target; (c)/((a)+(b')) {ratio_same:.2f}"),
        ("(c) bulk recompute", f"{c.seconds:.1f} s ({c.checked:,} records, {c.events:,} events)"),
        (
            "workers' CPU in (c)",
            f"{c_cpu:.1f} s of {args.workers * args.concurrency} x {c.seconds:.0f} s"
            " (the rest: waiting on PostgreSQL, whose backends end with each task)",
        ),
        ("verify_mastery", f"{verify_seconds:.1f} s"),
        ("ratings on disk", on_disk["evidence_rating"]),
        ("records on disk", on_disk["mastery_masteryrecord"]),
        ("events on disk", on_disk["mastery_masteryevent"]),
    ]
    if repeat is not None:
        figures.append(("repeat, unchanged", f"{repeat.seconds:.1f} s, {repeat.written} written"))
    checks = [
        common.Check(
            "ratio (c)/((a)+(b))", f"{ratio:.2f}", "<= 2", ratio <= 2,
            f"{ratio / 2 - 1:.0%} ({c.seconds - 2 * floor:.0f} s)",
        ),
        common.Check(
            "verify_mastery / (c)", f"{verify_seconds / c.seconds:.2f}", "<= 1",
            verify_seconds <= c.seconds, f"{verify_seconds - c.seconds:.0f} s",
        ),
        common.Check("stale records", str(report.stale), "0", report.stale == 0),
        common.Check("wrong records", str(report.wrong), "0", report.wrong == 0),
        common.Check("bulk job", c.status, "done", c.status == "done"),
    ]  # fmt: skip
    if repeat is not None:
        checks.append(common.Check("repeat writes", str(repeat.written), "0", repeat.written == 0))
    common.print_summary("bench/recompute", figures, checks)


if __name__ == "__main__":
    main()
