"""The mastery engine: one learner's ratings on one standard in, a score, state and level out.

Pure Python, no Django: the workers, the what-if preview and the command line all call it. The
rules are those of ``../shared/PRODUCT.md`` ("Mastery states and methods"); the decisions behind
them are in ``docs/decisions/0002-mastery-rules.md``.

Public API
----------
- ``Rating(score, demonstrated_at, recorded_at, id)``: one teacher rating. ``score`` is a
  ``Decimal`` (or ``int``/``float``; a float is read as its shortest ``repr``). Ratings are ordered
  by ``demonstrated_at``, then ``recorded_at``, then ``id`` (a missing time sorts first).
- ``Level(points, label, cut_point=None)`` and ``Scale(levels, mastery_threshold, min_points=None,
  max_points=None)``; ``DEFAULT_SCALE`` is 4 Advanced, 3 Proficient, 2 Developing, 1 Beginning with
  mastery at 3. ``Scale.level_for(score)`` is the highest level whose cut point is at or below the
  score (the lowest level when the score is below every cut point).
- ``Policy(method, params={}, min_evidence=1)``: validated when built.
- ``calculate(method, ratings, **params) -> CalculationResult`` (``score`` a ``Decimal`` rounded to
  2 places half up, or ``None``; ``state``; ``explanation``; ``p_known``/``p_next`` for ``bkt``).
- ``evaluate(ratings, policy, scale) -> MasteryResult`` (adds ``level``, ``mastered`` and
  ``evidence_count``; ``explanation`` is a JSON-serialisable dict).
- ``CALCULATION_VERSION``: bumped whenever any result could change; stored with every record.
- Roll-ups for groupings: ``rollup_all_mastered``, ``rollup_share_mastered``,
  ``rollup_lowest_level``, ``rollup_points`` over ``ChildMastery`` values.
- ``mastery.bkt.fit_bkt(sequence_ids, correct)``: EM fit of P(L0), P(T), P(G), P(S) per standard.
- ``mastery.bulk.evaluate_bulk(group_ids, scores, policy, scale)``: the full-recompute path over
  numpy arrays, identical to ``evaluate`` per group.

Every bad input raises ``RulesError`` (a ``ValueError``) whose message names the field or rating.

Command line (the administrators' what-if calculator)::

    python -m mastery.rules decaying_average 2 3 4 --weight 65
    python -m mastery.rules bkt 0 1 1 --threshold 1 --p-init 0.4 --p-learn 0.1 \\
        --p-guess 0.2 --p-slip 0.1
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Final

CALCULATION_VERSION: Final = "1"

METHODS: Final = (
    "highest",
    "latest",
    "average",
    "mode",
    "n_times",
    "weighted_average",
    "decaying_average",
    "power_law",
    "bkt",
)

NOT_ASSESSED: Final = "not_assessed"
INSUFFICIENT_EVIDENCE: Final = "insufficient_evidence"
SCORED: Final = "scored"
STATES: Final = (NOT_ASSESSED, INSUFFICIENT_EVIDENCE, SCORED)

ORDERING: Final = "demonstrated_at, then recorded_at, then id"

# Which parameters each method takes; min_evidence applies to all of them.
METHOD_PARAMS: Final[Mapping[str, frozenset[str]]] = {
    "highest": frozenset(),
    "latest": frozenset(),
    "average": frozenset(),
    "mode": frozenset(),
    "n_times": frozenset({"n", "threshold"}),
    "weighted_average": frozenset({"weight"}),
    "decaying_average": frozenset({"weight"}),
    "power_law": frozenset({"evaluate_at", "min_points", "floor", "scale_min", "scale_max"}),
    "bkt": frozenset(
        {"threshold", "p_init", "p_learn", "p_guess", "p_slip", "mastery_probability"}
    ),
}

# Placeholders until a standard's parameters are fitted with mastery.bkt.fit_bkt; not from a study.
BKT_DEFAULTS: Final = {"p_init": 0.4, "p_learn": 0.1, "p_guess": 0.2, "p_slip": 0.1}


class RulesError(ValueError):
    """A bad input to the engine. The message names the parameter, field or rating."""


type Number = Decimal | float | int


@dataclass(frozen=True, slots=True)
class Rating:
    """One teacher rating of one piece of evidence against one standard."""

    score: Number
    demonstrated_at: datetime | None = None
    recorded_at: datetime | None = None
    id: int = 0


@dataclass(frozen=True, slots=True)
class Level:
    """A level of the proficiency scale; the cut point defaults to the level's points."""

    points: Decimal
    label: str
    cut_point: Decimal | None = None

    @property
    def cut(self) -> Decimal:
        return self.points if self.cut_point is None else self.cut_point


