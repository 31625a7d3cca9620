"""Agreement between two raters (``mastery.agreement``): published worked examples by hand, and
properties (hypothesis) of quadratic-weighted kappa: bounds, symmetry, perfect agreement."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.agreement import agreement, level_position
from mastery.rules import DEFAULT_SCALE, RulesError

ROOT = Path(__file__).resolve().parents[2]


def test_agreement_and_estimators_import_no_django() -> None:
    code = (
        "import sys, mastery.agreement, mastery.estimators; "
        "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False"


def _pairs(counts: dict[tuple[int, int], int]) -> list[tuple[int, int]]:
    return [pair for pair, count in counts.items() for _ in range(count)]


def test_the_grant_proposal_example_gives_kappa_two_fifths() -> None:
    """Wikipedia, "Cohen's kappa", worked example: 50 grant proposals read by readers A and B;
    both said yes to 20, A yes and B no to 5, A no and B yes to 10, both no to 15. p_o = 0.70,
    p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.50, kappa = (0.70 - 0.50) / (1 - 0.50) = 0.40. With two
    categories the quadratic weights are the unweighted kappa's (0 on the diagonal, 1 off it)."""
    yes, no = 1, 0
    result = agreement(_pairs({(yes, yes): 20, (yes, no): 5, (no, yes): 10, (no, no): 15}), 2)
    assert result.pairs == 50
    assert result.exact == Fraction(35, 50)
    assert result.adjacent == 1
    assert result.kappa == Fraction(2, 5)


def test_maples_quadratic_weighted_kappa_examples_agree_to_the_last_digit() -> None:
    """Maple's EssayTools[QuadraticWeightedKappa] help page, examples 1 and 2: essay grades on
    1..10 (Min and Max taken from the data, 1 and 10) give 0.758620689655172 (= 22/29) and
    0.438095238095238 (= 46/105). Positions are grade - 1."""
    first = [9, 7, 8, 7, 6, 8, 3, 5, 10]

    def grades(second: list[int]) -> list[tuple[int, int]]:
        return [(a - 1, b - 1) for a, b in zip(first, second, strict=True)]

    example_1 = agreement(grades([8, 8, 6, 6, 7, 6, 1, 4, 8]), 10)
    example_2 = agreement(grades([3, 5, 6, 6, 7, 6, 1, 4, 8]), 10)
    assert example_1.kappa == Fraction(22, 29)
    assert f"{float(example_1.kappa):.15f}" == "0.758620689655172"
    assert example_2.kappa == Fraction(46, 105)
    assert f"{float(example_2.kappa):.15f}" == "0.438095238095238"
    # By hand, example 1 pairs 9/8, 7/8, 8/6, 7/6, 6/7, 8/6, 3/1, 5/4, 10/8: no grade the same,
    # five within one grade (9/8, 7/8, 7/6, 6/7, 5/4).
    assert (example_1.exact_count, example_1.adjacent_count) == (0, 5)


def test_a_moderation_round_on_four_levels_by_hand() -> None:
    """Six pieces on Beginning(0) .. Advanced(3). First: 0, 1, 2, 2, 3, 3; second: 0, 2, 2, 0,
    3, 2. Exact 3 of 6 (pieces 1, 3, 5); adjacent 5 of 6 (all but piece 4, two levels apart).
    Rows (first) 1, 1, 2, 2; columns (second) 2, 0, 3, 1; n = 6. Observed squared distances:
    piece 2 (1, 2) 1, piece 4 (2, 0) 4, piece 6 (3, 2) 1: total 6. Expected: sum over i, j of
    (i - j)^2 * row_i * col_j / 6 = (1*[0*2 + 1*0 + 4*3 + 9*1] + 1*[1*2 + 0 + 1*3 + 4*1]
    + 2*[4*2 + 0 + 0 + 1*1] + 2*[9*2 + 0 + 1*3 + 0]) / 6 = (21 + 9 + 18 + 42) / 6 = 15.
    Kappa = 1 - 6 / 15 = 3/5."""
    result = agreement([(0, 0), (1, 2), (2, 2), (2, 0), (3, 3), (3, 2)], 4)
    assert (result.pairs, result.exact_count, result.adjacent_count) == (6, 3, 5)
    assert result.exact == Fraction(1, 2)
    assert result.adjacent == Fraction(5, 6)
    assert result.kappa == Fraction(3, 5)


