"""Golden tests of the mastery engine: every method against published numbers.

Sources cited by the tests:
- [PRODUCT] ../shared/PRODUCT.md, "Mastery states and methods" (examples from Canvas' own tests).
- [CANVAS-ROLLUP] instructure/canvas-lms,
  spec/services/outcomes/student_outcome_rollup_calculation_service_spec.rb (commit 093b870e):
  scores 1, 2, 3, 4, 5 oldest first. Canvas' "decaying_average" is our weighted_average, its
  "standard_decaying_average" our decaying_average, its "n_mastery" our n_times with the
  mastery points (3) as threshold.
- [CANVAS-RA] instructure/canvas-lms, spec/lib/outcomes/result_analytics_spec.rb
  (commit 06a2c9df), "#mastery calculation".
- [JUMPROPE] JumpRope support, "The power of the Power Law"
  (support.jumpro.pe/hc/en-us/articles/203185740): four students' power law scores.
- [EDUCATE] Educate SIS help, "How Educate Calculates Standards-Based Grading"
  (cbk12sis.groovehq.com/help/standards-based-grading-calculations): mode and average examples.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mastery.rules import (
    CALCULATION_VERSION,
    DEFAULT_SCALE,
    INSUFFICIENT_EVIDENCE,
    NOT_ASSESSED,
    SCORED,
    Level,
    Policy,
    Rating,
    RulesError,
    Scale,
    calculate,
    evaluate,
    main,
    round_half_up,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def ratings(*scores: str | int | float) -> list[Rating]:
    """Ratings given oldest first, a day apart."""
    return [
        Rating(
            score=Decimal(str(score)),
            demonstrated_at=T0 + timedelta(days=i),
            recorded_at=T0 + timedelta(days=i),
            id=i + 1,
        )
        for i, score in enumerate(scores)
    ]


def score_of(method: str, *scores: str | int | float, **params: object) -> Decimal | None:
    return calculate(method, ratings(*scores), **params).score


# --- rounding -------------------------------------------------------------------------------


def test_rounding_is_half_up_where_python_round_is_not() -> None:
    assert round(4.125, 2) == 4.12  # [PRODUCT]: what Python does
    assert round_half_up(Decimal("4.125")) == Decimal("4.13")  # [PRODUCT]: what the field expects


def test_rounding_half_up_matches_decimal_quantize_on_exact_values() -> None:
    from decimal import ROUND_HALF_UP
    from fractions import Fraction

    for text in ("0.005", "1.115", "2.675", "3.4999", "3.995", "0", "4"):
        expected = Decimal(text).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert round_half_up(Fraction(Decimal(text))) == expected


# --- highest, latest, average (Canvas) ------------------------------------------------------


def test_highest_of_one_to_five_is_five() -> None:
    assert score_of("highest", 1, 2, 3, 4, 5) == Decimal("5.00")  # [CANVAS-ROLLUP]


def test_highest_of_two_four_three_is_four() -> None:
    assert score_of("highest", 2, 4, 3) == Decimal("4.00")  # [CANVAS-ROLLUP]


def test_latest_is_the_most_recently_demonstrated_score() -> None:
    # [CANVAS-ROLLUP]: 1, 2, 4, 5, 3 oldest first -> 3
    assert score_of("latest", 1, 2, 4, 5, 3) == Decimal("3.00")


def test_latest_of_canvas_result_analytics_is_three() -> None:
    # [CANVAS-RA] "latest score method": 1 (a day ago) then 3 (now) -> 3
    assert score_of("latest", 1, 3) == Decimal("3.00")


def test_average_of_one_to_five_is_three() -> None:
    assert score_of("average", 1, 2, 3, 4, 5) == Decimal("3.00")  # [CANVAS-ROLLUP]


def test_average_of_two_four_three_is_three() -> None:
    assert score_of("average", 2, 4, 3) == Decimal("3.00")  # [CANVAS-ROLLUP]


def test_average_of_educate_example_is_three_and_a_half() -> None:
    assert score_of("average", 4, 3, 3, 4) == Decimal("3.50")  # [EDUCATE]


def test_average_is_exact_before_rounding() -> None:
    result = calculate("average", ratings(1, 2, 2))
    assert result.score == Decimal("1.67")
    assert result.explanation["value"] == "1.666666666667…"


# --- mode ------------------------------------------------------------------------------------


def test_mode_of_educate_example_is_three() -> None:
    assert score_of("mode", 1, 2, 3, 3, 4) == Decimal("3.00")  # [EDUCATE]


def test_mode_tie_goes_to_the_most_recent_of_the_tied_scores() -> None:
    # [PRODUCT]: 2 and 3 both appear twice; 3 was seen last
    assert score_of("mode", 2, 3, 2, 3) == Decimal("3.00")
    assert score_of("mode", 3, 2, 3, 2) == Decimal("2.00")


def test_mode_tie_is_explained() -> None:
    result = calculate("mode", ratings(2, 3, 2, 3))
    assert result.explanation["notes"] == ["tie between 2, 3: the most recent of them, 3, wins"]


# --- n_times ---------------------------------------------------------------------------------


def test_n_times_of_product_example_is_three_point_seven_five() -> None:
    # [PRODUCT] and [CANVAS-RA]: N=3 threshold 3 on 4, 5, 1, 3, 2, 3 -> (4+5+3+3)/4
    assert score_of("n_times", 4, 5, 1, 3, 2, 3, n=3, threshold=3) == Decimal("3.75")


def test_n_times_without_enough_scores_has_no_score() -> None:
    result = calculate("n_times", ratings(3, 1, 2), n=3, threshold=3)  # [PRODUCT]
    assert result.score is None
    assert result.state == INSUFFICIENT_EVIDENCE


@pytest.mark.parametrize(
    ("scores", "n", "expected"),
    [
        ((3, 1), 3, None),  # [CANVAS-RA]
        ((3, 1, 2), 3, None),  # [CANVAS-RA]
        ((1, 2), 1, None),  # [CANVAS-RA]: nothing at or above 3
        ((1, 2, 3), 1, Decimal("3.00")),  # [CANVAS-RA]
        ((1, 2, 3, 4), 1, Decimal("3.50")),  # [CANVAS-RA]
        ((3, 4, 3), 3, Decimal("3.33")),  # [CANVAS-RA] "rounds results"
        ((1, 2, 3, 4, 5), 3, Decimal("4.00")),  # [CANVAS-ROLLUP]
        ((1, 2, 3, 4, 5), 4, None),  # [CANVAS-ROLLUP] "insufficient attempts"
    ],
)
def test_n_times_matches_canvas_n_mastery(
    scores: tuple[int, ...], n: int, expected: Decimal | None
) -> None:
    assert score_of("n_times", *scores, n=n, threshold=3) == expected


# --- weighted_average (Canvas' legacy "decaying average") ------------------------------------


def test_weighted_average_of_product_examples() -> None:
    assert score_of("weighted_average", 2, 3, weight=65) == Decimal("2.65")  # [PRODUCT]
    assert score_of("weighted_average", 2, 3, 4, weight=65) == Decimal("3.48")  # [PRODUCT]


def test_weighted_average_rounds_the_exact_tie_up() -> None:
    # [CANVAS-ROLLUP]: 5 * 0.65 + (1+2+3+4)/4 * 0.35 = 4.125 -> 4.13
    result = calculate("weighted_average", ratings(1, 2, 3, 4, 5), weight=65)
    assert result.score == Decimal("4.13")
    assert result.explanation["value"] == "4.125"
    assert result.explanation["rounding"] == "4.125 rounded half up to 2 decimals = 4.13"


@pytest.mark.parametrize(
    ("scores", "weight", "expected"),
    [
        ((3,), 75, Decimal("3.00")),  # [CANVAS-RA]: one score is the score
        ((3, 1, 5, 4), 75, Decimal("3.75")),  # [CANVAS-RA]: 0.75*4 + 0.25*3
        ((2, 3), 65, Decimal("2.65")),  # [CANVAS-RA]
        (("2.123",), 65, Decimal("2.12")),  # [CANVAS-RA] "rounds results"
        ((5, 4), 65, Decimal("4.35")),  # [CANVAS-RA] "users with the same name"
        ((3, 2), 65, Decimal("2.35")),  # [CANVAS-RA]
    ],
)
def test_weighted_average_matches_canvas_result_analytics(
    scores: tuple[Any, ...], weight: int, expected: Decimal
) -> None:
    assert score_of("weighted_average", *scores, weight=weight) == expected


def test_weighted_average_default_weight_is_sixty_five() -> None:
    assert score_of("weighted_average", 2, 3) == Decimal("2.65")


# --- decaying_average -----------------------------------------------------------------------


def test_decaying_average_of_product_example_is_three_point_five_three() -> None:
    result = calculate("decaying_average", ratings(2, 3, 4), weight=65)  # [PRODUCT]
    assert result.score == Decimal("3.53")
    assert result.explanation["steps"] == [
        "d1 = x1 = 2",
        "d2 = 0.35 * 2 + 0.65 * 3 = 2.65",
        "d3 = 0.35 * 2.65 + 0.65 * 4 = 3.5275",
    ]


def test_decaying_average_of_one_to_five_is_four_point_four_seven() -> None:
    # [CANVAS-ROLLUP]: 1.65, 2.5275, 3.485, 4.47 (exactly 4.46961875)
    result = calculate("decaying_average", ratings(1, 2, 3, 4, 5), weight=65)
    assert result.score == Decimal("4.47")
    assert result.explanation["value"] == "4.46961875"


def test_decaying_average_weight_must_be_fifty_to_ninety_nine() -> None:
    with pytest.raises(RulesError, match=r"weight: must be 50\.\.99, got 49"):
        calculate("decaying_average", ratings(1), weight=49)


# --- power_law -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ((1, 2, 3, 4), Decimal("4.00")),  # [JUMPROPE] student 1
        ((1, 3, 2, 4), Decimal("3.66")),  # [JUMPROPE] student 2
        ((2, 4, 1, 3), Decimal("2.16")),  # [JUMPROPE] student 3
        ((4, 3, 2, 1), Decimal("1.28")),  # [JUMPROPE] student 4
    ],
)
def test_power_law_matches_jumprope_examples(scores: tuple[int, ...], expected: Decimal) -> None:
    assert score_of("power_law", *scores) == expected


def test_power_law_next_reads_the_fit_one_position_ahead() -> None:
    # ln-ln fit of 1, 3, 2, 4 read at position 5 = 4.4188 on an open-ended scale
    assert score_of("power_law", 1, 3, 2, 4, evaluate_at="next", scale_max=10) == Decimal("4.42")


def test_power_law_is_capped_to_the_scale() -> None:
    result = calculate("power_law", ratings(1, 2, 3, 4), evaluate_at="next")
    assert result.score == Decimal("4.00")  # the fit says 5.0 at position 5
    assert "outside the scale 1..4" in result.explanation["notes"][0]


def test_power_law_with_too_few_scores_falls_back_to_average_and_says_so() -> None:
    result = calculate("power_law", ratings(2, 3))
    assert result.score == Decimal("2.50")
    assert result.explanation["notes"] == [
        "power_law needs at least 3 scores, 2 given: fell back to average"
    ]


def test_power_law_min_points_can_be_lowered_to_two() -> None:
    assert score_of("power_law", 2, 3, min_points=2) == Decimal("3.00")


def test_power_law_fits_a_zero_as_the_floor_and_says_so() -> None:
    result = calculate("power_law", ratings(0, 1, 2), scale_min=0)
    expected = calculate("power_law", ratings("0.5", 1, 2), scale_min=0)
    assert result.score == expected.score == Decimal("1.86")
    assert "the zero rule" in result.explanation["notes"][0]


def test_power_law_floor_is_configurable() -> None:
    # fitted as 1, 1, 2: least squares of ln(y) on ln(1..3) read at 3 = 1.6708
    assert score_of("power_law", 0, 1, 2, scale_min=0, floor=1) == Decimal("1.67")


# --- bkt -------------------------------------------------------------------------------------


def test_bkt_one_correct_observation_by_hand() -> None:
    # posterior = 0.5*0.9 / (0.5*0.9 + 0.5*0.2) = 0.8181...; next = 0.8181... + 0.1818... * 0.1
    result = calculate(
        "bkt", ratings(1), threshold=1, p_init=0.5, p_learn=0.1, p_guess=0.2, p_slip=0.1
    )
    assert result.p_known == pytest.approx(0.45 / 0.55, abs=1e-15)
    assert result.p_next == pytest.approx(0.45 / 0.55 + (0.1 / 0.55) * 0.1, abs=1e-15)
    assert result.score == Decimal("0.82")


def test_bkt_reads_scores_below_the_threshold_as_incorrect() -> None:
    # posterior = 0.5*0.1 / (0.5*0.1 + 0.5*0.8) = 0.1111...
    result = calculate("bkt", ratings(2), p_init=0.5, p_learn=0.1, p_guess=0.2, p_slip=0.1)
    assert result.p_known == pytest.approx(0.05 / 0.45, abs=1e-15)


def test_bkt_rejects_guess_plus_slip_of_one_or_more() -> None:
    with pytest.raises(RulesError, match="p_guess \\+ p_slip must be below 1"):
        calculate("bkt", ratings(1), p_guess=0.6, p_slip=0.4)


# --- states, ordering, evidence ----------------------------------------------------------------


def test_no_ratings_is_not_assessed() -> None:
    result = calculate("average", [])
    assert (result.score, result.state) == (None, NOT_ASSESSED)


def test_fewer_ratings_than_min_evidence_is_insufficient_evidence() -> None:
    result = calculate("average", ratings(3, 4), min_evidence=3)
    assert (result.score, result.state) == (None, INSUFFICIENT_EVIDENCE)
    assert result.explanation["notes"] == ["2 ratings, the policy needs at least 3"]


def test_ratings_are_ordered_by_demonstrated_at_then_recorded_at_then_id() -> None:
    early, late = T0, T0 + timedelta(days=1)
    given = [
        Rating(Decimal(1), demonstrated_at=late, recorded_at=late, id=1),
        Rating(Decimal(2), demonstrated_at=early, recorded_at=late, id=2),
        Rating(Decimal(3), demonstrated_at=early, recorded_at=early, id=9),
        Rating(Decimal(4), demonstrated_at=early, recorded_at=early, id=3),
    ]
    result = calculate("latest", given)
    assert [i["id"] for i in result.explanation["inputs"]] == [3, 9, 2, 1]
    assert result.score == Decimal("1.00")


def test_mixing_aware_and_naive_times_is_refused() -> None:
    given = [
        Rating(Decimal(1), demonstrated_at=T0, id=1),
        Rating(Decimal(2), demonstrated_at=datetime(2026, 9, 2), id=2),
    ]
    with pytest.raises(RulesError, match="timezone-aware and naive"):
        calculate("latest", given)


def test_a_negative_score_is_refused_naming_the_rating() -> None:
    with pytest.raises(RulesError, match="rating 7: score: must be at least 0"):
        calculate("average", [Rating(Decimal(-1), id=7)])


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(RulesError, match="method: 'median' is not one of"):
        calculate("median", ratings(1))


def test_a_parameter_the_method_does_not_take_is_refused() -> None:
    with pytest.raises(RulesError, match="weight: average does not take it"):
        calculate("average", ratings(1), weight=65)


def test_explanation_is_json_and_carries_inputs_formula_rounding_and_version() -> None:
    result = calculate("decaying_average", ratings(2, 3, 4))
    explanation = json.loads(json.dumps(result.explanation))
    assert explanation["calculation_version"] == CALCULATION_VERSION
    assert explanation["method"] == "decaying_average"
    assert explanation["params"] == {"min_evidence": 1, "weight": 65}
    assert explanation["inputs"][0] == {
        "position": 1,
        "id": 1,
        "score": "2",
        "demonstrated_at": "2026-09-01T08:00:00+00:00",
        "recorded_at": "2026-09-01T08:00:00+00:00",
    }
    assert explanation["formula"] == "dk = 0.35 * d(k-1) + 0.65 * xk; d3 = 3.5275"
    assert explanation["rounding"] == "3.5275 rounded half up to 2 decimals = 3.53"
    assert explanation["state"] == SCORED


# --- scale, levels, evaluate ------------------------------------------------------------------


def test_level_is_the_highest_whose_cut_point_is_at_or_below_the_score() -> None:
    assert DEFAULT_SCALE.level_for(Decimal("2.99")).label == "Developing"
    assert DEFAULT_SCALE.level_for(Decimal("3.00")).label == "Proficient"
    assert DEFAULT_SCALE.level_for(Decimal("4.00")).label == "Advanced"


def test_cut_points_can_be_set_apart_from_points() -> None:
    scale = Scale(
        levels=(
            Level(Decimal(4), "Advanced", Decimal("3.5")),
            Level(Decimal(3), "Proficient", Decimal("2.5")),
            Level(Decimal(2), "Developing", Decimal("1.5")),
            Level(Decimal(1), "Beginning", Decimal(0)),
        ),
        mastery_threshold=Decimal("2.5"),
    )
    result = evaluate(ratings(2, 3), Policy("average"), scale)
    assert result.level is not None
    assert (result.score, result.level.label, result.mastered) == (
        Decimal("2.50"),
        "Proficient",
        True,
    )


def test_a_score_below_every_cut_point_gets_the_lowest_level() -> None:
    scale = Scale(
        levels=(Level(Decimal(4), "Advanced"), Level(Decimal(2), "Developing")),
        mastery_threshold=Decimal(3),
        min_points=Decimal(0),
    )
    result = evaluate(ratings(1), Policy("average"), scale)
    assert result.level is not None
    assert result.level.label == "Developing"


def test_mastered_when_the_rounded_score_reaches_the_threshold() -> None:
    # 0.65 * 3 + 0.35 * 2.98 = 2.993 -> 2.99, not mastered;
    # 0.35 * 3 + 0.65 * 2.993 = 2.99545 -> 3.00, mastered
    below = evaluate(ratings("2.98", 3), Policy("weighted_average"), DEFAULT_SCALE)
    at = evaluate(ratings(3, "2.993"), Policy("weighted_average"), DEFAULT_SCALE)
    assert (below.score, below.mastered) == (Decimal("2.99"), False)
    assert (at.score, at.mastered) == (Decimal("3.00"), True)


def test_evaluate_reports_state_level_mastered_and_evidence_count() -> None:
    result = evaluate(ratings(2, 3, 4), Policy("decaying_average"), DEFAULT_SCALE)
    assert result.level is not None
    assert (result.score, result.state, result.level.label, result.mastered) == (
        Decimal("3.53"),
        SCORED,
        "Proficient",
        True,
    )
    assert result.evidence_count == 3
    assert result.explanation["level"] == {"points": "3", "label": "Proficient"}


def test_evaluate_uses_the_scale_threshold_for_n_times() -> None:
    scale = Scale(DEFAULT_SCALE.levels, mastery_threshold=Decimal(4))
    result = evaluate(ratings(4, 3, 4), Policy("n_times", {"n": 2}), scale)
    assert result.score == Decimal("4.00")


def test_evaluate_refuses_a_score_off_the_scale_naming_the_rating() -> None:
    with pytest.raises(RulesError, match=r"rating 2: score 5 is outside the scale 1\.\.4"):
        evaluate(ratings(3, 5), Policy("average"), DEFAULT_SCALE)


def test_evaluate_not_assessed_has_no_level_and_is_not_mastered() -> None:
    result = evaluate([], Policy("highest"), DEFAULT_SCALE)
    assert (result.state, result.level, result.mastered, result.evidence_count) == (
        NOT_ASSESSED,
        None,
        False,
        0,
    )


def test_evaluate_bkt_mastered_gets_the_mastery_level() -> None:
    policy = Policy("bkt", {"p_init": 0.9, "p_learn": 0.3, "p_guess": 0.1, "p_slip": 0.05})
    result = evaluate(ratings(3, 4, 3), policy, DEFAULT_SCALE)
    assert result.p_known is not None
    assert result.p_known >= 0.95
    assert result.level is not None
    assert (result.mastered, result.level.label) == (True, "Proficient")


def test_evaluate_bkt_not_mastered_gets_the_level_below_mastery() -> None:
    policy = Policy("bkt", {"p_init": 0.1, "p_learn": 0.1, "p_guess": 0.2, "p_slip": 0.1})
    result = evaluate(ratings(1, 2), policy, DEFAULT_SCALE)
    assert result.level is not None
    assert (result.mastered, result.level.label) == (False, "Developing")


def test_policy_is_validated_when_built() -> None:
    with pytest.raises(RulesError, match="n: must be at least 1, got 0"):
        Policy("n_times", {"n": 0})


def test_policy_cannot_set_the_scale_range() -> None:
    with pytest.raises(RulesError, match="scale_max comes from the scale"):
        Policy("power_law", {"scale_max": 10})


def test_scale_refuses_cut_points_that_do_not_rise_with_points() -> None:
    with pytest.raises(RulesError, match="cut points must rise with the points"):
        Scale(
            (Level(Decimal(2), "Two", Decimal(3)), Level(Decimal(3), "Three", Decimal(2))),
            mastery_threshold=Decimal(3),
        )


# --- command line ------------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0
    output: dict[str, Any] = json.loads(capsys.readouterr().out)
    return output


def test_cli_prints_the_score_as_a_string(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "decaying_average", "2", "3", "4", "--weight", "65")
    assert (out["score"], out["state"]) == ("3.53", SCORED)
    assert out["explanation"]["value"] == "3.5275"


def test_cli_prints_null_when_there_is_no_score(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "n_times", "3", "1", "2", "--n", "3", "--threshold", "3")
    assert (out["score"], out["state"]) == (None, INSUFFICIENT_EVIDENCE)


def test_cli_bkt_prints_p_known_and_p_next_at_full_precision(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = run_cli(
        capsys, "bkt", "1", "--threshold", "1", "--p-init", "0.5", "--p-learn", "0.1",
        "--p-guess", "0.2", "--p-slip", "0.1",
    )  # fmt: skip
    assert out["p_known"] == 0.45 / (0.45 + 0.5 * 0.2)
    assert out["p_next"] == out["p_known"] + (1 - out["p_known"]) * 0.1
    assert out["score"] == "0.82"


def test_cli_power_law_options(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "power_law", "2", "3", "--min-points", "3")
    assert out["score"] == "2.50"
    out = run_cli(capsys, "power_law", "1", "2", "3", "4", "--evaluate-at", "next")
    assert out["score"] == "4.00"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["average"], "the following arguments are required: SCORE"),
        (["median", "1"], "invalid choice: 'median'"),
        (["average", "1", "x"], "score 2: 'x' is not a number"),
        (["average", "-1"], "score 1: must be at least 0"),
        (["weighted_average", "2", "--weight", "120"], "weight: must be 1..99, got 120"),
        (["n_times", "2", "--n", "two"], "n: 'two' is not a number"),
        (["average", "2", "--n", "3"], "n: average does not take it"),
        (["power_law", "1", "--evaluate-at", "first"], "invalid choice: 'first'"),
        (["bkt", "1", "--p-slip", "1.5"], "p_slip: must be in (0, 1), got '1.5'"),
    ],
)
def test_cli_bad_arguments_exit_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_runs_as_a_module_from_the_repository_root() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "mastery.rules", "weighted_average", "1", "2", "3", "4", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["score"] == "4.13"


def test_engine_imports_no_django() -> None:
    code = (
        "import sys, mastery.rules, mastery.bulk, mastery.bkt; "
        "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False"
