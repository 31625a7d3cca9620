"""R3: recomputes are idempotent and order-independent, whatever interleaving delivers them.

A hypothesis state machine writes ratings, corrections (supersessions) and removals through the
evidence services, and runs recomputes in any order: duplicated, late, for pairs with nothing to
do, forced, two at once on separate database connections, and one racing a rating whose
transaction commits while the recompute waits. After every step no record may differ from the
engine's result unless it is marked stale (``verify_mastery``), and a record never goes back to
an older computation. At the end, draining the markers leaves every record equal to the engine's.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from evidence.models import Rating
from mastery import services
from mastery.core import counted_ratings
from mastery.models import MasteryRecord, StaleMastery
from mastery.selectors import verify_mastery
from tests.mastery.chaos import sessions_waiting_on_a_lock, wait_until
from tests.mastery.conftest import Queues
from tests.mastery.helpers import T0, World, build_world, rate, remove

pytestmark = pytest.mark.django_db(transaction=True)

SCORES = st.sampled_from(["1", "2", "2.5", "3", "3.5", "4"])


def _in_thread(
    work: Callable[[], object], barrier: threading.Barrier | None = None
) -> threading.Thread:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            if barrier is not None:
                barrier.wait(timeout=10)
            work()
        except BaseException as exc:  # surfaced by join_all
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def _join_all(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a recompute thread hung"
        errors = thread.errors  # type: ignore[attr-defined]
        if errors:
            raise errors[0]


class Recomputes(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world: World = build_world(learners=2, method="decaying_average")
        self.standards = [self.world.a, self.world.b]
        self.day = 0
        self.seen: dict[tuple[int, int], datetime.datetime] = {}

    def _pair(self, learner: int, standard: int) -> tuple[int, int]:
        return self.world.learners[learner].pk, self.standards[standard].pk

    def _next_day(self) -> datetime.datetime:
        self.day += 1
        return T0 + datetime.timedelta(hours=self.day)

    def _live(self) -> list[Rating]:
        ids = [lr.pk for lr in self.world.learners]
        return list(counted_ratings(learner_ids=ids))

    @rule(learner=st.integers(0, 1), standard=st.integers(0, 1), score=SCORES,
          earlier=st.booleans())  # fmt: skip
    def add_rating(self, learner: int, standard: int, score: str, earlier: bool) -> None:
        # "earlier": evidence demonstrated before what is already there (out of order input).
        when = T0 - datetime.timedelta(hours=self.day) if earlier else self._next_day()
        rate(self.world.learners[learner], self.standards[standard], score,
             rater=self.world.teacher, demonstrated_at=when)  # fmt: skip

    @rule(learner=st.integers(0, 1), standard=st.integers(0, 1), score=SCORES)
    def add_self_rating(self, learner: int, standard: int, score: str) -> None:
        rate(self.world.learners[learner], self.standards[standard], score,
             rater=self.world.teacher, source="self", demonstrated_at=self._next_day())  # fmt: skip

    @rule(data=st.data(), score=SCORES)
    def supersede(self, data: st.DataObject, score: str) -> None:
        live = self._live()
        if live:
            rating = data.draw(st.sampled_from(live))
            rate(rating.learner, rating.standard, score, rater=self.world.teacher,
                 supersedes=rating)  # fmt: skip

    @rule(data=st.data())
    def remove_one(self, data: st.DataObject) -> None:
        live = self._live()
        if live:
            remove(data.draw(st.sampled_from(live)), by=self.world.teacher)

    @rule(learner=st.integers(0, 1), standard=st.integers(0, 2), force=st.booleans(),
          times=st.integers(1, 2))  # fmt: skip
    def run_recompute(self, learner: int, standard: int, force: bool, times: int) -> None:
        """A delivery at any moment: duplicated, late, or for a pair with nothing to do."""
        standards = [*self.standards, self.world.domain]
        for _ in range(times):
            services.recompute_mastery(
                learner_id=self.world.learners[learner].pk,
                standard_id=standards[standard].pk,
                force=force,
            )

    @rule(learner=st.integers(0, 1), first=st.integers(0, 1), second=st.integers(0, 1))
    def run_concurrently(self, learner: int, first: int, second: int) -> None:
        """Two workers at once: the same pair, or two children of the same grouping."""
        barrier = threading.Barrier(2)
        threads = [
            _in_thread(
                lambda s=s: services.recompute_mastery(
                    learner_id=self.world.learners[learner].pk,
                    standard_id=self.standards[s].pk,
                    force=True,
                ),
                barrier,
            )
            for s in (first, second)
        ]
        _join_all(*threads)

    @rule(learner=st.integers(0, 1), standard=st.integers(0, 1), score=SCORES)
    def rating_commits_while_a_recompute_waits(
        self, learner: int, standard: int, score: str
    ) -> None:
        """The ADR's race: the rating's transaction holds the marker while a recompute of the
        same pair deletes it; the recompute must wait, then read the rating."""
        learner_obj = self.world.learners[learner]
        standard_obj = self.standards[standard]
        services.mark_stale(pairs=[(learner_obj.pk, standard_obj.pk)])
        with transaction.atomic():
            rate(learner_obj, standard_obj, score, rater=self.world.teacher,
                 demonstrated_at=self._next_day())  # fmt: skip
            worker = _in_thread(
                lambda: services.recompute_mastery(
                    learner_id=learner_obj.pk, standard_id=standard_obj.pk
                )
            )
            wait_until(
                lambda: sessions_waiting_on_a_lock() >= 1 or not worker.is_alive(),
                what="the recompute to wait on the marker",
            )
        _join_all(worker)
        assert not StaleMastery.objects.filter(
            learner_id=learner_obj.pk, standard_id=standard_obj.pk
        ).exists()

    @invariant()
    def no_record_differs_from_the_engine_unless_marked_stale(self) -> None:
        report = verify_mastery(learner_ids=[lr.pk for lr in self.world.learners])
        assert report.wrong_pairs == []

    @invariant()
    def no_record_goes_back_to_an_older_computation(self) -> None:
        for record in MasteryRecord.objects.filter(learner__in=self.world.learners):
            key = (record.learner_id, record.standard_id)
            assert record.computed_at >= self.seen.get(key, record.computed_at)
            self.seen[key] = record.computed_at

    def teardown(self) -> None:
        pending = list(
            StaleMastery.objects.filter(learner__in=self.world.learners).values_list(
                "learner_id", "standard_id"
            )
        )
        services.recompute_pairs(pairs=pending)
        report = verify_mastery(learner_ids=[lr.pk for lr in self.world.learners])
        assert (report.stale, report.wrong) == (0, 0), report
        close_old_connections()


def test_no_interleaving_leaves_a_record_different_from_the_engine(queues: Queues) -> None:
    run_state_machine_as_test(
        Recomputes,
        settings=settings(
            max_examples=12,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