@dataclass(frozen=True)
class Scale:
    """Ordered levels with points and cut points, the mastery threshold and the score range."""

    levels: tuple[Level, ...]
    mastery_threshold: Decimal
    min_points: Decimal | None = None
    max_points: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.levels:
            raise RulesError("scale: at least one level is needed")
        for index, level in enumerate(self.levels):
            for name, value in (("points", level.points), ("cut_point", level.cut_point)):
                if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
                    raise RulesError(f"scale: level {index + 1} {name} must be a finite Decimal")
        by_points = sorted(self.levels, key=lambda level: level.points)
        for lower, upper in itertools.pairwise(by_points):
            if lower.points == upper.points:
                raise RulesError(f"scale: two levels have {upper.points} points")
            if lower.cut >= upper.cut:
                raise RulesError(
                    f"scale: cut points must rise with the points "
                    f"({lower.label!r} {lower.cut} >= {upper.label!r} {upper.cut})"
                )
        if self.min_points is None:
            object.__setattr__(self, "min_points", by_points[0].points)
        if self.max_points is None:
            object.__setattr__(self, "max_points", by_points[-1].points)
        if not self.low <= by_points[0].points or not by_points[-1].points <= self.high:
            raise RulesError("scale: every level's points must lie within min_points..max_points")
        if not self.low <= self.mastery_threshold <= self.high:
            raise RulesError("scale: mastery_threshold must lie within min_points..max_points")

    @property
    def low(self) -> Decimal:
        assert self.min_points is not None  # set in __post_init__
        return self.min_points

    @property
    def high(self) -> Decimal:
        assert self.max_points is not None  # set in __post_init__
        return self.max_points

    @property
    def levels_by_cut(self) -> tuple[Level, ...]:
        return tuple(sorted(self.levels, key=lambda level: level.cut))

    def level_for(self, score: Decimal) -> Level:
        """The highest level whose cut point is at or below ``score``, else the lowest level."""
        ordered = self.levels_by_cut
        chosen = ordered[0]
        for level in ordered:
            if level.cut <= score:
                chosen = level
        return chosen

    def mastery_level(self) -> Level:
        """The lowest level at or above the mastery threshold (the level a ``bkt`` mastery gets)."""
        ordered = self.levels_by_cut
        for level in ordered:
            if level.cut >= self.mastery_threshold:
                return level
        return ordered[-1]

    def below_mastery_level(self) -> Level:
        """The highest level below the mastery threshold, else the lowest level."""
        below = [level for level in self.levels_by_cut if level.cut < self.mastery_threshold]
        return below[-1] if below else self.levels_by_cut[0]

    def as_json(self) -> dict[str, Any]:
        return {
            "levels": [
                {"points": str(level.points), "label": level.label, "cut_point": str(level.cut)}
                for level in self.levels_by_cut
            ],
            "mastery_threshold": str(self.mastery_threshold),
            "min_points": str(self.low),
            "max_points": str(self.high),
        }


DEFAULT_SCALE: Final = Scale(
    levels=(
        Level(Decimal(4), "Advanced"),
        Level(Decimal(3), "Proficient"),
        Level(Decimal(2), "Developing"),
        Level(Decimal(1), "Beginning"),
    ),
    mastery_threshold=Decimal(3),
)


@dataclass(frozen=True)
class MethodParams:
    """A method's parameters after validation, with every default filled in."""

    method: str
    min_evidence: int = 1
    weight: int = 65
    n: int = 3
    threshold: Fraction = Fraction(3)
    evaluate_at: str = "last"
    min_points: int = 3
    floor: Fraction = Fraction(1, 2)
    scale_min: Fraction = Fraction(1)
    scale_max: Fraction = Fraction(4)
    p_init: float = BKT_DEFAULTS["p_init"]
    p_learn: float = BKT_DEFAULTS["p_learn"]
    p_guess: float = BKT_DEFAULTS["p_guess"]
    p_slip: float = BKT_DEFAULTS["p_slip"]
    mastery_probability: float = 0.95

    def as_json(self) -> dict[str, Any]:
        """The parameters the method used, as they appear in an explanation."""
        names = sorted(METHOD_PARAMS[self.method] | {"min_evidence"})
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            out[name] = _fmt(value) if isinstance(value, Fraction) else value
        return out


@dataclass(frozen=True)
class Policy:
    """A calculation policy: the method, its parameters and the minimum evidence."""

    method: str
    params: Mapping[str, object] = field(default_factory=dict)
    min_evidence: int = 1

    def __post_init__(self) -> None:
        if "min_evidence" in self.params:
            raise RulesError("policy: give min_evidence as Policy.min_evidence, not in params")
        for name in ("scale_min", "scale_max"):
            if name in self.params:
                raise RulesError(f"policy: {name} comes from the scale, not from the policy")
        parse_params(self.method, min_evidence=self.min_evidence, **self.params)

    def resolve(self, scale: Scale) -> MethodParams:
        """The parameters with the scale's defaults: threshold and range."""
        params: dict[str, object] = dict(self.params)
        if self.method in ("n_times", "bkt"):
            params.setdefault("threshold", scale.mastery_threshold)
        if self.method == "power_law":
            params["scale_min"] = scale.low
            params["scale_max"] = scale.high
        return parse_params(self.method, min_evidence=self.min_evidence, **params)


