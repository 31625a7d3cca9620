"""The form of a score, the one rule every path checks (forms, API, quick entry, the CSV import,
moderation, overrides): a finite number with at most 2 decimals, within the scale in force.

Pure functions: the scale's range comes from the caller (``evidence.selectors.score_range_for``
or, for many schools at once, ``score_ranges_of_schools``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

HUNDREDTH: Final = Decimal("0.01")


def score_number(value: object) -> Decimal:
    """The score as a Decimal with at most 2 decimals (any range); ``ValueError`` says why not."""
    try:
        score = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    if not score.is_finite():
        raise ValueError(f"{value!r} is not a number")
    if score.adjusted() > 12:  # no scale reaches a trillion points; quantize would overflow
        raise ValueError(f"{value} is far outside any scale")
    if score != score.quantize(HUNDREDTH):
        raise ValueError(f"{shown(value)} has more than 2 decimals")
    return score.quantize(HUNDREDTH)


def shown(value: object) -> str:
    """A score as people write it: a number without trailing zeros (``9``, ``2.5``; an API
    client's ``9.0000`` too), any other value as it was given."""
    if isinstance(value, (Decimal, int, float)) and not isinstance(value, bool):
        number = Decimal(str(value))
        if number.is_finite():
            return f"{number.normalize():f}"
    return str(value)


def outside_scale(value: object, low: Decimal, high: Decimal) -> str:
    """Why a score is refused when it lies outside the scale (``low`` to ``high`` points)."""
    return f"{shown(value)} is outside the scale ({low:g} to {high:g})"


def parse_score(value: object, *, low: Decimal, high: Decimal) -> Decimal:
    """The score as a Decimal with at most 2 decimals within [low, high]; ValueError why not."""
    score = score_number(value)
    if score < low or score > high:
        raise ValueError(outside_scale(value, low, high))
    return score
