"""A teacher's change on a learner must never deadlock with a recompute of that learner.

A recompute holds the learner row FOR KEY SHARE (the key of its records: at its commit when
that was a foreign key, from its start since mastery/migrations/0009), deletes the pair's
marker, writes records and commits. A rating change, an override or an elective choice that
locked the learner row FOR UPDATE and then waited for that marker made the recompute's commit
wait for it: a deadlock (seen once in CI). They lock only what they must (the rating row; the
learner row FOR NO KEY UPDATE), so the recompute commits and they go on.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from evidence import services as evidence_services
from mastery import services, sql
from mastery.models import MasteryOverride, StaleMastery
from tests.mastery.helpers import World, first_holds_second_waits, rate

pytestmark = pytest.mark.django_db(transaction=True)


def _alongside_a_recompute(world: World, change: Callable[[], object]) -> list[BaseException]:
    """Run ``change`` (in a thread, on its own connection) while another connection holds what
    a recompute of the learner holds just before its commit; the recompute commits once
    ``change`` waits on it. Returns the errors either raised."""
    learner = world.learners[0]
    services.mark_stale(pairs=[(learner.pk, world.a.pk)])

    def recompute() -> None:
        # The learner FOR KEY SHARE and its advisory lock, as a recompute starts.
        assert sql.pair_context(learner.pk, world.a.pk) is not None
        StaleMastery.objects.filter(learner=learner, standard=world.a).delete()
        services._create_record(learner.pk, world.b.pk, timezone.now())

    _, errors, _ = first_holds_second_waits(recompute, change)
    return errors


def test_a_removal_waiting_on_a_recompute_of_the_learner_does_not_deadlock(world: World) -> None:
    rating = rate(world.learners[0], world.a, "3", rater=world.teacher)

    def removal() -> object:
        return evidence_services.remove_rating(actor=world.teacher, rating=rating, reason="typo")

    assert _alongside_a_recompute(world, removal) == []


def test_a_correction_waiting_on_a_recompute_of_the_learner_does_not_deadlock(world: World) -> None:
    rating = rate(world.learners[0], world.a, "3", rater=world.teacher)

    def correction() -> object:
        return evidence_services.supersede_rating(
            actor=world.teacher, rating=rating, score="2", comment="misread"
        )

    assert _alongside_a_recompute(world, correction) == []


def test_an_override_waiting_on_a_recompute_of_the_learner_does_not_deadlock(world: World) -> None:
    def override() -> object:
        return services.set_override(
            actor=world.teacher,
            learner=world.learners[0],
            standard=world.a,
            level="4",
            reason="seen in class",
        )

    assert _alongside_a_recompute(world, override) == []
    assert MasteryOverride.objects.filter(cleared_at__isnull=True).count() == 1