@dataclass(frozen=True)
class CalculationResult:
    """What ``calculate`` returns; ``value`` is the exact (or float) value before rounding."""

    score: Decimal | None
    state: str
    explanation: dict[str, Any]
    value: Fraction | float | None = None
    p_known: float | None = None
    p_next: float | None = None


@dataclass(frozen=True)
class MasteryResult:
    """What ``evaluate`` returns: the mastery record's computed fields."""

    score: Decimal | None
    state: str
    level: Level | None
    mastered: bool
    evidence_count: int
    explanation: dict[str, Any]
    p_known: float | None = None
    p_next: float | None = None


# ---------------------------------------------------------------------------------------------
# Validation and conversion


def to_fraction(value: object, what: str) -> Fraction:
    """An exact, finite, non-negative number; a float is read as its shortest ``repr``."""
    if isinstance(value, bool):
        raise RulesError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, int):
        result = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise RulesError(f"{what}: must be finite, got {value!r}")
        result = Fraction(Decimal(repr(value)))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise RulesError(f"{what}: must be finite, got {value}")
        result = Fraction(value)
    elif isinstance(value, Fraction):
        result = value
    elif isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise RulesError(f"{what}: {value!r} is not a number") from None
        if not parsed.is_finite():
            raise RulesError(f"{what}: must be finite, got {value!r}")
        result = Fraction(parsed)
    else:
        raise RulesError(f"{what}: expected a number, got {type(value).__name__}")
    if result < 0:
        raise RulesError(f"{what}: must be at least 0, got {_fmt(result)}")
    return result


def _int_param(name: str, value: object, low: int, high: int | None = None) -> int:
    number = to_fraction(value, name) if not isinstance(value, int) else Fraction(value)
    if isinstance(value, bool) or number.denominator != 1:
        raise RulesError(f"{name}: must be a whole number, got {value!r}")
    result = int(number)
    if result < low or (high is not None and result > high):
        bound = f"{low}..{high}" if high is not None else f"at least {low}"
        raise RulesError(f"{name}: must be {bound}, got {result}")
    return result


def _probability(name: str, value: object, *, open_low: bool, open_high: bool) -> float:
    if isinstance(value, bool):
        raise RulesError(f"{name}: expected a probability, got {value!r}")
    result = value if isinstance(value, float) else float(to_fraction(value, name))
    if not math.isfinite(result):
        raise RulesError(f"{name}: must be finite, got {value!r}")
    too_low = result <= 0 if open_low else result < 0
    too_high = result >= 1 if open_high else result > 1
    if too_low or too_high:
        interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise RulesError(f"{name}: must be in {interval}, got {value!r}")
    return result


