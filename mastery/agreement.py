"""Agreement between two raters on the levels of a proficiency scale: a pure function.

Pure Python, no Django, beside the engine (``mastery.rules``): moderation rounds call it per
round, standard, school and rater pair; tests check it against published worked examples.

- ``agreement(pairs, categories)``: ``pairs`` are (first, second) level positions, 0 for the
  lowest level up to ``categories - 1`` for the highest. Returns the number of pairs, the exact
  agreement (same level), the adjacent agreement (at most one level apart, exact included) and
  Cohen's kappa with quadratic weights (Cohen 1968): 1 - sum(w * observed) / sum(w * expected)
  with w(i, j) = (i - j)^2 / (k - 1)^2 and expected(i, j) = row(i) * column(j) / n.
- ``level_position(scale, score)``: the position of the level a score reaches on a
  ``mastery.rules.Scale`` (its ``level_for``), for turning two teachers' scores into pairs.

Everything is exact (``fractions.Fraction``); ``float()`` it for display. Kappa is ``None``
when it is undefined: no pairs, or both raters used one and the same level for every piece
(no disagreement could be expected by chance, so chance-corrected agreement has no meaning).
Quadratic-weighted kappa lies in [-1, 1], is symmetric in the two raters and equals 1 exactly
when every pair agrees (a property test checks these).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from mastery.rules import RulesError, Scale


@dataclass(frozen=True)
class Agreement:
    """Agreement of two raters over ``pairs`` pieces of evidence (shares as exact fractions)."""

    pairs: int
    exact_count: int
    adjacent_count: int
    kappa: Fraction | None

    @property
    def exact(self) -> Fraction | None:
        """The share of pairs on the same level (``None`` without pairs)."""
        return Fraction(self.exact_count, self.pairs) if self.pairs else None

    @property
    def adjacent(self) -> Fraction | None:
        """The share of pairs at most one level apart, exact agreements included."""
        return Fraction(self.adjacent_count, self.pairs) if self.pairs else None


def agreement(pairs: Iterable[tuple[int, int]], categories: int) -> Agreement:
    """Exact and adjacent agreement and quadratic-weighted kappa of (first, second) level
    positions on a scale of ``categories`` levels. Raises ``RulesError`` naming the pair for a
    position outside 0..categories-1."""
    if isinstance(categories, bool) or not isinstance(categories, int) or categories < 2:
        raise RulesError("categories: a scale needs at least 2 levels to measure agreement")
    k = categories
    observed = [[0] * k for _ in range(k)]
    count = exact = adjacent = 0
    for index, pair in enumerate(pairs, start=1):
        first, second = pair
        for value in (first, second):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < k:
                raise RulesError(f"pair {index}: level position {value!r} is not in 0..{k - 1}")
        observed[first][second] += 1
        count += 1
        exact += first == second
        adjacent += abs(first - second) <= 1
    return Agreement(count, exact, adjacent, _quadratic_kappa(observed, count))


def _quadratic_kappa(observed: list[list[int]], n: int) -> Fraction | None:
    if n == 0:
        return None
    k = len(observed)
    rows = [sum(row) for row in observed]
    columns = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    # The weights' common denominator (k - 1)^2 cancels in the ratio: integer weights (i - j)^2.
    disagreement = sum((i - j) ** 2 * observed[i][j] for i in range(k) for j in range(k))
    expected = Fraction(
        sum((i - j) ** 2 * rows[i] * columns[j] for i in range(k) for j in range(k)), n
    )
    if expected == 0:
        return None
    return 1 - disagreement / expected


def level_position(scale: Scale, score: Decimal) -> int:
    """The position (0 = lowest) of the level ``score`` reaches on ``scale``."""
    ordered = scale.levels_by_cut
    return ordered.index(scale.level_for(score))
