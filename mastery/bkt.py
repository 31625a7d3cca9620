"""Fitting Bayesian knowledge tracing parameters per standard, by expectation maximisation.

``fit_bkt(sequence_ids, correct)`` takes every learner's observations on one standard (one row
per rating: the learner's id, non-decreasing, and whether the rating counts as correct, each
learner's rows oldest first) and returns P(L0), P(T), P(G), P(S) of standard BKT without
forgetting, the model pyBKT fits with ``forgets=False``. The workers call it per standard and
store the result in the standard's calculation policy; ``mastery.rules`` then uses it.

The E-step is a scaled forward-backward pass vectorised over learners: observations are laid
out position-major (every learner's first observation, then every second one, ...) with learners
ranked by sequence length, so the learners still active at each position are a prefix and each
step is a handful of numpy operations on contiguous slices. Memory is a few float arrays the size
of the input. Random restarts are drawn as pyBKT draws them (prior U(0,1), learn U(0,0.4), guess
U(0,0.4), slip U(0,0.3)) from a seeded generator, so a fit is reproducible; the best
log-likelihood wins. No Django here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from mastery.rules import RulesError

_EDGE: Final = 1e-6


@dataclass(frozen=True)
class BKTFit:
    """Fitted parameters and how the fit went."""

    p_init: float
    p_learn: float
    p_guess: float
    p_slip: float
    log_likelihood: float
    iterations: int
    converged: bool
    sequences: int
    observations: int

    def as_params(self) -> dict[str, float]:
        """The parameters as a ``bkt`` policy takes them."""
        return {
            "p_init": self.p_init,
            "p_learn": self.p_learn,
            "p_guess": self.p_guess,
            "p_slip": self.p_slip,
        }


@dataclass(frozen=True)
class _Layout:
    observed: NDArray[np.float64]  # 1.0 correct, 0.0 not, position-major
    offsets: NDArray[np.int64]  # first cell of each position
    active: NDArray[np.int64]  # how many sequences reach each position


def _layout(sequence_ids: object, correct: object) -> _Layout:
    if not isinstance(sequence_ids, np.ndarray) or not isinstance(correct, np.ndarray):
        raise RulesError("sequence_ids and correct: must be numpy arrays")
    if sequence_ids.ndim != 1 or correct.ndim != 1 or sequence_ids.shape != correct.shape:
        raise RulesError("sequence_ids and correct: must be one-dimensional and of equal length")
    if sequence_ids.shape[0] == 0:
        raise RulesError("sequence_ids: at least one observation is needed to fit")
    if not np.issubdtype(sequence_ids.dtype, np.integer):
        raise RulesError(f"sequence_ids: must be integers, got {sequence_ids.dtype}")
    flags = correct.astype(np.float64)
    bad = np.flatnonzero((flags != 0) & (flags != 1))
    if bad.shape[0]:
        raise RulesError(f"correct: row {int(bad[0])} is not 0/1 or a boolean")
    ids = sequence_ids.astype(np.int64, copy=False)
    back = np.flatnonzero(ids[1:] < ids[:-1])
    if back.shape[0]:
        raise RulesError(f"sequence_ids: must be non-decreasing (row {int(back[0]) + 1} goes back)")
    rows = ids.shape[0]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[starts, rows])
    rank_order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(rank_order)
    rank[rank_order] = np.arange(rank_order.shape[0])
    sorted_counts = counts[rank_order]
    longest = int(sorted_counts[0])
    active = np.array(
        [np.searchsorted(-sorted_counts, -step, side="left") for step in range(longest)],
        dtype=np.int64,
    )
    offsets = np.r_[0, np.cumsum(active)[:-1]].astype(np.int64)
    sequence_of_row = np.repeat(np.arange(starts.shape[0]), counts)
    position = np.arange(rows) - starts[sequence_of_row]
    cell = offsets[position] + rank[sequence_of_row]
    observed = np.empty(rows, dtype=np.float64)
    observed[cell] = flags
    return _Layout(observed, offsets, active)


@dataclass
class _Statistics:
    log_likelihood: float
    known_first: float
    learned: float
    unknown_before_step: float
    unknown: float
    unknown_correct: float
    known: float
    known_wrong: float


def _expectation(
    layout: _Layout, p_init: float, p_learn: float, p_guess: float, p_slip: float
) -> _Statistics:
    obs = layout.observed
    right = obs == 1.0
    emit_unknown = np.where(right, p_guess, 1 - p_guess)
    emit_known = np.where(right, 1 - p_slip, p_slip)
    size = obs.shape[0]
    alpha0 = np.empty(size)
    alpha1 = np.empty(size)
    scale = np.empty(size)
    first = slice(0, int(layout.active[0]))
    a0 = (1 - p_init) * emit_unknown[first]
    a1 = p_init * emit_known[first]
    c = a0 + a1
    alpha0[first], alpha1[first], scale[first] = a0 / c, a1 / c, c
    steps = layout.active.shape[0]
    for step in range(1, steps):
        count = int(layout.active[step])
        here = slice(int(layout.offsets[step]), int(layout.offsets[step]) + count)
        back = slice(int(layout.offsets[step - 1]), int(layout.offsets[step - 1]) + count)
        q0 = alpha0[back] * (1 - p_learn)
        q1 = alpha1[back] + alpha0[back] * p_learn
        a0 = q0 * emit_unknown[here]
        a1 = q1 * emit_known[here]
        c = a0 + a1
        alpha0[here], alpha1[here], scale[here] = a0 / c, a1 / c, c
    beta0 = np.ones(size)
    beta1 = np.ones(size)
    learned = 0.0
    unknown_before_step = 0.0
    for step in range(steps - 2, -1, -1):
        count = int(layout.active[step + 1])
        ahead = slice(int(layout.offsets[step + 1]), int(layout.offsets[step + 1]) + count)
        here = slice(int(layout.offsets[step]), int(layout.offsets[step]) + count)
        f0 = emit_unknown[ahead] * beta0[ahead] / scale[ahead]
        f1 = emit_known[ahead] * beta1[ahead] / scale[ahead]
        beta0[here] = (1 - p_learn) * f0 + p_learn * f1
        beta1[here] = f1
        learned += float(np.dot(alpha0[here], f1)) * p_learn
        unknown_before_step += float(np.dot(alpha0[here], beta0[here]))
    gamma0 = alpha0 * beta0
    gamma1 = alpha1 * beta1
    return _Statistics(
        log_likelihood=float(np.log(scale).sum()),
        known_first=float(gamma1[first].sum()),
        learned=learned,
        unknown_before_step=unknown_before_step,
        unknown=float(gamma0.sum()),
        unknown_correct=float(gamma0[right].sum()),
        known=float(gamma1.sum()),
        known_wrong=float(gamma1[~right].sum()),
    )


def _clip(value: float) -> float:
    return min(max(value, _EDGE), 1 - _EDGE)


def _ratio(numerator: float, denominator: float, fallback: float) -> float:
    return _clip(numerator / denominator) if denominator > 0 else fallback


def log_likelihood(
    sequence_ids: NDArray[np.integer],
    correct: NDArray[np.bool_] | NDArray[np.integer],
    *,
    p_init: float,
    p_learn: float,
    p_guess: float,
    p_slip: float,
) -> float:
    """The log-likelihood of the observations under the given parameters."""
    layout = _layout(sequence_ids, correct)
    return _expectation(layout, p_init, p_learn, p_guess, p_slip).log_likelihood


def fit_bkt(
    sequence_ids: NDArray[np.integer],
    correct: NDArray[np.bool_] | NDArray[np.integer],
    *,
    restarts: int = 5,
    seed: int = 42,
    max_iterations: int = 500,
    tolerance: float = 1e-9,
) -> BKTFit:
    """Fit P(L0), P(T), P(G), P(S) to all learners' observations on one standard by EM.

    ``sequence_ids`` is non-decreasing (one learner's rows together, oldest first); ``correct``
    says whether each rating counts as correct (a score at or above the policy's threshold).
    Each restart iterates until the log-likelihood gains less than ``tolerance`` times its size,
    or ``max_iterations``. Deterministic for a given ``seed``. Raises ``RulesError`` on bad input.
    """
    if restarts < 1:
        raise RulesError(f"restarts: must be at least 1, got {restarts}")
    if max_iterations < 1:
        raise RulesError(f"max_iterations: must be at least 1, got {max_iterations}")
    layout = _layout(sequence_ids, correct)
    sequences = int(layout.active[0])
    observations = int(layout.observed.shape[0])
    generator = np.random.default_rng(seed)
    best: BKTFit | None = None
    for _ in range(restarts):
        p_init = _clip(float(generator.uniform(0, 1)))
        p_learn = _clip(float(generator.uniform(0, 0.4)))
        p_guess = _clip(float(generator.uniform(0, 0.4)))
        p_slip = _clip(float(generator.uniform(0, 0.3)))
        previous = -np.inf
        converged = False
        iterations = 0
        for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported below
            stats = _expectation(layout, p_init, p_learn, p_guess, p_slip)
            gain = stats.log_likelihood - previous
            if gain < tolerance * abs(stats.log_likelihood):
                converged = True
                break
            previous = stats.log_likelihood
            p_init = _clip(stats.known_first / sequences)
            p_learn = _ratio(stats.learned, stats.unknown_before_step, p_learn)
            p_guess = _ratio(stats.unknown_correct, stats.unknown, p_guess)
            p_slip = _ratio(stats.known_wrong, stats.known, p_slip)
        final = _expectation(layout, p_init, p_learn, p_guess, p_slip).log_likelihood
        fit = BKTFit(
            p_init, p_learn, p_guess, p_slip, final, iterations, converged, sequences, observations
        )
        if best is None or fit.log_likelihood > best.log_likelihood:
            best = fit
    assert best is not None
    return best
