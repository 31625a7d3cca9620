"""Writes of the mastery app: dirty markers, recomputes, the sweep (see README.md and ADR 0005).

The database, not Redis, knows what needs recomputing: ``mark_stale`` inserts a marker in the
transaction that changed the ratings, and the recompute deletes it in the transaction that
rebuilt the record. Messages only say "look at this pair now"; losing one delays a recompute
until the sweep, it never loses one.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Final

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from numpy.typing import NDArray

from common import queueing
from learners.models import Learner, Organisation
from learners.selectors import (
    AnyUser,
    administered_organisations,
    changeable_learners,
    descendants_of,
)
from mastery import derive, rules, sql
from mastery.derive import ChildRecord, Derived, Rules
from mastery.models import (
    BulkReason,
    BulkRecompute,
    BulkRecomputeBatch,
    BulkStatus,
    MasteryEvent,
    MasteryOverride,
    MasteryRecord,
    StaleMastery,
    SweepCursor,
)
from mastery.policy import SHARED as SHARED_RULES
from mastery.policy import RulesCache, RulesKeys, engine_scale
from mastery.rules import RulesError
from standards.models import Framework, Standard, StandardStatus
from standards.selectors import scale_for

logger = logging.getLogger(__name__)

# Pairs queued one message each up to this many; beyond, in chunks of this many per message
# (a message costs the worker more than a pair's recompute: bench/latency.py, docs/performance.md).
SINGLE_ENQUEUE_LIMIT: Final = 1
CHUNK_SIZE: Final = 50
# A marker whose message was queued longer ago than this is presumed lost and queued again.
SWEEP_GRACE: Final = timedelta(seconds=120)
# The most markers one sweep re-queues (the rest wait for the next minute).
SWEEP_LIMIT: Final = 20_000
# Markers of learners a bulk job still has to recompute are left to it for this long; past it,
# the sweep queues them one by one as if the job's messages were lost.
BULK_GRACE: Final = timedelta(hours=1)
# The most rating (or removal) ids one sweep checks for a missing or older record.
SWEEP_ID_WINDOW: Final = 500_000
RATING_CURSOR: Final = "rating"
REMOVAL_CURSOR: Final = "rating_removal"
# The digest of every rules key in force when the sweep last found no record computed under
# other rules (``SweepCursor.last_id``): while it holds, the records are not scanned again.
RULES_CURSOR: Final = "rules_keys"
# What that scan looks for, in the cursor's digest: a new version scans once more whatever the
# rules. 2: records without a ratings digest too (kept before provenance was written).
RULES_SCAN_VERSION: Final = 2


def _validated_pairs(pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    unique: set[tuple[int, int]] = set()
    for index, pair in enumerate(pairs):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"pairs[{index}]: expected (learner_id, standard_id), got {pair!r}")
        learner, standard = pair
        for name, value in (("learner_id", learner), ("standard_id", standard)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"pairs[{index}]: {name} must be a positive int, got {value!r}")
        unique.add((learner, standard))
    return sorted(unique)


@transaction.atomic
def mark_stale(*, pairs: Iterable[tuple[int, int]]) -> None:
    """Mark the mastery records of ``pairs`` (learner_id, standard_id) as needing a rebuild.

    Call it in the transaction that changed those pairs' ratings. It upserts one marker per pair
    in that transaction (one statement for all pairs) and, for the markers that are new, queues a
    recompute after the transaction commits (ids only). So a rolled-back transaction queues
    nothing, a burst of ratings on one pair queues one recompute, and if queueing fails (Redis
    down) the marker stays and the periodic sweep queues it. Raises ``ValueError`` naming the
    bad pair before writing anything.
    """
    valid = _validated_pairs(pairs)
    if not valid:
        return
    new = sql.upsert_stale(valid, timezone.now())
    if new:
        transaction.on_commit(partial(enqueue_recomputes, new), robust=True)


@transaction.atomic
def mark_stale_in_bulk(*, pairs_sql: str, params: Sequence[Any] = ()) -> int:
    """:func:`mark_stale` of every (learner, standard) pair ``pairs_sql`` selects (columns
    ``learner_id`` and ``standard_id``), in one statement whatever their number, queueing no
    message: the caller hands the learners to :func:`start_learners_recompute` in the same
    transaction (a ratings import: thousands of pairs). Pages show the records as recomputing
    until the job rewrites them; the sweep leaves their markers to it (``BULK_GRACE``). Returns
    how many markers are new."""
    return sql.upsert_stale_from(pairs_sql, params, timezone.now())


def enqueue_recomputes(pairs: Sequence[tuple[int, int]]) -> None:
    """Queue recomputes of ``pairs`` (one message for one pair, else chunks of pairs).

    Never raises: a failure is logged with the number of pairs, and the markers left in the
    database are queued again by the sweep.
    """
    from mastery import tasks  # the tasks module imports this one

    messages: list[tuple[Any, list[Any]]]
    if len(pairs) <= SINGLE_ENQUEUE_LIMIT:
        messages = [(tasks.recompute_mastery, [learner, standard]) for learner, standard in pairs]
    else:
        messages = [
            (tasks.recompute_mastery_pairs, [[list(pair) for pair in pairs[i : i + CHUNK_SIZE]]])
            for i in range(0, len(pairs), CHUNK_SIZE)
        ]
    for task, args in messages:
        # Never waits on an unreachable broker (common.queueing): the markers stay for the sweep.
        if not queueing.send(task, *args):
            logger.warning(
                "could not queue mastery recomputes; the sweep will queue them",
                extra={"pairs": len(pairs)},
            )
            _mark_unsent(pairs)
            return


UNSENT: Final = datetime(2000, 1, 1, tzinfo=UTC)


def _mark_unsent(pairs: Sequence[tuple[int, int]]) -> None:
    """Date the markers whose message the broker did not take as queued long ago, so the next
    sweep (within a minute) sends them instead of waiting ``SWEEP_GRACE`` for a lost message
    (the database is the outbox). Never raises: the grace still catches them."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {sql.STALE} SET enqueued_at = %s WHERE (learner_id, standard_id) IN"  # noqa: S608
                " (SELECT * FROM unnest(%s::bigint[], %s::bigint[]))",
                [UNSENT, [p[0] for p in pairs], [p[1] for p in pairs]],
            )
    except DatabaseError:
        logger.warning("could not date unsent markers", extra={"pairs": len(pairs)})


