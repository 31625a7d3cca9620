"""Chaos benchmark: ratings keep flowing while workers are killed, Redis is stopped and comes back
empty, and PostgreSQL terminates the platform's connections.

On the synthetic state (``bench/common.py``; loaded unless present, every record computed), with
a Redis server of its own (``redis-server`` on a free port, ``--redis-port`` to choose one,
keeping nothing on disk in ``data/bench/redis-PORT``; never the shared one), gunicorn, Celery
workers on the ``mastery`` queue and Celery beat (the sweep, every minute), teachers post a
stream of ratings through the API (``--ratings`` at ``--rate`` per second). During the stream,
at random moments:

- worker processes are killed with SIGKILL ``--kills`` times (alternately a pool process, which
  the worker replaces and whose task is redelivered, and a whole worker, main process and pool,
  replaced by a new one: its unacknowledged message stays in Redis until the visibility timeout);
- Redis is frozen (SIGSTOP: connections stay open, nothing answers, as behind a failover or a
  firewall) for ``--redis-freeze`` seconds, then resumes: posts must still be answered at once
  (the web tier never waits on the broker or the cache, R11);
- Redis is stopped for ``--redis-down`` seconds and started again empty (every queued message
  lost): posts must still succeed meanwhile (the database keeps the dirty markers, R4);
- every connection of the bench database (the web tier's, the workers', the poller's; never
  another database's) is terminated ``--terminations`` times with ``pg_terminate_backend``: a
  request that loses its connection must be answered 503 with ``Retry-After`` (R5, R11), and
  the stream sends it again, as a client would.

Then it reports how long the platform took to converge (every accepted rating counted by its
record, no marker left), lost ratings, stale or wrong records (``verify_mastery`` on every
learner touched) and the answers that were not 201: the targets are 0 lost, 0 stale, and every
failed request a 503 with Retry-After.

    nice -n 10 .venv/bin/python bench/chaos.py           # 2,000 ratings, 20 kills, 6 cuts
    nice -n 10 .venv/bin/python bench/chaos.py --learners 2000 --ratings 300 --kills 4 \
        --terminations 3                                   # a smoke run

Convergence is bounded by the sweep: a lost message is re-queued once its marker is older than
``mastery.services.SWEEP_GRACE`` (120 s), at the next beat tick (every 60 s).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# Run as a script, bench/ comes first on the path: import the helpers as the package module
# bench.common from the repository root (where the Django project is), one module for all scripts.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from bench import common  # noqa: E402


class ThrowawayRedis:
    """A redis-server of our own on loopback that keeps nothing on disk: killing it loses all.

    Its port is a free one unless given; only the process started here is ever stopped."""

    def __init__(self, port: int) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            sys.exit("redis-server is missing: apt-get install redis-server")
        self.binary = binary
        self.port = port or common.free_port()
        if self.port == 6379:
            sys.exit(
                "--redis-port 6379 is the shared Redis: choose another port, or 0 for a free one"
            )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = common.DATA_DIR / f"redis-{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        if self._answers_without_us():
            sys.exit(f"something already answers on port {self.port}: choose another --redis-port")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = common.spawn(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder)],
            env=dict(os.environ), log="redis.log",
        )  # fmt: skip

        def answers() -> bool:
            try:
                return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
            except redis.RedisError:
                return False

        common.wait_until(answers, timeout=10, what=f"redis-server on port {self.port}", step=0.05)

    def _answers_without_us(self) -> bool:
        import redis

        if self.process is not None and self.process.poll() is None:
            return False
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def freeze(self, seconds: float) -> None:
        """SIGSTOP for ``seconds``, then SIGCONT: the server hangs with its connections open."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


