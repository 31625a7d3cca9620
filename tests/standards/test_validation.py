from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standards.validation import LevelInput, validate_policy, validate_scale

DEFAULT_LEVELS = [
    LevelInput(4, "Advanced", "#1565c0"),
    LevelInput(3, "Proficient", "#2e7d32"),
    LevelInput(2, "Developing", "#f9a825"),
    LevelInput(1, "Beginning", "#c62828"),
]


def _scale_problems(levels: list[LevelInput], threshold: Any = 3) -> list[str]:
    return [str(problem) for problem in validate_scale(levels, threshold)[2]]


def _policy_problems(method: str, params: dict[str, Any], **extra: Any) -> list[str]:
    _clean, problems = validate_policy(
        method=method,
        params=params,
        min_evidence=extra.pop("min_evidence", 1),
        rollup_rule=extra.pop("rollup_rule", "all_mastered"),
        rollup_params=extra.pop("rollup_params", {}),
    )
    return [str(problem) for problem in problems]


def test_default_scale_is_valid_and_cut_points_default_to_points() -> None:
    clean, threshold, problems = validate_scale(DEFAULT_LEVELS, "3")
    assert problems == []
    assert threshold == Decimal(3)
    assert [(level.points, level.cut_point, level.label) for level in clean] == [
        (Decimal(4), Decimal(4), "Advanced"),
        (Decimal(3), Decimal(3), "Proficient"),
        (Decimal(2), Decimal(2), "Developing"),
        (Decimal(1), Decimal(1), "Beginning"),
    ]


def test_cut_points_can_be_set_apart_from_points() -> None:
    levels = [
        LevelInput(4, "Advanced", "#1565c0", "3.5"),
        LevelInput(3, "Proficient", "#2e7d32", "2.5"),
        LevelInput(1, "Beginning", "#c62828", "0"),
    ]
    clean, _threshold, problems = validate_scale(levels, "2.5")
    assert problems == []
    assert [level.cut_point for level in clean] == [Decimal("3.5"), Decimal("2.5"), Decimal(0)]


def test_levels_must_have_unique_points_and_labels() -> None:
    levels = [*DEFAULT_LEVELS[:3], LevelInput(2, "developing", "#000000")]
    assert _scale_problems(levels) == [
        "levels[3]: points: 2 is already the points of another level",
        "levels[3]: label: 'developing' is used by another level",
    ]


def test_cut_points_must_rise_with_the_points() -> None:
    levels = [LevelInput(4, "Advanced", "#1565c0", 2), *DEFAULT_LEVELS[1:]]
    assert _scale_problems(levels) == [
        "levels: cut_point: cut points must rise with the points: 'Advanced' (2) is not above "
        "'Proficient' (3)"
    ]


def test_threshold_must_lie_within_the_levels() -> None:
    assert _scale_problems(DEFAULT_LEVELS, "4.5") == [
        "scale: mastery_threshold: must lie within the levels' points (1 to 4)"
    ]
    assert _scale_problems(DEFAULT_LEVELS, "three") == [
        "scale: mastery_threshold: must be a number"
    ]


def test_colour_needs_hex_form_and_a_label_so_colour_is_never_the_only_signal() -> None:
    levels = [LevelInput(4, "", "#1565c0"), LevelInput(3, "Proficient", "green")]
    assert _scale_problems(levels) == [
        "levels[0]: label: is required: colour is never the only signal",
        "levels[1]: colour: must be a colour like #2e7d32",
    ]


def test_scale_needs_two_to_ten_levels_and_sane_points() -> None:
    assert _scale_problems([LevelInput(3, "Only", "#000000")]) == [
        "levels: a scale has 2 to 10 levels"
    ]
    levels = [LevelInput("1.005", "A", "#000000"), LevelInput(-1, "B", "#000000")]
    assert _scale_problems(levels, 1) == [
        "levels[0]: points: must be between 0 and 100 with at most 2 decimals",
        "levels[1]: points: must be between 0 and 100 with at most 2 decimals",
    ]


@pytest.mark.parametrize(
    ("weight", "accepted"), [(49, False), (50, True), (65, True), (99, True), (100, False)]
)
def test_decaying_average_weight_is_50_to_99(weight: int, accepted: bool) -> None:
    assert (_policy_problems("decaying_average", {"weight": weight}) == []) is accepted


def test_weighted_average_weight_is_1_to_99() -> None:
    assert _policy_problems("weighted_average", {"weight": 1}) == []
    assert _policy_problems("weighted_average", {"weight": 0}) == [
        "params: weight: must be from 1 to 99, got 0"
    ]


def test_unknown_methods_and_parameters_are_refused() -> None:
    assert _policy_problems("median", {}) == [
        "policy: method: 'median' is not one of highest, latest, average, mode, n_times, "
        "weighted_average, decaying_average, power_law, bkt"
    ]
    assert _policy_problems("highest", {"weight": 65}) == [
        "params: weight: highest does not take it (it takes no parameters)"
    ]