# --- the recompute ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecomputeOutcome:
    """What one recompute did: ``skipped`` when there was nothing to do (no marker)."""

    learner_id: int
    standard_id: int
    skipped: bool = False
    changed: bool = False
    events: int = 0


def _lock_record(learner_id: int, standard_id: int, now: datetime) -> tuple[MasteryRecord, bool]:
    """Lock the pair's record row, creating it (not assessed) when missing; True if created."""
    record = (
        MasteryRecord.objects.select_for_update()
        .filter(learner_id=learner_id, standard_id=standard_id)
        .first()
    )
    if record is not None:
        return record, False
    return _create_record(learner_id, standard_id, now)


def _record_of(learner_id: int, standard_id: int, row: Sequence[object]) -> MasteryRecord:
    """The record of a row of ``sql.lock_record_and_clear_marker`` (the columns compared)."""
    return MasteryRecord(
        pk=int(str(row[0])),
        learner_id=learner_id,
        standard_id=standard_id,
        state=str(row[1]),
        score=sql.to_decimal(row[2]),
        level_points=sql.to_decimal(row[3]),
        level_label=str(row[4]),
        mastered=bool(row[5]),
        first_mastered_at=sql.to_datetime(row[6]),
        evidence_count=int(str(row[7])),
        calculation_version=str(row[8]),
        inconsistent=bool(row[9]),
        ratings_digest=None if row[10] is None else int(str(row[10])),
    )


def _create_record(learner_id: int, standard_id: int, now: datetime) -> tuple[MasteryRecord, bool]:
    """Insert the pair's record (not assessed) and hold it; if a concurrent recompute created
    it meanwhile, wait for it and lock it. True if created here."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {sql.RECORD} (learner_id, standard_id, state, mastered,"  # noqa: S608
            " level_label, evidence_count, explanation, calculation_version, computed_at)"
            " VALUES (%s, %s, 'not_assessed', false, '', 0, '{}', '', %s)"
            " ON CONFLICT (learner_id, standard_id) DO NOTHING RETURNING id",
            [learner_id, standard_id, now],
        )
        row = cursor.fetchone()
    if row is not None:
        # Our own insert: the row is ours (locked) until commit, with exactly these values.
        return MasteryRecord(
            pk=row[0], learner_id=learner_id, standard_id=standard_id, computed_at=now
        ), True
    # Created meanwhile by a concurrent recompute: wait for it, then lock it.
    record = MasteryRecord.objects.select_for_update().get(
        learner_id=learner_id, standard_id=standard_id
    )
    return record, False


def _stored_key(record: MasteryRecord) -> tuple[object, ...]:
    return derive.record_key(
        state=record.state,
        score=record.score,
        level_points=record.level_points,
        level_label=record.level_label,
        mastered=record.mastered,
        first_mastered_at=record.first_mastered_at,
        evidence_count=record.evidence_count,
        calculation_version=record.calculation_version,
        inconsistent=record.inconsistent,
        ratings_digest=record.ratings_digest,
    )


def _write(
    record: MasteryRecord, result: Derived, now: datetime, demonstrated: datetime | None
) -> tuple[bool, int]:
    """Write ``result`` into the locked ``record``; append an event when the level or mastered
    changed. Returns (changed, events written)."""
    changed = _stored_key(record) != result.key()
    level_changed = (record.level_points, record.level_label, record.mastered) != (
        result.level_points,
        result.level_label,
        result.mastered,
    )
    MasteryRecord.objects.filter(pk=record.pk).update(
        state=result.state,
        score=result.score,
        level_points=result.level_points,
        level_label=result.level_label,
        mastered=result.mastered,
        first_mastered_at=result.first_mastered_at,
        evidence_count=result.evidence_count,
        explanation=result.explanation,
        calculation_version=result.calculation_version,
        inconsistent=result.inconsistent,
        rules_key=result.rules_key,
        ratings_digest=result.ratings_digest,
        computed_at=now,
    )
    if not level_changed:
        return changed, 0
    MasteryEvent.objects.create(
        learner_id=record.learner_id,
        standard_id=record.standard_id,
        from_state=record.state,
        to_state=result.state,
        from_level_points=record.level_points,
        from_level_label=record.level_label,
        to_level_points=result.level_points,
        to_level_label=result.level_label,
        from_mastered=record.mastered,
        to_mastered=result.mastered,
        score=result.score,
        demonstrated_at=demonstrated,
        occurred_at=now,
        calculation_version=result.calculation_version,
    )
    return changed, 1


def _children(learner_id: int, grouping_id: int) -> list[ChildRecord]:
    """The grouping's active children with the learner's records (missing: not assessed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, m.state, m.mastered, m.level_points, m.level_label,"  # noqa: S608
            f" m.first_mastered_at, m.evidence_count, m.ratings_digest FROM {sql.STANDARD} s"
            f" LEFT JOIN {sql.RECORD} m ON m.standard_id = s.id AND m.learner_id = %s"
            f" WHERE s.parent_id = %s AND s.status = 'active' ORDER BY s.id",
            [learner_id, grouping_id],
        )
        rows = cursor.fetchall()
    return [
        ChildRecord(
            standard_id=int(row[0]),
            state=row[1] or "not_assessed",
            mastered=bool(row[2]),
            level_points=sql.to_decimal(row[3]),
            level_label=row[4] or "",
            first_mastered_at=sql.to_datetime(row[5]),
            evidence_count=int(row[6] or 0),
            ratings_digest=int(row[7] or 0),
        )
        for row in rows
    ]


def _derive_leaf(
    learner_id: int, standard_id: int, rules_: Rules
) -> tuple[Derived, datetime | None]:
    ratings = sql.counted_ratings(learner_id, standard_id)
    newest = max((r.demonstrated_at for r in ratings if r.demonstrated_at), default=None)
    override = sql.overrides_in_force(learner_ids=[learner_id], standard_ids=[standard_id]).get(
        (learner_id, standard_id)
    )
    return derive.apply_override(
        derive.derive_record(ratings, rules_), override, rules_, newest
    ), newest