def test_kappa_is_undefined_without_pairs_or_when_both_raters_used_one_level() -> None:
    assert agreement([], 4).kappa is None
    assert agreement([], 4).exact is None
    same = agreement([(2, 2), (2, 2)], 4)
    assert same.kappa is None
    assert same.exact == 1


def test_a_position_off_the_scale_is_refused_naming_the_pair() -> None:
    with pytest.raises(RulesError, match=r"pair 2: level position 4 is not in 0\.\.3"):
        agreement([(0, 1), (4, 1)], 4)
    with pytest.raises(RulesError, match="at least 2 levels"):
        agreement([(0, 0)], 1)


def test_level_position_reads_the_scales_cut_points() -> None:
    assert [level_position(DEFAULT_SCALE, Decimal(s)) for s in ("1", "2.5", "3", "4")] == [
        0,
        1,
        2,
        3,
    ]


# --- properties ---------------------------------------------------------------------------------


@st.composite
def rated_pairs(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    k = draw(st.integers(2, 6))
    position = st.integers(0, k - 1)
    return k, draw(st.lists(st.tuples(position, position), min_size=1, max_size=40))


def _covariance_form(pairs: list[tuple[int, int]]) -> Fraction | None:
    """An independent formula: quadratic-weighted kappa equals 2 cov / (var1 + var2 + (m1 -
    m2)^2) with population moments of the positions (the weights' normalisation cancels)."""
    n = len(pairs)
    m1 = Fraction(sum(a for a, _ in pairs), n)
    m2 = Fraction(sum(b for _, b in pairs), n)
    cov = sum((a - m1) * (b - m2) for a, b in pairs) / n
    var1 = sum((a - m1) ** 2 for a, _ in pairs) / n
    var2 = sum((b - m2) ** 2 for _, b in pairs) / n
    denominator = var1 + var2 + (m1 - m2) ** 2
    return None if denominator == 0 else 2 * cov / denominator


@settings(max_examples=150, deadline=None)
@given(rated_pairs())
def test_kappa_lies_in_minus_one_to_one_and_equals_the_covariance_form(
    case: tuple[int, list[tuple[int, int]]],
) -> None:
    k, pairs = case
    result = agreement(pairs, k)
    assert result.kappa == _covariance_form(pairs)
    if result.kappa is not None:
        assert -1 <= result.kappa <= 1
    assert result.exact is not None
    assert result.adjacent is not None
    assert 0 <= result.exact <= result.adjacent <= 1


@settings(max_examples=150, deadline=None)
@given(rated_pairs())
def test_kappa_and_agreement_are_symmetric_in_the_two_raters(
    case: tuple[int, list[tuple[int, int]]],
) -> None:
    k, pairs = case
    forward = agreement(pairs, k)
    backward = agreement([(b, a) for a, b in pairs], k)
    assert backward == forward
    assert agreement(list(reversed(pairs)), k) == forward


@settings(max_examples=100, deadline=None)
@given(rated_pairs())
def test_kappa_is_one_exactly_when_every_pair_agrees(
    case: tuple[int, list[tuple[int, int]]],
) -> None:
    k, pairs = case
    result = agreement(pairs, k)
    if result.kappa is not None:
        assert (result.kappa == 1) == all(a == b for a, b in pairs)
    same = agreement([(a, a) for a, _ in pairs], k)
    assert same.kappa in (None, 1)
