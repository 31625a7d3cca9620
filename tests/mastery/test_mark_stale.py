"""mark_stale: markers in the caller's transaction, recomputes queued only after commit."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import transaction

from mastery import services
from mastery.models import StaleMastery
from tests.mastery.conftest import Queues
from tests.mastery.helpers import World, build_world

type Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


def _task_args(message: bytes) -> tuple[str, list[Any]]:
    envelope = json.loads(message)
    body = json.loads(base64.b64decode(envelope["body"]))
    return envelope["headers"]["task"], body[0]


def test_mark_stale_inserts_one_marker_per_pair(world: World) -> None:
    learner = world.learners[0]
    services.mark_stale(pairs=[(learner.pk, world.a.pk), (learner.pk, world.b.pk)])
    assert sorted(StaleMastery.objects.values_list("learner_id", "standard_id")) == [
        (learner.pk, world.a.pk),
        (learner.pk, world.b.pk),
    ]


def test_a_committed_mark_queues_one_recompute_with_ids_only(
    world: World, queues: Queues, django_capture_on_commit_callbacks: Capture
) -> None:
    learner = world.learners[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_stale(pairs=[(learner.pk, world.a.pk)])
    messages = queues.messages()
    assert [_task_args(m) for m in messages] == [
        ("mastery.tasks.recompute_mastery", [learner.pk, world.a.pk])
    ]


def test_a_burst_on_one_pair_queues_one_recompute(
    world: World, queues: Queues, django_capture_on_commit_callbacks: Capture
) -> None:
    learner = world.learners[0]
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            services.mark_stale(pairs=[(learner.pk, world.a.pk), (learner.pk, world.a.pk)])
    assert queues.waiting() == 1
    assert StaleMastery.objects.count() == 1


def test_a_pair_already_marked_queues_nothing_more(
    world: World, queues: Queues, django_capture_on_commit_callbacks: Capture
) -> None:
    learner = world.learners[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_stale(pairs=[(learner.pk, world.a.pk)])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.mark_stale(pairs=[(learner.pk, world.a.pk)])
    assert callbacks == []
    assert queues.waiting() == 1


def test_a_rolled_back_transaction_queues_nothing(
    world: World, queues: Queues, django_capture_on_commit_callbacks: Capture
) -> None:
    learner = world.learners[0]

    def failing_transaction() -> None:
        with transaction.atomic():
            services.mark_stale(pairs=[(learner.pk, world.a.pk)])
            raise RuntimeError("the rating's transaction fails")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        failing_transaction()
    assert callbacks == []
    assert queues.waiting() == 0
    assert not StaleMastery.objects.exists()


def test_many_pairs_are_queued_in_chunks(
    db: None, queues: Queues, django_capture_on_commit_callbacks: Capture
) -> None:
    world = build_world(learners=services.SINGLE_ENQUEUE_LIMIT // 2 + 1)
    pairs = [(learner.pk, s.pk) for learner in world.learners for s in (world.a, world.b)]
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_stale(pairs=pairs)
    sent = [_task_args(m) for m in queues.messages()]
    assert {name for name, _ in sent} == {"mastery.tasks.recompute_mastery_pairs"}
    queued = sorted(tuple(pair) for _, args in sent for pair in args[0])
    assert queued == sorted(pairs)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([(1,)], "pairs[1]: expected (learner_id, standard_id)"),
        ([(0, 1)], "pairs[1]: learner_id must be a positive int"),
        ([(1, "2")], "pairs[1]: standard_id must be a positive int"),
        ([(1, True)], "pairs[1]: standard_id must be a positive int"),
    ],
)
def test_bad_pairs_are_refused_and_nothing_is_marked(
    world: World, pairs: list[tuple[Any, ...]], message: str
) -> None:
    learner = world.learners[0]
    with pytest.raises(ValueError, match=re.escape(message)):
        services.mark_stale(pairs=[(learner.pk, world.a.pk), *pairs])
    assert not StaleMastery.objects.exists()


def test_a_mark_the_broker_missed_is_sent_by_the_next_sweep_without_the_grace(
    world: World,
    queues: Queues,
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from common import queueing
    from mastery import tasks

    def refuse(*_: object, **__: object) -> None:
        raise BrokerError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    learner = world.learners[0]
    monkeypatch.setattr(tasks.recompute_mastery, "apply_async", refuse)
    queueing.forget_failures()
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_stale(pairs=[(learner.pk, world.a.pk)])  # the request still succeeds
    marker = StaleMastery.objects.get()
    assert marker.enqueued_at == services.UNSENT  # the outbox says: never sent
    monkeypatch.undo()
    queueing.forget_failures()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.sweep_stale_mastery()  # now, not SWEEP_GRACE later
    assert outcome.requeued == 1
    assert queues.waiting() == 1