def _tell_mastered(learner_id: int, standard_id: int) -> None:
    """The learner and their guardians are told the standard is mastered, in the recompute's
    transaction (told once per standard: the notification's key), in a savepoint: a failure to
    tell never holds back the record."""
    from notifications.services import notify_standard_mastered

    try:
        with transaction.atomic():
            notify_standard_mastered(learner_id=learner_id, standard_id=standard_id)
    except DatabaseError:
        logger.exception(
            "mastered notification failed",
            extra={"learner_id": learner_id, "standard_id": standard_id},
        )


def recompute_mastery(
    *,
    learner_id: int,
    standard_id: int,
    force: bool = False,
    cache: RulesCache | None = None,
) -> RecomputeOutcome:
    """Rebuild the mastery record of one learner on one standard from every counted rating.

    In one transaction: take the learner's lock with the standard's chain and the version of
    the school's rules (one query), lock (or create) the record row and delete the dirty marker
    (one statement), read the committed counted ratings, evaluate them with the policy and scale
    in force (the process's cache, used only when its version is the one just read), write the
    record (and ``computed_at``), append a ``MasteryEvent`` when the level or ``mastered``
    changed, then refresh the roll-ups of the standard's grouping ancestors the same way.

    Idempotent and order-independent: it never increments, so running it twice, late or
    concurrently gives the record the engine gives for the committed ratings. When there is no
    marker and the record already exists, nothing changed since the last run and it returns
    ``skipped`` (``force`` recomputes anyway). A rating committed while it runs re-inserts the
    marker after this transaction commits, which queues another run.
    """
    cache = cache or SHARED_RULES
    with transaction.atomic():
        context = sql.pair_context(learner_id, standard_id)
        if context is None:
            StaleMastery.objects.filter(learner_id=learner_id, standard_id=standard_id).delete()
            return RecomputeOutcome(learner_id, standard_id, skipped=True)
        now = timezone.now()
        row, marked = sql.lock_record_and_clear_marker(learner_id, standard_id)
        if row is None:
            record, created = _create_record(learner_id, standard_id, now)
        else:
            record, created = _record_of(learner_id, standard_id, row), False
        if not (marked or created or force):
            return RecomputeOutcome(learner_id, standard_id, skipped=True)
        head = context.chain[0]
        rules_ = cache.get(context.school_id, head.framework_id, context.rules_version)
        if head.is_grouping:
            result = derive.derive_rollup(_children(learner_id, standard_id), rules_)
            newest = None
        else:
            result, newest = _derive_leaf(learner_id, standard_id, rules_)
        changed, events = _write(record, result, now, newest)
        if result.mastered and not record.mastered and not head.is_grouping:
            _tell_mastered(learner_id, standard_id)
        for link in context.chain[1:]:
            if not link.is_grouping:
                break
            parent, _ = _lock_record(learner_id, link.standard_id, now)
            try:
                rolled = derive.derive_rollup(_children(learner_id, link.standard_id), rules_)
            except RulesError:
                # A roll-up the policy cannot compute must not block the child's record.
                logger.exception(
                    "roll-up failed",
                    extra={"learner_id": learner_id, "standard_id": link.standard_id},
                )
                break
            _, more = _write(parent, rolled, now, newest)
            events += more
    return RecomputeOutcome(learner_id, standard_id, changed=changed, events=events)


def recompute_pairs(*, pairs: Sequence[tuple[int, int]]) -> list[RecomputeOutcome]:
    """``recompute_mastery`` for each pair, each in its own transaction (the process's rules
    cache, checked against the rules' version in every one)."""
    return [
        recompute_mastery(learner_id=learner, standard_id=standard)
        for learner, standard in _validated_pairs(pairs)
    ]


# --- the sweep ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    marked: int
    requeued: int


def _advance(name: str, table: str, pairs_sql: str, cursor_now: datetime) -> int:
    """Mark pairs for rows of ``table`` past the cursor whose record is missing or older; at
    most ``SWEEP_ID_WINDOW`` ids per run, so a sweep's work stays bounded."""
    SweepCursor.objects.bulk_create([SweepCursor(name=name)], ignore_conflicts=True)
    state = SweepCursor.objects.select_for_update().get(name=name)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        row = cursor.fetchone()
        high = min(int(row[0]) if row else 0, state.last_id + SWEEP_ID_WINDOW)
        if high <= state.last_id:
            return 0
        cursor.execute(pairs_sql, {"low": state.last_id, "high": high})
        pairs = [(int(r[0]), int(r[1])) for r in cursor.fetchall()]
    SweepCursor.objects.filter(name=name).update(last_id=high, updated_at=cursor_now)
    new = sql.upsert_stale(pairs, cursor_now)
    if new:
        transaction.on_commit(partial(enqueue_recomputes, new), robust=True)
    return len(new)


@transaction.atomic
def sweep_stale_mastery(*, now: datetime | None = None) -> SweepOutcome:
    """Repair what lost messages and forgotten markers left behind; run every minute by beat.

    1. Ratings and removals written since the last sweep (by id) whose pair has no record, or a
       record computed before that rating was recorded (removal: removed), get a marker.
    2. Markers queued more than ``SWEEP_GRACE`` ago (the message was lost: a killed worker whose
       message was not redelivered, Redis restarted empty) are queued again, oldest first, at
       most ``SWEEP_LIMIT`` per run. Safe to run concurrently and repeatedly.
    3. Records computed under other rules than those in force, or without the digest of their
       counted ratings, get a marker (:func:`_mark_under_other_rules`).
    """
    now = now or timezone.now()
    marked = _advance(
        RATING_CURSOR,
        sql.RATING,
        f"SELECT DISTINCT r.learner_id, r.standard_id FROM {sql.RATING} r"  # noqa: S608
        f" LEFT JOIN {sql.RECORD} m ON m.learner_id = r.learner_id"
        f" AND m.standard_id = r.standard_id"
        f" WHERE r.id > %(low)s AND r.id <= %(high)s"
        f" AND (m.id IS NULL OR m.computed_at < r.recorded_at)",
        now,
    )
    marked += _advance(
        REMOVAL_CURSOR,
        sql.REMOVAL,
        f"SELECT DISTINCT r.learner_id, r.standard_id FROM {sql.REMOVAL} x"  # noqa: S608
        f" JOIN {sql.RATING} r ON r.id = x.rating_id"
        f" LEFT JOIN {sql.RECORD} m ON m.learner_id = r.learner_id"
        f" AND m.standard_id = r.standard_id"
        f" WHERE x.id > %(low)s AND x.id <= %(high)s"
        f" AND (m.id IS NULL OR m.computed_at < x.removed_at)",
        now,
    )
    marked += _mark_under_other_rules(now)
    lost = sql.requeue_lost_markers(now - SWEEP_GRACE, now, SWEEP_LIMIT, now - BULK_GRACE)
    if lost:
        transaction.on_commit(partial(enqueue_recomputes, lost), robust=True)
        logger.info("sweep re-queued stale mastery", extra={"requeued": len(lost)})
    return SweepOutcome(marked=marked, requeued=len(lost))


