"""A ratings import hands its learners to one bulk recompute job (ADR 5, issue 21): markers in
one statement, no message per pair, batches of just those learners, the sweep leaving their
markers to the job while it is young."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from django.utils import timezone

from evidence import services as evidence_services
from learners.models import Learner
from mastery import services, sql
from mastery.models import (
    BulkReason,
    BulkRecompute,
    BulkRecomputeBatch,
    BulkStatus,
    MasteryRecord,
    StaleMastery,
)
from tests.factories import LearnerFactory, SchoolFactory
from tests.mastery.conftest import Queues
from tests.mastery.helpers import World, rate

type Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]

LAST_WEEK = (timezone.localdate() - datetime.timedelta(days=7)).isoformat()


def _csv(learners: list[Learner], world: World) -> bytes:
    rows = [
        f"{learner.pk},{standard.human_code},{score},{LAST_WEEK},Unit test"
        for learner in learners
        for standard, score in ((world.a, 3), (world.b, 2))
    ]
    return ("learner_id,standard,score,date,title\n" + "\n".join(rows) + "\n").encode()


def _tasks(queues: Queues, queue: str) -> list[tuple[str, list[Any]]]:
    out = []
    for message in queues.messages(queue):
        envelope = json.loads(message)
        body = json.loads(base64.b64decode(envelope["body"]))
        out.append((envelope["headers"]["task"], body[0]))
    return out


def test_an_import_queues_one_bulk_job_of_its_learners_not_a_message_per_pair(
    world: World, queues: Queues, django_capture_on_commit_callbacks: Capture
) -> None:
    world.learners.extend(LearnerFactory(school=world.school) for _ in range(3))
    with django_capture_on_commit_callbacks(execute=True):
        report = evidence_services.import_ratings_csv(
            actor=world.teacher, data=_csv(world.learners, world)
        )
    job = BulkRecompute.objects.get()
    assert (job.reason, job.organisation_id, job.learner_count, job.requested_by_id) == (
        BulkReason.IMPORT,
        world.school.pk,
        5,
        world.teacher.pk,
    )
    assert (report.recompute_job_ids, report.learners) == ([job.pk], 5)
    batch = BulkRecomputeBatch.objects.get(job=job)
    assert batch.learner_ids == sorted(learner.pk for learner in world.learners)
    assert _tasks(queues, "mastery") == []
    assert _tasks(queues, "bulk") == [("mastery.tasks.bulk_recompute_batch", [batch.pk])]
    assert StaleMastery.objects.count() == 10

    services.run_bulk_batch(batch_id=batch.pk)
    assert StaleMastery.objects.count() == 0
    records = {(r.learner_id, r.standard_id): r.evidence_count for r in MasteryRecord.objects.all()}
    for learner in world.learners:
        assert records[(learner.pk, world.a.pk)] == 1
        assert records[(learner.pk, world.b.pk)] == 1
        assert (learner.pk, world.domain.pk) in records  # the grouping rolled up
    assert BulkRecompute.objects.get().status == BulkStatus.DONE


def test_batches_hold_only_the_learners_handed_over(world: World) -> None:
    others = [LearnerFactory(school=world.school) for _ in range(4)]
    chosen = [world.learners[0], others[1], others[3]]
    ids = sorted(learner.pk for learner in chosen)
    for learner in [*world.learners, *others]:
        rate(learner, world.a, "3", rater=world.teacher)
    services.mark_stale_in_bulk(
        pairs_sql="SELECT l AS learner_id, %s AS standard_id FROM unnest(%s::bigint[]) l",
        params=[world.a.pk, ids],
    )
    (job,) = services.start_learners_recompute(
        actor=world.teacher,
        learners_sql="SELECT unnest(%s::bigint[])",
        params=[ids],
        batch_size=2,
    )
    batches = list(BulkRecomputeBatch.objects.filter(job=job).order_by("number"))
    assert [b.learner_ids for b in batches] == [ids[:2], ids[2:]]
    assert [(b.learner_id_from, b.learner_id_to) for b in batches] == [
        (ids[0], ids[1]),
        (ids[2], ids[2]),
    ]
    for batch in batches:
        services.run_bulk_batch(batch_id=batch.pk)
    # Learners between the chosen ones, in the same id range, were not recomputed.
    assert sorted(set(MasteryRecord.objects.values_list("learner_id", flat=True))) == ids


def test_learners_of_several_schools_go_to_their_nearest_common_organisation(
    world: World,
) -> None:
    district = world.school.parent
    assert district is not None
    sibling = SchoolFactory(parent=district)
    learners = [world.learners[0], LearnerFactory(school=sibling)]
    (job,) = services.start_learners_recompute(
        actor=None,
        learners_sql="SELECT unnest(%s::bigint[])",
        params=[[learner.pk for learner in learners]],
    )
    assert (job.organisation_id, job.learner_count, job.batch_count) == (district.pk, 2, 1)


def test_the_sweep_leaves_markers_of_a_young_import_job_to_it(world: World) -> None:
    evidence_services.import_ratings_csv(actor=world.teacher, data=_csv(world.learners, world))
    later = timezone.now() + datetime.timedelta(minutes=10)
    assert sql.requeue_lost_markers(later, later, 1000, later - services.BULK_GRACE) == []
    # A job older than the grace is presumed lost: its markers go one by one.
    much_later = later + services.BULK_GRACE
    requeued = sql.requeue_lost_markers(
        much_later, much_later, 1000, much_later - services.BULK_GRACE
    )
    assert len(requeued) == 4
