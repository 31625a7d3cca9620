"""Benchmark of the mastery engine's bulk path (``mastery.bulk.evaluate_bulk``).

Generates 10 million synthetic ratings in memory (100,000 learners x 40 standards, 1 + Poisson(1.5)
ratings per pair, about 2.5 on average: 4 million groups), then times every method over all of
them, plus two references measured in the same run (wall times drift on shared machines, so
compare ratios): a plain Python loop over an ordered stream (the decaying average, on a slice) and
the numpy floor (one ``np.add.reduceat`` over the same rows). Also times the decaying average in
learner-range chunks of about 250,000 ratings, the way the workers feed it.

    .venv/bin/python bench/engine.py            # the full 10 M ratings
    .venv/bin/python bench/engine.py --learners 10000   # a quick run
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mastery.bulk import evaluate_bulk  # noqa: E402
from mastery.rules import DEFAULT_SCALE, Policy  # noqa: E402

POLICIES = [
    Policy("decaying_average", {"weight": 65}),
    Policy("weighted_average", {"weight": 65}),
    Policy("highest"),
    Policy("latest"),
    Policy("average"),
    Policy("mode"),
    Policy("n_times", {"n": 2}),
    Policy("power_law"),
    Policy("bkt", {"p_init": 0.4, "p_learn": 0.1, "p_guess": 0.2, "p_slip": 0.1}),
]


def synthetic(learners: int, standards: int, seed: int = 2026) -> tuple[np.ndarray, np.ndarray]:
    """Group ids (learner * standards + standard) and scores, ordered as the query streams them."""
    rng = np.random.default_rng(seed)
    groups = learners * standards
    counts = 1 + rng.poisson(1.5, groups)
    group_ids = np.repeat(np.arange(groups, dtype=np.int64), counts)
    levels = np.array([1.0, 2.0, 2.5, 3.0, 3.5, 4.0])
    scores = levels[rng.integers(0, levels.shape[0], group_ids.shape[0])]
    return group_ids, scores


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def python_loop_rate(group_ids: np.ndarray, scores: np.ndarray, rows: int) -> float:
    """Ratings per second of a plain Python loop computing the decaying average per group."""
    ids = group_ids[:rows].tolist()
    values = scores[:rows].tolist()

    def loop() -> None:
        results = {}
        current, value = None, 0.0
        for group, score in zip(ids, values, strict=True):
            if group != current:
                if current is not None:
                    results[current] = round(value, 2)
                current, value = group, score
            else:
                value = 0.35 * value + 0.65 * score
        results[current] = round(value, 2)

    return rows / timed(loop)


def chunked(group_ids: np.ndarray, scores: np.ndarray, policy: Policy, size: int) -> int:
    """Evaluate in chunks that end on a group boundary, as learner-range chunks do."""
    total, start, rows = 0, 0, group_ids.shape[0]
    while start < rows:
        end = min(start + size, rows)
        while end < rows and group_ids[end] == group_ids[end - 1]:
            end += 1
        total += len(evaluate_bulk(group_ids[start:end], scores[start:end], policy, DEFAULT_SCALE))
        start = end
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--standards", type=int, default=40)
    parser.add_argument("--chunk", type=int, default=250_000, help="ratings per chunk")
    args = parser.parse_args()

    started = time.perf_counter()
    group_ids, scores = synthetic(args.learners, args.standards)
    rows = int(group_ids.shape[0])
    groups = args.learners * args.standards
    print(
        f"{rows:,} ratings in {groups:,} (learner, standard) groups, "
        f"generated in {time.perf_counter() - started:.1f} s"
    )

    loop_rows = min(rows, 2_000_000)
    loop_rate = python_loop_rate(group_ids, scores, loop_rows)
    floor_rate = rows / timed(lambda: np.add.reduceat(scores, np.flatnonzero(np.diff(group_ids))))
    print(f"reference: plain Python loop (decaying average) {loop_rate / 1e6:6.2f} M ratings/s")
    print(f"reference: numpy floor (one reduceat)           {floor_rate / 1e6:6.2f} M ratings/s")
    print()
    print(f"{'method':18} {'seconds':>8} {'M ratings/s':>12} {'x Python loop':>14}")
    for policy in POLICIES:
        seconds = timed(lambda p=policy: evaluate_bulk(group_ids, scores, p, DEFAULT_SCALE))
        rate = rows / seconds
        print(f"{policy.method:18} {seconds:8.2f} {rate / 1e6:12.2f} {rate / loop_rate:14.1f}")

    policy = POLICIES[0]
    seconds = timed(lambda: chunked(group_ids, scores, policy, args.chunk))
    rate = rows / seconds
    print(
        f"\ndecaying_average in chunks of ~{args.chunk:,} ratings: {seconds:.2f} s, "
        f"{rate / 1e6:.2f} M ratings/s ({rate / loop_rate:.1f}x the Python loop)"
    )
    print(f"total bench time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
