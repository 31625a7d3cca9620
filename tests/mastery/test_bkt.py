"""Bayesian knowledge tracing: the engine against the pyBKT oracle, and the EM fit.

The oracle is ``../shared/data/responses/assistments-2009-skillbuilder/reference_pybkt`` (pyBKT
1.4.3 fitted on 5 ASSISTments skills; read its README): standard BKT without forgetting, rows in
``row_seq`` order, ``bkt_posterior_after_last`` = P(known | all observations) and
``bkt_p_known_next`` = that after the learn transition. Its parameters and values are printed to
6 decimals, so the engine can only agree with the stored numbers to a few 1e-6; at full precision
it is checked against an independent matrix-form forward filter (pyBKT's formulation) to 1e-9.
The data are research data: read from ../shared/data, never copied; tests skip without them.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from mastery.bkt import fit_bkt, log_likelihood
from mastery.bulk import evaluate_bulk
from mastery.rules import (
    Level,
    Policy,
    Rating,
    RulesError,
    Scale,
    bkt_forward,
    calculate,
    evaluate,
)

DATA = (
    Path(__file__).resolve().parents[2].parent
    / "shared/data/responses/assistments-2009-skillbuilder"
)
REFERENCE = DATA / "reference_pybkt"
STORED_PRECISION = 1e-5  # 6-decimal parameters and values; the largest gap measured is 4.5e-6
FULL_PRECISION = 1e-9

BINARY_SCALE = Scale(
    (Level(Decimal(1), "Correct"), Level(Decimal(0), "Incorrect")),
    mastery_threshold=Decimal(1),
)

needs_data = pytest.mark.skipif(
    not (REFERENCE / "student_skill_reference_5skills.csv").exists(),
    reason="the ASSISTments pyBKT oracle is not in ../shared/data",
)


@dataclass(frozen=True)
class Skill:
    name: str
    prior: float
    learn: float
    guess: float
    slip: float
    sequences: dict[str, list[bool]]  # user id -> observations in row_seq order

    def params(self) -> dict[str, float]:
        return {
            "p_init": self.prior,
            "p_learn": self.learn,
            "p_guess": self.guess,
            "p_slip": self.slip,
        }

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        ids: list[int] = []
        correct: list[bool] = []
        for index, user in enumerate(sorted(self.sequences)):
            ids.extend([index] * len(self.sequences[user]))
            correct.extend(self.sequences[user])
        return np.array(ids, dtype=np.int64), np.array(correct)


@pytest.fixture(scope="module")
def skills() -> dict[str, Skill]:
    with (REFERENCE / "pybkt_params_5skills.csv").open() as handle:
        params = {row["skill_name"]: row for row in csv.DictReader(handle)}
    rows: dict[str, dict[str, list[tuple[int, bool]]]] = defaultdict(lambda: defaultdict(list))
    with (DATA / "assist2009_long.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["skill_name"] in params:
                rows[row["skill_name"]][row["user_id"]].append(
                    (int(row["row_seq"]), row["correct"] == "1")
                )
    return {
        name: Skill(
            name,
            float(p["prior"]),
            float(p["learn"]),
            float(p["guess"]),
            float(p["slip"]),
            {user: [c for _, c in sorted(obs)] for user, obs in rows[name].items()},
        )
        for name, p in params.items()
    }


@pytest.fixture(scope="module")
def reference_rows() -> list[dict[str, str]]:
    with (REFERENCE / "student_skill_reference_5skills.csv").open() as handle:
        return list(csv.DictReader(handle))


def matrix_forward(observations: list[bool], skill: Skill) -> Iterator[tuple[float, float, float]]:
    """pyBKT's formulation: a state vector, emission likelihoods and a transition matrix."""
    transition = np.array([[1 - skill.learn, skill.learn], [0.0, 1.0]])
    state = np.array([1 - skill.prior, skill.prior])
    for correct in observations:
        likelihood = np.array(
            [skill.guess, 1 - skill.slip] if correct else [1 - skill.guess, skill.slip]
        )
        joint = state * likelihood
        posterior = joint / joint.sum()
        after = posterior @ transition
        yield float(state[1]), float(posterior[1]), float(after[1])
        state = after


@needs_data
def test_bkt_agrees_with_the_stored_pybkt_oracle_on_every_row(
    skills: dict[str, Skill], reference_rows: list[dict[str, str]]
) -> None:
    assert len(reference_rows) == 1909
    worst = 0.0
    for row in reference_rows:
        skill = skills[row["skill_name"]]
        observations = skill.sequences[row["user_id"]]
        assert len(observations) == int(row["n_obs"])
        result = calculate(
            "bkt", [Rating(int(c), id=i) for i, c in enumerate(observations)],
            threshold=1, **skill.params(),
        )  # fmt: skip
        before, _, _ = bkt_forward(observations, **skill.params())
        assert result.p_known is not None
        assert result.p_next is not None
        gaps = (
            abs(result.p_known - float(row["bkt_posterior_after_last"])),
            abs(result.p_next - float(row["bkt_p_known_next"])),
            abs(before - float(row["pybkt_state_pred_last"])),
        )
        worst = max(worst, *gaps)
        assert max(gaps) < STORED_PRECISION, (row, gaps)
    assert worst > 0  # the comparison really ran on rounded data


