"""Estimator disagreement: do the field's estimators agree on a learner's level? A pure function.

Pure Python, no Django, beside the engine (``mastery.rules``). Beside the policy's result, the
estimators schools and their tools use to turn a learner's ratings into one level are computed
on the same ratings: the mean (``average``), the most recent (``latest``), the most frequent
(``mode``), the decaying average (``decaying_average``, Canvas' standard one, weight 65) and
Marzano's power law (``power_law``), each with its default parameters and the policy's minimum
evidence. When the policy's own method is one of them, the policy's (with its parameters)
stands in for it.

A record is **flagged** ("the evidence is inconsistent: look again") when the estimators
disagree by a level or more: the lowest and highest of them reach levels at least one level
apart *and* their scores are at least one level's width apart (the smallest gap between two
adjacent cut points of the scale), so a 2.99 beside a 3.00 is not a disagreement. Nothing is
flagged while the policy gives no score (not assessed, insufficient evidence). ``bkt`` scores
a probability, not points: under a ``bkt`` policy only the other estimators are compared.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np
from numpy.typing import NDArray

from mastery import bulk, rules

FIELD_ESTIMATORS: Final = ("average", "latest", "mode", "decaying_average", "power_law")

LABELS: Final = {
    "highest": "Highest score",
    "latest": "Most recent score",
    "average": "Average",
    "mode": "Most frequent score",
    "n_times": "Mastered N times",
    "weighted_average": "Weighted average",
    "decaying_average": "Decaying average",
    "power_law": "Power law (trend)",
    "bkt": "Knowledge tracing",
}

FLAG_TEXT: Final = "The evidence is inconsistent: look again."


@dataclass(frozen=True)
class Estimate:
    """One estimator's result on the ratings: score and level (``None`` without a score)."""

    method: str
    label: str
    score: Decimal | None
    level: rules.Level | None
    policy: bool  # the policy's own method (with its parameters)


@dataclass(frozen=True)
class EstimatorComparison:
    """The estimators side by side, and whether they disagree by a level or more."""

    estimates: tuple[Estimate, ...]
    flagged: bool
    levels_apart: int
    spread: Decimal | None

    def as_json(self) -> dict[str, object]:
        return {
            "flagged": self.flagged,
            "levels_apart": self.levels_apart,
            "spread": None if self.spread is None else str(self.spread),
            "estimates": [
                {
                    "method": item.method,
                    "label": item.label,
                    "score": None if item.score is None else str(item.score),
                    "level": None if item.level is None else item.level.label,
                    "policy": item.policy,
                }
                for item in self.estimates
            ],
        }


def level_width(scale: rules.Scale) -> Decimal:
    """The smallest gap between two adjacent cut points (one level's width)."""
    cuts = [level.cut for level in scale.levels_by_cut]
    gaps = [high - low for low, high in itertools.pairwise(cuts)]
    return min(gaps) if gaps else Decimal(0)


def compare_estimators(
    ratings: Iterable[rules.Rating], policy: rules.Policy, scale: rules.Scale
) -> EstimatorComparison:
    """The policy's result and the field's estimators on the same ratings, and the flag.

    Raises ``RulesError`` for ratings the engine refuses (a score off the scale), as
    ``rules.evaluate`` does."""
    items = list(ratings)
    own = rules.evaluate(items, policy, scale)
    estimates = [_estimate(policy.method, own, True)]
    for method in FIELD_ESTIMATORS:
        if method == policy.method:
            continue
        other = rules.evaluate(items, rules.Policy(method, {}, policy.min_evidence), scale)
        estimates.append(_estimate(method, other, False))
    return _compare(tuple(estimates), scale, own.state == rules.SCORED)


def _estimate(method: str, result: rules.MasteryResult, policy: bool) -> Estimate:
    return Estimate(method, LABELS[method], result.score, result.level, policy)


def _compare(
    estimates: tuple[Estimate, ...], scale: rules.Scale, policy_scored: bool
) -> EstimatorComparison:
    on_points = [
        item
        for item in estimates
        if item.score is not None and item.level is not None and item.method != "bkt"
    ]
    if not policy_scored or len(on_points) < 2:
        return EstimatorComparison(estimates, False, 0, None)
    ordered = scale.levels_by_cut
    positions = [ordered.index(item.level) for item in on_points if item.level is not None]
    scores = [item.score for item in on_points if item.score is not None]
    apart = max(positions) - min(positions)
    spread = max(scores) - min(scores)
    flagged = apart >= 1 and spread >= level_width(scale)
    return EstimatorComparison(estimates, flagged, apart, spread)


def disagree_bulk(
    group_ids: NDArray[np.integer],
    scores: NDArray[np.floating],
    policy: rules.Policy,
    scale: rules.Scale,
    own: bulk.BulkResult | None = None,
) -> NDArray[np.bool_]:
    """:func:`compare_estimators`'s flag for many groups at once (the bulk recompute's path):
    one ``evaluate_bulk`` per estimator over the same rows (``group_ids`` non-decreasing, each
    group's scores oldest first). ``own``: the policy's result when the caller has it already.
    Equal, group by group, to ``compare_estimators(...).flagged`` (a property test checks it)."""
    if own is None:
        own = bulk.evaluate_bulk(group_ids, scores, policy, scale)
    results = [] if policy.method == "bkt" else [own]
    for method in FIELD_ESTIMATORS:
        if method != policy.method:
            other = rules.Policy(method, {}, policy.min_evidence)
            results.append(bulk.evaluate_bulk(group_ids, scores, other, scale))
    by_cut = scale.levels_by_cut
    rank_of = np.array([by_cut.index(level) for level in scale.levels], dtype=np.int64)
    hundredths = np.stack([r.score_hundredths for r in results], axis=1)
    levels = np.stack([r.level_index for r in results], axis=1).astype(np.int64)
    valid = (hundredths >= 0) & (levels >= 0)
    ranks = np.where(valid, rank_of[np.maximum(levels, 0)], 0)
    big = np.iinfo(np.int64).max
    apart = np.where(valid, ranks, -1).max(axis=1) - np.where(valid, ranks, big).min(axis=1)
    spread = np.where(valid, hundredths, -1).max(axis=1) - np.where(valid, hundredths, big).min(
        axis=1
    )
    width = math.ceil(level_width(scale) * 100)
    scored = own.state == rules.STATES.index(rules.SCORED)
    flagged: NDArray[np.bool_] = (
        scored & (valid.sum(axis=1) >= 2) & (apart >= 1) & (spread >= width)
    )
    return flagged
