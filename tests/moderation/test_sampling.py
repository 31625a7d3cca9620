"""The sample and the reviewers' assignment (``moderation.sampling``): pure, seeded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.sampling import Candidate, NoReviewer, allocate, assign_reviewers, draw_sample


def _population(sizes: dict[tuple[int, int], int]) -> list[Candidate]:
    ids = iter(range(1, 10_000))
    return [Candidate(stratum, next(ids)) for stratum, n in sizes.items() for _ in range(n)]


def test_every_stratum_gets_one_then_the_rest_in_proportion() -> None:
    """Strata of 10, 5 and 1 pieces, a sample of 7: one each (3), then 4 shared by what is
    left (9, 4, 0): 4 * 9/13 = 2.77 and 4 * 4/13 = 1.23, so 2 and 1, the last one to the
    larger remainder (0.77): 1 + 3, 1 + 1, 1."""
    assert allocate({(1, 1): 10, (1, 2): 5, (2, 3): 1}, 7) == {(1, 1): 4, (1, 2): 2, (2, 3): 1}
    assert allocate({(1, 1): 2, (1, 2): 1}, 10) == {(1, 1): 2, (1, 2): 1}


def test_fewer_pieces_than_strata_take_one_from_as_many_strata() -> None:
    sample = draw_sample(_population({(1, s): 3 for s in range(5)}), 2, seed=1)
    assert len({c.stratum for c in sample}) == 2


def test_the_draw_does_not_depend_on_the_order_it_is_given() -> None:
    population = _population({(1, 1): 6, (1, 2): 4, (2, 3): 5})
    assert draw_sample(population, 5, 42) == draw_sample(list(reversed(population)), 5, 42)


def test_reviewers_are_spread_and_exclusions_respected() -> None:
    pieces = [(n, frozenset({1})) for n in range(1, 7)]
    assigned = assign_reviewers(pieces, [1, 2, 3], seed=3)
    assert set(assigned.values()) == {2, 3}
    assert sorted(list(assigned.values()).count(r) for r in (2, 3)) == [3, 3]
    assert assign_reviewers(pieces, [3, 2, 1], seed=3) == assigned
    with pytest.raises(NoReviewer) as refused:
        assign_reviewers([(1, frozenset()), (2, frozenset({5}))], [5], seed=3)
    assert refused.value.piece == 2


populations = st.dictionaries(
    st.tuples(st.integers(1, 3), st.integers(1, 6)), st.integers(1, 12), min_size=1, max_size=8
)


@settings(max_examples=120, deadline=None)
@given(populations, st.integers(0, 60), st.integers(0, 2**40))
def test_a_sample_is_reproducible_distinct_and_stratified(
    sizes: dict[tuple[int, int], int], size: int, seed: int
) -> None:
    population = _population(sizes)
    sample = draw_sample(population, size, seed)
    assert sample == draw_sample(population, size, seed)
    assert len(sample) == min(size, len(population))
    assert len(set(sample)) == len(sample)
    assert set(sample) <= set(population)
    drawn = {c.stratum for c in sample}
    if len(population) > size >= len(sizes):
        assert drawn == set(sizes)  # every stratum is represented
        quota = allocate(sizes, size)
        for stratum, n in sizes.items():
            # Never more than one piece above its proportional share of the whole.
            got = sum(1 for c in sample if c.stratum == stratum)
            assert got == quota[stratum]
            assert got <= 1 + size * n / len(population) + 1