def parse_params(method: str, **params: object) -> MethodParams:
    """Validate a method's parameters; raises ``RulesError`` naming the first bad one."""
    if method not in METHOD_PARAMS:
        raise RulesError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    allowed = METHOD_PARAMS[method] | {"min_evidence"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        takes = ", ".join(sorted(METHOD_PARAMS[method])) or "no parameters"
        raise RulesError(f"{unknown[0]}: {method} does not take it ({method} takes {takes})")
    values: dict[str, Any] = {"method": method}
    if "min_evidence" in params:
        values["min_evidence"] = _int_param("min_evidence", params["min_evidence"], 1)
    if "weight" in params:
        low = 50 if method == "decaying_average" else 1
        values["weight"] = _int_param("weight", params["weight"], low, 99)
    if "n" in params:
        values["n"] = _int_param("n", params["n"], 1)
    if "threshold" in params:
        values["threshold"] = to_fraction(params["threshold"], "threshold")
    if "evaluate_at" in params:
        if params["evaluate_at"] not in ("last", "next"):
            raise RulesError(
                f"evaluate_at: must be 'last' or 'next', got {params['evaluate_at']!r}"
            )
        values["evaluate_at"] = params["evaluate_at"]
    if "min_points" in params:
        values["min_points"] = _int_param("min_points", params["min_points"], 2)
    if "floor" in params:
        values["floor"] = to_fraction(params["floor"], "floor")
        if values["floor"] == 0:
            raise RulesError("floor: must be greater than 0 (ln 0 is undefined)")
    for name in ("scale_min", "scale_max"):
        if name in params:
            values[name] = to_fraction(params[name], name)
    for name in ("p_init", "p_learn"):
        if name in params:
            values[name] = _probability(name, params[name], open_low=False, open_high=False)
    for name in ("p_guess", "p_slip"):
        if name in params:
            values[name] = _probability(name, params[name], open_low=True, open_high=True)
    if "mastery_probability" in params:
        values["mastery_probability"] = _probability(
            "mastery_probability", params["mastery_probability"], open_low=True, open_high=False
        )
    result = MethodParams(**values)
    if result.scale_min >= result.scale_max:
        raise RulesError("scale_min: must be below scale_max")
    if result.p_guess + result.p_slip >= 1:
        raise RulesError(
            "p_guess: p_guess + p_slip must be below 1 (else a correct answer is evidence "
            "against knowing)"
        )
    return result


def order_ratings(ratings: Iterable[Rating]) -> list[Rating]:
    """Ratings oldest first: by demonstrated_at, then recorded_at, then id."""
    items = list(ratings)
    for rating in items:
        if not isinstance(rating, Rating):
            raise RulesError(f"ratings: expected Rating values, got {type(rating).__name__}")
    try:
        return sorted(
            items,
            key=lambda r: (
                r.demonstrated_at is not None,
                r.demonstrated_at or 0,
                r.recorded_at is not None,
                r.recorded_at or 0,
                r.id,
            ),
        )
    except TypeError:
        raise RulesError(
            "ratings: times mix timezone-aware and naive datetimes, or ids are not comparable"
        ) from None


# ---------------------------------------------------------------------------------------------
# Exact formatting and rounding


def _fmt(value: Fraction | float | Decimal | int) -> str:
    """A number as an exact decimal string, or 12 decimals and an ellipsis when it recurs."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (Decimal, int)):
        value = Fraction(value)
    denominator = value.denominator
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    if denominator == 1:
        places = max(twos, fives)
        scaled = value * 10**places
        text = str(Decimal(scaled.numerator).scaleb(-places))
        if "E" in text:
            text = format(Decimal(scaled.numerator).scaleb(-places), "f")
        return text
    approx = round_half_up(value, places=12)
    return f"{approx}…"


def round_half_up(value: Fraction | Decimal | float, places: int = 2) -> Decimal:
    """Round half up to ``places`` decimals, exactly: ``round(4.125, 2)`` gives 4.12, this 4.13.

    Works on the exact value (a float is taken at its exact binary value), so it equals
    ``Decimal(exact).quantize(Decimal("0.01"), ROUND_HALF_UP)`` for the non-negative scores here.
    """
    exact = value if isinstance(value, Fraction) else Fraction(value)
    scaled = exact * 10**places + Fraction(1, 2)
    whole = scaled.numerator // scaled.denominator
    return Decimal(whole).scaleb(-places)


# ---------------------------------------------------------------------------------------------
# The methods. Each takes the ordered scores and returns a value and the arithmetic.


@dataclass
class _Outcome:
    value: Fraction | float | None
    formula: str
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    p_known: float | None = None
    p_next: float | None = None


def _join(scores: Sequence[Fraction]) -> str:
    return ", ".join(_fmt(s) for s in scores)


def _mean(scores: Sequence[Fraction]) -> Fraction:
    return sum(scores, Fraction(0)) / len(scores)


def _highest(scores: list[Fraction], p: MethodParams) -> _Outcome:
    value = max(scores)
    return _Outcome(value, f"max({_join(scores)}) = {_fmt(value)}")


def _latest(scores: list[Fraction], p: MethodParams) -> _Outcome:
    value = scores[-1]
    return _Outcome(value, f"x{len(scores)} (the most recent of {_join(scores)}) = {_fmt(value)}")


def _average_outcome(scores: Sequence[Fraction]) -> _Outcome:
    value = _mean(scores)
    terms = " + ".join(_fmt(s) for s in scores)
    return _Outcome(value, f"({terms}) / {len(scores)} = {_fmt(value)}")


def _average(scores: list[Fraction], p: MethodParams) -> _Outcome:
    return _average_outcome(scores)


def _mode(scores: list[Fraction], p: MethodParams) -> _Outcome:
    counts: dict[Fraction, int] = {}
    last_seen: dict[Fraction, int] = {}
    for position, score in enumerate(scores):
        counts[score] = counts.get(score, 0) + 1
        last_seen[score] = position
    top = max(counts.values())
    tied = [score for score, count in counts.items() if count == top]
    value = max(tied, key=lambda score: last_seen[score])
    tally = ", ".join(f"{_fmt(s)} ({c} times)" for s, c in sorted(counts.items()))
    formula = f"counts: {tally}; most frequent = {_fmt(value)}"
    notes = []
    if len(tied) > 1:
        names = ", ".join(_fmt(s) for s in sorted(tied))
        notes.append(f"tie between {names}: the most recent of them, {_fmt(value)}, wins")
    return _Outcome(value, formula, notes=notes)


def _n_times(scores: list[Fraction], p: MethodParams) -> _Outcome:
    counted = [s for s in scores if s >= p.threshold]
    described = f"scores at or above {_fmt(p.threshold)}: {_join(counted) or 'none'}"
    if len(counted) < p.n:
        return _Outcome(
            None,
            f"{described} ({len(counted)} of the {p.n} needed)",
            notes=[f"fewer than {p.n} scores at or above {_fmt(p.threshold)}: no score yet"],
        )
    mean = _average_outcome(counted)
    return _Outcome(mean.value, f"{described}; {mean.formula}")


def _weighted_average(scores: list[Fraction], p: MethodParams) -> _Outcome:
    if len(scores) == 1:
        return _Outcome(scores[0], f"one score: x1 = {_fmt(scores[0])}")
    w = Fraction(p.weight, 100)
    previous = scores[:-1]
    mean = _mean(previous)
    value = w * scores[-1] + (1 - w) * mean
    terms = " + ".join(_fmt(s) for s in previous)
    formula = (
        f"{_fmt(w)} * {_fmt(scores[-1])} + {_fmt(1 - w)} * ({terms}) / {len(previous)}"
        f" = {_fmt(w)} * {_fmt(scores[-1])} + {_fmt(1 - w)} * {_fmt(mean)} = {_fmt(value)}"
    )
    return _Outcome(value, formula)


def _decaying_average(scores: list[Fraction], p: MethodParams) -> _Outcome:
    w = Fraction(p.weight, 100)
    value = scores[0]
    steps = [f"d1 = x1 = {_fmt(value)}"]
    for k, score in enumerate(scores[1:], start=2):
        new = (1 - w) * value + w * score
        steps.append(
            f"d{k} = {_fmt(1 - w)} * {_fmt(value)} + {_fmt(w)} * {_fmt(score)} = {_fmt(new)}"
        )
        value = new
    formula = f"dk = {_fmt(1 - w)} * d(k-1) + {_fmt(w)} * xk; d{len(scores)} = {_fmt(value)}"
    return _Outcome(value, formula, steps=steps)


def _power_law(scores: list[Fraction], p: MethodParams) -> _Outcome:
    n = len(scores)
    if n < p.min_points:
        mean = _average_outcome(scores)
        mean.notes.append(
            f"power_law needs at least {p.min_points} scores, {n} given: fell back to average"
        )
        return mean
    notes = []
    floor = float(p.floor)
    ys = [float(s) for s in scores]
    if any(y < floor for y in ys):
        notes.append(
            f"scores below {_fmt(p.floor)} were fitted as {_fmt(p.floor)} "
            "(ln 0 is undefined; the zero rule)"
        )
    ys = [max(y, floor) for y in ys]
    a, b = power_law_fit(ys)
    at = n if p.evaluate_at == "last" else n + 1
    raw = math.exp(a + b * math.log(at))
    low, high = float(p.scale_min), float(p.scale_max)
    value = min(max(raw, low), high)
    if value != raw:
        notes.append(f"{raw!r} is outside the scale {_fmt(p.scale_min)}..{_fmt(p.scale_max)}")
    formula = (
        f"least squares of ln(score) on ln(position 1..{n}): ln(score) = {a!r} + {b!r} * "
        f"ln(position); read at position {at} ({p.evaluate_at}): exp({a!r} + {b!r} * ln {at})"
        f" = {raw!r}"
    )
    if value != raw:
        formula += f", capped to {value!r}"
    return _Outcome(value, formula, notes=notes)


def power_law_fit(ys: Sequence[float]) -> tuple[float, float]:
    """Intercept and slope of the least-squares line of ln(y) on ln(position 1..n)."""
    n = len(ys)
    lx = [math.log(k) for k in range(1, n + 1)]
    ly = [math.log(y) for y in ys]
    sx = math.fsum(lx)
    sy = math.fsum(ly)
    sxx = math.fsum(x * x for x in lx)
    sxy = math.fsum(x * y for x, y in zip(lx, ly, strict=True))
    slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    intercept = (sy - slope * sx) / n
    return intercept, slope


def bkt_step(p_known: float, correct: bool, guess: float, slip: float) -> float:
    """P(known | this observation) from P(known) before it (Corbett and Anderson, 1995)."""
    if correct:
        evidence = p_known * (1 - slip)
        return evidence / (evidence + (1 - p_known) * guess)
    evidence = p_known * slip
    return evidence / (evidence + (1 - p_known) * (1 - guess))


def bkt_forward(
    observations: Iterable[bool], p_init: float, p_learn: float, p_guess: float, p_slip: float
) -> tuple[float, float, float]:
    """(P(known) before the last observation, after it, and at the next opportunity).

    Standard BKT without forgetting, as pyBKT fits it: the prior is P(L0); after each
    observation the posterior is learned with P(T): p' = post + (1 - post) * P(T).
    """
    before = last_before = posterior = p_init
    for correct in observations:
        posterior = bkt_step(before, correct, p_guess, p_slip)
        nxt = posterior + (1 - posterior) * p_learn
        last_before, before = before, nxt
    return last_before, posterior, before


def _bkt(scores: list[Fraction], p: MethodParams) -> _Outcome:
    steps = []
    before = p.p_init
    posterior = p.p_init
    for k, score in enumerate(scores, start=1):
        correct = score >= p.threshold
        posterior = bkt_step(before, correct, p.p_guess, p.p_slip)
        nxt = posterior + (1 - posterior) * p.p_learn
        verdict = "correct" if correct else "incorrect"
        steps.append(
            f"x{k} = {_fmt(score)} ({verdict}): P(L) {before!r} -> posterior {posterior!r}"
            f" -> next {nxt!r}"
        )
        before = nxt
    formula = (
        f"a score at or above {_fmt(p.threshold)} is correct; posterior = P(L)(1-S)/(P(L)(1-S)"
        f" + (1-P(L))G) if correct, P(L)S/(P(L)S + (1-P(L))(1-G)) if not; next = posterior +"
        f" (1 - posterior) * T; P(L0) = {p.p_init!r}, T = {p.p_learn!r}, G = {p.p_guess!r},"
        f" S = {p.p_slip!r}; P(known) after x{len(scores)} = {posterior!r}"
    )
    return _Outcome(posterior, formula, steps=steps, p_known=posterior, p_next=before)


_METHODS: Final = {
    "highest": _highest,
    "latest": _latest,
    "average": _average,
    "mode": _mode,
    "n_times": _n_times,
    "weighted_average": _weighted_average,
    "decaying_average": _decaying_average,
    "power_law": _power_law,
    "bkt": _bkt,
}


# ---------------------------------------------------------------------------------------------
# The entry points


def _inputs_json(ordered: Sequence[Rating], scores: Sequence[Fraction]) -> list[dict[str, Any]]:
    return [
        {
            "position": position,
            "id": rating.id,
            "score": _fmt(score),
            "demonstrated_at": None
            if rating.demonstrated_at is None
            else rating.demonstrated_at.isoformat(),
            "recorded_at": None if rating.recorded_at is None else rating.recorded_at.isoformat(),
        }
        for position, (rating, score) in enumerate(zip(ordered, scores, strict=True), start=1)
    ]


def calculate_with(params: MethodParams, ratings: Iterable[Rating]) -> CalculationResult:
    """``calculate`` with parameters already validated by ``parse_params``."""
    ordered = order_ratings(ratings)
    scores = [to_fraction(r.score, f"rating {r.id}: score") for r in ordered]
    explanation: dict[str, Any] = {
        "calculation_version": CALCULATION_VERSION,
        "method": params.method,
        "params": params.as_json(),
        "ordering": ORDERING,
        "inputs": _inputs_json(ordered, scores),
    }
    if not scores:
        explanation.update(state=NOT_ASSESSED, score=None, notes=["no teacher ratings"])
        return CalculationResult(None, NOT_ASSESSED, explanation)
    if len(scores) < params.min_evidence:
        explanation.update(
            state=INSUFFICIENT_EVIDENCE,
            score=None,
            notes=[f"{len(scores)} ratings, the policy needs at least {params.min_evidence}"],
        )
        return CalculationResult(None, INSUFFICIENT_EVIDENCE, explanation)
    outcome = _METHODS[params.method](scores, params)
    explanation["formula"] = outcome.formula
    if outcome.steps:
        explanation["steps"] = outcome.steps
    explanation["notes"] = outcome.notes
    if outcome.value is None:
        explanation.update(state=INSUFFICIENT_EVIDENCE, score=None)
        return CalculationResult(None, INSUFFICIENT_EVIDENCE, explanation)
    score = round_half_up(outcome.value)
    exact = _fmt(outcome.value)
    explanation["value"] = exact
    explanation["rounding"] = f"{exact} rounded half up to 2 decimals = {score}"
    explanation.update(state=SCORED, score=str(score))
    if outcome.p_known is not None:
        explanation["p_known"] = outcome.p_known
        explanation["p_next"] = outcome.p_next
    return CalculationResult(
        score, SCORED, explanation, outcome.value, outcome.p_known, outcome.p_next
    )


def calculate(method: str, ratings: Iterable[Rating], **params: object) -> CalculationResult:
    """Score one learner's ratings on one standard with ``method``.

    ``params`` are the method's parameters (see ``METHOD_PARAMS``) and ``min_evidence``. The
    result's ``score`` is rounded to 2 decimals half up, or ``None`` when the state is
    ``not_assessed`` (no ratings) or ``insufficient_evidence`` (fewer than ``min_evidence``
    ratings, or ``n_times`` without N qualifying scores). Raises ``RulesError`` on bad input.
    """
    return calculate_with(parse_params(method, **params), ratings)


def level_and_mastery(
    score: Decimal | None, p_known: float | None, params: MethodParams, scale: Scale
) -> tuple[Level | None, bool]:
    """The level and mastered flag of a score (``bkt``: of P(known)) on the scale."""
    if score is None:
        return None, False
    if params.method == "bkt":
        assert p_known is not None
        mastered = p_known >= params.mastery_probability
        return (scale.mastery_level() if mastered else scale.below_mastery_level()), mastered
    return scale.level_for(score), score >= scale.mastery_threshold


def evaluate(ratings: Iterable[Rating], policy: Policy, scale: Scale) -> MasteryResult:
    """The mastery record of one learner on one standard under a policy and a scale.

    Every score must lie on the scale (``RulesError`` names the rating otherwise). The level is
    the highest level whose cut point is at or below the rounded score; ``mastered`` is true when
    the rounded score reaches the scale's mastery threshold (``bkt``: when P(known) reaches the
    policy's ``mastery_probability``, the level being the scale's mastery level or the one below).
    """
    params = policy.resolve(scale)
    items = list(ratings)
    for rating in items:
        score = to_fraction(rating.score, f"rating {rating.id}: score")
        if not scale.low <= score <= scale.high:
            raise RulesError(
                f"rating {rating.id}: score {_fmt(score)} is outside the scale "
                f"{scale.low}..{scale.high}"
            )
    result = calculate_with(params, items)
    level, mastered = level_and_mastery(result.score, result.p_known, params, scale)
    explanation = dict(result.explanation)
    explanation["scale"] = scale.as_json()
    explanation["evidence_count"] = len(items)
    explanation["level"] = (
        None if level is None else {"points": str(level.points), "label": level.label}
    )
    explanation["mastered"] = mastered
    return MasteryResult(
        score=result.score,
        state=result.state,
        level=level,
        mastered=mastered,
        evidence_count=len(items),
        explanation=explanation,
        p_known=result.p_known,
        p_next=result.p_next,
    )


# ---------------------------------------------------------------------------------------------
# Roll-ups for groupings (domains, clusters)


@dataclass(frozen=True, slots=True)
class ChildMastery:
    """A child standard's computed mastery, as a grouping's roll-up reads it."""

    standard_id: int | str
    state: str
    mastered: bool
    level: Level | None = None


@dataclass(frozen=True)
class RollupResult:
    """A grouping's rolled-up mastery and how it was reached."""

    state: str
    mastered: bool
    level: Level | None
    explanation: dict[str, Any]


