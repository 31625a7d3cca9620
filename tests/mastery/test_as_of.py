"""Mastery as of a past moment: from the ratings counted then, never from stored records."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from mastery import selectors, services
from mastery.models import MasteryRecord
from mastery.rules import NOT_ASSESSED, SCORED
from standards.models import CalculationPolicy
from tests.history import settle_versions
from tests.mastery.helpers import T0, World, rate, remove

HOUR = datetime.timedelta(hours=1)


@pytest.fixture(autouse=True)
def settled(world: World) -> None:
    """The world (school, policy, standards) has stood as it is since well before T0."""
    settle_versions(T0 - 30 * 24 * HOUR)


def test_as_of_counts_only_what_was_recorded_by_then(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher, recorded_at=T0)
    rate(learner, world.a, "4", rater=world.teacher, recorded_at=T0 + 2 * HOUR,
         demonstrated_at=T0 + HOUR)  # fmt: skip
    before = selectors.mastery_as_of(learner, world.a, T0 + HOUR)
    after = selectors.mastery_as_of(learner, world.a, T0 + 3 * HOUR)
    assert (before.score, before.evidence_count, before.mastered) == (Decimal(2), 1, False)
    assert (after.score, after.evidence_count, after.first_mastered_at) == (
        Decimal(3),
        2,
        T0 + HOUR,
    )


def test_as_of_before_any_rating_is_not_assessed(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "3", rater=world.teacher, recorded_at=T0)
    result = selectors.mastery_as_of(learner, world.a, T0 - HOUR)
    assert (result.state, result.score, result.evidence_count) == (NOT_ASSESSED, None, 0)


def test_a_removal_and_a_correction_count_only_from_their_time(world: World) -> None:
    learner = world.learners[0]
    kept = rate(learner, world.a, "2", rater=world.teacher, recorded_at=T0)
    removed = rate(learner, world.a, "4", rater=world.teacher, recorded_at=T0)
    remove(removed, by=world.teacher, at=T0 + 2 * HOUR)
    rate(learner, world.a, "3", rater=world.teacher, supersedes=kept, recorded_at=T0 + 4 * HOUR)
    scores = [selectors.mastery_as_of(learner, world.a, T0 + h * HOUR).score for h in (1, 3, 5)]
    assert scores == [Decimal(3), Decimal(2), Decimal(3)]


def test_as_of_is_the_same_whenever_it_is_asked(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher, recorded_at=T0)
    first = selectors.mastery_as_of(learner, world.a, T0 + HOUR)
    rate(learner, world.a, "4", rater=world.teacher)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    MasteryRecord.objects.filter(learner=learner).update(score=Decimal("1.5"))
    assert selectors.mastery_as_of(learner, world.a, T0 + HOUR).key() == first.key()


def test_as_of_many_learners_rolls_up_groupings_in_bounded_queries(
    world: World, django_assert_max_num_queries: object
) -> None:
    first, second = world.learners
    rate(first, world.a, "3", rater=world.teacher, recorded_at=T0)
    rate(first, world.b, "4", rater=world.teacher, recorded_at=T0)
    rate(second, world.a, "1", rater=world.teacher, recorded_at=T0)
    # +1: the overrides; +4: whether a learner row and a setting changed since then, and (they
    # did: the test world was made after T0) their versions; +3: the organisations, policies
    # and scales the rules are resolved from (the same for any number of schools). Never per
    # learner or per level.
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        results = selectors.mastery_as_of_many([first, second], world.domain, T0 + HOUR)
    assert (results[first.pk].state, results[first.pk].mastered) == (SCORED, True)
    assert (results[second.pk].state, results[second.pk].mastered) == (SCORED, False)


def test_as_of_uses_the_policy_in_force_then(world: World) -> None:
    """A policy changed after the moment asked for does not change the answer (ADR 8)."""
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher, recorded_at=T0)
    rate(learner, world.a, "4", rater=world.teacher, recorded_at=T0 + HOUR)
    before = selectors.mastery_as_of(learner, world.a, T0 + 2 * HOUR)
    CalculationPolicy.objects.filter(organisation=world.school).update(method="highest")

    assert selectors.mastery_as_of(learner, world.a, T0 + 2 * HOUR).key() == before.key()
    assert before.score == Decimal(3)
    assert selectors.mastery_as_of(learner, world.a, datetime.datetime.now(datetime.UTC)).score == 4
