"""Writes of the mastery app: dirty markers, recomputes, the sweep (see README.md and ADR 0005).

The database, not Redis, knows what needs recomputing: ``mark_stale`` inserts a marker in the
transaction that changed the ratings, and the recompute deletes it in the transaction that
rebuilt the record. Messages only say "look at this pair now"; losing one delays a recompute
until the sweep, it never loses one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from django.db import connection, transaction
from django.utils import timezone

from mastery import derive, sql
from mastery.derive import ChildRecord, Derived, Rules
from mastery.models import MasteryEvent, MasteryRecord, StaleMastery, SweepCursor
from mastery.policy import RulesCache
from mastery.rules import RulesError

logger = logging.getLogger(__name__)

# Pairs queued one message each up to this many; beyond, in chunks of this many per message.
SINGLE_ENQUEUE_LIMIT: Final = 50
CHUNK_SIZE: Final = 200
# A marker whose message was queued longer ago than this is presumed lost and queued again.
SWEEP_GRACE: Final = timedelta(seconds=120)
# The most markers one sweep re-queues (the rest wait for the next minute).
SWEEP_LIMIT: Final = 20_000
RATING_CURSOR: Final = "rating"
REMOVAL_CURSOR: Final = "rating_removal"


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


def enqueue_recomputes(pairs: Sequence[tuple[int, int]]) -> None:
    """Queue recomputes of ``pairs`` (one message per pair, or chunks for large sets).

    Never raises: a failure is logged with the number of pairs, and the markers left in the
    database are queued again by the sweep.
    """
    from mastery import tasks  # the tasks module imports this one

    try:
        if len(pairs) <= SINGLE_ENQUEUE_LIMIT:
            for learner_id, standard_id in pairs:
                tasks.recompute_mastery.delay(learner_id, standard_id)
        else:
            for start in range(0, len(pairs), CHUNK_SIZE):
                chunk = [
                    [learner, standard] for learner, standard in pairs[start : start + CHUNK_SIZE]
                ]
                tasks.recompute_mastery_pairs.delay(chunk)
    except Exception:
        logger.exception(
            "could not queue mastery recomputes; the sweep will queue them",
            extra={"pairs": len(pairs)},
        )


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
            f" m.first_mastered_at, m.evidence_count FROM {sql.STANDARD} s"
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
            level_points=row[3],
            level_label=row[4] or "",
            first_mastered_at=row[5],
            evidence_count=int(row[6] or 0),
        )
        for row in rows
    ]


def _derive_leaf(
    learner_id: int, standard_id: int, rules_: Rules
) -> tuple[Derived, datetime | None]:
    ratings = sql.counted_ratings(learner_id, standard_id)
    newest = max((r.demonstrated_at for r in ratings if r.demonstrated_at), default=None)
    return derive.derive_record(ratings, rules_), newest


def recompute_mastery(
    *,
    learner_id: int,
    standard_id: int,
    force: bool = False,
    cache: RulesCache | None = None,
) -> RecomputeOutcome:
    """Rebuild the mastery record of one learner on one standard from every counted rating.

    In one transaction: lock (or create) the record row, delete the dirty marker, read the
    committed counted ratings, evaluate them with the policy and scale in force, write the
    record (and ``computed_at``), append a ``MasteryEvent`` when the level or ``mastered``
    changed, then refresh the roll-ups of the standard's grouping ancestors the same way.

    Idempotent and order-independent: it never increments, so running it twice, late or
    concurrently gives the record the engine gives for the committed ratings. When there is no
    marker and the record already exists, nothing changed since the last run and it returns
    ``skipped`` (``force`` recomputes anyway). A rating committed while it runs re-inserts the
    marker after this transaction commits, which queues another run.
    """
    cache = cache or RulesCache()
    with transaction.atomic():
        context = sql.pair_context(learner_id, standard_id)
        if context is None:
            StaleMastery.objects.filter(learner_id=learner_id, standard_id=standard_id).delete()
            return RecomputeOutcome(learner_id, standard_id, skipped=True)
        now = timezone.now()
        record, created = _lock_record(learner_id, standard_id, now)
        marked = StaleMastery.objects.filter(
            learner_id=learner_id, standard_id=standard_id
        ).delete()[0]
        if not (marked or created or force):
            return RecomputeOutcome(learner_id, standard_id, skipped=True)
        head = context.chain[0]
        rules_ = cache.get(context.school_id, head.framework_id)
        if head.is_grouping:
            result = derive.derive_rollup(_children(learner_id, standard_id), rules_)
            newest = None
        else:
            result, newest = _derive_leaf(learner_id, standard_id, rules_)
        changed, events = _write(record, result, now, newest)
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
    """``recompute_mastery`` for each pair, each in its own transaction, sharing one cache."""
    cache = RulesCache()
    return [
        recompute_mastery(learner_id=learner, standard_id=standard, cache=cache)
        for learner, standard in _validated_pairs(pairs)
    ]


# --- the sweep ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    marked: int
    requeued: int


def _advance(name: str, table: str, pairs_sql: str, cursor_now: datetime) -> int:
    """Mark pairs for rows of ``table`` past the cursor whose record is missing or older."""
    state, _ = SweepCursor.objects.select_for_update().get_or_create(name=name)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        row = cursor.fetchone()
        high = int(row[0]) if row else 0
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
    lost = sql.requeue_lost_markers(now - SWEEP_GRACE, now, SWEEP_LIMIT)
    if lost:
        transaction.on_commit(partial(enqueue_recomputes, lost), robust=True)
        logger.info("sweep re-queued stale mastery", extra={"requeued": len(lost)})
    return SweepOutcome(marked=marked, requeued=len(lost))