def _check_children(children: Sequence[ChildMastery], rule: str) -> None:
    if not children:
        raise RulesError(f"{rule}: a grouping needs at least one child standard")
    seen: set[int | str] = set()
    for child in children:
        if child.state not in STATES:
            raise RulesError(f"child {child.standard_id}: unknown state {child.state!r}")
        if child.standard_id in seen:
            raise RulesError(f"child {child.standard_id}: listed twice")
        seen.add(child.standard_id)


def _rollup_state(children: Sequence[ChildMastery]) -> str:
    if all(child.state == NOT_ASSESSED for child in children):
        return NOT_ASSESSED
    return SCORED


def _rollup_explanation(
    rule: str, children: Sequence[ChildMastery], **extra: Any
) -> dict[str, Any]:
    return {
        "calculation_version": CALCULATION_VERSION,
        "rule": rule,
        "children": [
            {"standard_id": c.standard_id, "state": c.state, "mastered": c.mastered}
            for c in children
        ],
        **extra,
    }


def rollup_all_mastered(children: Sequence[ChildMastery]) -> RollupResult:
    """Mastered when every child is mastered."""
    _check_children(children, "all_mastered")
    count = sum(child.mastered for child in children)
    mastered = count == len(children)
    explanation = _rollup_explanation(
        "all_mastered", children, formula=f"{count} of {len(children)} children mastered"
    )
    return RollupResult(_rollup_state(children), mastered, None, explanation)


