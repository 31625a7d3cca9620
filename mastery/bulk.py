"""The bulk path of the mastery engine: many (learner, standard) groups at once, over numpy arrays.

For the workers' full recompute. Input: ``group_ids`` (one id per rating, non-decreasing, so
each group's ratings are contiguous) and ``scores`` (float64), with each group's ratings already
in the engine's order (demonstrated_at, then recorded_at, then id: the ``ORDER BY`` of the
streaming query). Output: a ``BulkResult`` with one row per group, equal to
``mastery.rules.evaluate`` on that group's ratings (``tests/mastery/test_bulk.py`` proves it on
random inputs).

How it stays identical to the exact per-record path:
- scores are read as whole ten-thousandths of a point; ``highest``, ``latest``, ``average``,
  ``mode``, ``n_times``, ``weighted_average`` and short ``decaying_average`` groups are computed
  in exact integer arithmetic and rounded half up in integers;
- ``power_law``, ``bkt`` and long ``decaying_average`` groups are floats; a group whose value
  lies within 1e-6 of a hundredth's rounding tie, or whose scores have more than 4 decimals, is
  recomputed by the exact per-record code (rare, so it costs nothing measurable).

No Django here: the workers feed it rows streamed from PostgreSQL in learner-range chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final

import numpy as np
from numpy.typing import NDArray

from mastery import rules
from mastery.rules import MethodParams, Policy, Rating, RulesError, Scale

UNITS: Final = 10_000
CHUNK_ROWS: Final = 1 << 18
_TIE: Final = 1e-6
_INT64_LIMIT: Final = 2**62

STATE_CODES: Final = rules.STATES
_INSUFFICIENT: Final = STATE_CODES.index(rules.INSUFFICIENT_EVIDENCE)
_SCORED: Final = STATE_CODES.index(rules.SCORED)

type IntArray = NDArray[np.int64]
type FloatArray = NDArray[np.float64]
type BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class BulkResult:
    """One row per group, in the order of the input groups.

    ``state`` holds codes into ``STATE_CODES``; ``score_hundredths`` is the rounded score times
    100 (-1 when there is no score); ``level_index`` indexes ``scale.levels`` (-1 when no level);
    ``p_known``/``p_next`` are NaN unless the method is ``bkt``.
    """

    group_ids: IntArray
    evidence_count: IntArray
    state: NDArray[np.int8]
    score_hundredths: IntArray
    level_index: NDArray[np.int16]
    mastered: BoolArray
    p_known: FloatArray
    p_next: FloatArray

    def __len__(self) -> int:
        return int(self.group_ids.shape[0])

    def score(self, row: int) -> Decimal | None:
        """The rounded score of one group as a ``Decimal`` (what ``evaluate`` gives)."""
        value = int(self.score_hundredths[row])
        return None if value < 0 else Decimal(value).scaleb(-2)

    def state_name(self, row: int) -> str:
        return STATE_CODES[int(self.state[row])]


@dataclass
class _Scores:
    """What a kernel returns for every group: rounded score, whether there is one, and which
    groups must be recomputed exactly."""

    hundredths: IntArray
    has: BoolArray
    recheck: BoolArray
    p_known: FloatArray | None = None
    p_next: FloatArray | None = None


@dataclass(frozen=True)
class _Groups:
    starts: IntArray
    counts: IntArray
    position: IntArray  # 1-based position of each rating in its group
    group_of_row: IntArray


def _ceil_units(value: Fraction) -> int:
    scaled = value * UNITS
    return -((-scaled.numerator) // scaled.denominator)


def _ceil_hundredths(value: Decimal) -> int:
    scaled = Fraction(value) * 100
    return -((-scaled.numerator) // scaled.denominator)


def _round_units(units: IntArray) -> IntArray:
    """Half-up hundredths of whole ten-thousandths (all values are non-negative)."""
    return (units + 50) // 100


def _round_ratio(numerator: IntArray, denominator: IntArray) -> IntArray:
    """Half-up hundredths of numerator / denominator ten-thousandths, in integers."""
    return (2 * numerator + 100 * denominator) // (200 * denominator)


def _round_float(points: FloatArray) -> tuple[IntArray, BoolArray]:
    """Half-up hundredths of float points, and where the float is too close to a tie to trust."""
    scaled = points * 100
    rounded = np.floor(scaled + 0.5)
    near_tie = np.abs(scaled - np.floor(scaled) - 0.5) < _TIE
    return rounded.astype(np.int64), near_tie


def _average(units: IntArray, groups: _Groups) -> _Scores:
    total = np.add.reduceat(units, groups.starts)
    counts = groups.counts
    hundredths = _round_ratio(total, counts)
    size = counts.shape[0]
    return _Scores(hundredths, np.ones(size, bool), np.zeros(size, bool))


def _highest(units: IntArray, groups: _Groups) -> _Scores:
    size = groups.counts.shape[0]
    best = np.maximum.reduceat(units, groups.starts)
    return _Scores(_round_units(best), np.ones(size, bool), np.zeros(size, bool))


def _latest(units: IntArray, groups: _Groups) -> _Scores:
    size = groups.counts.shape[0]
    last = units[groups.starts + groups.counts - 1]
    return _Scores(_round_units(last), np.ones(size, bool), np.zeros(size, bool))


def _mode(units: IntArray, groups: _Groups) -> _Scores:
    size = groups.counts.shape[0]
    rows = units.shape[0]
    # Sort each group's rows by value; rows are already grouped, so the key is nearly sorted.
    key = groups.group_of_row * (int(units.max()) + 1) + units
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    run_start = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    run_end = np.r_[run_start[1:], rows]
    # The stable sort keeps time order inside a run: its last row is the value's latest rating.
    run_last = order[run_end - 1]
    run_count = run_end - run_start
    # Per group: the most frequent value, ties to the one rated most recently, packed in one int.
    packed = run_count * rows + run_last
    run_group = groups.group_of_row[run_last]
    group_first_run = np.flatnonzero(np.r_[True, run_group[1:] != run_group[:-1]])
    best = np.maximum.reduceat(packed, group_first_run)
    chosen = units[best % rows]
    return _Scores(_round_units(chosen), np.ones(size, bool), np.zeros(size, bool))


def _n_times(units: IntArray, groups: _Groups, params: MethodParams) -> _Scores:
    counted = units >= _ceil_units(params.threshold)
    number = np.add.reduceat(counted.astype(np.int64), groups.starts)
    total = np.add.reduceat(np.where(counted, units, 0), groups.starts)
    has = number >= params.n
    hundredths = np.where(has, _round_ratio(total, np.maximum(number, 1)), -1)
    return _Scores(hundredths, has, np.zeros(has.shape[0], bool))


def _weighted_average(units: IntArray, groups: _Groups, params: MethodParams) -> _Scores:
    size = groups.counts.shape[0]
    weight = params.weight
    last = units[groups.starts + groups.counts - 1]
    previous = np.add.reduceat(units, groups.starts) - last
    earlier = np.maximum(groups.counts - 1, 1)
    numerator = weight * last * earlier + (100 - weight) * previous
    hundredths = np.where(
        groups.counts == 1, _round_units(last), _round_ratio(numerator, 100 * earlier)
    )
    return _Scores(hundredths, np.ones(size, bool), np.zeros(size, bool))


def _decaying_exact_limit(max_units: int) -> int:
    """The longest group whose scaled decaying average fits in int64."""
    length = 1
    while 2 * max(max_units, 1) * 100**length + 100 ** (length + 1) < _INT64_LIMIT:
        length += 1
    return length


def _decaying_average(
    units: IntArray, scores: FloatArray, groups: _Groups, params: MethodParams
) -> _Scores:
    size = groups.counts.shape[0]
    weight = params.weight
    count_of_row = groups.counts[groups.group_of_row]
    position = groups.position
    limit = _decaying_exact_limit(int(units.max()) if units.shape[0] else 0)
    short_row = count_of_row <= limit
    # Exact: d_n * 100^(n-1) = (100-W)^(n-1) x1 + sum_k W (100-W)^(n-k) 100^(k-2) xk.
    keep_pow = np.array([(100 - weight) ** j for j in range(limit + 1)], dtype=np.int64)
    hundred_pow = np.array([100**j for j in range(limit + 1)], dtype=np.int64)
    n_short = np.where(short_row, count_of_row, 1)
    k_short = np.where(short_row, position, 1)
    coefficient = np.where(
        k_short == 1,
        keep_pow[n_short - 1],
        weight * keep_pow[n_short - k_short] * hundred_pow[np.maximum(k_short - 2, 0)],
    )
    contribution = np.where(short_row, coefficient * units, 0)
    scaled = np.add.reduceat(contribution, groups.starts)
    short_group = groups.counts <= limit
    n_group = np.where(short_group, groups.counts, 1)
    denominator = hundred_pow[n_group]
    exact = (2 * scaled + denominator) // (2 * denominator)
    hundredths = np.where(short_group, exact, 0)
    recheck = np.zeros(size, bool)
    long_group = np.flatnonzero(~short_group)
    if long_group.shape[0]:
        # Floats for the long groups (rare), checked near rounding ties.
        w = weight / 100
        rows = np.flatnonzero(~short_row)
        n = count_of_row[rows].astype(np.float64)
        k = position[rows].astype(np.float64)
        factor = np.where(k == 1, (1 - w) ** (n - 1), w * (1 - w) ** (n - k))
        long_starts = np.r_[0, np.cumsum(groups.counts[long_group])[:-1]]
        value = np.add.reduceat(factor * scores[rows], long_starts)
        approx, near_tie = _round_float(value)
        hundredths[long_group] = approx
        recheck[long_group] = near_tie
    return _Scores(hundredths, np.ones(size, bool), recheck)


def _power_law(
    units: IntArray, scores: FloatArray, groups: _Groups, params: MethodParams
) -> _Scores:
    counts = groups.counts
    fitted = counts >= params.min_points
    average = _average(units, groups)
    log_x = np.log(groups.position.astype(np.float64))
    log_y = np.log(np.maximum(scores, float(params.floor)))
    sx = np.add.reduceat(log_x, groups.starts)
    sy = np.add.reduceat(log_y, groups.starts)
    sxx = np.add.reduceat(log_x * log_x, groups.starts)
    sxy = np.add.reduceat(log_x * log_y, groups.starts)
    n = counts.astype(np.float64)
    spread = n * sxx - sx * sx
    slope = (n * sxy - sx * sy) / np.where(fitted, spread, 1.0)
    intercept = (sy - slope * sx) / n
    at = n if params.evaluate_at == "last" else n + 1
    raw = np.exp(intercept + slope * np.log(at))
    value = np.clip(raw, float(params.scale_min), float(params.scale_max))
    approx, near_tie = _round_float(value)
    hundredths = np.where(fitted, approx, average.hundredths)
    return _Scores(hundredths, np.ones(counts.shape[0], bool), fitted & near_tie)


def _bkt(units: IntArray, groups: _Groups, params: MethodParams) -> _Scores:
    correct = units >= _ceil_units(params.threshold)
    counts = groups.counts
    size = counts.shape[0]
    by_length = np.argsort(-counts, kind="stable")
    sorted_counts = counts[by_length]
    guess, slip, learn = params.p_guess, params.p_slip, params.p_learn
    # The same float operations, in the same order, as rules.bkt_step: results are bit-identical.
    keep_if_right, miss_if_known, miss_if_unknown = 1 - slip, slip, 1 - guess
    before = np.full(size, params.p_init)
    posterior = np.full(size, params.p_init)
    longest = int(sorted_counts[0]) if size else 0
    for step in range(longest):
        active = by_length[: int(np.searchsorted(-sorted_counts, -step, side="left"))]
        p = before[active]
        right = correct[groups.starts[active] + step]
        evidence_right = p * keep_if_right
        evidence_wrong = p * miss_if_known
        post = np.where(
            right,
            evidence_right / (evidence_right + (1 - p) * guess),
            evidence_wrong / (evidence_wrong + (1 - p) * miss_if_unknown),
        )
        posterior[active] = post
        before[active] = post + (1 - post) * learn
    hundredths, near_tie = _round_float(posterior)
    return _Scores(hundredths, np.ones(size, bool), near_tie, posterior, before)


def _validate(group_ids: object, scores: object, scale: Scale) -> tuple[IntArray, FloatArray]:
    if not isinstance(group_ids, np.ndarray) or not isinstance(scores, np.ndarray):
        raise RulesError("group_ids and scores: must be numpy arrays")
    if group_ids.ndim != 1 or scores.ndim != 1:
        raise RulesError("group_ids and scores: must be one-dimensional")
    if group_ids.shape != scores.shape:
        raise RulesError(
            f"group_ids and scores: lengths differ ({group_ids.shape[0]} and {scores.shape[0]})"
        )
    if not np.issubdtype(group_ids.dtype, np.integer):
        raise RulesError(f"group_ids: must be integers, got {group_ids.dtype}")
    if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(
        scores.dtype, np.complexfloating
    ):
        raise RulesError(f"scores: must be real numbers, got {scores.dtype}")
    ids = group_ids.astype(np.int64, copy=False)
    values = scores.astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.shape[0]:
        raise RulesError(f"scores: row {int(bad[0])} is not a finite number")
    outside = np.flatnonzero((values < float(scale.low)) | (values > float(scale.high)))
    if outside.shape[0]:
        row = int(outside[0])
        raise RulesError(
            f"scores: row {row} score {float(values[row])!r} is outside the scale "
            f"{scale.low}..{scale.high}"
        )
    unsorted = np.flatnonzero(ids[1:] < ids[:-1])
    if unsorted.shape[0]:
        raise RulesError(
            f"group_ids: must be non-decreasing (row {int(unsorted[0]) + 1} goes back)"
        )
    return ids, values


def _exact_group(params: MethodParams, scores: FloatArray) -> rules.CalculationResult:
    ratings = [Rating(score=Decimal(repr(float(x))), id=i) for i, x in enumerate(scores)]
    return rules.calculate_with(params, ratings)


def evaluate_bulk(
    group_ids: NDArray[np.integer],
    scores: NDArray[np.floating],
    policy: Policy,
    scale: Scale,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> BulkResult:
    """Evaluate every group of ratings under one policy and scale.

    ``group_ids`` must be non-decreasing and each group's scores ordered oldest first by the
    engine's ordering keys. Every score must lie on the scale. Raises ``RulesError`` naming the
    first bad row. Results equal ``mastery.rules.evaluate`` on each group. Works through the
    rows in chunks of about ``chunk_rows`` that end on a group boundary.
    """
    if chunk_rows < 1:
        raise RulesError(f"chunk_rows: must be at least 1, got {chunk_rows}")
    ids, values = _validate(group_ids, scores, scale)
    params = policy.resolve(scale)
    total_rows = ids.shape[0]
    if total_rows <= chunk_rows:
        return _evaluate_chunk(ids, values, params, scale)
    # Chunks that end on a group boundary keep the temporaries in cache: about 3x faster than
    # one pass over 10 M rows, and memory stays flat.
    parts = []
    start = 0
    while start < total_rows:
        end = min(start + chunk_rows, total_rows)
        end = int(np.searchsorted(ids, ids[end - 1], side="right"))
        parts.append(_evaluate_chunk(ids[start:end], values[start:end], params, scale))
        start = end
    return BulkResult(
        *(np.concatenate([getattr(part, name) for part in parts]) for name in _FIELDS)
    )


_FIELDS: Final = (
    "group_ids",
    "evidence_count",
    "state",
    "score_hundredths",
    "level_index",
    "mastered",
    "p_known",
    "p_next",
)


def _evaluate_chunk(
    ids: IntArray, values: FloatArray, params: MethodParams, scale: Scale
) -> BulkResult:
    total_rows = ids.shape[0]
    if total_rows == 0:
        empty_i = np.zeros(0, np.int64)
        empty_f = np.zeros(0, np.float64)
        return BulkResult(
            empty_i, empty_i, np.zeros(0, np.int8), empty_i, np.zeros(0, np.int16),
            np.zeros(0, bool), empty_f, empty_f,
        )  # fmt: skip
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]).astype(np.int64)
    counts = np.diff(np.r_[starts, total_rows]).astype(np.int64)
    group_of_row = np.repeat(np.arange(starts.shape[0], dtype=np.int64), counts)
    position = np.arange(total_rows, dtype=np.int64) - starts[group_of_row] + 1
    groups = _Groups(starts, counts, position, group_of_row)

    scaled = values * UNITS
    units = np.rint(scaled).astype(np.int64)
    inexact_row = np.abs(scaled - units) > _TIE
    inexact_group = np.add.reduceat(inexact_row.astype(np.int64), starts) > 0

    method = params.method
    if method == "highest":
        result = _highest(units, groups)
    elif method == "latest":
        result = _latest(units, groups)
    elif method == "average":
        result = _average(units, groups)
    elif method == "mode":
        result = _mode(units, groups)
    elif method == "n_times":
        result = _n_times(units, groups, params)
    elif method == "weighted_average":
        result = _weighted_average(units, groups, params)
    elif method == "decaying_average":
        result = _decaying_average(units, values, groups, params)
    elif method == "power_law":
        result = _power_law(units, values, groups, params)
    else:
        result = _bkt(units, groups, params)

    size = starts.shape[0]
    enough = counts >= params.min_evidence
    hundredths = result.hundredths.copy()
    has = result.has & enough
    p_known = result.p_known.copy() if result.p_known is not None else np.full(size, np.nan)
    p_next = result.p_next.copy() if result.p_next is not None else np.full(size, np.nan)
    for row in np.flatnonzero((result.recheck | inexact_group) & enough):
        start, count = int(starts[row]), int(counts[row])
        exact = _exact_group(params, values[start : start + count])
        has[row] = exact.score is not None
        hundredths[row] = -1 if exact.score is None else int(exact.score.scaleb(2))
        if exact.p_known is not None and exact.p_next is not None:
            p_known[row], p_next[row] = exact.p_known, exact.p_next
    hundredths = np.where(has, hundredths, -1)
    if method != "bkt":
        p_known[~enough] = np.nan
        p_next[~enough] = np.nan
    else:
        p_known = np.where(enough, p_known, np.nan)
        p_next = np.where(enough, p_next, np.nan)

    level_index, mastered = _levels(hundredths, has, p_known, params, scale)
    state = np.where(has, _SCORED, _INSUFFICIENT).astype(np.int8)
    return BulkResult(
        group_ids=ids[starts],
        evidence_count=counts,
        state=state,
        score_hundredths=hundredths,
        level_index=level_index,
        mastered=mastered,
        p_known=p_known,
        p_next=p_next,
    )


def _levels(
    hundredths: IntArray, has: BoolArray, p_known: FloatArray, params: MethodParams, scale: Scale
) -> tuple[NDArray[np.int16], BoolArray]:
    index_of = {id(level): i for i, level in enumerate(scale.levels)}
    if params.method == "bkt":
        with np.errstate(invalid="ignore"):
            mastered = has & (p_known >= params.mastery_probability)
        up = index_of[id(scale.mastery_level())]
        down = index_of[id(scale.below_mastery_level())]
        level = np.where(mastered, up, down)
        return np.where(has, level, -1).astype(np.int16), mastered
    ordered = scale.levels_by_cut
    cuts = np.array([_ceil_hundredths(level.cut) for level in ordered], dtype=np.int64)
    to_scale = np.array([index_of[id(level)] for level in ordered], dtype=np.int64)
    place = np.maximum(np.searchsorted(cuts, hundredths, side="right") - 1, 0)
    level = np.where(has, to_scale[place], -1).astype(np.int16)
    mastered = has & (hundredths >= _ceil_hundredths(scale.mastery_threshold))
    return level, mastered


__all__ = ["STATE_CODES", "BulkResult", "evaluate_bulk"]
