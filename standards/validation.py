"""Plain validation of proficiency scales and calculation policies (no database).

The rules mirror ``../shared/PRODUCT.md`` and the mastery engine's parameter names, so a
policy stored here is always one the engine accepts. Each function returns the cleaned values
and every problem found (never only the first), each naming its field.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from standards.importers.base import CEDS_GRADE_LEVELS, Problem

METHODS = (
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
METHOD_PARAMS: dict[str, frozenset[str]] = {
    "highest": frozenset(),
    "latest": frozenset(),
    "average": frozenset(),
    "mode": frozenset(),
    "n_times": frozenset({"n", "threshold"}),
    "weighted_average": frozenset({"weight"}),
    "decaying_average": frozenset({"weight"}),
    "power_law": frozenset({"evaluate_at", "min_points", "floor"}),
    "bkt": frozenset(
        {"threshold", "p_init", "p_learn", "p_guess", "p_slip", "mastery_probability"}
    ),
}
ROLLUP_RULES = ("all_mastered", "share_mastered", "lowest_level", "points")
ROLLUP_PARAMS: dict[str, frozenset[str]] = {
    "all_mastered": frozenset(),
    "share_mastered": frozenset({"share"}),
    "lowest_level": frozenset(),
    "points": frozenset({"points_required", "points", "required"}),
}
MAX_MIN_EVIDENCE = 100

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MIN_LEVELS, MAX_LEVELS = 2, 10
MAX_POINTS = Decimal(100)

GRADE_LEVELS = CEDS_GRADE_LEVELS


def _decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a number or numeric string; None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _json_number(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


# --- Scales --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelInput:
    points: Any
    label: Any
    colour: Any
    cut_point: Any = None
    description: Any = ""


@dataclass(frozen=True)
class CleanLevel:
    points: Decimal
    label: str
    colour: str
    cut_point: Decimal
    description: str


def validate_scale(
    levels: Sequence[LevelInput], mastery_threshold: Any
) -> tuple[list[CleanLevel], Decimal | None, list[Problem]]:
    """Checks a scale: 2-10 levels with unique points (0-100, at most 2 decimals) and unique
    labels, colours as ``#rrggbb``, cut points (default: the points) rising with the points, and
    the mastery threshold within the levels' range. Returns levels highest first."""
    problems: list[Problem] = []
    if not MIN_LEVELS <= len(levels) <= MAX_LEVELS:
        problems.append(Problem("levels", "", f"a scale has {MIN_LEVELS} to {MAX_LEVELS} levels"))
    clean: list[CleanLevel] = []
    for index, level in enumerate(levels):
        where = f"levels[{index}]"
        before = len(problems)
        points = _decimal(level.points)
        if points is None:
            problems.append(Problem(where, "points", "must be a number"))
        elif not Decimal(0) <= points <= MAX_POINTS or points != round(points, 2):
            problems.append(
                Problem(where, "points", "must be between 0 and 100 with at most 2 decimals")
            )
        label = level.label.strip() if isinstance(level.label, str) else ""
        if not label:
            problems.append(Problem(where, "label", "is required: colour is never the only signal"))
        elif len(label) > 50:
            problems.append(Problem(where, "label", "is at most 50 characters"))
        colour = level.colour.strip() if isinstance(level.colour, str) else ""
        if not COLOUR.match(colour):
            problems.append(Problem(where, "colour", "must be a colour like #2e7d32"))
        cut_point = points
        if level.cut_point not in (None, ""):
            cut_point = _decimal(level.cut_point)
            if cut_point is None:
                problems.append(Problem(where, "cut_point", "must be a number"))
            elif not Decimal(0) <= cut_point <= MAX_POINTS or cut_point != round(cut_point, 2):
                problems.append(
                    Problem(where, "cut_point", "must be between 0 and 100 with at most 2 decimals")
                )
        description = level.description.strip() if isinstance(level.description, str) else ""
        if len(description) > 200:
            problems.append(Problem(where, "description", "is at most 200 characters"))
        if len(problems) == before and points is not None and cut_point is not None:
            clean.append(CleanLevel(points, label, colour.lower(), cut_point, description))

    seen_points: dict[Decimal, int] = {}
    seen_labels: dict[str, int] = {}
    for index, checked in enumerate(clean):
        if checked.points in seen_points:
            problems.append(
                Problem(
                    f"levels[{index}]",
                    "points",
                    f"{checked.points} is already the points of another level",
                )
            )
        seen_points.setdefault(checked.points, index)
        if checked.label.lower() in seen_labels:
            problems.append(
                Problem(f"levels[{index}]", "label", f"{checked.label!r} is used by another level")
            )
        seen_labels.setdefault(checked.label.lower(), index)
    clean.sort(key=lambda level: level.points)
    for lower, upper in itertools.pairwise(clean):
        if lower.points != upper.points and lower.cut_point >= upper.cut_point:
            problems.append(
                Problem(
                    "levels",
                    "cut_point",
                    f"cut points must rise with the points: {upper.label!r} ({upper.cut_point}) "
                    f"is not above {lower.label!r} ({lower.cut_point})",
                )
            )
    threshold = _decimal(mastery_threshold)
    if threshold is None:
        problems.append(Problem("scale", "mastery_threshold", "must be a number"))
    elif clean and not clean[0].points <= threshold <= clean[-1].points:
        problems.append(
            Problem(
                "scale",
                "mastery_threshold",
                f"must lie within the levels' points ({clean[0].points} to {clean[-1].points})",
            )
        )
    elif threshold != round(threshold, 2):
        problems.append(Problem("scale", "mastery_threshold", "has at most 2 decimals"))
    clean.reverse()
    return clean, threshold, problems