def test_n_times_needs_n_and_a_non_negative_threshold() -> None:
    assert _policy_problems("n_times", {"n": 3, "threshold": "3"}) == []
    assert _policy_problems("n_times", {"n": 0, "threshold": -1}) == [
        "params: n: must be from 1 to 100, got 0",
        "params: threshold: must be in [0, 100], got -1",
    ]


def test_power_law_parameters() -> None:
    assert _policy_problems("power_law", {"evaluate_at": "next", "min_points": 3}) == []
    assert _policy_problems("power_law", {"evaluate_at": "later", "min_points": 1, "floor": 0}) == [
        "params: evaluate_at: must be 'last' or 'next'",
        "params: floor: must be in (0, 100], got 0",
        "params: min_points: must be from 2 to 100, got 1",
    ]


def test_bkt_probabilities_and_guess_plus_slip_below_one() -> None:
    good = {"p_init": 0.4, "p_learn": 0.1, "p_guess": 0.2, "p_slip": 0.1}
    assert _policy_problems("bkt", {**good, "mastery_probability": 0.95}) == []
    assert _policy_problems("bkt", {**good, "p_guess": 0.6, "p_slip": 0.4}) == [
        "params: p_guess: p_guess + p_slip must be below 1 (with p_slip)"
    ]
    assert _policy_problems("bkt", {"p_init": 1.5, "p_slip": 0}) == [
        "params: p_init: must be in [0, 1], got 1.5",
        "params: p_slip: must be in (0, 1), got 0",
    ]


def test_min_evidence_is_a_whole_number_of_at_least_one() -> None:
    assert _policy_problems("latest", {}, min_evidence=0) == [
        "policy: min_evidence: must be from 1 to 100, got 0"
    ]
    assert _policy_problems("latest", {}, min_evidence=True) == [
        "policy: min_evidence: must be a whole number from 1 to 100"
    ]


def test_rollup_rules_and_their_parameters() -> None:
    assert _policy_problems("latest", {}, rollup_rule="share_mastered", rollup_params={}) == [
        "rollup_params: share: is required: the share of children, (0, 1]"
    ]
    assert (
        _policy_problems(
            "latest", {}, rollup_rule="share_mastered", rollup_params={"share": "0.75"}
        )
        == []
    )
    assert _policy_problems(
        "latest",
        {},
        rollup_rule="points",
        rollup_params={"points_required": 5, "points": {"1": 2, "2": 2}, "required": [1]},
    ) == ["rollup_params: points_required: 5 is more than all children give (4)"]
    assert _policy_problems("latest", {}, rollup_rule="average_children") == [
        "policy: rollup_rule: 'average_children' is not one of all_mastered, share_mastered, "
        "lowest_level, points"
    ]


def test_clean_policy_keeps_numbers_as_json_numbers() -> None:
    clean, problems = validate_policy(
        method="bkt",
        params={"p_init": "0.4", "threshold": "3"},
        min_evidence="2",
        rollup_rule="share_mastered",
        rollup_params={"share": "0.5"},
    )
    assert problems == []
    assert clean is not None
    assert (clean.params, clean.min_evidence, clean.rollup_params) == (
        {"p_init": 0.4, "threshold": 3},
        2,
        {"share": 0.5},
    )


# The policy validation must agree with the mastery engine on every value both bound.
_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "weight": st.integers(min_value=-5, max_value=120),
        "n": st.integers(min_value=-2, max_value=60),
        "threshold": st.decimals(min_value=-1, max_value=9, places=2),
        "evaluate_at": st.sampled_from(["last", "next", "first"]),
        "min_points": st.integers(min_value=0, max_value=60),
        "p_init": st.decimals(min_value=-1, max_value=2, places=2),
        "p_learn": st.decimals(min_value=-1, max_value=2, places=2),
        "p_guess": st.decimals(min_value=-1, max_value=2, places=2),
        "p_slip": st.decimals(min_value=-1, max_value=2, places=2),
        "mastery_probability": st.decimals(min_value=-1, max_value=2, places=2),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(
        ["highest", "mode", "n_times", "weighted_average", "decaying_average", "power_law", "bkt"]
    ),
    params=_PARAMS,
    min_evidence=st.integers(min_value=-1, max_value=50),
)
def test_policy_validation_agrees_with_the_mastery_engine(
    method: str, params: dict[str, Any], min_evidence: int
) -> None:
    rules = pytest.importorskip("mastery.rules")
    clean, _problems = validate_policy(method=method, params=params, min_evidence=min_evidence)
    try:
        rules.Policy(method, params, min_evidence)
    except rules.RulesError:
        engine_accepts = False
    else:
        engine_accepts = True
    assert (clean is not None) is engine_accepts
