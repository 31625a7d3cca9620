"""The mastery SQL implements ADR 0005's "counts toward mastery" exactly as
``mastery.core.counted_ratings`` does, now and as of any moment."""

from __future__ import annotations

import datetime
import random

from evidence.models import Rating
from mastery import rules, sql
from mastery.core import counted_ratings
from mastery.models import MasteryState
from tests.mastery.helpers import T0, World, rate, remove

HOUR = datetime.timedelta(hours=1)


def _history(world: World, seed: int) -> None:
    """Ratings of every source at random times, with corrections and removals at later ones."""
    rng = random.Random(seed)
    pairs = [(lr, s) for lr in world.learners for s in (world.a, world.b)]
    ratings: list[Rating] = []
    for step in range(40):
        learner, standard = rng.choice(pairs)
        when = T0 + step * HOUR
        kind = rng.random()
        live = [r for r in ratings if not hasattr(r, "_gone")]
        if kind < 0.2 and live:
            old = rng.choice(live)
            new = rate(old.learner, old.standard, str(rng.randint(1, 4)), rater=world.teacher,
                       recorded_at=when, supersedes=old)  # fmt: skip
            old._gone = True  # type: ignore[attr-defined]
            ratings.append(new)
        elif kind < 0.35 and live:
            old = rng.choice(live)
            remove(old, by=world.teacher, at=when)
            old._gone = True  # type: ignore[attr-defined]
        else:
            source = rng.choice(["teacher", "teacher", "import", "override", "self"])
            demonstrated = T0 + rng.randint(0, 40) * HOUR
            ratings.append(
                rate(learner, standard, str(rng.randint(1, 4)), rater=world.teacher,
                     source=source, recorded_at=when, demonstrated_at=demonstrated)
            )  # fmt: skip


def _orm(
    world: World, learner_id: int, standard_id: int, at: datetime.datetime | None
) -> list[int]:
    rows = counted_ratings(as_of=at, learner_ids=[learner_id], standard_ids=[standard_id])
    return list(rows.values_list("id", flat=True))


def test_the_counted_ratings_sql_equals_the_evidence_selector(world: World) -> None:
    _history(world, seed=7)
    moments = [None, *(T0 + h * HOUR for h in (-1, 0, 5, 13, 21, 30, 39, 45))]
    compared = 0
    for learner in world.learners:
        for standard in (world.a, world.b):
            for at in moments:
                ours = [r.id for r in sql.counted_ratings(learner.pk, standard.pk, at)]
                assert ours == _orm(world, learner.pk, standard.pk, at), (learner, standard, at)
                many = sql.counted_ratings_of_learners([learner.pk], standard.pk, at)
                assert [r.id for r in many[learner.pk]] == ours
                compared += len(ours)
    assert compared > 50  # the history really has counted ratings to compare


def test_the_bulk_stream_equals_the_evidence_selector(world: World) -> None:
    _history(world, seed=11)
    scope = sql.BulkScope(
        low=min(lr.pk for lr in world.learners),
        high=max(lr.pk for lr in world.learners),
        school_ids=(world.school.pk,),
        framework_id=world.framework.pk,
    )
    streamed = [(lr, st, score) for lr, st, score, _ in sql.stream_counted_ratings(scope)]
    expected = [
        (r.learner_id, r.standard_id, float(r.score))
        for r in counted_ratings(learner_ids=[lr.pk for lr in world.learners]).order_by(
            "learner_id", "standard_id", "demonstrated_at", "recorded_at", "id"
        )
    ]
    assert streamed == expected
    assert len(expected) > 10


def test_the_record_states_are_the_engine_s(db: None) -> None:
    assert tuple(MasteryState.values) == rules.STATES
