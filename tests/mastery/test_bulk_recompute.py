"""Bulk recompute: batches over learner-id ranges, the engine's numpy path, set-based writes."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from learners.models import Learner
from mastery import selectors, services
from mastery.models import (
    BulkRecompute,
    BulkStatus,
    ExplanationSummary,
    MasteryEvent,
    MasteryRecord,
    StaleMastery,
)
from mastery.progress import learner_progress
from standards.models import CalculationPolicy
from tests.factories import AdminAssignmentFactory, LearnerFactory, SchoolFactory
from tests.mastery.conftest import Queues
from tests.mastery.helpers import T0, World, build_world, make_framework, rate, remove
from tests.personas import Cast

type Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]
DAY = datetime.timedelta(days=1)


def _rate_all(world: World, learners: list[Learner]) -> None:
    for index, learner in enumerate(learners):
        rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
        rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
        rate(learner, world.b, str(1 + index % 4), rater=world.teacher, demonstrated_at=T0)


def _settle() -> None:
    services.recompute_pairs(
        pairs=list(StaleMastery.objects.values_list("learner_id", "standard_id"))
    )


def _run(job: BulkRecompute) -> None:
    for batch in job.batches.order_by("number"):
        services.run_bulk_batch(batch_id=batch.pk)


def _start(world: World, **kwargs: Any) -> BulkRecompute:
    return services.start_bulk_recompute(
        actor=world.teacher, organisation=world.school, reason="policy", **kwargs
    )


def test_a_policy_change_reaches_every_record_through_the_batches(
    world: World, queues: Queues, django_capture_on_commit_callbacks: Capture
) -> None:
    learners = [*world.learners, *(LearnerFactory(school=world.school) for _ in range(3))]
    _rate_all(world, learners)
    _settle()
    CalculationPolicy.objects.filter(organisation=world.school).update(method="highest")
    # Computed under other rules: stale (ADR 8), every record (the domains' children are).
    assert selectors.verify_mastery().as_json() == {"checked": 15, "stale": 15, "wrong": 0}
    with django_capture_on_commit_callbacks(execute=True):
        job = _start(world, batch_size=2)
    assert (job.batch_count, queues.waiting("bulk")) == (3, 3)
    _run(job)
    job.refresh_from_db()
    report = selectors.verify_mastery()
    assert (report.checked, report.stale, report.wrong) == (15, 0, 0)
    assert job.status == BulkStatus.DONE
    progress = selectors.bulk_progress(job)
    assert (progress.batches, progress.done, progress.percent) == (3, 3, 100)
    assert progress.records_checked == 15
    record = MasteryRecord.objects.get(learner=learners[0], standard=world.a)
    assert (record.score, record.level_label, record.first_mastered_at) == (
        Decimal(4),
        "Advanced",
        T0 + DAY,
    )
    # The method comes from the summary shared by the job's records, not from the record.
    assert record.explanation == {}
    assert selectors.stored_explanation(record)["method"] == "highest"
    shown = {
        item.standard_id: item.method
        for domain in learner_progress(learners[0]).domains
        for item in domain.standards
    }
    assert shown[world.a.pk].startswith("highest")
    assert ExplanationSummary.objects.filter(key=record.explanation_key).count() == 1


def test_a_bulk_recompute_from_nothing_equals_the_per_pair_recompute(world: World) -> None:
    _rate_all(world, world.learners)
    StaleMastery.objects.all().delete()
    _run(_start(world))
    assert not StaleMastery.objects.exists()
    bulk = {
        (r.learner_id, r.standard_id): (r.state, r.score, r.level_label, r.mastered,
                                        r.first_mastered_at, r.evidence_count, r.inconsistent)
        for r in MasteryRecord.objects.all()
    }  # fmt: skip
    for learner_id, standard_id in bulk:
        services.recompute_mastery(learner_id=learner_id, standard_id=standard_id, force=True)
    single = {
        (r.learner_id, r.standard_id): (r.state, r.score, r.level_label, r.mastered,
                                        r.first_mastered_at, r.evidence_count, r.inconsistent)
        for r in MasteryRecord.objects.all()
    }  # fmt: skip
    assert bulk == single
    assert len(bulk) == 6
    # 2 then 4 on A: the average 3.00 beside the latest 4.00, flagged on both paths.
    assert {pair[1] for pair, values in bulk.items() if values[-1]} == {world.a.pk}


def test_a_second_bulk_recompute_writes_nothing(world: World) -> None:
    _rate_all(world, world.learners)
    _run(_start(world))
    before = MasteryEvent.objects.count()
    job = _start(world)
    _run(job)
    progress = selectors.bulk_progress(job)
    assert (progress.records_checked, progress.records_written, progress.events_written) == (
        6,
        0,
        0,
    )
    assert MasteryEvent.objects.count() == before


def test_level_changes_get_events_naming_the_bulk_recompute(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
    _settle()
    CalculationPolicy.objects.filter(organisation=world.school).update(method="latest")
    job = _start(world)
    _run(job)
    event = MasteryEvent.objects.get(bulk_recompute=job)
    assert (event.standard_id, event.from_level_label, event.to_level_label) == (
        world.a.pk,
        "Proficient",
        "Advanced",
    )


def test_a_job_of_listed_learners_names_each_ones_level_before(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    """A batch of listed learners (an import's) reads their records before its upsert by those
    learners: the events say the level each had, and a learner in between is left alone."""
    learners = [*world.learners, LearnerFactory(school=world.school)]
    for learner in learners:
        rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
        rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0 + DAY)
    _settle()
    CalculationPolicy.objects.filter(organisation=world.school).update(method="latest")
    listed = sorted(learner.pk for learner in learners)[::2]
    with django_capture_on_commit_callbacks(execute=False):
        (job,) = services.start_learners_recompute(
            actor=world.teacher, learners_sql="SELECT unnest(%s::bigint[])", params=[listed]
        )
    assert [batch.learner_ids for batch in job.batches.all()] == [listed]
    _run(job)
    events = MasteryEvent.objects.filter(bulk_recompute=job)
    assert sorted(
        (e.learner_id, e.standard_id, e.from_level_label, e.to_level_label) for e in events
    ) == [(pk, world.a.pk, "Proficient", "Advanced") for pk in listed]


def test_a_record_whose_ratings_were_all_removed_becomes_not_assessed(world: World) -> None:
    learner = world.learners[0]
    rating = rate(learner, world.a, "3", rater=world.teacher)
    _settle()
    remove(rating, by=world.teacher)
    StaleMastery.objects.all().delete()
    _run(_start(world))
    record = MasteryRecord.objects.get(learner=learner, standard=world.a)
    assert (record.state, record.score, record.evidence_count) == ("not_assessed", None, 0)


def test_a_framework_bulk_recompute_leaves_other_frameworks_alone(world: World) -> None:
    learner = world.learners[0]
    _, _, other_a, _ = make_framework()
    rate(learner, world.a, "3", rater=world.teacher)
    rate(learner, other_a, "3", rater=world.teacher)
    job = _start(world, framework=world.framework)
    _run(job)
    assert list(StaleMastery.objects.values_list("standard_id", flat=True)) == [other_a.pk]
    assert not MasteryRecord.objects.filter(standard=other_a).exists()


def test_each_school_keeps_its_own_policy(db: None) -> None:
    district_world = build_world(learners=1, method="average")
    district = district_world.school.parent
    assert district is not None
    other_school = SchoolFactory(parent=district)
    CalculationPolicy.objects.create(organisation=other_school, method="highest")
    other_learner = LearnerFactory(school=other_school)
    admin = AdminAssignmentFactory(organisation=district).user
    for learner in (district_world.learners[0], other_learner):
        rate(learner, district_world.a, "2", rater=admin, demonstrated_at=T0)
        rate(learner, district_world.a, "4", rater=admin, demonstrated_at=T0 + DAY)
    StaleMastery.objects.all().delete()
    _run(services.start_bulk_recompute(actor=admin, organisation=district, reason="scale"))
    scores = dict(
        MasteryRecord.objects.filter(standard=district_world.a).values_list(
            "learner__school_id", "score"
        )
    )
    assert scores == {district_world.school.pk: Decimal(3), other_school.pk: Decimal(4)}


def _batch_queries(learners: int) -> int:
    world = build_world(learners=learners)
    _rate_all(world, world.learners)
    job = _start(world)
    with CaptureQueriesContext(connection) as queries:
        _run(job)
    return len(queries)


def test_the_queries_of_a_batch_do_not_grow_with_its_learners(db: None) -> None:
    assert _batch_queries(2) == _batch_queries(25)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"reason": "whim"}, ValueError, "reason: 'whim' is not one of"),
        ({"batch_size": 0}, ValueError, "batch_size: must be 1..1000, got 0"),
        ({"batch_size": 5000}, ValueError, "batch_size: must be 1..1000, got 5000"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_started(
    world: World, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments = {"actor": world.teacher, "organisation": world.school, "reason": "policy"}
    with pytest.raises(error, match=message):
        services.start_bulk_recompute(**{**arguments, **kwargs})
    assert not BulkRecompute.objects.exists()


def test_only_administrators_at_or_above_the_organisation_may_start_one(cast: Cast) -> None:
    for persona in ("teacher", "student", "guardian", "teacher_elsewhere", "outsider",
                    "teacher_admin", "deactivated_teacher"):  # fmt: skip
        with pytest.raises(PermissionDenied):
            services.start_bulk_recompute(
                actor=cast.persona(persona), organisation=cast.school, reason="policy"
            )
    assert not BulkRecompute.objects.exists()
    for persona in ("school_admin", "district_admin", "state_admin"):
        job = services.start_bulk_recompute(
            actor=cast.persona(persona), organisation=cast.school, reason="requirement"
        )
        assert (job.requested_by_id, job.batch_count) == (cast.persona(persona).pk, 1)


def test_batches_never_sent_or_lost_are_sent_again_by_the_sweep(
    world: World, queues: Queues
) -> None:
    job = _start(world, batch_size=1)  # in the test's transaction: nothing was sent
    count = job.batches.count()
    assert queues.waiting("bulk") == 0
    assert services.requeue_bulk_batches() == 0  # too recent: their messages may be on the way
    later = timezone.now() + services.BULK_LOST_AFTER + datetime.timedelta(seconds=1)
    assert services.requeue_bulk_batches(now=later) == count
    assert queues.waiting("bulk") == count
    _run(job)
    assert services.requeue_bulk_batches(now=later) == 0  # done batches are left alone


def test_a_job_the_broker_refused_waits_with_a_word_and_is_sent_within_the_minute(
    world: World,
    queues: Queues,
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R11: the request that starts a job never waits on the broker; batches it could not send
    leave the job saying so (page and API), and the next requeue (beat, every minute) sends them
    without waiting for BULK_LOST_AFTER."""
    from kombu.exceptions import OperationalError as BrokerError

    from common import queueing
    from mastery import tasks

    def refuse(*_: object, **__: object) -> None:
        raise BrokerError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(tasks.bulk_recompute_batch, "apply_async", refuse)
    queueing.forget_failures()
    with django_capture_on_commit_callbacks(execute=True):
        job = _start(world, batch_size=1)
    job.refresh_from_db()
    assert job.waiting_for_workers
    count = job.batches.count()
    assert queues.waiting("bulk") == 0
    client = Client()
    client.force_login(world.teacher)
    page = client.get(reverse("mastery:bulk_detail", args=[job.pk]))
    assert "The recompute will start as soon as they are back" in page.content.decode()
    api = APIClient()
    api.force_authenticate(world.teacher)
    assert api.get(f"/api/v1/mastery/bulk-recomputes/{job.pk}/").json()["waiting_for_workers"]

    assert services.requeue_bulk_batches() == count  # still refused: the job keeps its word
    job.refresh_from_db()
    assert job.waiting_for_workers
    monkeypatch.undo()
    queueing.forget_failures()
    assert services.requeue_bulk_batches() == count  # within the minute, not BULK_LOST_AFTER
    assert queues.waiting("bulk") == count
    job.refresh_from_db()
    assert not job.waiting_for_workers
    assert services.requeue_bulk_batches() == 0  # sent a moment ago
    _run(job)
    job.refresh_from_db()
    assert (job.status, job.waiting_for_workers) == ("done", False)