def rollup_share_mastered(children: Sequence[ChildMastery], share: Number) -> RollupResult:
    """Mastered when at least ``share`` (0 < share <= 1) of the children are mastered."""
    _check_children(children, "share_mastered")
    needed = to_fraction(share, "share")
    if not 0 < needed <= 1:
        raise RulesError(f"share: must be in (0, 1], got {_fmt(needed)}")
    count = sum(child.mastered for child in children)
    reached = Fraction(count, len(children))
    mastered = reached >= needed
    explanation = _rollup_explanation(
        "share_mastered",
        children,
        formula=f"{count} / {len(children)} = {_fmt(reached)} against {_fmt(needed)} needed",
    )
    return RollupResult(_rollup_state(children), mastered, None, explanation)


def rollup_lowest_level(children: Sequence[ChildMastery], scale: Scale) -> RollupResult:
    """The lowest child level; no level while any child has none. Mastered by the scale."""
    _check_children(children, "lowest_level")
    missing = [child.standard_id for child in children if child.level is None]
    if missing:
        state = _rollup_state(children)
        state = NOT_ASSESSED if state == NOT_ASSESSED else INSUFFICIENT_EVIDENCE
        explanation = _rollup_explanation(
            "lowest_level", children, formula=f"children without a level: {missing}"
        )
        return RollupResult(state, False, None, explanation)
    levels = [child.level for child in children if child.level is not None]
    lowest = min(levels, key=lambda level: level.points)
    mastered = lowest.cut >= scale.mastery_threshold
    explanation = _rollup_explanation(
        "lowest_level",
        children,
        formula=f"min level = {lowest.label} ({lowest.points}) against mastery at "
        f"{scale.mastery_threshold}",
    )
    return RollupResult(SCORED, mastered, lowest, explanation)


