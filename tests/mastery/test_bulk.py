"""The bulk path equals the per-record path, group by group."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.bulk import BulkResult, evaluate_bulk
from mastery.rules import (
    DEFAULT_SCALE,
    INSUFFICIENT_EVIDENCE,
    SCORED,
    Policy,
    Rating,
    RulesError,
    Scale,
    evaluate,
)
from tests.mastery.test_rules_properties import SCALE, policies, scores


def assert_equals_per_record(groups: list[list[Decimal]], policy: Policy, scale: Scale) -> None:
    group_ids = np.repeat(np.arange(len(groups), dtype=np.int64) * 7 + 3, [len(g) for g in groups])
    values = np.array([float(s) for g in groups for s in g], dtype=np.float64)
    result = evaluate_bulk(group_ids, values, policy, scale)
    assert len(result) == len(groups)
    for row, group in enumerate(groups):
        expected = evaluate([Rating(s, id=i) for i, s in enumerate(group)], policy, scale)
        level = -1 if expected.level is None else scale.levels.index(expected.level)
        assert int(result.group_ids[row]) == row * 7 + 3
        assert result.score(row) == expected.score, (group, policy)
        assert result.state_name(row) == expected.state
        assert int(result.level_index[row]) == level
        assert bool(result.mastered[row]) == expected.mastered
        assert int(result.evidence_count[row]) == expected.evidence_count
        if expected.p_known is None:
            assert np.isnan(result.p_known[row])
            assert np.isnan(result.p_next[row])
        else:
            assert float(result.p_known[row]) == expected.p_known
            assert float(result.p_next[row]) == expected.p_next


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(scores, min_size=1, max_size=12), min_size=1, max_size=12), policies)
def test_bulk_path_equals_per_record_path_on_random_inputs(
    groups: list[list[Decimal]], policy: Policy
) -> None:
    assert_equals_per_record(groups, policy, SCALE)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(scores, min_size=1, max_size=8), min_size=1, max_size=12),
    policies,
    st.integers(1, 10),
)
def test_chunks_that_end_on_group_boundaries_give_the_same_result(
    groups: list[list[Decimal]], policy: Policy, chunk_rows: int
) -> None:
    group_ids = np.repeat(np.arange(len(groups), dtype=np.int64), [len(g) for g in groups])
    values = np.array([float(s) for g in groups for s in g], dtype=np.float64)
    whole = evaluate_bulk(group_ids, values, policy, SCALE)
    chunked = evaluate_bulk(group_ids, values, policy, SCALE, chunk_rows=chunk_rows)
    for name in ("group_ids", "evidence_count", "state", "score_hundredths", "level_index"):
        assert np.array_equal(getattr(whole, name), getattr(chunked, name))
    assert np.array_equal(whole.mastered, chunked.mastered)
    assert np.array_equal(whole.p_known, chunked.p_known, equal_nan=True)
    assert np.array_equal(whole.p_next, chunked.p_next, equal_nan=True)


@pytest.mark.parametrize("weight", [50, 65, 99])
def test_long_decaying_average_groups_use_floats_and_still_agree(weight: int) -> None:
    rng = np.random.default_rng(weight)
    groups = [
        [Decimal(int(v)).scaleb(-2) for v in rng.integers(0, 401, size)] for size in (9, 12, 30, 60)
    ]
    groups.append([Decimal(v) for v in ("1", "2") * 15])
    assert_equals_per_record(groups, Policy("decaying_average", {"weight": weight}), SCALE)


def test_exact_ties_round_half_up_in_bulk() -> None:
    # 0.65 * 5 + 0.35 * 2.5 = 4.125 exactly (Canvas' own case) on a 0..5 scale
    scale = Scale(DEFAULT_SCALE.levels, mastery_threshold=Decimal(3), max_points=Decimal(5))
    groups = [[Decimal(v) for v in ("1", "2", "3", "4", "5")]]
    result = evaluate_bulk(
        np.zeros(5, np.int64), np.array([1, 2, 3, 4, 5.0]), Policy("weighted_average"), scale
    )
    assert result.score(0) == Decimal("4.13")
    assert_equals_per_record(groups, Policy("decaying_average", {"weight": 50}), scale)


def test_scores_with_more_than_four_decimals_are_recomputed_exactly() -> None:
    groups = [[Decimal("2.12345"), Decimal("3.00005")], [Decimal("1.99995"), Decimal(3)]]
    for method in ("average", "weighted_average", "highest", "mode"):
        assert_equals_per_record(groups, Policy(method), SCALE)


def test_groups_below_min_evidence_are_insufficient_in_bulk() -> None:
    result = evaluate_bulk(
        np.array([1, 1, 2]), np.array([3.0, 4.0, 4.0]), Policy("average", min_evidence=2), SCALE
    )
    assert [result.state_name(0), result.state_name(1)] == [SCORED, INSUFFICIENT_EVIDENCE]
    assert [result.score(0), result.score(1)] == [Decimal("3.50"), None]


def test_empty_input_gives_an_empty_result() -> None:
    result = evaluate_bulk(np.zeros(0, np.int64), np.zeros(0), Policy("average"), SCALE)
    assert isinstance(result, BulkResult)
    assert len(result) == 0


@pytest.mark.parametrize(
    ("group_ids", "values", "message"),
    [
        ([2, 1], [3.0, 3.0], r"group_ids: must be non-decreasing \(row 1 goes back\)"),
        ([1, 1], [3.0, float("nan")], "scores: row 1 is not a finite number"),
        ([1, 2], [3.0, 4.5], r"scores: row 1 score 4\.5 is outside the scale 0\.\.4"),
        ([1], [3.0, 4.0], r"lengths differ \(1 and 2\)"),
    ],
)
def test_bulk_refuses_bad_input_naming_the_row(
    group_ids: list[int], values: list[float], message: str
) -> None:
    with pytest.raises(RulesError, match=message):
        evaluate_bulk(np.array(group_ids), np.array(values), Policy("average"), SCALE)


def test_bulk_refuses_float_group_ids() -> None:
    with pytest.raises(RulesError, match="group_ids: must be integers"):
        evaluate_bulk(np.array([1.0]), np.array([3.0]), Policy("average"), SCALE)
