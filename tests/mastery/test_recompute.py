"""recompute_mastery: rebuild one record from the committed counted ratings."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from learners.models import Learner
from mastery import rules, services
from mastery.models import MasteryEvent, MasteryRecord, MasteryState, StaleMastery
from standards.models import CalculationPolicy
from tests.mastery.helpers import T0, World, rate, remove

type NumQueries = Callable[..., AbstractContextManager[Any]]
NOW = datetime.datetime(2026, 10, 1, 12, 0, tzinfo=datetime.UTC)


def _record(learner: Learner, standard_id: int) -> MasteryRecord:
    return MasteryRecord.objects.get(learner=learner, standard_id=standard_id)


def test_a_rating_gives_the_engine_s_score_level_and_count(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
    rate(learner, world.a, "3", rater=world.teacher, demonstrated_at=T0 + datetime.timedelta(1))
    with time_machine.travel(NOW, tick=False):
        outcome = services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    record = _record(learner, world.a.pk)
    assert outcome.changed is True
    assert (record.state, record.score, record.level_label, record.level_points) == (
        MasteryState.SCORED,
        Decimal("2.5"),
        "Developing",
        Decimal(2),
    )
    assert (record.mastered, record.first_mastered_at, record.evidence_count) == (False, None, 2)
    assert record.computed_at == NOW
    assert record.calculation_version == rules.CALCULATION_VERSION
    assert record.explanation["method"] == "average"
    assert [i["score"] for i in record.explanation["inputs"]] == ["2", "3"]
    assert not StaleMastery.objects.exists()


def test_the_policy_in_force_for_the_school_is_used(world: World) -> None:
    learner = world.learners[0]
    CalculationPolicy.objects.filter(organisation=world.school).update(method="highest")
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0)
    rate(learner, world.a, "1", rater=world.teacher, demonstrated_at=T0 + datetime.timedelta(1))
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    record = _record(learner, world.a.pk)
    assert (record.score, record.level_label, record.mastered) == (Decimal(4), "Advanced", True)
    assert record.first_mastered_at == T0


def test_first_mastered_is_when_the_evidence_first_reached_mastery(world: World) -> None:
    learner = world.learners[0]
    days = [T0 + datetime.timedelta(days=d) for d in range(4)]
    for day, score in zip(days, ["2", "4", "4", "1"], strict=True):
        rate(learner, world.a, score, rater=world.teacher, demonstrated_at=day)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    record = _record(learner, world.a.pk)
    # average: 2 -> 2, then 3 (mastered on day 1), 3.33, then 2.75 (no longer mastered)
    assert (record.score, record.mastered, record.first_mastered_at) == (
        Decimal("2.75"),
        False,
        days[1],
    )


def test_self_superseded_and_removed_ratings_do_not_count(world: World) -> None:
    learner = world.learners[0]
    kept = rate(learner, world.a, "3", rater=world.teacher)
    rate(learner, world.a, "1", rater=world.teacher, source="self")
    wrong = rate(learner, world.a, "1", rater=world.teacher)
    rate(learner, world.a, "4", rater=world.teacher, supersedes=wrong)
    removed = rate(learner, world.a, "1", rater=world.teacher)
    remove(removed, by=world.teacher)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    record = _record(learner, world.a.pk)
    assert record.evidence_count == 2
    assert record.score == Decimal("3.5")
    assert {i["id"] for i in record.explanation["inputs"]} == {kept.pk, wrong.pk + 1}


def test_an_event_is_appended_only_when_the_level_changes(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    rate(learner, world.a, "2", rater=world.teacher)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0 + datetime.timedelta(1))
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0 + datetime.timedelta(2))
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    events = MasteryEvent.objects.filter(learner=learner, standard=world.a).order_by("id")
    assert [
        (e.from_level_label, e.to_level_label, e.from_mastered, e.to_mastered) for e in events
    ] == [("", "Developing", False, False), ("Developing", "Proficient", False, True)]
    assert events[1].demonstrated_at == T0 + datetime.timedelta(2)


def test_a_second_run_without_a_marker_changes_nothing(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "3", rater=world.teacher)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    before = _record(learner, world.a.pk)
    again = services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    forced = services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk, force=True)
    after = _record(learner, world.a.pk)
    assert again.skipped is True
    assert (forced.skipped, forced.changed, forced.events) == (False, False, 0)
    assert (after.score, after.level_label, after.evidence_count) == (
        before.score,
        before.level_label,
        before.evidence_count,
    )
    assert MasteryEvent.objects.filter(standard=world.a).count() == 1


def test_a_pair_without_counted_ratings_is_not_assessed(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "4", rater=world.teacher, source="self")
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    record = _record(learner, world.a.pk)
    assert (record.state, record.score, record.evidence_count, record.mastered) == (
        MasteryState.NOT_ASSESSED,
        None,
        0,
        False,
    )


def test_the_grouping_rolls_up_from_its_children(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    domain = _record(learner, world.domain.pk)
    assert (domain.state, domain.mastered, domain.evidence_count) == (
        MasteryState.SCORED,
        False,
        1,
    )
    late = T0 + datetime.timedelta(days=3)
    rate(learner, world.b, "3", rater=world.teacher, demonstrated_at=late)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.b.pk)
    domain = _record(learner, world.domain.pk)
    assert (domain.mastered, domain.first_mastered_at, domain.evidence_count) == (True, late, 2)
    assert domain.explanation["rule"] == "all_mastered"
    assert MasteryEvent.objects.filter(standard=world.domain, to_mastered=True).count() == 1


def test_a_recompute_of_a_removed_learner_drops_its_marker(world: World) -> None:
    learner = world.learners[1]
    services.mark_stale(pairs=[(learner.pk, world.a.pk)])
    learner_id = learner.pk
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM mastery_stalemastery")
    learner.delete()
    outcome = services.recompute_mastery(learner_id=learner_id, standard_id=world.a.pk)
    assert outcome.skipped is True


def _queries_for(world: World, learner: Learner, ratings: int) -> int:
    for day in range(ratings):
        rate(
            learner, world.a, "3", rater=world.teacher, demonstrated_at=T0 + datetime.timedelta(day)
        )
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.b.pk, force=True)
    with CaptureQueriesContext(connection) as queries:
        services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    return len(queries)


def test_the_queries_of_a_recompute_do_not_grow_with_the_ratings(
    world: World, django_assert_num_queries: NumQueries
) -> None:
    assert _queries_for(world, world.learners[0], 1) == _queries_for(world, world.learners[1], 40)


def test_a_recompute_takes_a_bounded_number_of_queries(
    world: World, django_assert_max_num_queries: NumQueries
) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    for day in range(1, 25):
        rate(
            learner, world.a, "2", rater=world.teacher, demonstrated_at=T0 + datetime.timedelta(day)
        )
    # savepoint, context, lock, marker, rules (school, scale, policy), ratings, update, event;
    # the grouping: lock, children, update, event; release.
    with django_assert_max_num_queries(15):
        services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