def terminate_connections(database: str) -> int:
    """End every backend of the bench database (and of no other), but this session's own;
    returns how many."""
    import psycopg

    with psycopg.connect(common.ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return sum(1 for row in rows if row[0])


class Chaos:
    """Kills at random moments of the stream, from its own thread."""

    def __init__(
        self,
        workers: common.Workers,
        redis_server: ThrowawayRedis,
        *,
        kills: int,
        terminations: int,
        redis_down: float,
        redis_freeze: float,
        database: str,
        duration: float,
        seed: int,
    ) -> None:
        self.workers = workers
        self.redis = redis_server
        self.database = database
        self.redis_down = redis_down
        self.redis_freeze = redis_freeze
        rng = random.Random(seed)
        self.moments = sorted(rng.uniform(0.05, 0.95) * duration for _ in range(kills))
        self.cuts = sorted(rng.uniform(0.05, 0.95) * duration for _ in range(terminations))
        self.redis_moment = rng.uniform(0.3, 0.6) * duration
        self.freeze_moment = rng.uniform(0.1, 0.25) * duration
        self.rng = rng
        self.log: list[str] = []
        self.terminated = 0
        self.redis_restarted_at = 0.0
        self.finished = threading.Event()  # every fault injected
        self.release = threading.Event()  # set by main at the end
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.started = time.perf_counter()
        self.thread.start()

    def _at(self, moment: float) -> None:
        delay = self.started + moment - time.perf_counter()
        if delay > 0:
            time.sleep(delay)

    def _run(self) -> None:
        try:
            self._inject()
        finally:
            self.finished.set()
        # The replacement workers and Redis die with the thread that started them (see
        # common.spawn): stay until main is done with them.
        self.release.wait()

    def _inject(self) -> None:
        events = [(moment, "kill", index) for index, moment in enumerate(self.moments)]
        events += [(moment, "cut", index) for index, moment in enumerate(self.cuts)]
        events.append((self.redis_moment, "redis", -1))
        if self.redis_freeze > 0:
            events.append((self.freeze_moment, "freeze", -1))
        for moment, what, index in sorted(events):
            self._at(moment)
            if what == "freeze":
                self.redis.freeze(self.redis_freeze)
                self.log.append(
                    f"{moment:5.1f} s: Redis frozen (SIGSTOP) for {self.redis_freeze:g} s, resumed"
                )
                continue
            if what == "redis":
                self.redis.kill()
                time.sleep(self.redis_down)
                self.redis.start()
                self.redis_restarted_at = time.perf_counter()
                self.log.append(
                    f"{moment:5.1f} s: Redis stopped, started again empty after "
                    f"{self.redis_down:g} s"
                )
                continue
            if what == "cut":
                ended = terminate_connections(self.database)
                self.terminated += ended
                self.log.append(f"{moment:5.1f} s: terminated {ended} database connections")
                continue
            # A worker still booting holds no task: wait (a few seconds at most) for one whose
            # pool is up, so that each kill can hit work in flight.
            ready: list[str] = []
            deadline = time.monotonic() + 15
            while not ready and time.monotonic() < deadline:
                ready = [
                    name
                    for name, p in self.workers.processes.items()
                    if p.poll() is None and self.workers.children(name)
                ]
                if not ready:
                    time.sleep(0.1)
            if not ready:
                self.log.append(f"{moment:5.1f} s: no worker ready, kill skipped")
                continue
            name = self.rng.choice(ready)
            children = self.workers.children(name)
            if index % 2 == 0 and children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(children[0], signal.SIGKILL)
                self.log.append(f"{moment:5.1f} s: killed the pool process of {name}")
                continue
            self.workers.kill(name)
            self.workers.start(1, wait=False)
            self.log.append(
                f"{moment:5.1f} s: killed worker {name} (main and pool), started another"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_size_arguments(parser)
    parser.add_argument("--ratings", type=int, default=2000, help="ratings in the stream")
    parser.add_argument("--rate", type=float, default=50, help="ratings per second")
    parser.add_argument("--kills", type=int, default=20, help="worker kills during the stream")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=1, help="pool size of each worker")
    parser.add_argument("--per-post", type=int, default=5, help="ratings per request")
    parser.add_argument("--teachers", type=int, default=20, help="teachers posting")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument(
        "--redis-port", type=int, default=0, help="the throwaway Redis (0: a free port)"
    )
    parser.add_argument(
        "--terminations", type=int, default=6, help="times every database connection is cut"
    )
    parser.add_argument("--redis-down", type=float, default=5.0, help="seconds Redis stays stopped")
    parser.add_argument(
        "--redis-freeze", type=float, default=5.0, help="seconds Redis hangs (SIGSTOP; 0: never)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed to converge")
    args = parser.parse_args()
    size = common.size_from(args)

    print(f"load average at start: {common.load_average()}")
    redis_server = ThrowawayRedis(args.redis_port)
    redis_server.start()
    web: common.Gunicorn | None = None
    beat: subprocess.Popen[bytes] | None = None
    workers: common.Workers | None = None
    chaos: Chaos | None = None
    try:
        prepared = common.prepare(size, redis_server.url, reload=args.reload)
        print(f"data: {size.fingerprint()} {prepared}")
        env = common.service_env(size.name, redis_server.url)
        print(f"records: {common.ensure_records(env)}")
        stream = common.RatingStream(
            port=0, database=size.name, size=size, teachers=args.teachers, seed=size.seed + 1
        )
        stream.retry_unavailable = 20
        posts = stream.plan(args.ratings, per_post=args.per_post)
        web = common.Gunicorn(env, workers=args.web_workers)
        stream.port = web.port
        workers = common.Workers(env, queues="mastery", concurrency=args.concurrency, tag="chaos")
        workers.start(args.workers)
        beat = common.start_beat(env)
        chaos = Chaos(
            workers, redis_server, kills=args.kills, terminations=args.terminations,
            redis_down=args.redis_down, redis_freeze=args.redis_freeze, database=size.name,
            duration=args.ratings / args.rate, seed=size.seed,
        )  # fmt: skip
        print(f"load average before the stream: {common.load_average()}")
        chaos.start()
        seconds = stream.run(args.rate)
        chaos.finished.wait()
        from django.db import connections

        connections.close_all()  # this process's own connection was cut with the others
        stream_end = time.perf_counter()
        waited = stream.wait_fresh(timeout=args.timeout)
        common.wait_until(
            lambda: common.stale_markers() == 0,
            timeout=max(1.0, args.timeout - waited),
            what="the last markers",
            step=0.5,
        )
        converged = time.perf_counter() - stream_end
        since_redis = time.perf_counter() - chaos.redis_restarted_at
    finally:
        common.stop_process(beat)
        if chaos is not None:
            chaos.release.set()
        if workers is not None:
            workers.stop()
        if web is not None:
            web.stop()
        redis_server.kill()

    from mastery.selectors import verify_mastery

    for line in chaos.log:
        print(line)
    for error in stream.errors[:5]:
        print(f"error: {error}")
    accepted = [p for p in posts if p.status == 201]
    lost = stream.pending()
    markers = common.stale_markers()
    # Sections are contiguous id ranges: chunks of one section read only that section.
    report = verify_mastery(batch=common.SECTION_SIZE, learner_ids=stream.touched_learners())
    latencies = [p.latency for p in accepted if p.updated == p.updated]
    # Sent -> answered per request (with any 503 sent again after 0.2 s): the web tier's wait.
    answered = [
        (group[0].answered - group[0].sent, group[0].sent - chaos.started)
        for group in stream.requests
        if group[0].status
    ]
    answers = [seconds for seconds, _ in answered]
    slowest = ", ".join(f"{s:.1f} s at {at:.1f} s" for s, at in sorted(answered)[::-1][:5])
    figures = [
        ("command", " ".join(["bench/chaos.py", *sys.argv[1:]])),
        ("stream", f"{len(posts):,} ratings in {seconds:.1f} s, {len(accepted):,} accepted"),
        ("faults", f"{sum('killed' in line for line in chaos.log)} worker kills"
                   f" ({sum('pool process' in line for line in chaos.log)} of a pool process),"
                   f" Redis frozen {args.redis_freeze:g} s once,"
                   f" Redis stopped {args.redis_down:g} s and restarted empty once,"
                   f" {args.terminations} cuts of every database connection"
                   f" ({chaos.terminated} connections ended)"),
        ("503 answers", f"{len(stream.unavailable)} (sent again after 0.2 s;"
                        f" {sum(stream.unavailable)} with Retry-After)"),
        ("servers", f"{args.workers} workers x {args.concurrency}, beat, gunicorn"
                    f" {args.web_workers}"),
        ("converged", f"{converged:.1f} s after the stream ended"
                      f" ({since_redis:.0f} s after Redis came back)"),
        ("POST answered in", f"p50 {common.percentile(answers, 50):.2f} s,"
                             f" p95 {common.percentile(answers, 95):.2f} s,"
                             f" max {common.percentile(answers, 100):.2f} s"),
        ("slowest POSTs", f"{slowest} (answer, sent at; faults' moments above)"),
        ("posted -> updated", f"p50 {common.percentile(latencies, 50):.2f} s,"
                              f" p95 {common.percentile(latencies, 95):.2f} s,"
                              f" max {common.percentile(latencies, 100):.2f} s"),
        ("records checked", f"{report.checked:,} (every record of the"
                            f" {len(stream.touched_learners()):,} learners touched)"),
    ]  # fmt: skip
    checks = [
        common.Check("lost ratings", str(len(lost)), "0", not lost),
        common.Check("markers left", str(markers), "0", markers == 0),
        common.Check("verify stale / wrong", f"{report.stale} / {report.wrong}", "0 / 0",
                     report.stale == 0 and report.wrong == 0),
        common.Check("POST errors", str(len(posts) - len(accepted)), "0",
                     len(accepted) == len(posts)),
        common.Check("503 without Retry-After",
                     str(len(stream.unavailable) - sum(stream.unavailable)), "0",
                     all(stream.unavailable)),
    ]  # fmt: skip
    common.print_summary("bench/chaos", figures, checks)


if __name__ == "__main__":
    main()
