"""The estimator disagreement flag (``mastery.estimators``): by hand, then properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.estimators import compare_estimators, disagree_bulk, level_width
from mastery.rules import DEFAULT_SCALE, Level, Policy, Rating, Scale
from tests.mastery.test_rules_properties import SCALE as BULK_SCALE
from tests.mastery.test_rules_properties import policies as bulk_policies
from tests.mastery.test_rules_properties import scores as bulk_scores

START = datetime(2026, 9, 1, tzinfo=UTC)


def _ratings(*scores: str) -> list[Rating]:
    return [
        Rating(Decimal(score), START + timedelta(days=i), START + timedelta(days=i), i + 1)
        for i, score in enumerate(scores)
    ]


def _by_method(comparison: object) -> dict[str, tuple[str | None, str | None]]:
    estimates = comparison.estimates  # type: ignore[attr-defined]
    return {
        e.method: (None if e.score is None else str(e.score), e.level and e.level.label)
        for e in estimates
    }


def test_a_four_then_a_two_is_flagged_with_the_estimators_side_by_side() -> None:
    """4 then 2 under the average: average 3.00 (Proficient); latest 2; mode: a tie goes to the
    most recent, 2; decaying average 0.35 * 4 + 0.65 * 2 = 2.70 (Developing); power law with
    fewer than 3 scores falls back to the average, 3.00. Levels one apart, scores 1.00 apart
    (one level's width): flagged."""
    result = compare_estimators(_ratings("4", "2"), Policy("average"), DEFAULT_SCALE)
    assert _by_method(result) == {
        "average": ("3.00", "Proficient"),
        "latest": ("2.00", "Developing"),
        "mode": ("2.00", "Developing"),
        "decaying_average": ("2.70", "Developing"),
        "power_law": ("3.00", "Proficient"),
    }
    assert [e.policy for e in result.estimates] == [True, False, False, False, False]
    assert result.flagged is True
    assert (result.levels_apart, result.spread) == (1, Decimal("1.00"))


def test_consistent_ratings_are_not_flagged() -> None:
    result = compare_estimators(_ratings("3", "3", "3"), Policy("latest"), DEFAULT_SCALE)
    assert result.flagged is False
    assert result.levels_apart == 0
    assert result.estimates[0].method == "latest"


def test_a_hair_across_a_cut_point_is_not_a_disagreement() -> None:
    """3 then 2.99: the average 2.995 rounds to 3.00 (Proficient), the latest is 2.99
    (Developing): a level apart, but 0.01 apart in score, less than one level's width."""
    result = compare_estimators(_ratings("3", "2.99"), Policy("average"), DEFAULT_SCALE)
    assert result.levels_apart == 1
    assert result.spread == Decimal("0.01")
    assert result.flagged is False


def test_nothing_is_flagged_while_the_policy_gives_no_score() -> None:
    result = compare_estimators(_ratings("4", "1"), Policy("average", {}, 3), DEFAULT_SCALE)
    assert result.flagged is False
    assert all(e.score is None for e in result.estimates)
    none = compare_estimators([], Policy("highest"), DEFAULT_SCALE)
    assert none.flagged is False


def test_the_policys_own_method_stands_in_for_the_default_one() -> None:
    result = compare_estimators(
        _ratings("1", "4"), Policy("decaying_average", {"weight": 90}), DEFAULT_SCALE
    )
    methods = [e.method for e in result.estimates]
    assert methods.count("decaying_average") == 1
    assert result.estimates[0].score == Decimal("3.70")  # 0.1 * 1 + 0.9 * 4


def test_under_knowledge_tracing_the_other_estimators_are_compared() -> None:
    result = compare_estimators(_ratings("1", "4", "1", "4"), Policy("bkt"), DEFAULT_SCALE)
    assert result.estimates[0].method == "bkt"
    assert result.flagged is True  # latest and mode 4 (Advanced), the average 2.50


def test_one_levels_width_is_the_smallest_gap_between_cut_points() -> None:
    uneven = Scale(
        (
            Level(Decimal(1), "Beginning"),
            Level(Decimal(2), "Developing", Decimal("2.5")),
            Level(Decimal(3), "Proficient"),
        ),
        Decimal(3),
    )
    assert level_width(uneven) == Decimal("0.5")
    assert level_width(DEFAULT_SCALE) == Decimal(1)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["1", "1.5", "2", "2.5", "3", "3.5", "4"]), min_size=1, max_size=8),
    st.sampled_from(["highest", "latest", "average", "mode", "decaying_average", "power_law"]),
)
def test_equal_ratings_never_flag_and_a_flag_means_a_level_and_a_width_apart(
    scores: list[str], method: str
) -> None:
    result = compare_estimators(_ratings(*scores), Policy(method), DEFAULT_SCALE)
    if len(set(scores)) == 1:
        assert result.flagged is False
    if result.flagged:
        assert result.levels_apart >= 1
        assert result.spread is not None
        assert result.spread >= 1
    # Order of the inputs never matters beyond the engine's own ordering (by time).
    again = compare_estimators(list(reversed(_ratings(*scores))), Policy(method), DEFAULT_SCALE)
    assert again == result


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(bulk_scores, min_size=0, max_size=7), min_size=1, max_size=6),
    bulk_policies,
)
def test_the_bulk_flag_equals_the_flag_of_each_group(
    groups: list[list[Decimal]], policy: Policy
) -> None:
    """The bulk recompute's path (``disagree_bulk``) gives every group the flag
    ``compare_estimators`` gives it alone."""
    ids = np.array([g for g, scores in enumerate(groups) for _ in scores], dtype=np.int64)
    values = np.array([float(s) for scores in groups for s in scores], dtype=np.float64)
    present = [g for g, scores in enumerate(groups) if scores]
    if not present:
        return
    flags = disagree_bulk(ids, values, policy, BULK_SCALE)
    expected = [
        compare_estimators(_ratings(*map(str, groups[g])), policy, BULK_SCALE).flagged
        for g in present
    ]
    assert flags.tolist() == expected