@needs_data
def test_bkt_agrees_with_pybkts_matrix_formulation_to_1e_9_on_every_row(
    skills: dict[str, Skill], reference_rows: list[dict[str, str]]
) -> None:
    for row in reference_rows:
        skill = skills[row["skill_name"]]
        observations = skill.sequences[row["user_id"]]
        *_, (before, posterior, after) = matrix_forward(observations, skill)
        mine = bkt_forward(observations, **skill.params())
        assert abs(mine[0] - before) < FULL_PRECISION
        assert abs(mine[1] - posterior) < FULL_PRECISION
        assert abs(mine[2] - after) < FULL_PRECISION


@needs_data
def test_bkt_model_free_aggregates_match_the_oracle(
    skills: dict[str, Skill], reference_rows: list[dict[str, str]]
) -> None:
    for row in reference_rows:
        observations = skills[row["skill_name"]].sequences[row["user_id"]]
        ratings = [Rating(int(c), id=i) for i, c in enumerate(observations)]
        result = evaluate(ratings, Policy("average"), BINARY_SCALE)
        assert result.evidence_count == int(row["n_obs"])
        assert result.explanation["inputs"][-1]["position"] == int(row["n_obs"])
        value = calculate("average", ratings).value
        assert value is not None
        assert abs(float(value) - float(row["pct_correct"])) <= 5e-7


@needs_data
def test_bkt_bulk_path_equals_per_record_on_the_oracle_data(skills: dict[str, Skill]) -> None:
    for skill in skills.values():
        ids, correct = skill.arrays()
        policy = Policy("bkt", skill.params())
        result = evaluate_bulk(ids, correct.astype(np.float64), policy, BINARY_SCALE)
        for row, user in enumerate(sorted(skill.sequences)):
            observations = skill.sequences[user]
            _, posterior, after = bkt_forward(observations, **skill.params())
            assert float(result.p_known[row]) == posterior
            assert float(result.p_next[row]) == after


@needs_data
def test_em_fit_reaches_pybkts_optimum_or_a_better_one(skills: dict[str, Skill]) -> None:
    for skill in skills.values():
        ids, correct = skill.arrays()
        fit = fit_bkt(ids, correct, restarts=5, seed=42, max_iterations=1000)
        theirs = log_likelihood(ids, correct, **skill.params())
        assert fit.log_likelihood >= theirs - 1e-6, (skill.name, fit, theirs)


@needs_data
@pytest.mark.parametrize(
    "name", ["Box and Whisker", "Pythagorean Theorem", "Venn Diagram", "Scatter Plot"]
)
def test_em_fit_lands_close_to_pybkts_parameters(skills: dict[str, Skill], name: str) -> None:
    # Area Rectangle (495 rows) is left out: its likelihood has a better, degenerate optimum
    # (guess 0.99) that pyBKT's loose stopping rule (0.005 log-likelihood) does not reach.
    skill = skills[name]
    ids, correct = skill.arrays()
    fit = fit_bkt(ids, correct)
    assert fit.converged
    for ours, theirs in zip(fit.as_params().values(), skill.params().values(), strict=True):
        assert abs(ours - theirs) < 0.015, (name, fit.as_params(), skill.params())


def simulate(
    learners: int, length: int, p_init: float, p_learn: float, p_guess: float, p_slip: float
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    known = rng.random(learners) < p_init
    correct = np.empty((learners, length), dtype=bool)
    for step in range(length):
        draw = rng.random(learners)
        correct[:, step] = np.where(known, draw >= p_slip, draw < p_guess)
        known = known | (rng.random(learners) < p_learn)
    return np.repeat(np.arange(learners), length), correct.ravel()


def test_em_fit_recovers_the_parameters_that_generated_the_data() -> None:
    truth = {"p_init": 0.3, "p_learn": 0.15, "p_guess": 0.2, "p_slip": 0.1}
    ids, correct = simulate(4000, 12, **truth)
    fit = fit_bkt(ids, correct, restarts=3)
    assert fit.converged
    for name, value in truth.items():
        assert abs(fit.as_params()[name] - value) < 0.02, (name, fit)


def test_em_fit_is_deterministic_for_a_seed() -> None:
    ids, correct = simulate(300, 6, 0.4, 0.2, 0.25, 0.1)
    assert fit_bkt(ids, correct, seed=3) == fit_bkt(ids, correct, seed=3)


def test_em_fit_accepts_ragged_sequences() -> None:
    ids = np.array([0, 0, 0, 0, 1, 2, 2, 5, 5, 5])
    correct = np.array([0, 1, 1, 1, 1, 0, 1, 1, 1, 1])
    fit = fit_bkt(ids, correct, restarts=2)
    assert (fit.sequences, fit.observations) == (4, 10)
    assert all(0 < value < 1 for value in fit.as_params().values())


@pytest.mark.parametrize(
    ("ids", "correct", "message"),
    [
        ([1, 0], [1, 1], r"sequence_ids: must be non-decreasing \(row 1 goes back\)"),
        ([0, 0], [1, 2], "correct: row 1 is not 0/1 or a boolean"),
        ([], [], "at least one observation is needed"),
        ([0], [1, 0], "must be one-dimensional and of equal length"),
    ],
)
def test_em_fit_refuses_bad_input(ids: list[int], correct: list[int], message: str) -> None:
    with pytest.raises(RulesError, match=message):
        fit_bkt(np.array(ids, dtype=np.int64), np.array(correct))