def rollup_points(
    children: Sequence[ChildMastery],
    points: Mapping[Any, int],
    required: Iterable[Any],
    points_required: int,
) -> RollupResult:
    """Moodle's points rule: every required child mastered, and the mastered children's points
    reach ``points_required`` (``core_competency\\competency_rule_points``)."""
    _check_children(children, "points")
    ids = {child.standard_id for child in children}
    required_ids = set(required)
    for standard_id in sorted(set(points) - ids, key=str):
        raise RulesError(f"points: {standard_id} is not a child of the grouping")
    for standard_id in sorted(required_ids - ids, key=str):
        raise RulesError(f"required: {standard_id} is not a child of the grouping")
    total = 0
    for child in children:
        if child.standard_id not in points:
            raise RulesError(f"points: child {child.standard_id} has no points")
        value = _int_param(f"points of {child.standard_id}", points[child.standard_id], 0)
        total += value
    needed = _int_param("points_required", points_required, 1)
    if needed > total:
        raise RulesError(f"points_required: {needed} is more than all children give ({total})")
    earned = sum(points[c.standard_id] for c in children if c.mastered)
    unmet = sorted(
        (c.standard_id for c in children if c.standard_id in required_ids and not c.mastered),
        key=str,
    )
    mastered = not unmet and earned >= needed
    explanation = _rollup_explanation(
        "points",
        children,
        formula=f"{earned} points of {needed} needed; required children not mastered: "
        f"{unmet or 'none'}",
    )
    return RollupResult(_rollup_state(children), mastered, None, explanation)


