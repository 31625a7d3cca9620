"""Benchmark of freshness: a rating posted through the API to its mastery record updated.

On the synthetic state (``bench/common.py``; loaded unless present, every record computed), with
gunicorn serving the platform on loopback (warmed up first) and one Celery worker on the ``mastery``
queue, teachers post quick entries through ``POST /api/v1/ratings/`` (``--per-post`` ratings each)
at a fixed rate, open loop. A poller reads the posted pairs' records every 5 ms and notes when each
record counts the new rating. Prints p50 / p95 / p99 of posted -> record updated, the POST round
trip measured in the same run (the reference: what the client waits anyway), and checks that no
record is stale at the end (no marker left, every rating counted, ``verify_mastery`` on the learners
touched). Target (issue 21): p95 posted -> updated under 250 ms at 100 ratings/s.

    .venv/bin/python bench/latency.py                              # 100 ratings/s for 60 s
    .venv/bin/python bench/latency.py --learners 2000 --seconds 15 # a smoke run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a script, bench/ comes first on the path: import the helpers as the package module
# bench.common from the repository root (where the Django project is), one module for all scripts.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from bench import common  # noqa: E402


def warm_up(stream: common.RatingStream, count: int) -> None:
    """GET the ratings list ``count`` times, 4 at a time, before the clock starts, so that every
    gunicorn worker has imported the API and connected to PostgreSQL: a cold worker's first
    request (seconds on a loaded machine) is not part of the path being measured."""
    from concurrent.futures import ThreadPoolExecutor

    section, token = next(iter(stream.tokens.items()))
    learner = next(iter(common.section_learners(section, stream.size.learners)))
    headers = {"Accept": "application/json", "Authorization": f"Token {token}"}

    def get(_: int) -> int:
        path = f"/api/v1/ratings/?learner={learner}"
        return common.request("GET", stream.port, path, headers=headers, timeout=120)[0]

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(get, range(count)))
    if any(status != 200 for status in statuses):
        raise SystemExit(f"warm-up requests answered {sorted(set(statuses))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_size_arguments(parser)
    parser.add_argument("--rate", type=float, default=100, help="ratings per second")
    parser.add_argument("--seconds", type=float, default=60, help="length of the stream")
    parser.add_argument("--per-post", type=int, default=5, help="ratings per request")
    parser.add_argument("--teachers", type=int, default=20, help="teachers posting")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="the worker's pool size (as docker-compose)"
    )
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers")
    args = parser.parse_args()
    size = common.size_from(args)

    print(f"load average at start: {common.load_average()}")
    prepared = common.prepare(size, common.REDIS_URL, reload=args.reload)
    print(f"data: {size.fingerprint()} {prepared}")
    common.flush_redis(common.REDIS_URL)
    env = common.service_env(size.name, common.REDIS_URL)
    print(f"records: {common.ensure_records(env)}")

    stream = common.RatingStream(
        port=0, database=size.name, size=size, teachers=args.teachers, seed=size.seed
    )
    posts = stream.plan(int(args.rate * args.seconds), per_post=args.per_post)
    web = common.Gunicorn(env, workers=args.web_workers)
    stream.port = web.port
    workers = common.Workers(env, queues="mastery", concurrency=args.concurrency, tag="mastery")
    try:
        workers.start()
        warm_up(stream, args.web_workers * 4)
        print(f"load average before the stream: {common.load_average()}")
        cpu_web, cpu_workers = web.cpu_seconds(), workers.cpu_seconds()
        seconds = stream.run(args.rate)
        waited = stream.wait_fresh(timeout=120)
        cpu_web, cpu_workers = web.cpu_seconds() - cpu_web, workers.cpu_seconds() - cpu_workers
    finally:
        workers.stop()
        web.stop()

    from mastery.selectors import verify_mastery

    accepted = [p for p in posts if p.status == 201]
    fresh = [p for p in accepted if p.updated == p.updated]
    latencies = [p.latency for p in fresh]
    round_trips = [p.answered - p.sent for p in accepted]
    after_answer = [p.updated - p.answered for p in fresh]
    lateness = max((p.sent - p.scheduled for p in posts), default=0.0)
    markers = common.stale_markers()
    # Sections are contiguous id ranges: chunks of one section read only that section.
    report = verify_mastery(batch=common.SECTION_SIZE, learner_ids=stream.touched_learners())
    for error in stream.errors[:5]:
        print(f"error: {error}")

    def ms(values: list[float], q: float) -> str:
        return f"{common.percentile(values, q) * 1000:.0f} ms"

    p95 = common.percentile(latencies, 95)
    print(
        f"posted -> record updated: p50 {ms(latencies, 50)}, p95 {ms(latencies, 95)},"
        f" p99 {ms(latencies, 99)}, max {ms(latencies, 100)}"
    )
    figures = [
        ("command", " ".join(["bench/latency.py", *sys.argv[1:]])),
        ("stream", f"{len(posts):,} ratings in {seconds:.1f} s"
                   f" ({len(posts) / seconds:.1f}/s, asked {args.rate:g}/s),"
                   f" {args.per_post} per request, {args.teachers} teachers,"
                   f" client lateness max {lateness * 1000:.0f} ms"),
        ("servers", f"gunicorn {args.web_workers} workers; 1 Celery worker x {args.concurrency}"),
        ("posted -> updated", f"p50 {ms(latencies, 50)}, p95 {ms(latencies, 95)},"
                              f" p99 {ms(latencies, 99)}, max {ms(latencies, 100)}"),
        ("POST round trip", f"p50 {ms(round_trips, 50)}, p95 {ms(round_trips, 95)},"
                            f" p99 {ms(round_trips, 99)} (reference, same run)"),
        ("answered -> updated", f"p50 {ms(after_answer, 50)}, p95 {ms(after_answer, 95)}"),
        ("ratio p95 / POST p95", f"{p95 / common.percentile(round_trips, 95):.2f}"),
        ("caught up after stream", f"{waited:.1f} s"),
        ("gunicorn CPU", f"{cpu_web / len(stream.requests) * 1000:.0f} ms per request of"
                         f" {args.per_post} ratings"),
        ("worker CPU", f"{cpu_workers / len(posts) * 1000:.1f} ms per rating"
                       f" ({len(posts) / cpu_workers:.0f} ratings/s per busy core)"),
    ]  # fmt: skip
    checks = [
        common.Check("p95 posted -> updated", f"{p95 * 1000:.0f} ms", "< 250 ms", p95 < 0.25,
                     f"{(p95 - 0.25) * 1000:.0f} ms"),
        common.Check("POST errors", str(len(posts) - len(accepted)), "0",
                     len(accepted) == len(posts)),
        common.Check("ratings not counted", str(len(accepted) - len(fresh)), "0",
                     len(fresh) == len(accepted)),
        common.Check("markers left", str(markers), "0", markers == 0),
        common.Check("verify stale / wrong", f"{report.stale} / {report.wrong}", "0 / 0",
                     report.stale == 0 and report.wrong == 0),
    ]  # fmt: skip
    common.print_summary("bench/latency", figures, checks)


if __name__ == "__main__":
    main()