def _mark_under_other_rules(now: datetime) -> int:
    """Step 3 of the sweep (ADR 8): mark up to ``SWEEP_LIMIT`` records computed under other
    rules than those in force (a policy or scale changed without a bulk recompute, one whose
    batches were lost, an edit made in SQL, a new calculation version) or kept without the
    digest of their counted ratings (from before provenance was written). Skipped while a bulk
    recompute younger than ``BULK_GRACE`` is on its way (it rewrites them), and while the rules
    in force are those of the last sweep that found none (so the records are scanned only after
    a change)."""
    if BulkRecompute.objects.filter(
        status__in=[BulkStatus.QUEUED, BulkStatus.RUNNING], created_at__gte=now - BULK_GRACE
    ).exists():
        return 0
    keys = RulesKeys(RulesCache())
    rows: list[tuple[int, int, int | None, int | None]] = []
    schools = sorted(set(Learner.objects.values_list("school_id", flat=True).distinct()))
    frameworks = list(Framework.objects.order_by("pk").values_list("pk", flat=True))
    for school_id in schools:
        for framework_id in frameworks:
            rows.append(
                (
                    school_id,
                    framework_id,
                    keys.current(school_id, framework_id, False),
                    keys.current(school_id, framework_id, True),
                )
            )
    digest = derive.summary_key({"keys": rows, "scan": RULES_SCAN_VERSION})
    SweepCursor.objects.bulk_create([SweepCursor(name=RULES_CURSOR)], ignore_conflicts=True)
    state = SweepCursor.objects.select_for_update().get(name=RULES_CURSOR)
    if state.last_id == digest:
        return 0
    pairs = sql.records_under_other_rules(rows, SWEEP_LIMIT)
    if len(pairs) < SWEEP_LIMIT:
        SweepCursor.objects.filter(name=RULES_CURSOR).update(last_id=digest, updated_at=now)
    new = sql.upsert_stale(pairs, now)
    if new:
        transaction.on_commit(partial(enqueue_recomputes, new), robust=True)
        logger.info("sweep marked records computed under other rules", extra={"marked": len(new)})
    return len(new)


# --- bulk recompute -----------------------------------------------------------------------------

MAX_BATCH_SIZE: Final = 1000


