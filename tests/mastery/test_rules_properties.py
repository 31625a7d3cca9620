"""Properties of the engine over random ratings and policies (hypothesis).

The strategies here (``SCALE``, ``scores``, ``policies``) are shared with ``test_bulk.py``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.rules import DEFAULT_SCALE, SCORED, Policy, Rating, Scale, evaluate

# The default levels with zero allowed, so the power law's zero rule is exercised.
SCALE = Scale(DEFAULT_SCALE.levels, mastery_threshold=Decimal(3), min_points=Decimal(0))

scores = st.one_of(
    st.sampled_from([Decimal(v) for v in ("0", "1", "2", "2.5", "3", "4")]),
    st.integers(0, 400).map(lambda h: Decimal(h).scaleb(-2)),
    st.integers(0, 400_000).map(lambda h: Decimal(h).scaleb(-5)),
)

_probability = st.floats(0.0, 1.0, allow_nan=False)
_min_evidence = st.integers(1, 3)


@st.composite
def _bkt(draw: st.DrawFn) -> Policy:
    guess = draw(st.floats(0.01, 0.5))
    slip = draw(st.floats(0.01, 0.45))
    params = {
        "p_init": draw(_probability),
        "p_learn": draw(_probability),
        "p_guess": guess,
        "p_slip": slip,
        "mastery_probability": draw(st.floats(0.5, 0.99)),
    }
    if draw(st.booleans()):
        params["threshold"] = draw(st.sampled_from([Decimal(1), Decimal(2), Decimal("2.5")]))
    return Policy("bkt", params, draw(_min_evidence))


policies = st.one_of(
    st.builds(
        Policy,
        st.sampled_from(["highest", "latest", "average", "mode"]),
        st.just({}),
        _min_evidence,
    ),
    st.builds(
        Policy,
        st.just("n_times"),
        st.fixed_dictionaries(
            {"n": st.integers(1, 4)},
            optional={"threshold": st.sampled_from([Decimal(2), Decimal("2.5"), Decimal(4)])},
        ),
        _min_evidence,
    ),
    st.builds(
        Policy,
        st.just("weighted_average"),
        st.fixed_dictionaries({"weight": st.integers(1, 99)}),
        _min_evidence,
    ),
    st.builds(
        Policy,
        st.just("decaying_average"),
        st.fixed_dictionaries({"weight": st.integers(50, 99)}),
        _min_evidence,
    ),
    st.builds(
        Policy,
        st.just("power_law"),
        st.fixed_dictionaries(
            {
                "evaluate_at": st.sampled_from(["last", "next"]),
                "min_points": st.integers(2, 4),
                "floor": st.sampled_from([Decimal("0.25"), Decimal("0.5"), Decimal(1)]),
            }
        ),
        _min_evidence,
    ),
    _bkt(),
)

T0 = datetime(2026, 9, 1, tzinfo=UTC)


@st.composite
def rating_lists(draw: st.DrawFn) -> list[Rating]:
    """Ratings with colliding days and record times, so every ordering key matters."""
    size = draw(st.integers(0, 12))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=size, max_size=size, unique=True))
    return [
        Rating(
            score=draw(scores),
            demonstrated_at=T0 + timedelta(days=draw(st.integers(0, 3))),
            recorded_at=T0 + timedelta(hours=draw(st.integers(0, 2))),
            id=rating_id,
        )
        for rating_id in ids
    ]


@settings(max_examples=150, deadline=None)
@given(rating_lists(), policies, st.randoms(use_true_random=False))
def test_results_do_not_depend_on_input_order_beyond_the_ordering_keys(
    ratings: list[Rating], policy: Policy, rng: random.Random
) -> None:
    shuffled = list(ratings)
    rng.shuffle(shuffled)
    first = evaluate(ratings, policy, SCALE)
    second = evaluate(shuffled, policy, SCALE)
    assert (first.score, first.state, first.level, first.mastered) == (
        second.score,
        second.state,
        second.level,
        second.mastered,
    )
    assert (first.p_known, first.p_next) == (second.p_known, second.p_next)
    assert first.explanation == second.explanation


@settings(max_examples=200, deadline=None)
@given(rating_lists(), policies)
def test_scores_stay_within_the_scale(ratings: list[Rating], policy: Policy) -> None:
    result = evaluate(ratings, policy, SCALE)
    if result.state != SCORED:
        assert result.score is None
        return
    assert result.score is not None
    if policy.method == "bkt":
        # bkt's score is P(known), a probability
        assert Decimal(0) <= result.score <= Decimal(1)
    else:
        assert SCALE.low <= result.score <= SCALE.high
    assert result.level is not None


@settings(max_examples=100, deadline=None)
@given(rating_lists(), policies)
def test_scored_results_reproduce_from_their_explanation(
    ratings: list[Rating], policy: Policy
) -> None:
    result = evaluate(ratings, policy, SCALE)
    assert result.explanation["score"] == (None if result.score is None else str(result.score))
    replay = [
        Rating(Decimal(item["score"]), id=item["position"]) for item in result.explanation["inputs"]
    ]
    again = evaluate(replay, policy, SCALE)
    assert (again.score, again.state, again.mastered) == (
        result.score,
        result.state,
        result.mastered,
    )