# --- Calculation policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanPolicy:
    method: str
    params: dict[str, Any]
    min_evidence: int
    rollup_rule: str
    rollup_params: dict[str, Any]


def _whole(
    problems: list[Problem], where: str, name: str, value: Any, low: int, high: int
) -> int | None:
    number = _decimal(value)
    if number is None or number != number.to_integral_value():
        problems.append(Problem(where, name, f"must be a whole number from {low} to {high}"))
        return None
    if not low <= number <= high:
        problems.append(Problem(where, name, f"must be from {low} to {high}, got {int(number)}"))
        return None
    return int(number)


def _fraction(
    problems: list[Problem],
    where: str,
    name: str,
    value: Any,
    *,
    low: Decimal,
    high: Decimal,
    open_low: bool,
    open_high: bool,
) -> int | float | None:
    number = _decimal(value)
    interval = ("(" if open_low else "[") + f"{low}, {high}" + (")" if open_high else "]")
    if number is None:
        problems.append(Problem(where, name, f"must be a number in {interval}"))
        return None
    too_low = number <= low if open_low else number < low
    too_high = number >= high if open_high else number > high
    if too_low or too_high:
        problems.append(Problem(where, name, f"must be in {interval}, got {number}"))
        return None
    return _json_number(number)


def validate_policy(
    *,
    method: Any,
    params: Any,
    min_evidence: Any,
    rollup_rule: Any = "all_mastered",
    rollup_params: Any = None,
) -> tuple[CleanPolicy | None, list[Problem]]:
    """Checks a calculation policy against the methods and ranges of PRODUCT.md.

    ``weight``: 50..99 for ``decaying_average``, 1..99 for ``weighted_average``; ``n_times``:
    ``n`` >= 1 and ``threshold`` >= 0; ``power_law``: ``evaluate_at`` last|next, ``min_points``
    >= 2, ``floor`` > 0 (the rule for a score of 0); ``bkt``: ``p_init``, ``p_learn`` in [0, 1],
    ``p_guess``, ``p_slip`` in (0, 1) with their sum below 1, ``mastery_probability`` in
    (0, 1], ``threshold`` >= 0. Parameters a method does not take are refused; omitted ones
    take the engine's defaults. Roll-ups: ``share_mastered`` needs ``share`` in (0, 1];
    ``points`` needs ``points_required`` >= 1 and ``points`` (standard id -> points, one entry
    per child that earns any), and may give ``required`` (standard ids that must be mastered).
    """
    problems: list[Problem] = []
    if method not in METHODS:
        problems.append(
            Problem("policy", "method", f"{method!r} is not one of {', '.join(METHODS)}")
        )
    if not isinstance(params, Mapping):
        problems.append(Problem("policy", "params", "must be an object of parameters"))
        params = {}
    clean_params: dict[str, Any] = {}
    if method in METHODS:
        allowed = METHOD_PARAMS[method]
        for name in sorted(set(params) - allowed):
            takes = ", ".join(sorted(allowed)) or "no parameters"
            problems.append(
                Problem("params", str(name), f"{method} does not take it (it takes {takes})")
            )
        clean_params = _method_params(method, params, problems)
    evidence = _whole(problems, "policy", "min_evidence", min_evidence, 1, MAX_MIN_EVIDENCE)

    if rollup_rule not in ROLLUP_RULES:
        problems.append(
            Problem(
                "policy", "rollup_rule", f"{rollup_rule!r} is not one of {', '.join(ROLLUP_RULES)}"
            )
        )
    if rollup_params is None:
        rollup_params = {}
    if not isinstance(rollup_params, Mapping):
        problems.append(Problem("policy", "rollup_params", "must be an object of parameters"))
        rollup_params = {}
    clean_rollup: dict[str, Any] = {}
    if rollup_rule in ROLLUP_RULES:
        allowed = ROLLUP_PARAMS[rollup_rule]
        for name in sorted(set(rollup_params) - allowed):
            takes = ", ".join(sorted(allowed)) or "no parameters"
            problems.append(
                Problem("rollup_params", str(name), f"{rollup_rule} does not take it ({takes})")
            )
        clean_rollup = _rollup_params(rollup_rule, rollup_params, problems)
    if problems or evidence is None:
        return None, problems
    return (
        CleanPolicy(
            method=str(method),
            params=clean_params,
            min_evidence=evidence,
            rollup_rule=str(rollup_rule),
            rollup_params=clean_rollup,
        ),
        problems,
    )