@transaction.atomic
def start_bulk_recompute(
    *,
    actor: AnyUser,
    organisation: Organisation,
    reason: str,
    framework: Framework | None = None,
    batch_size: int = MAX_BATCH_SIZE,
) -> BulkRecompute:
    """Recompute every record of the learners at or below ``organisation`` (on ``framework``'s
    standards only, when given) after a policy, scale or requirement change.

    The actor must administer the organisation (``PermissionDenied`` otherwise). The learners
    are split into id ranges of ``batch_size`` (1..1000); each range is one
    ``BulkRecomputeBatch``, queued on the ``bulk`` queue after commit. Raises ``ValueError``
    naming the bad argument before writing anything.
    """
    if reason not in BulkReason.values:
        raise ValueError(f"reason: {reason!r} is not one of {', '.join(BulkReason.values)}")
    if isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size: must be 1..{MAX_BATCH_SIZE}, got {batch_size!r}")
    if not administered_organisations(actor).filter(pk=organisation.pk).exists():
        raise PermissionDenied("You do not administer this organisation.")
    ids = list(
        Learner.objects.filter(school_id__in=descendants_of(organisation).values("pk"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    job = BulkRecompute.objects.create(
        organisation=organisation,
        framework=framework,
        reason=reason,
        requested_by_id=actor.pk,
        batch_size=batch_size,
        batch_count=(len(ids) + batch_size - 1) // batch_size,
        learner_count=len(ids),
        status=BulkStatus.DONE if not ids else BulkStatus.QUEUED,
        finished_at=timezone.now() if not ids else None,
    )
    batches = BulkRecomputeBatch.objects.bulk_create(
        BulkRecomputeBatch(
            job=job,
            number=number,
            learner_id_from=ids[start],
            learner_id_to=ids[min(start + batch_size, len(ids)) - 1],
        )
        for number, start in enumerate(range(0, len(ids), batch_size), start=1)
    )
    batch_ids = [batch.pk for batch in batches]
    transaction.on_commit(partial(_enqueue_batches, batch_ids), robust=True)
    logger.info(
        "bulk recompute started",
        extra={"job_id": job.pk, "organisation_id": organisation.pk, "batches": len(batch_ids)},
    )
    return job


BULK_LOST_AFTER: Final = timedelta(minutes=10)


def requeue_bulk_batches(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Send again the queued batches of jobs whose sending failed (the broker was down: the
    job says it is waiting for the workers) and those still queued ``BULK_LOST_AFTER`` after
    their job started (their message was lost); beat runs it every minute.

    A batch being computed holds its row lock for its whole transaction and is skipped; a
    duplicate of a batch done meanwhile finds it done and does nothing. Returns how many.
    """
    cut = (now or timezone.now()) - BULK_LOST_AFTER
    with transaction.atomic():
        rows = list(
            BulkRecomputeBatch.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=BulkStatus.QUEUED)
            .filter(Q(job__created_at__lt=cut) | Q(job__send_failed_at__isnull=False))
            .exclude(job__status=BulkStatus.FAILED)
            .order_by("pk")
            .values_list("pk", "job_id")[:limit]
        )
    if rows and _enqueue_batches([pk for pk, _ in rows]):
        jobs = {job for _, job in rows}
        BulkRecompute.objects.filter(pk__in=jobs).update(send_failed_at=None)
    return len(rows)


@transaction.atomic
def start_learners_recompute(
    *,
    actor: AnyUser | None,
    learners_sql: str,
    params: Sequence[Any] = (),
    reason: str = BulkReason.IMPORT,
    batch_size: int = MAX_BATCH_SIZE,
) -> list[BulkRecompute]:
    """Recompute every record of the learners ``learners_sql`` selects (one column of learner
    ids, duplicates allowed): one bulk job (usually; one per organisation tree when they come
    from several) whose organisation is the nearest one above all of them, in batches of
    ``batch_size`` of those learners only, queued on the ``bulk`` queue after commit. Set-based:
    the number of queries does not grow with the learners.

    For a service that changed those learners' ratings in bulk (the ratings import), in its
    transaction, after :func:`mark_stale_in_bulk`; the caller has checked the actor may change
    the learners (no further permission check here). Returns the jobs (none for no learner).
    """
    if reason not in BulkReason.values:
        raise ValueError(f"reason: {reason!r} is not one of {', '.join(BulkReason.values)}")
    if isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size: must be 1..{MAX_BATCH_SIZE}, got {batch_size!r}")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.school_id, o.parent_id, p.parent_id, count(*) FROM {sql.LEARNER} l"  # noqa: S608
            f" JOIN {sql.ORGANISATION} o ON o.id = l.school_id"
            f" LEFT JOIN {sql.ORGANISATION} p ON p.id = o.parent_id"
            f" WHERE l.id IN ({learners_sql}) GROUP BY 1, 2, 3",
            list(params),
        )
        lineages = [
            ([int(org) for org in row[:3] if org is not None], int(row[3]))
            for row in cursor.fetchall()
        ]
    trees: dict[int, list[tuple[list[int], int]]] = defaultdict(list)
    for lineage, count in lineages:
        trees[lineage[-1]].append((lineage, count))
    jobs: list[BulkRecompute] = []
    for members in trees.values():
        nearest = next(
            org for org in members[0][0] if all(org in lineage for lineage, _ in members)
        )
        schools = [lineage[0] for lineage, _ in members]
        learners = sum(count for _, count in members)
        job = BulkRecompute.objects.create(
            organisation_id=nearest,
            reason=reason,
            requested_by_id=None if actor is None else actor.pk,
            batch_size=batch_size,
            batch_count=(learners + batch_size - 1) // batch_size,
            learner_count=learners,
            status=BulkStatus.QUEUED,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {sql.BATCH} (job_id, number, learner_id_from, learner_id_to,"  # noqa: S608
                " learner_ids, status, records_checked, records_written, events_written, error)"
                " SELECT %s, n + 1, min(id), max(id), array_agg(id ORDER BY id), %s, 0, 0, 0, ''"
                " FROM (SELECT l.id, (row_number() OVER (ORDER BY l.id) - 1) / %s AS n"
                f" FROM {sql.LEARNER} l WHERE l.id IN ({learners_sql})"
                " AND l.school_id = ANY(%s)) chosen GROUP BY n ORDER BY n RETURNING id",
                [job.pk, BulkStatus.QUEUED, batch_size, *params, schools],
            )
            batch_ids = sorted(int(row[0]) for row in cursor.fetchall())
        transaction.on_commit(partial(_enqueue_batches, batch_ids), robust=True)
        logger.info(
            "learners recompute started",
            extra={"job_id": job.pk, "learners": learners, "batches": len(batch_ids)},
        )
        jobs.append(job)
    return jobs


def _enqueue_batches(batch_ids: Sequence[int]) -> bool:
    """Send the batches; True if the broker took every one. When it did not, their jobs note
    it (``send_failed_at``: shown as waiting for the workers) for ``requeue_bulk_batches``."""
    from mastery import tasks

    for batch_id in batch_ids:
        if not queueing.send(tasks.bulk_recompute_batch, batch_id):
            logger.warning("could not queue bulk batches", extra={"batches": len(batch_ids)})
            try:
                BulkRecompute.objects.filter(
                    batches__id__in=batch_ids, send_failed_at__isnull=True
                ).update(send_failed_at=timezone.now())
            except DatabaseError:  # never raises: the lost-message check still finds them
                logger.warning("could not note unsent batches", extra={"batches": len(batch_ids)})
            return False
    return True


def _line(learner_id: int, standard_id: int, r: Derived, explanation: str) -> str:
    """One COPY text row of ``sql.BULK_COLUMNS`` with its own explanation (already JSON)."""
    fields = (
        learner_id, standard_id, r.state, r.score, r.level_points, r.level_label, r.mastered,
        None if r.first_mastered_at is None else r.first_mastered_at.isoformat(),
        r.evidence_count,
    )  # fmt: skip
    return (
        "\t".join(sql.copy_text(f) for f in fields)
        + f"\t{sql.copy_text(explanation)}\t{sql.copy_text(r.calculation_version)}\t\\N"
        + f"\t{sql.copy_text(r.inconsistent)}\t{sql.copy_text(r.rules_key)}"
        + f"\t{r.ratings_digest}\n"
    )


def _child(standard_id: int, r: Derived) -> ChildRecord:
    return ChildRecord(
        standard_id, r.state, r.mastered, r.level_points, r.level_label,
        r.first_mastered_at, r.evidence_count, r.ratings_digest,
    )  # fmt: skip


def _lookup(keys: dict[int, int], wanted: NDArray[np.int64]) -> NDArray[np.int64]:
    """``keys[w]`` for every ``w`` of ``wanted``, vectorised (every ``w`` must be a key)."""
    known = np.array(sorted(keys), dtype=np.int64)
    values = np.array([keys[int(k)] for k in known], dtype=np.int64)
    return values[np.searchsorted(known, wanted)]


def _leaf_lines(
    arrays: sql.RatingArrays,
    schools: dict[int, int],
    frameworks: dict[int, int],
    cache: RulesCache,
    children: dict[tuple[int, int], ChildRecord] | None,
    rated: set[tuple[int, int]],
    summaries: dict[int, str],
    overrides: Mapping[tuple[int, int], derive.Override] | None = None,
) -> list[str]:
    """COPY rows of every rated pair: one engine call per distinct rules (school x framework),
    never a Python loop over ratings; the rows are formatted from whole columns (numpy, then one
    f-string per pair). Adds every pair to ``rated``, and its ``ChildRecord`` to ``children``
    (when given: only roll-ups need them)."""
    starts, counts = derive.pair_bounds(arrays.learner, arrays.standard)
    if starts.shape[0] == 0:
        return []
    pair_learner = arrays.learner[starts]
    pair_standard = arrays.standard[starts]
    # (school, framework) numbered as one integer: 1-D uniques are much faster than axis=0.
    school_ids, school_of = np.unique(_lookup(schools, pair_learner), return_inverse=True)
    framework_ids, framework_of = np.unique(_lookup(frameworks, pair_standard), return_inverse=True)
    width = int(framework_ids.shape[0])
    keys, inverse = np.unique(
        school_of.reshape(-1) * width + framework_of.reshape(-1), return_inverse=True
    )
    lines: list[str] = []
    for k, key in enumerate(keys.tolist()):
        rules_ = cache.get(int(school_ids[key // width]), int(framework_ids[key % width]))
        chosen = np.flatnonzero(inverse.reshape(-1) == k)
        rows, new_starts, lengths = derive.gather(starts, counts, chosen)
        columns = derive.derive_bulk_columns(
            derive.BulkGroups(
                new_starts,
                lengths,
                arrays.score[rows],
                arrays.demonstrated_us[rows],
                arrays.ids[rows],
            ),
            rules_,
        )
        shared = derive.bulk_summary(rules_)
        summary = derive.summary_key(shared)
        summaries[summary] = json.dumps(shared)
        tail = f"\t{{}}\t{sql.copy_text(rules.CALCULATION_VERSION)}\t{summary}"
        # Level index -> its COPY cells; index -1 (no level) is the last entry.
        level_cells = [
            f"{level.points}\t{sql.copy_text(level.label)}" for level in rules_.scale.levels
        ] + ["\\N\t"]
        learners = pair_learner[chosen].tolist()
        standards = pair_standard[chosen].tolist()
        states = [rules.STATES[i] for i in columns.state.tolist()]
        scores = [
            "\\N" if h < 0 else f"{h // 100}.{h % 100:02d}"
            for h in columns.score_hundredths.tolist()
        ]
        firsts = np.datetime_as_string(
            np.maximum(columns.first_us, 0).astype("datetime64[us]"), unit="us", timezone="UTC"
        ).tolist()
        first_cells = [
            "\\N" if us < 0 else text
            for us, text in zip(columns.first_us.tolist(), firsts, strict=True)
        ]
        level_index = columns.level_index.tolist()
        mastered = columns.mastered.tolist()
        counts_ = columns.evidence_count.tolist()
        inconsistent = columns.inconsistent.tolist()
        digests = columns.digest.tolist()
        first_line = len(lines)
        key = rules_.leaf_key
        lines.extend(
            f"{learner}\t{standard}\t{state}\t{score}\t{level_cells[level]}\t"
            f"{'t' if is_mastered else 'f'}\t{first}\t{count}{tail}\t{'t' if flag else 'f'}"
            f"\t{key}\t{digest}\n"
            for learner, standard, state, score, level, is_mastered, first, count, flag, digest
            in zip(
                learners, standards, states, scores, level_index, mastered, first_cells,
                counts_, inconsistent, digests, strict=True,
            )
        )  # fmt: skip
        rated.update(zip(learners, standards, strict=True))
        overridden: dict[int, Derived] = {}
        for position, pair in enumerate(zip(learners, standards, strict=True)):
            override = (overrides or {}).get(pair)
            if override is None:
                continue
            newest = derive.from_epoch_us(
                int(arrays.demonstrated_us[rows[int(new_starts[position] + lengths[position]) - 1]])
            )
            if not derive.override_applies(override, rules_, newest):
                continue
            result = derive.apply_override(
                derive.derived_at(columns, position, rules_, shared), override, rules_, newest
            )
            overridden[position] = result
            lines[first_line + position] = _line(*pair, result, json.dumps(result.explanation))
        if children is None:
            continue
        for position, (learner, standard) in enumerate(zip(learners, standards, strict=True)):
            if position in overridden:
                children[(learner, standard)] = _child(standard, overridden[position])
                continue
            level_ = (
                None if level_index[position] < 0 else rules_.scale.levels[level_index[position]]
            )
            first_us = int(columns.first_us[position])
            children[(learner, standard)] = ChildRecord(
                standard, states[position], mastered[position],
                None if level_ is None else level_.points, "" if level_ is None else level_.label,
                None if first_us < 0 else derive.from_epoch_us(first_us), counts_[position],
                digests[position],
            )  # fmt: skip
    return lines


def _compute_bulk(
    scope: sql.BulkScope, schools: dict[int, int], cache: RulesCache
) -> tuple[list[str], dict[int, str]]:
    """COPY rows of every record in scope (leaves with the numpy path, groupings rolled up), and
    the shared summaries they name."""
    query = Standard.objects.only(
        "id", "framework_id", "parent_id", "is_grouping", "depth", "status"
    )
    if scope.framework_id is not None:
        query = query.filter(framework_id=scope.framework_id)
    standards = {s.pk: s for s in query}
    frameworks = {pk: s.framework_id for pk, s in standards.items()}
    # Leaves' records are only needed to roll up groupings: none in scope, none kept.
    rolls_up = any(s.is_grouping for s in standards.values())
    children: dict[tuple[int, int], ChildRecord] = {}
    rated: set[tuple[int, int]] = set()
    summaries: dict[int, str] = {}
    overrides = {
        pair: override
        for pair, override in sql.overrides_in_force(
            low=scope.low, high=scope.high, learner_ids=scope.learner_ids
        ).items()
        if pair[0] in schools and pair[1] in standards
    }
    lines = _leaf_lines(
        sql.read_counted_ratings(scope),
        schools,
        frameworks,
        cache,
        children if rolls_up else None,
        rated,
        summaries,
        overrides,
    )
    # Records in scope without a counted rating (any more) go back to not assessed, or take
    # the override in force.
    unrated = set(sql.record_pairs(scope.low, scope.high)) | set(overrides)
    for learner_id, standard_id in sorted(unrated):
        standard = standards.get(standard_id)
        if (
            learner_id in schools
            and standard is not None
            and not standard.is_grouping
            and ((learner_id, standard_id) not in rated)
        ):
            rules_ = cache.get(schools[learner_id], frameworks[standard_id])
            result = derive.apply_override(
                derive.derive_record([], rules_),
                overrides.get((learner_id, standard_id)),
                rules_,
                None,
            )
            children[(learner_id, standard_id)] = _child(standard_id, result)
            lines.append(_line(learner_id, standard_id, result, json.dumps(result.explanation)))
    if rolls_up:
        for (learner_id, grouping), result in _roll_up(children, standards, schools, cache):
            lines.append(_line(learner_id, grouping, result, json.dumps(result.explanation)))
    return lines, summaries


def _roll_up(
    children: dict[tuple[int, int], ChildRecord],
    standards: dict[int, Standard],
    schools: dict[int, int],
    cache: RulesCache,
) -> Iterator[tuple[tuple[int, int], Derived]]:
    """The grouping ancestors of every computed pair, deepest first, rolled up from
    ``children`` (to which each result is added, for the groupings above)."""
    children_of: dict[int, list[int]] = defaultdict(list)
    for s in standards.values():
        if s.parent_id is not None and s.status == StandardStatus.ACTIVE:
            children_of[s.parent_id].append(s.pk)
    wanted: set[tuple[int, int]] = set()
    for learner_id, standard_id in children:
        parent = standards[standard_id].parent_id
        while parent is not None and parent in standards and standards[parent].is_grouping:
            wanted.add((learner_id, parent))
            parent = standards[parent].parent_id
    missing = {
        pk: ChildRecord(pk, rules.NOT_ASSESSED, False, None, "", None, 0) for pk in standards
    }
    for learner_id, grouping in sorted(wanted, key=lambda p: (-standards[p[1]].depth, p)):
        kids = [
            children.get((learner_id, child)) or missing[child]
            for child in sorted(children_of[grouping])
        ]
        rules_ = cache.get(schools[learner_id], standards[grouping].framework_id)
        try:
            result = derive.derive_rollup(kids, rules_)
        except RulesError:
            logger.exception(
                "roll-up failed", extra={"learner_id": learner_id, "standard_id": grouping}
            )
            continue
        children[(learner_id, grouping)] = _child(grouping, result)
        yield (learner_id, grouping), result


def run_bulk_batch(*, batch_id: int) -> BulkRecomputeBatch:
    """Recompute one batch of a bulk recompute; idempotent (a done batch is left alone).

    One transaction takes the learners' advisory locks, clears their markers, streams their
    counted ratings (COPY), computes with the engine's numpy path, and writes changed records and
    their events with COPY + one upsert; the number of queries does not grow with the learners.
    A failure marks the batch and the job failed (ids only) and re-raises.
    """
    # Mark the job running in a transaction of its own: holding its row for the whole batch
    # would serialise the batches.
    BulkRecompute.objects.filter(
        batches__pk=batch_id, started_at__isnull=True, status=BulkStatus.QUEUED
    ).update(started_at=timezone.now(), status=BulkStatus.RUNNING)
    try:
        return _run_bulk_batch(batch_id)
    except OperationalError:
        raise  # transient: the task retries it
    except Exception as exc:
        with transaction.atomic():
            BulkRecomputeBatch.objects.filter(pk=batch_id).update(
                status=BulkStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=timezone.now(),
            )
            BulkRecompute.objects.filter(batches__pk=batch_id).update(
                status=BulkStatus.FAILED, finished_at=timezone.now()
            )
        logger.exception("bulk recompute batch failed", extra={"batch_id": batch_id})
        raise


@transaction.atomic
def _run_bulk_batch(batch_id: int) -> BulkRecomputeBatch:
    # Lock the batch row only ("self"): FOR UPDATE through the join would also lock the job row
    # for the whole batch and serialise every batch of the job (the job is locked at the end).
    batch = (
        BulkRecomputeBatch.objects.select_for_update(of=("self",))
        .select_related("job")
        .get(pk=batch_id)
    )
    if batch.status == BulkStatus.DONE:
        return batch
    job = batch.job
    now = timezone.now()
    scope = sql.BulkScope(
        low=batch.learner_id_from,
        high=batch.learner_id_to,
        school_ids=tuple(descendants_of(job.organisation).values_list("pk", flat=True)),
        framework_id=job.framework_id,
        learner_ids=None if batch.learner_ids is None else tuple(batch.learner_ids),
    )
    schools = sql.lock_learners_and_clear_markers(scope)
    rows, summaries = _compute_bulk(scope, schools, RulesCache())
    written, events = sql.write_bulk(rows, summaries, now, job.pk, scope)
    checked = len(rows)
    BulkRecomputeBatch.objects.filter(pk=batch.pk).update(
        status=BulkStatus.DONE,
        records_checked=checked,
        records_written=written,
        events_written=events,
        started_at=now,
        finished_at=timezone.now(),
    )
    # The last batch to finish closes the job; the lock makes "last" well defined.
    BulkRecompute.objects.select_for_update().filter(pk=job.pk).first()
    if (
        not BulkRecomputeBatch.objects.filter(job_id=job.pk)
        .exclude(pk=batch.pk)
        .exclude(status=BulkStatus.DONE)
        .exists()
    ):
        BulkRecompute.objects.filter(pk=job.pk).exclude(status=BulkStatus.FAILED).update(
            status=BulkStatus.DONE, finished_at=timezone.now()
        )
        # The job may have rewritten most of the table: fresh statistics for the planner now,
        # rather than whenever autovacuum gets to it (pages plan joins on them).
        sql.analyze_records()
    batch.refresh_from_db()
    return batch


# --- overrides (ADR 8) --------------------------------------------------------------------------

OVERRIDE_REASON_MAX: Final = 2000


def _override_actor(actor: AnyUser | None, learner: Learner) -> int:
    """The acting user's id, once checked: staff who may change the learner."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise PermissionDenied("Sign in to do this.")
    if not changeable_learners(actor).filter(pk=learner.pk).exists():
        raise PermissionDenied("Only the learner's teachers and administrators set overrides.")
    return int(str(actor.pk))


def _override_reason(value: str, name: str = "reason", *, required: bool = True) -> str:
    from evidence.text import clean_text  # the evidence app imports this module

    if len(value or "") > OVERRIDE_REASON_MAX:
        raise ValidationError({name: f"Keep it under {OVERRIDE_REASON_MAX} characters."})
    reason = clean_text(value or "")
    if required and not reason:
        raise ValidationError({name: "Say why: a written reason is required."})
    return reason


def _override_score(
    learner: Learner, score: Decimal | int | str | None, level: Decimal | int | str | None
) -> Decimal:
    """The override's score: ``score`` when given (on the learner's scale, 2 decimals), else
    the points of ``level``; with both, the score must fall in that level."""
    from evidence.services import parse_score  # the evidence app imports this module

    scale = scale_for(learner.school_id)
    points = {level.points: level for level in scale.levels}
    chosen = None
    if level not in (None, ""):
        try:
            chosen = points.get(Decimal(str(level)))
        except ArithmeticError:
            chosen = None
        if chosen is None:
            names = ", ".join(f"{lv.points:g} {lv.label}" for lv in scale.levels)
            raise ValidationError({"level": f"Choose one of the scale's levels ({names})."})
    if score in (None, ""):
        if chosen is None:
            raise ValidationError({"level": "Choose a level (or give a score)."})
        return chosen.points
    try:
        value = parse_score(score, low=scale.min_points, high=scale.max_points)
    except ValueError as exc:
        raise ValidationError({"score": f"{exc}."}) from exc
    reached = engine_scale(scale).level_for(value)
    if chosen is not None and reached.points != chosen.points:
        raise ValidationError(
            {"score": f"A score of {value} is {reached.label}, not {chosen.label}."}
        )
    return value


def _audit_override(actor: AnyUser | None, action: str, override: MasteryOverride) -> None:
    from audit.services import record_access

    record_access(
        actor=actor,
        action=action,
        learner_id=override.learner_id,
        object_type="mastery.masteryoverride",
        object_id=override.pk,
        detail={"standard_id": override.standard_id},
    )


@transaction.atomic
def set_override(
    *,
    actor: AnyUser | None,
    learner: Learner,
    standard: Standard,
    reason: str,
    score: Decimal | int | str | None = None,
    level: Decimal | int | str | None = None,
) -> MasteryOverride:
    """A teacher's professional judgement: ``learner``'s record on ``standard`` takes this
    level (``level``: the level's points; or ``score``, on the learner's scale) with a written
    reason, until it is cleared (or, where the policy says so, until newer evidence is rated).

    Staff who may change the learner only (``PermissionDenied``); an assessable, active
    standard; every problem raises ``ValidationError`` naming the field, nothing written. An
    override already in force on the pair is cleared by this one. Marks the pair stale (its
    recompute is queued on commit) and writes the audit entry.
    """
    actor_id = _override_actor(actor, learner)
    from standards.selectors import standard_problem

    problem = standard_problem(standard)
    if problem:
        raise ValidationError({"standard": problem})
    text = _override_reason(reason)
    value = _override_score(learner, score, level)
    now = timezone.now()
    # Serialises this learner's overrides; NO KEY: a recompute's lock on the learner row (FOR
    # KEY SHARE, the key of its records) must not wait for us while we wait for its marker.
    Learner.objects.select_for_update(no_key=True).filter(pk=learner.pk).first()
    for earlier in MasteryOverride.objects.select_for_update().filter(
        learner_id=learner.pk, standard_id=standard.pk, cleared_at__isnull=True
    ):
        MasteryOverride.objects.filter(pk=earlier.pk).update(
            cleared_at=now, cleared_by_id=actor_id, clear_reason="Replaced by a new override."
        )
        _audit_override(actor, "mastery.override.clear", earlier)
    override = MasteryOverride.objects.create(
        learner_id=learner.pk,
        standard_id=standard.pk,
        score=value,
        reason=text,
        set_by_id=actor_id,
        set_at=now,
    )
    mark_stale(pairs=[(learner.pk, standard.pk)])
    _audit_override(actor, "mastery.override.set", override)
    logger.info("mastery override set", extra={"override_id": override.pk})
    return override


@transaction.atomic
def clear_override(
    *, actor: AnyUser | None, override: MasteryOverride, reason: str = ""
) -> MasteryOverride:
    """End an override in force: the record goes back to what the counted ratings give.
    Staff who may change the learner only; an override already cleared is refused
    (``ValidationError``). Marks the pair stale and writes the audit entry."""
    actor_id = _override_actor(actor, override.learner)
    text = _override_reason(reason, required=False)
    locked = MasteryOverride.objects.select_for_update().get(pk=override.pk)
    if locked.cleared_at is not None:
        raise ValidationError({"override": "This override was already cleared."})
    locked.cleared_at = timezone.now()
    locked.cleared_by_id = actor_id
    locked.clear_reason = text
    locked.save(update_fields=["cleared_at", "cleared_by", "clear_reason"])
    mark_stale(pairs=[(locked.learner_id, locked.standard_id)])
    _audit_override(actor, "mastery.override.clear", locked)
    logger.info("mastery override cleared", extra={"override_id": locked.pk})
    return locked


# --- consequences of other apps' changes (ADR 8) ------------------------------------------------


def mark_groupings_stale(*, grouping_ids: Iterable[int]) -> int:
    """Mark stale the record of every learner on each grouping of ``grouping_ids`` whose
    children changed (a framework re-import added, retired or moved standards): every learner
    with a record on the grouping or on one of its children now. In the caller's transaction;
    recomputes are queued on commit (``mark_stale``). Returns how many pairs were marked."""
    ids = sorted(set(grouping_ids))
    if not ids:
        return 0
    children: dict[int, int] = dict(
        Standard.objects.filter(parent_id__in=ids).values_list("pk", "parent_id")
    )
    pairs: set[tuple[int, int]] = set()
    wanted = set(ids)
    for learner_id, standard_id in MasteryRecord.objects.filter(
        standard_id__in=[*ids, *children]
    ).values_list("learner_id", "standard_id"):
        if standard_id in wanted:
            pairs.add((learner_id, standard_id))
        if standard_id in children:
            pairs.add((learner_id, children[standard_id]))
    mark_stale(pairs=pairs)
    return len(pairs)
