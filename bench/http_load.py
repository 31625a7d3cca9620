"""Benchmark of the pages under load: the section grid and the learner page, served by gunicorn.

On the synthetic state (``bench/common.py``; loaded unless present, every record computed),
gunicorn serves the platform on loopback with production settings (debug off, sync workers) and
wrk drives each page with a signed-in teacher's session (signed in through the real login
form): ``--connections`` connections for ``--seconds`` seconds each, after a short warm-up,
``--runs`` times in a row (three by default: the targets must hold in each). The reference in
the same run is ``/healthz`` (a request that reaches the database and the broker and renders
nothing). Prints requests per second, p50 / p95 / p99, errors, gunicorn CPU and the load
average per page and run. Targets (issue 21): grid p95 <= 100 ms, learner page p95 <= 250 ms at
8 connections, in every run.

    .venv/bin/python bench/http_load.py                                # 8 connections, 60 s
    .venv/bin/python bench/http_load.py --learners 2000 --seconds 10   # a smoke run

wrk is Debian's package ``wrk``: installed here with apt-get when missing and run as root,
otherwise the script stops saying how to install it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Run as a script: import the helpers as bench.common from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

# wrk's Lua hooks: send the session cookie, print the latency percentiles (microseconds) and
# every kind of error as one JSON line at the end.
WRK_SCRIPT = """
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE") or ""
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK {"requests": %d, "seconds": %.3f, "p50": %d, "p95": %d, "p99": %d, "max": %d,'
    .. ' "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is missing: install Debian's package (sudo apt-get install wrk), then rerun")
    print("wrk is missing: installing Debian's package wrk with apt-get")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("could not install wrk with apt-get")
    return found


def run_wrk(
    wrk: str, url: str, cookie: str, *, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        result = subprocess.run(
            [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
             "--timeout", "10s", "-s", script.name, url],
            env={**os.environ, "BENCH_COOKIE": f"sessionid={cookie}"},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        os.unlink(script.name)
    line = next(x for x in result.stdout.splitlines() if x.startswith("WRK "))
    figures: dict[str, Any] = json.loads(line[4:])
    figures["rps"] = figures["requests"] / figures["seconds"]
    figures["errors"] = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    return figures


def check_page(port: int, path: str, cookie: str, expect: str) -> int:
    """GET the page once; it must answer 200 and contain ``expect``. Returns its size."""
    status, _, body = common.request("GET", port, path, headers={"Cookie": f"sessionid={cookie}"})
    if status != 200 or expect.encode() not in body:
        raise RuntimeError(f"GET {path} answered {status} without {expect!r}")
    return len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_size_arguments(parser)
    parser.add_argument("--seconds", type=float, default=60, help="seconds per page")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of warm-up per page")
    parser.add_argument("--runs", type=int, default=3, help="consecutive runs of every page")
    args = parser.parse_args()
    size = common.size_from(args)
    wrk = ensure_wrk()

    print(f"load average at start: {common.load_average()}")
    prepared = common.prepare(size, common.REDIS_URL, reload=args.reload)
    print(f"data: {size.fingerprint()} {prepared}")
    common.flush_redis(common.REDIS_URL)
    env = common.service_env(size.name, common.REDIS_URL)
    print(f"records: {common.ensure_records(env)}")
    seconds, _ = common.timed(common.analyze_derived_tables)
    print(f"ANALYZE of the records, events and markers tables: {seconds:.1f} s")
    common.collectstatic(size.name)

    section = size.sections // 2 + 1
    learner = common.section_learners(section, size.learners)[0]
    pages = [
        ("healthz (reference)", "/healthz", '"status"'),
        ("section grid", f"/mastery/sections/{section}/grid/", f"/mastery/learners/{learner}/"),
        ("learner page", f"/mastery/learners/{learner}/", "5.M.1"),
    ]
    web = common.Gunicorn(env, workers=args.web_workers)
    runs: list[dict[str, dict[str, Any]]] = []
    try:
        cookie = common.login(web.port, f"bench-teacher-{section}")
        sizes = {path: check_page(web.port, path, cookie, expect) for _, path, expect in pages}
        for run in range(1, args.runs + 1):
            results: dict[str, dict[str, Any]] = {}
            for name, path, _expect in pages:
                url = f"http://127.0.0.1:{web.port}{path}"
                if args.warmup > 0:
                    run_wrk(wrk, url, cookie, seconds=args.warmup, connections=args.connections,
                            threads=args.threads)  # fmt: skip
                cpu = web.cpu_seconds()
                figures = run_wrk(wrk, url, cookie, seconds=args.seconds,
                                  connections=args.connections, threads=args.threads)  # fmt: skip
                figures["cpu_ms"] = (web.cpu_seconds() - cpu) / max(figures["requests"], 1) * 1000
                figures["bytes"] = sizes[path]
                figures["load"] = common.load_average()
                results[name] = figures
                print(
                    f"run {run}, {name} {path}: {figures['rps']:.1f} requests/s, p50"
                    f" {figures['p50'] / 1000:.1f} ms, p95 {figures['p95'] / 1000:.1f} ms, p99"
                    f" {figures['p99'] / 1000:.1f} ms, errors {figures['errors']},"
                    f" {sizes[path]:,} bytes, gunicorn CPU {figures['cpu_ms']:.1f} ms per request,"
                    f" load average {figures['load']}",
                    flush=True,
                )
            runs.append(results)
        grid_page = common.request(
            "GET", web.port, pages[1][1], headers={"Cookie": f"sessionid={cookie}"}
        )[2]
        cells = len(re.findall(rb"/mastery/learners/\d+/standards/\d+/", grid_page))
    finally:
        web.stop()

    figures_out = [
        ("command", " ".join(["bench/http_load.py", *sys.argv[1:]])),
        ("servers", f"gunicorn {args.web_workers} sync workers; wrk -t{args.threads}"
                    f" -c{args.connections} -d{args.seconds:g}s, {args.runs} consecutive runs"),
        ("grid size", f"{cells} cells (section {section})"),
    ]  # fmt: skip
    for run, results in enumerate(runs, 1):
        floor = results["healthz (reference)"]
        for name, figures in results.items():
            figures_out.append(
                (f"run {run}: {name}",
                 f"{figures['rps']:.1f} req/s, p50 {figures['p50'] / 1000:.0f} ms,"
                 f" p95 {figures['p95'] / 1000:.0f} ms ({figures['p95'] / floor['p95']:.1f}x"
                 f" healthz), p99 {figures['p99'] / 1000:.0f} ms, {figures['errors']} errors;"
                 f" {figures['cpu_ms']:.0f} ms CPU per request; load {figures['load']}")
            )  # fmt: skip
    errors = sum(f["errors"] for results in runs for f in results.values())
    checks = []
    for name, key, target in (("grid", "section grid", 100), ("learner page", "learner page", 250)):
        worst = max(results[key]["p95"] / 1000 for results in runs)
        all_p95 = ", ".join(f"{results[key]['p95'] / 1000:.0f}" for results in runs)
        checks.append(
            common.Check(f"{name} p95, worst of {len(runs)}", f"{worst:.0f} ms ({all_p95})",
                         f"<= {target} ms", worst <= target, f"{worst - target:.0f} ms")
        )  # fmt: skip
    checks.append(common.Check("errors", str(errors), "0", errors == 0))
    common.print_summary("bench/http_load", figures_out, checks)


if __name__ == "__main__":
    main()