def _method_params(
    method: str, params: Mapping[str, Any], problems: list[Problem]
) -> dict[str, Any]:
    where = "params"
    clean: dict[str, Any] = {}
    one = Decimal(1)
    zero = Decimal(0)
    big = Decimal(100)
    for name in sorted(set(params) & METHOD_PARAMS[method]):
        value = params[name]
        result: Any = None
        if name == "weight":
            low = 50 if method == "decaying_average" else 1
            result = _whole(problems, where, name, value, low, 99)
        elif name == "n":
            result = _whole(problems, where, name, value, 1, 100)
        elif name == "min_points":
            result = _whole(problems, where, name, value, 2, 100)
        elif name == "threshold":
            result = _fraction(
                problems, where, name, value, low=zero, high=big, open_low=False, open_high=False
            )
        elif name == "floor":
            result = _fraction(
                problems, where, name, value, low=zero, high=big, open_low=True, open_high=False
            )
        elif name == "evaluate_at":
            if value in ("last", "next"):
                result = value
            else:
                problems.append(Problem(where, name, "must be 'last' or 'next'"))
        elif name in ("p_init", "p_learn"):
            result = _fraction(
                problems, where, name, value, low=zero, high=one, open_low=False, open_high=False
            )
        elif name in ("p_guess", "p_slip"):
            result = _fraction(
                problems, where, name, value, low=zero, high=one, open_low=True, open_high=True
            )
        elif name == "mastery_probability":
            result = _fraction(
                problems, where, name, value, low=zero, high=one, open_low=True, open_high=False
            )
        if result is not None:
            clean[name] = result
    if method == "bkt":
        guess = Decimal(str(clean.get("p_guess", "0.2")))
        slip = Decimal(str(clean.get("p_slip", "0.1")))
        if guess + slip >= 1:
            problems.append(
                Problem(where, "p_guess", "p_guess + p_slip must be below 1 (with p_slip)")
            )
    return clean


def _standard_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
        return number if 0 < number < 2**63 else None
    return None


def _rollup_params(rule: str, params: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    where = "rollup_params"
    clean: dict[str, Any] = {}
    if rule == "share_mastered":
        if "share" not in params:
            problems.append(Problem(where, "share", "is required: the share of children, (0, 1]"))
        else:
            share = _fraction(
                problems,
                where,
                "share",
                params["share"],
                low=Decimal(0),
                high=Decimal(1),
                open_low=True,
                open_high=False,
            )
            if share is not None:
                clean["share"] = share
    if rule == "points":
        if "points_required" not in params:
            problems.append(Problem(where, "points_required", "is required"))
        else:
            needed = _whole(problems, where, "points_required", params["points_required"], 1, 1000)
            if needed is not None:
                clean["points_required"] = needed
        child_points = params.get("points", {})
        if not isinstance(child_points, Mapping) or not child_points:
            problems.append(Problem(where, "points", "must map standard ids to points"))
        else:
            points: dict[str, int] = {}
            for key, value in child_points.items():
                if _standard_id(key) is None:
                    problems.append(Problem(where, "points", f"{key!r} is not a standard id"))
                    continue
                number = _whole(problems, where, f"points[{key}]", value, 0, 1000)
                if number is not None:
                    points[str(_standard_id(key))] = number
            clean["points"] = points
            needed = clean.get("points_required")
            if needed is not None and needed > sum(points.values()):
                problems.append(
                    Problem(
                        where,
                        "points_required",
                        f"{needed} is more than all children give ({sum(points.values())})",
                    )
                )
        required = params.get("required", [])
        ids = [_standard_id(item) for item in required] if isinstance(required, list) else [None]
        if any(item is None for item in ids):
            problems.append(Problem(where, "required", "must be a list of standard ids"))
        elif ids:
            clean["required"] = sorted({item for item in ids if item is not None})
    return clean