# ---------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mastery.rules",
        description="Compute a mastery score from scores given oldest first, and explain it. "
        "Prints one JSON object.",
    )
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("scores", nargs="+", metavar="SCORE", help="scores, oldest first")
    parser.add_argument("--weight", help="weighted_average 1..99, decaying_average 50..99 (65)")
    parser.add_argument("--n", help="n_times: how many scores at or above the threshold (3)")
    parser.add_argument("--threshold", help="n_times and bkt: the counting score (3)")
    parser.add_argument("--evaluate-at", choices=("last", "next"), help="power_law (last)")
    parser.add_argument("--min-points", help="power_law: fewest scores to fit (3)")
    parser.add_argument("--floor", help="power_law: scores below it are fitted as it (0.5)")
    parser.add_argument("--scale-min", help="power_law: lowest score of the scale (1)")
    parser.add_argument("--scale-max", help="power_law: highest score of the scale (4)")
    parser.add_argument("--min-evidence", help="fewest ratings before a score is given (1)")
    parser.add_argument("--p-init", help="bkt: P(L0)")
    parser.add_argument("--p-learn", help="bkt: P(T)")
    parser.add_argument("--p-guess", help="bkt: P(G)")
    parser.add_argument("--p-slip", help="bkt: P(S)")
    parser.add_argument("--mastery-probability", help="bkt: P(known) that counts as mastered")
    return parser


_CLI_PARAMS: Final = (
    "weight",
    "n",
    "threshold",
    "evaluate_at",
    "min_points",
    "floor",
    "scale_min",
    "scale_max",
    "min_evidence",
    "p_init",
    "p_learn",
    "p_guess",
    "p_slip",
    "mastery_probability",
)


def main(argv: Sequence[str] | None = None) -> int:
    """The what-if calculator; exit 2 with a message on bad arguments."""
    parser = _parser()
    args = parser.parse_args(argv)
    params: dict[str, object] = {
        name: getattr(args, name) for name in _CLI_PARAMS if getattr(args, name) is not None
    }
    try:
        ratings = [
            Rating(score=to_fraction_decimal(text, f"score {position}"), id=position)
            for position, text in enumerate(args.scores, start=1)
        ]
        result = calculate(args.method, ratings, **params)
    except RulesError as error:
        parser.error(str(error))
    out: dict[str, Any] = {
        "score": None if result.score is None else str(result.score),
        "state": result.state,
        "explanation": result.explanation,
    }
    if args.method == "bkt":
        out["p_known"] = result.p_known
        out["p_next"] = result.p_next
    sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return 0


def to_fraction_decimal(text: str, what: str) -> Decimal:
    """A command-line score as a Decimal, validated like any other score."""
    to_fraction(text, what)
    return Decimal(text.strip())


if __name__ == "__main__":
    raise SystemExit(main())
