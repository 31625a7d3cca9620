# Table and column names below are the models' own constants; every value is a parameter.
# ruff: noqa: S608
"""The SQL of the mastery app: dirty-marker upserts, the counted-ratings reads, the chain of a
standard's ancestors. Every statement here is one round trip whatever the number of rows.

"Counts toward mastery" (ADR 5) is written once, here: :func:`counted_predicate`, now or as of T.
The ORM's ``mastery.core.counted_ratings`` filters by the same SQL.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import numpy as np
from django.db import connection, transaction
from numpy.typing import NDArray

from evidence.models import Rating, RatingRemoval
from learners.models import Learner, Organisation
from mastery import rules
from mastery.derive import Override
from mastery.models import (
    BulkRecompute,
    BulkRecomputeBatch,
    ExplanationSummary,
    MasteryEvent,
    MasteryOverride,
    MasteryRecord,
    StaleMastery,
)
from standards.models import CalculationPolicy, ProficiencyScale, ScaleLevel, Standard

RATING: Final = Rating._meta.db_table
REMOVAL: Final = RatingRemoval._meta.db_table
STALE: Final = StaleMastery._meta.db_table
RECORD: Final = MasteryRecord._meta.db_table
EVENT: Final = MasteryEvent._meta.db_table
SUMMARY: Final = ExplanationSummary._meta.db_table
JOB: Final = BulkRecompute._meta.db_table
BATCH: Final = BulkRecomputeBatch._meta.db_table
STANDARD: Final = Standard._meta.db_table
LEARNER: Final = Learner._meta.db_table
ORGANISATION: Final = Organisation._meta.db_table
POLICY: Final = CalculationPolicy._meta.db_table
SCALE: Final = ProficiencyScale._meta.db_table
SCALE_LEVEL: Final = ScaleLevel._meta.db_table
SELF_SOURCE: Final = "self"
# The first key of the learners' advisory locks ("ma"): apart from any other user of them.
LOCK_NAMESPACE: Final = 0x6D61


def counted_predicate(alias: str, *, at: str | None = None, form: str = "exists") -> str:
    """**The** rule "counts toward mastery" (ADR 5) for ratings ``alias``, as a WHERE clause
    (without WHERE): the source is not ``self``, no rating supersedes it and it has no removal.
    *As of* T (``at``: the SQL that gives T, e.g. ``"%(at)s"``, written three times): recorded
    at or before T, neither superseded by a rating recorded at or before T nor removed at or
    before T.

    ``form`` only changes how PostgreSQL runs the two anti-joins: ``"exists"`` (correlated
    ``NOT EXISTS``, served by the indexes: one pair or a page) or ``"in"`` (hashed ``NOT IN``
    subplans: a few ns per rating instead of about 1.3 us in a nested loop, for reports over
    millions of ratings; the redundant ``IS NOT NULL`` reaches the superseding side through its
    index). No NULL on either side, so the two are equal (``tests/mastery/test_sql.py``).
    Every reader of counted ratings (the ORM's ``mastery.core.counted_ratings`` too) uses this.
    """
    if form not in ("exists", "in"):
        raise ValueError(f"form: 'exists' or 'in', got {form!r}")
    recorded = "" if at is None else f" AND {alias}.recorded_at <= {at}"
    superseded_then = "" if at is None else f" AND sup.recorded_at <= {at}"
    removed_then = "" if at is None else f" AND rem.removed_at <= {at}"
    if form == "exists":
        superseded = (
            f"NOT EXISTS (SELECT 1 FROM {RATING} sup"
            f" WHERE sup.supersedes_id = {alias}.id{superseded_then})"
        )
        removed = (
            f"NOT EXISTS (SELECT 1 FROM {REMOVAL} rem"
            f" WHERE rem.rating_id = {alias}.id{removed_then})"
        )
    else:
        superseded = (
            f"{alias}.id NOT IN (SELECT sup.supersedes_id FROM {RATING} sup"
            f" WHERE sup.supersedes_id IS NOT NULL{superseded_then})"
        )
        removed = (
            f"{alias}.id NOT IN (SELECT rem.rating_id FROM {REMOVAL} rem WHERE true{removed_then})"
        )
    return f"{alias}.source <> '{SELF_SOURCE}'{recorded} AND {superseded} AND {removed}"


ORDER: Final = "demonstrated_at, recorded_at, id"

# For reads of many ratings with ``counted_predicate(..., form="in")``: PostgreSQL hashes a
# ``NOT IN`` subquery only when its estimated size fits in hash memory (``work_mem`` x
# ``hash_mem_multiplier``: 8 MB by default, about 150,000 corrections); past that it would
# rescan the subquery for every rating. A larger allowance (up to 512 MB, used only as far as
# the real corrections and removals need) keeps the hashed plan on any realistic history. For
# the rest of the current transaction.
HASHED_READS: Final = "SET LOCAL hash_mem_multiplier = 128"


def upsert_stale(pairs: Sequence[tuple[int, int]], now: datetime) -> list[tuple[int, int]]:
    """Insert a marker for every pair; return the pairs whose marker is new.

    On PostgreSQL an existing marker is touched (``DO UPDATE`` to itself) rather than skipped:
    that row-locks it until the caller commits, so a recompute that deletes it waits for the
    caller's ratings to be committed, and then reads them (see services.recompute_mastery).
    ``xmax = 0`` tells a fresh insert from such an update. Pairs are sorted so that concurrent
    callers lock markers in the same order and cannot deadlock.
    """
    if not pairs:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {STALE} AS m (learner_id, standard_id, marked_at, enqueued_at)"
            " SELECT p.learner_id, p.standard_id, %(now)s, %(now)s"
            " FROM unnest(%(learners)s::bigint[], %(standards)s::bigint[])"
            " AS p(learner_id, standard_id) ORDER BY p.learner_id, p.standard_id"
            " ON CONFLICT (learner_id, standard_id) DO UPDATE SET marked_at = m.marked_at"
            " RETURNING m.learner_id, m.standard_id, (m.xmax = 0) AS inserted",
            {
                "now": now,
                "learners": [learner for learner, _ in pairs],
                "standards": [standard for _, standard in pairs],
            },
        )
        return sorted((int(row[0]), int(row[1])) for row in cursor.fetchall() if row[2])


def upsert_stale_from(pairs_sql: str, params: Sequence[Any], now: datetime) -> int:
    """:func:`upsert_stale` of every pair ``pairs_sql`` selects (columns ``learner_id``,
    ``standard_id``; duplicates allowed), in one statement whatever their number; returns how
    many markers are new. The same locking as :func:`upsert_stale` (pairs in order)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH up AS (INSERT INTO {STALE} AS m (learner_id, standard_id, marked_at,"
            " enqueued_at) SELECT DISTINCT p.learner_id, p.standard_id, %s::timestamptz,"
            f" %s::timestamptz FROM ({pairs_sql}) AS p ORDER BY p.learner_id, p.standard_id"
            " ON CONFLICT (learner_id, standard_id) DO UPDATE SET marked_at = m.marked_at"
            " RETURNING (m.xmax = 0) AS inserted) SELECT count(*) FILTER (WHERE inserted) FROM up",
            [now, now, *params],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def to_decimal(value: object) -> Decimal | None:
    """A numeric column of a raw row, typed (psycopg reads ``numeric`` as a Decimal)."""
    if value is None or isinstance(value, Decimal):
        return value
    raise TypeError(f"not a numeric column: {value!r}")


def to_datetime(value: object) -> datetime | None:
    """A ``timestamptz`` column of a raw row, typed (psycopg reads it as an aware datetime)."""
    if value is None or isinstance(value, datetime):
        return value
    raise TypeError(f"not a timestamp column: {value!r}")


def rating_of(row: Sequence[object]) -> rules.Rating:
    """An engine rating from a row (id, score, demonstrated_at, recorded_at, ...)."""
    score = to_decimal(row[1])
    assert score is not None
    return rules.Rating(
        score=score,
        demonstrated_at=to_datetime(row[2]),
        recorded_at=to_datetime(row[3]),
        id=int(str(row[0])),
    )


def counted_ratings(
    learner_id: int, standard_id: int, at: datetime | None = None
) -> list[rules.Rating]:
    """The counted ratings of one pair (as of ``at`` when given), in the engine's order.

    One query, served by the covering index (learner, standard, demonstrated_at, recorded_at, id).
    """
    sql = (
        f"SELECT r.id, r.score, r.demonstrated_at, r.recorded_at FROM {RATING} r"
        f" WHERE r.learner_id = %(learner)s AND r.standard_id = %(standard)s"
        f" AND {counted_predicate('r', at=None if at is None else '%(at)s')}"
        f" ORDER BY r.demonstrated_at, r.recorded_at, r.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"learner": learner_id, "standard": standard_id, "at": at})
        return [rating_of(row) for row in cursor.fetchall()]


def counted_ratings_of_learners(
    learner_ids: Sequence[int], standard_id: int, at: datetime | None = None
) -> dict[int, list[rules.Rating]]:
    """The counted ratings of many learners on one standard, in one query."""
    if not learner_ids:
        return {}
    placeholders = ", ".join(["%s"] * len(learner_ids))
    as_of = at is not None
    where = counted_predicate("r", at="%s" if as_of else None)
    sql = (
        f"SELECT r.id, r.score, r.demonstrated_at, r.recorded_at, r.learner_id"
        f" FROM {RATING} r WHERE r.standard_id = %s AND r.learner_id IN ({placeholders})"
        f" AND {where} ORDER BY r.learner_id, r.demonstrated_at, r.recorded_at, r.id"
    )
    params: list[Any] = [standard_id, *learner_ids]
    if as_of:
        params += [at, at, at]
    out: dict[int, list[rules.Rating]] = {int(learner): [] for learner in learner_ids}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            out[int(row[4])].append(rating_of(row))
    return out


def counted_ratings_of_pairs(
    pairs: Sequence[tuple[int, int]], at: datetime | None = None
) -> dict[tuple[int, int], list[rules.Rating]]:
    """The counted ratings (as of ``at`` when given) of each (learner, standard) pair, in the
    engine's order, in one query; pairs without any are left out."""
    if not pairs:
        return {}
    sql = (
        f"SELECT r.id, r.score, r.demonstrated_at, r.recorded_at, r.learner_id, r.standard_id"
        f" FROM {RATING} r JOIN unnest(%s::bigint[], %s::bigint[]) AS p(learner_id, standard_id)"
        f" ON r.learner_id = p.learner_id AND r.standard_id = p.standard_id"
        f" WHERE {counted_predicate('r', at=None if at is None else '%s')}"
        f" ORDER BY r.learner_id, r.standard_id, r.demonstrated_at, r.recorded_at, r.id"
    )
    params: list[Any] = [[p[0] for p in pairs], [p[1] for p in pairs]]
    if at is not None:
        params += [at, at, at]
    out: dict[tuple[int, int], list[rules.Rating]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            out.setdefault((int(row[4]), int(row[5])), []).append(rating_of(row))
    return out


@dataclass(frozen=True)
class ChainLink:
    """The standard being recomputed (depth 0) or one of its ancestors."""

    standard_id: int
    framework_id: int
    is_grouping: bool
    depth: int


@dataclass(frozen=True)
class PairContext:
    school_id: int
    chain: tuple[ChainLink, ...]
    # The version of the rows the rules come from (:func:`rules_version_sql`).
    rules_version: str | None = None


def rules_version_sql(school: str) -> str:
    """A scalar subquery: the version of every row the rules in force at school ``school`` (an
    SQL expression) are read from (``standards.selectors.policy_for`` and ``scale_for``): the
    school and its two ancestors, their calculation policies (every framework), their scales and
    the levels of those scales, as ``kind id.xmin(ctid)`` joined in one string.

    PostgreSQL writes every insert or update (``save``, ``update()``, SQL) as a new row version
    with its transaction's ``xmin`` at a new ``ctid`` (distinct within a transaction, where the
    ``xmin`` is the same), and a deleted row leaves the set, so any change to those rows that the
    reader can see changes the string: a cache keyed by it never applies an edited policy or
    scale once the edit is visible.
    """
    lineage = "(lin.a, lin.b, lin.c)"
    return (
        f"(SELECT string_agg(v.item, ',' ORDER BY v.item) FROM"
        f" (SELECT o1.id AS a, o1.parent_id AS b, o2.parent_id AS c FROM {ORGANISATION} o1"
        f" LEFT JOIN {ORGANISATION} o2 ON o2.id = o1.parent_id WHERE o1.id = {school}) lin"
        f" CROSS JOIN LATERAL ("
        f" SELECT 'o' || o.id || '.' || o.xmin::text || o.ctid::text FROM {ORGANISATION} o"
        f" WHERE o.id IN {lineage}"
        f" UNION ALL SELECT 'p' || p.id || '.' || p.xmin::text || p.ctid::text FROM {POLICY} p"
        f" WHERE p.organisation_id IN {lineage}"
        f" UNION ALL SELECT 's' || s.id || '.' || s.xmin::text || s.ctid::text FROM {SCALE} s"
        f" WHERE s.organisation_id IN {lineage}"
        f" UNION ALL SELECT 'l' || sl.id || '.' || sl.xmin::text || sl.ctid::text"
        f" FROM {SCALE_LEVEL} sl"
        f" JOIN {SCALE} s ON s.id = sl.scale_id WHERE s.organisation_id IN {lineage}"
        f") AS v(item))"
    )


def rules_version(school_id: int) -> str | None:
    """:func:`rules_version_sql` of one school, on its own."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rules_version_sql('%s')}", [school_id])
        row = cursor.fetchone()
    return None if row is None or row[0] is None else str(row[0])


def learner_lock(column: str) -> str:
    """A select-list expression taking the learner's transaction-level advisory lock.

    Every writer of a learner's records (the recompute, a bulk batch) takes it first, so their
    row locks (a statement, then its groupings) never wait on each other in a cycle.
    """
    return f", pg_advisory_xact_lock({LOCK_NAMESPACE}, mod({column}, 2147483647)::int4)"


def pair_context(learner_id: int, standard_id: int) -> PairContext | None:
    """The learner's school and the standard with its ancestors (nearest first), in one query
    that also takes the learner's advisory lock (:func:`learner_lock`) and reads the version of
    the school's rules (:func:`rules_version_sql`).

    The learner is read FOR KEY SHARE: the key of the records and events the caller writes
    (mastery.models NO_DB_CONSTRAINT); an erasure under way makes it wait, and then the learner
    is gone. None when the learner or the standard no longer exists.
    """
    sql = (
        f"WITH RECURSIVE chain(id, parent_id, framework_id, is_grouping, depth) AS ("
        f" SELECT id, parent_id, framework_id, is_grouping, 0 FROM {STANDARD} WHERE id = %s"
        f" UNION ALL SELECT s.id, s.parent_id, s.framework_id, s.is_grouping, c.depth + 1"
        f" FROM {STANDARD} s JOIN chain c ON s.id = c.parent_id WHERE c.depth < 50),"
        f" pupil AS (SELECT l.id, l.school_id, {rules_version_sql('l.school_id')} AS version"
        f" FROM {LEARNER} l WHERE l.id = %s FOR KEY SHARE OF l)"
        f" SELECT c.id, c.framework_id, c.is_grouping, c.depth, l.school_id,"
        f" l.version{learner_lock('l.id')} FROM chain c CROSS JOIN pupil l ORDER BY c.depth"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [standard_id, learner_id])
        rows = cursor.fetchall()
    if not rows:
        return None
    chain = tuple(ChainLink(int(r[0]), int(r[1]), bool(r[2]), int(r[3])) for r in rows)
    version = None if rows[0][5] is None else str(rows[0][5])
    return PairContext(school_id=int(rows[0][4]), chain=chain, rules_version=version)


def lock_record_and_clear_marker(
    learner_id: int, standard_id: int
) -> tuple[tuple[Any, ...] | None, int]:
    """Delete the pair's dirty marker and lock its record row, in one statement.

    Returns (the record's row: id, state, score, level_points, level_label, mastered,
    first_mastered_at, evidence_count, calculation_version, inconsistent, ratings_digest; or
    None when there is none yet, the number of markers deleted). The delete waits for a rating
    transaction that still holds the marker (``upsert_stale``), so the ratings read by the
    *next* statement include its ratings. The caller holds the learner's advisory lock, so the
    order of the two locks taken here cannot deadlock with another writer of the learner.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {STALE} WHERE learner_id = %(learner)s"
            f" AND standard_id = %(standard)s RETURNING 1)"
            f" SELECT rec.*, (SELECT count(*) FROM gone) FROM (SELECT 1) AS one LEFT JOIN"
            f" (SELECT m.id, m.state, m.score, m.level_points, m.level_label, m.mastered,"
            f" m.first_mastered_at, m.evidence_count, m.calculation_version, m.inconsistent,"
            f" m.ratings_digest FROM {RECORD} m"
            f" WHERE m.learner_id = %(learner)s AND m.standard_id = %(standard)s FOR UPDATE)"
            f" AS rec ON true",
            {"learner": learner_id, "standard": standard_id},
        )
        row = cursor.fetchone()
    assert row is not None
    deleted = int(row[11])
    return (None if row[0] is None else tuple(row[:11])), deleted


def requeue_lost_markers(
    cut: datetime, now: datetime, limit: int, bulk_cut: datetime
) -> list[tuple[int, int]]:
    """Set ``enqueued_at = now`` on up to ``limit`` markers queued before ``cut`` (oldest first)
    and return their pairs. Markers locked by a running recompute are skipped, and so are those
    of learners a bulk job created after ``bulk_cut`` still has to recompute (an import hands
    its learners to one: their markers wait for it, not for one message per pair)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH pending AS (SELECT DISTINCT unnest(b.learner_ids) AS learner_id FROM {BATCH} b"
            f" JOIN {JOB} j ON j.id = b.job_id WHERE b.status IN ('queued', 'running')"
            " AND b.learner_ids IS NOT NULL AND j.created_at > %(bulk_cut)s)"
            f" UPDATE {STALE} SET enqueued_at = %(now)s"
            f" WHERE (learner_id, standard_id) IN (SELECT learner_id, standard_id FROM {STALE}"
            " WHERE enqueued_at < %(cut)s AND learner_id NOT IN (SELECT learner_id FROM pending)"
            " ORDER BY enqueued_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
            f" RETURNING learner_id, standard_id",
            {"now": now, "cut": cut, "limit": limit, "bulk_cut": bulk_cut},
        )
        return sorted((int(row[0]), int(row[1])) for row in cursor.fetchall())


# --- bulk recompute -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkScope:
    """The learners of one id range at the given schools (only ``learner_ids`` of them, when
    given), on one framework's standards (or all)."""

    low: int
    high: int
    school_ids: tuple[int, ...] | None  # None: every school
    framework_id: int | None
    learner_ids: tuple[int, ...] | None = None  # None: every learner of the range

    def learners_where(self, learner: str) -> tuple[str, list[Any]]:
        clause = f"{learner}.id BETWEEN %s AND %s"
        params: list[Any] = [self.low, self.high]
        if self.school_ids is not None:
            clause += f" AND {learner}.school_id = ANY(%s)"
            params.append(list(self.school_ids))
        if self.learner_ids is not None:
            clause += f" AND {learner}.id = ANY(%s)"
            params.append(list(self.learner_ids))
        return clause, params

    def where(self, learner: str, standard: str) -> tuple[str, list[Any]]:
        clause, params = self.learners_where(learner)
        clause += f" AND NOT {standard}.is_grouping"
        if self.framework_id is not None:
            clause += f" AND {standard}.framework_id = %s"
            params.append(self.framework_id)
        return clause, params


def lock_learners_and_clear_markers(scope: BulkScope) -> dict[int, int]:
    """Take the advisory lock of every learner in scope (in id order) and hold the learner
    FOR KEY SHARE (the key of the records and events the batch writes: mastery.models
    NO_DB_CONSTRAINT; a learner erased meanwhile is not returned, and is not written), then
    delete their markers on the scope's standards, before the ratings are read: a rating
    transaction still holding its marker makes us wait for its commit, as in the recompute.
    Returns learner id -> school id."""
    where, params = scope.where("l", "s")
    learners, learner_params = scope.learners_where("l")
    lock = learner_lock("l.id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.id, l.school_id{lock} FROM {LEARNER} l WHERE {learners} ORDER BY l.id"
            " FOR KEY SHARE OF l",
            learner_params,
        )
        schools = {int(row[0]): int(row[1]) for row in cursor.fetchall()}
        cursor.execute(
            f"DELETE FROM {STALE} m USING {LEARNER} l, {STANDARD} s"
            f" WHERE m.learner_id = l.id AND m.standard_id = s.id AND {where}",
            params,
        )
    return schools


# ``COPY ... TO STDOUT (FORMAT binary)`` framing: signature (11), flags (4), extension length
# (4, always 0 here); then per row a field count (2) and per field its length (4, -1: NULL).
_BINARY_HEADER: Final = 19
# A one-dimensional array's binary form: ndim, has-nulls, element type, length, lower bound;
# then per element its length (4) and value (8 bytes here).
_ARRAY_HEADER: Final = 20
# PostgreSQL's binary timestamptz: microseconds since 2000-01-01 UTC.
_PG_EPOCH_US: Final = 946_684_800_000_000


def _binary_arrays(data: bytes, types: Sequence[str]) -> list[NDArray[Any]]:
    """The 1-D arrays of fixed-size, non-null elements of the one row of a binary COPY
    ``data``, one per field, of the numpy ``types`` (e.g. ``">i8"``, ``">i4"``); a NULL field is
    an empty array. ``ValueError`` for an array holding a NULL."""
    out: list[NDArray[Any]] = []
    position = _BINARY_HEADER + 2
    for kind in types:
        (length,) = struct.unpack_from(">i", data, position)
        position += 4
        if length < 0:
            out.append(np.zeros(0, dtype=kind))
            continue
        (count,) = struct.unpack_from(">i", data, position + 12) if length > 12 else (0,)
        if struct.unpack_from(">i", data, position + 4)[0]:
            raise ValueError("binary COPY: an array holds a NULL")
        element = np.dtype([("length", ">i4"), ("value", kind)])
        values = np.frombuffer(data, element, count, position + _ARRAY_HEADER)["value"]
        out.append(values)
        position += length
    return out


@dataclass(frozen=True)
class RatingArrays:
    """Counted ratings as columns, ordered by learner, standard, then the engine's order."""

    learner: NDArray[np.int64]
    standard: NDArray[np.int64]
    score: NDArray[np.float64]
    demonstrated_us: NDArray[np.int64]
    ids: NDArray[np.int64]  # the ratings' own (for the digest of the counted ratings)


def read_counted_ratings(scope: BulkScope) -> RatingArrays:
    """Every counted rating in scope, as six arrays aggregated by PostgreSQL (``array_agg``)
    in one row of a binary ``COPY``, unpacked by numpy: no Python (or libpq) work per rating.
    The counted rule in its hashed form (``HASHED_READS``): two index probes per rating in a
    nested loop took twice as long (100,000 ratings: 199 ms against 62 ms, measured).
    The rows are put in order here (``np.lexsort`` on learner, standard, then the engine's
    ``demonstrated_at, recorded_at, id``), so the order does not depend on the plan.
    ``demonstrated_us``: microseconds since the epoch (UTC)."""
    where, params = scope.where("l", "s")
    query = (
        "COPY (SELECT array_agg(r.learner_id), array_agg(r.standard_id),"
        " array_agg((r.score * 100)::int8), array_agg(r.demonstrated_at),"
        " array_agg(r.recorded_at), array_agg(r.id)"
        f" FROM {RATING} r JOIN {LEARNER} l ON l.id = r.learner_id"
        f" JOIN {STANDARD} s ON s.id = r.standard_id"
        f" WHERE r.learner_id BETWEEN %s AND %s AND {where}"
        f" AND {counted_predicate('r', form='in')}"
        ") TO STDOUT (FORMAT binary)"
    )
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with transaction.atomic(), raw.cursor() as cursor:
        cursor.execute(HASHED_READS)
        with cursor.copy(query, [scope.low, scope.high, *params]) as copy:
            data = b"".join(bytes(block) for block in copy)
    # Scores as whole hundredths (numeric(5,2)) and the times as binary timestamptz: no
    # numeric-to-text-to-float or extract(epoch) per rating in PostgreSQL (its CPU for the read
    # 490 -> 295 ms per 500,000 ratings). hundredths / 100 is the same float8 as score::float8
    # (both the nearest double to the same decimal).
    learner, standard, hundredths, demonstrated, recorded, ids = _binary_arrays(
        data, (">i8", ">i8", ">i8", ">i8", ">i8", ">i8")
    )
    limits = np.iinfo(np.int64)
    if ((demonstrated == limits.max) | (demonstrated == limits.min)).any():
        raise ValueError("a counted rating's demonstrated_at is infinite")
    order = np.lexsort((ids, recorded, demonstrated, standard, learner))
    return RatingArrays(
        learner=learner[order].astype(np.int64),
        standard=standard[order].astype(np.int64),
        score=hundredths[order].astype(np.int64) / 100,
        demonstrated_us=demonstrated[order].astype(np.int64) + _PG_EPOCH_US,
        ids=ids[order].astype(np.int64),
    )


def stream_counted_ratings(scope: BulkScope) -> Iterator[tuple[int, int, float, int]]:
    """:func:`read_counted_ratings` row by row (for tests and small scopes)."""
    arrays = read_counted_ratings(scope)
    for index in range(int(arrays.learner.shape[0])):
        yield (
            int(arrays.learner[index]),
            int(arrays.standard[index]),
            float(arrays.score[index]),
            int(arrays.demonstrated_us[index]),
        )


def record_pairs(low: int, high: int) -> list[tuple[int, int]]:
    """Every (learner, standard) with a record for learners ``low..high`` (an index range)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT learner_id, standard_id FROM {RECORD} WHERE learner_id BETWEEN %s AND %s",
            [low, high],
        )
        return [(int(row[0]), int(row[1])) for row in cursor.fetchall()]


# The bits of ``RecordArrays.flags``: the record's booleans, whether its calculation version is
# the one asked for, and which of its nullable columns (other than the numbers) are NULL.
MASTERED_BIT: Final = 1
INCONSISTENT_BIT: Final = 2
VERSION_BIT: Final = 4
NO_FIRST_BIT: Final = 8
NO_RULES_KEY_BIT: Final = 16
NO_DIGEST_BIT: Final = 32
# A NULL score or level points in ``RecordArrays``: no numeric(8,4) value is this many
# ten-thousandths.
NO_UNITS: Final = -(2**62)


@dataclass(frozen=True)
class RecordArrays:
    """Stored records as columns, ordered by learner then standard, every value exact:
    ``state`` and ``label``: 1-based positions in the lists asked for (0: not among them);
    ``score`` and ``points``: ten-thousandths (the columns are ``numeric(8,4)``), ``NO_UNITS``
    for NULL; ``first_us``: ``first_mastered_at`` in microseconds since the epoch (0 when
    NULL); ``rules_key`` and ``ratings_digest``: 0 when NULL; ``flags``: the ``*_BIT`` values
    above."""

    learner: NDArray[np.int64]
    standard: NDArray[np.int64]
    state: NDArray[np.int64]
    score: NDArray[np.int64]
    points: NDArray[np.int64]
    label: NDArray[np.int64]
    first_us: NDArray[np.int64]
    evidence_count: NDArray[np.int64]
    rules_key: NDArray[np.int64]
    ratings_digest: NDArray[np.int64]
    flags: NDArray[np.int64]


def read_record_arrays(
    low: int, high: int, states: Sequence[str], labels: Sequence[str], version: str
) -> RecordArrays:
    """The records of learners ``low..high`` as :class:`RecordArrays`: columns aggregated by
    PostgreSQL (``array_agg``) in one row of a binary ``COPY``, unpacked by numpy (as
    :func:`read_counted_ratings`): no Python work per record, no text or ``numeric`` output.
    ``states``/``labels``: the values to number; ``version``: the calculation version whose
    equality ``VERSION_BIT`` says."""
    query = (
        "COPY (SELECT array_agg(m.learner_id), array_agg(m.standard_id),"
        " array_agg(coalesce(array_position(%s::text[], m.state::text), 0)),"
        f" array_agg(coalesce((m.score * 10000)::int8, {NO_UNITS})),"
        f" array_agg(coalesce((m.level_points * 10000)::int8, {NO_UNITS})),"
        " array_agg(coalesce(array_position(%s::text[], m.level_label::text), 0)),"
        " array_agg(coalesce(m.first_mastered_at, 'epoch')), array_agg(m.evidence_count),"
        " array_agg(coalesce(m.rules_key, 0)), array_agg(coalesce(m.ratings_digest, 0)),"
        f" array_agg(CASE WHEN m.mastered THEN {MASTERED_BIT} ELSE 0 END"
        f" + CASE WHEN m.inconsistent THEN {INCONSISTENT_BIT} ELSE 0 END"
        f" + CASE WHEN m.calculation_version = %s THEN {VERSION_BIT} ELSE 0 END"
        f" + CASE WHEN m.first_mastered_at IS NULL THEN {NO_FIRST_BIT} ELSE 0 END"
        f" + CASE WHEN m.rules_key IS NULL THEN {NO_RULES_KEY_BIT} ELSE 0 END"
        f" + CASE WHEN m.ratings_digest IS NULL THEN {NO_DIGEST_BIT} ELSE 0 END)"
        f" FROM {RECORD} m WHERE m.learner_id BETWEEN %s AND %s) TO STDOUT (FORMAT binary)"
    )
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(query, [list(states), list(labels), version, low, high]) as copy,
    ):
        data = b"".join(bytes(block) for block in copy)
    # int4: the positions, the evidence count and the flags; timestamptz: int8 microseconds
    # since 2000-01-01.
    columns = [
        column.astype(np.int64)
        for column in _binary_arrays(
            data, (">i8", ">i8", ">i4", ">i8", ">i8", ">i4", ">i8", ">i4", ">i8", ">i8", ">i4")
        )
    ]
    columns[6] += _PG_EPOCH_US  # NULL ('epoch' above): 0
    order = np.lexsort((columns[1], columns[0]))
    return RecordArrays(*(column[order] for column in columns))


@dataclass(frozen=True)
class RecordedColumns:
    """Stored records as columns, in no particular order (``read_records``, for reports of
    today). ``state`` indexes ``rules.STATES``; ``score_hundredths`` -1 without a score;
    ``first_day`` the local day of ``first_mastered_at`` from 2000-01-01 (``no_day`` when
    never); ``rules_key`` and ``ratings_digest`` 0 where NULL (``flags`` say so); ``labels`` and
    ``versions`` the level label and calculation version of each row."""

    learner: NDArray[np.int64]
    standard: NDArray[np.int64]
    state: NDArray[np.int64]
    score_hundredths: NDArray[np.int64]
    evidence_count: NDArray[np.int64]
    first_day: NDArray[np.int64]
    rules_key: NDArray[np.int64]
    ratings_digest: NDArray[np.int64]
    flags: NDArray[np.int64]
    labels: list[str]
    versions: list[str]
    # Pairs of the learners and standards read that have a dirty marker.
    marked: list[tuple[int, int]]

    def __len__(self) -> int:
        return int(self.learner.shape[0])


# RecordedColumns.flags
MASTERED_FLAG: Final = 1
LEVEL_FLAG: Final = 2  # level_points is set
UNKEYED_FLAG: Final = 4  # rules_key is NULL
UNDIGESTED_FLAG: Final = 8  # ratings_digest is NULL
OVERRIDE_FLAG: Final = 16  # the record's explanation says a teacher's override set it


def _int8s(blob: bytes | None) -> NDArray[np.int64]:
    """The elements of an ``array_send`` of a one-dimensional, non-null ``int8[]``."""
    if blob is None or len(blob) <= _ARRAY_HEADER:
        return np.zeros(0, np.int64)
    element = np.dtype([("length", ">i4"), ("value", ">i8")])
    return np.frombuffer(blob, element, offset=_ARRAY_HEADER)["value"].astype(np.int64)


def read_records(
    learner_ids: Sequence[int], standard_ids: Sequence[int], *, tz: str, no_day: int
) -> RecordedColumns:
    """Every stored record of ``learner_ids`` x ``standard_ids`` as columns, and the dirty
    markers among those pairs: two queries whatever their number (the records as ``int8[]``
    arrays sent raw and read by numpy, their two text columns as JSON), no Python per record."""
    if not learner_ids or not standard_ids:
        return _record_arrays([None] * 9, [], [], [])
    params: dict[str, Any] = {
        "learners": list(learner_ids),
        "standards": list(standard_ids),
        "states": list(rules.STATES),
        "tz": tz,
        "no_day": no_day,
    }
    flags = (
        f"(m.mastered::int * {MASTERED_FLAG}"
        f" + (m.level_points IS NOT NULL)::int * {LEVEL_FLAG}"
        f" + (m.rules_key IS NULL)::int * {UNKEYED_FLAG}"
        f" + (m.ratings_digest IS NULL)::int * {UNDIGESTED_FLAG}"
        f" + (COALESCE(m.explanation->>'method', '') = 'override')::int * {OVERRIDE_FLAG})::int8"
    )
    columns = (
        "m.learner_id",
        "m.standard_id",
        "(array_position(%(states)s::text[], m.state::text) - 1)::int8",
        "COALESCE(round(m.score * 100)::int8, -1)",
        "m.evidence_count::int8",
        "COALESCE(((m.first_mastered_at AT TIME ZONE %(tz)s)::date - DATE '2000-01-01')::int8,"
        " %(no_day)s::int8)",
        "COALESCE(m.rules_key, 0)",
        "COALESCE(m.ratings_digest, 0)",
        flags,
    )
    query = (
        "SELECT "
        + ", ".join(f"array_send(array_agg({column}))" for column in columns)
        + ", array_to_json(array_agg(m.level_label))::text,"
        " array_to_json(array_agg(m.calculation_version))::text"
        f" FROM {RECORD} m WHERE m.learner_id = ANY(%(learners)s::bigint[])"
        " AND m.standard_id = ANY(%(standards)s::bigint[])"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        row = cursor.fetchone()
        cursor.execute(
            f"SELECT learner_id, standard_id FROM {STALE}"
            " WHERE learner_id = ANY(%(learners)s::bigint[])"
            " AND standard_id = ANY(%(standards)s::bigint[])",
            params,
        )
        marked = [(int(r[0]), int(r[1])) for r in cursor.fetchall()]
    assert row is not None
    labels = [] if row[9] is None else [str(x) for x in json.loads(row[9])]
    versions = [] if row[10] is None else [str(x) for x in json.loads(row[10])]
    return _record_arrays(row[:9], labels, versions, marked)


def _record_arrays(
    blobs: Sequence[Any], labels: list[str], versions: list[str], marked: list[tuple[int, int]]
) -> RecordedColumns:
    learner, standard, state, score, count, first, key, digest, flags = (
        _int8s(blob) for blob in blobs
    )
    return RecordedColumns(
        learner=learner,
        standard=standard,
        state=state,
        score_hundredths=score,
        evidence_count=count,
        first_day=first,
        rules_key=key,
        ratings_digest=digest,
        flags=flags,
        labels=labels,
        versions=versions,
        marked=marked,
    )


BULK_COLUMNS: Final = (
    "learner_id",
    "standard_id",
    "state",
    "score",
    "level_points",
    "level_label",
    "mastered",
    "first_mastered_at",
    "evidence_count",
    "explanation",
    "calculation_version",
    "explanation_key",
    "inconsistent",
    "rules_key",
    "ratings_digest",
)


def write_bulk(
    lines: Iterable[str],
    summaries: Mapping[int, str],
    now: datetime,
    job_id: int,
    scope: BulkScope,
) -> tuple[int, int]:
    """COPY ``lines`` (COPY text rows of ``BULK_COLUMNS``, see :func:`copy_text`) into a
    temporary table, then one upsert that writes only the records whose values (or method,
    parameters, scale, roll-up rule or shared summary) differ, and appends an event for each one
    whose level or ``mastered`` changed. Returns (records written, events written).

    Every line's learner is in ``scope``, the batch's: the records before the upsert are read
    by its learner-id range (or its listed learners), one index scan, rather than probed once
    per line (a tenth of the statement's time).

    A row's explanation is either its own JSON (``explanation_key`` NULL), or empty with
    ``explanation_key`` naming one of ``summaries`` (key -> JSON shared by every pair under one
    policy), which is added to ``ExplanationSummary`` unless already there: stored once, not
    once per record. No unique constraint on the key, so a batch never waits for another's
    uncommitted summary; a duplicate (same key, same JSON) is harmless.
    """
    copied = ", ".join(BULK_COLUMNS)
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with raw.cursor() as cursor:
        for key, text in summaries.items():
            cursor.execute(
                f"INSERT INTO {SUMMARY} (key, explanation, created_at)"
                f" SELECT %s, %s::jsonb, %s WHERE NOT EXISTS"
                f" (SELECT 1 FROM {SUMMARY} WHERE key = %s)",
                [key, text, now, key],
            )
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS mastery_bulk_in ("
            " learner_id bigint, standard_id bigint, state varchar(24), score numeric(8,4),"
            " level_points numeric(8,4), level_label varchar(100), mastered boolean,"
            " first_mastered_at timestamptz, evidence_count integer, explanation jsonb,"
            " calculation_version varchar(20), explanation_key bigint, inconsistent boolean,"
            " rules_key bigint, ratings_digest bigint)"
            " ON COMMIT DELETE ROWS"
        )
        # Emptied at commit; emptied here too for several batches in one transaction.
        cursor.execute("TRUNCATE mastery_bulk_in")
        with cursor.copy(f"COPY mastery_bulk_in ({copied}) FROM STDIN") as copy:
            chunk: list[str] = []
            for line in lines:
                chunk.append(line)
                if len(chunk) >= 5000:
                    copy.write("".join(chunk))
                    chunk = []
            if chunk:
                copy.write("".join(chunk))
        # Statistics on the keys let the planner join the batch to the records it read.
        cursor.execute("ANALYZE mastery_bulk_in (learner_id, standard_id)")
        ids = None if scope.learner_ids is None else list(scope.learner_ids)
        learners = (
            "m.learner_id BETWEEN %(low)s AND %(high)s"
            if ids is None
            else "m.learner_id = ANY(%(ids)s)"
        )
        cursor.execute(
            f"WITH old AS (SELECT m.learner_id, m.standard_id, m.state, m.level_points,"
            f" m.level_label, m.mastered FROM {RECORD} m WHERE {learners}),"
            f" up AS (INSERT INTO {RECORD} AS m ({copied}, computed_at)"
            f" SELECT {copied}, %(now)s FROM mastery_bulk_in"
            " ON CONFLICT (learner_id, standard_id) DO UPDATE SET"
            + ", ".join(f" {c} = EXCLUDED.{c}" for c in BULK_COLUMNS[2:])
            + ", computed_at = EXCLUDED.computed_at"
            " WHERE (m.state, m.score, m.level_points, m.level_label, m.mastered,"
            " m.first_mastered_at, m.evidence_count, m.calculation_version, m.explanation_key,"
            " m.inconsistent, m.rules_key, m.ratings_digest, m.explanation->'method',"
            " m.explanation->'params', m.explanation->'scale', m.explanation->'rule')"
            " IS DISTINCT FROM (EXCLUDED.state, EXCLUDED.score, EXCLUDED.level_points,"
            " EXCLUDED.level_label, EXCLUDED.mastered, EXCLUDED.first_mastered_at,"
            " EXCLUDED.evidence_count, EXCLUDED.calculation_version, EXCLUDED.explanation_key,"
            " EXCLUDED.inconsistent, EXCLUDED.rules_key, EXCLUDED.ratings_digest,"
            " EXCLUDED.explanation->'method',"
            " EXCLUDED.explanation->'params', EXCLUDED.explanation->'scale',"
            " EXCLUDED.explanation->'rule')"
            " RETURNING m.learner_id, m.standard_id, m.state, m.score, m.level_points,"
            " m.level_label, m.mastered, m.calculation_version),"
            f" ev AS (INSERT INTO {EVENT} (learner_id, standard_id, from_state, to_state,"
            " from_level_points, from_level_label, to_level_points, to_level_label,"
            " from_mastered, to_mastered, score, occurred_at, bulk_recompute_id,"
            " calculation_version)"
            " SELECT up.learner_id, up.standard_id, COALESCE(old.state, 'not_assessed'),"
            " up.state, old.level_points, COALESCE(old.level_label, ''), up.level_points,"
            " up.level_label, COALESCE(old.mastered, false), up.mastered, up.score, %(now)s,"
            " %(job)s, up.calculation_version FROM up LEFT JOIN old"
            " ON old.learner_id = up.learner_id AND old.standard_id = up.standard_id"
            " WHERE (old.level_points, COALESCE(old.level_label, ''),"
            " COALESCE(old.mastered, false))"
            " IS DISTINCT FROM (up.level_points, up.level_label, up.mastered) RETURNING 1)"
            " SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM ev)",
            {"now": now, "job": job_id, "low": scope.low, "high": scope.high, "ids": ids},
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def analyze_records() -> None:
    """Refresh the planner's statistics of the records table (a sample: about a second)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {RECORD}")


_COPY_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: object) -> str:
    """One field of a COPY text row: ``\\N`` for None, booleans as t/f, text escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).translate(_COPY_ESCAPES)


def overrides_in_force(
    *,
    low: int | None = None,
    high: int | None = None,
    learner_ids: Iterable[int] | None = None,
    standard_ids: Iterable[int] | None = None,
    at: datetime | None = None,
) -> dict[tuple[int, int], Override]:
    """The overrides in force (now, or at ``at``: set at or before it and not cleared by then)
    of the learners with ids in ``low``..``high`` (and/or among ``learner_ids``), on
    ``standard_ids`` when given, by pair; one query with who set them."""
    from django.db.models import Q

    query = MasteryOverride.objects.select_related("set_by")
    if at is None:
        query = query.filter(cleared_at__isnull=True)
    else:
        query = query.filter(set_at__lte=at).filter(
            Q(cleared_at__isnull=True) | Q(cleared_at__gt=at)
        )
    if low is not None:
        query = query.filter(learner_id__gte=low)
    if high is not None:
        query = query.filter(learner_id__lte=high)
    if learner_ids is not None:
        query = query.filter(learner_id__in=list(learner_ids))
    if standard_ids is not None:
        query = query.filter(standard_id__in=list(standard_ids))
    out: dict[tuple[int, int], Override] = {}
    for row in query.order_by("set_at", "id"):
        person = row.set_by
        out[(row.learner_id, row.standard_id)] = Override(
            id=row.pk,
            score=row.score,
            set_at=row.set_at,
            set_by_id=row.set_by_id,
            set_by_name=str(person.get_full_name() or person.get_username()),
            reason=row.reason,
        )
    return out


def records_under_other_rules(
    keys: Sequence[tuple[int, int, int | None, int | None]], limit: int
) -> list[tuple[int, int]]:
    """Up to ``limit`` (learner, standard) pairs with a record whose ``rules_key`` is not the
    key in force (``keys``: school, framework, a statement's key, a grouping's key), or that
    has no ``ratings_digest`` (written before provenance: ``policy.RulesKeys.is_stale``), and
    no marker yet. One statement."""
    if not keys:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.learner_id, m.standard_id FROM {RECORD} m"
            f" JOIN {LEARNER} l ON l.id = m.learner_id JOIN {STANDARD} s ON s.id = m.standard_id"
            " JOIN unnest(%(schools)s::bigint[], %(frameworks)s::bigint[], %(leaf)s::bigint[],"
            " %(grouping)s::bigint[]) AS k(school_id, framework_id, leaf, grouping)"
            " ON k.school_id = l.school_id AND k.framework_id = s.framework_id"
            " WHERE (m.rules_key IS DISTINCT FROM"
            " (CASE WHEN s.is_grouping THEN k.grouping ELSE k.leaf END)"
            " OR m.ratings_digest IS NULL)"
            f" AND NOT EXISTS (SELECT 1 FROM {STALE} x WHERE x.learner_id = m.learner_id"
            " AND x.standard_id = m.standard_id)"
            " ORDER BY m.learner_id, m.standard_id LIMIT %(limit)s",
            {
                "schools": [k[0] for k in keys],
                "frameworks": [k[1] for k in keys],
                "leaf": [k[2] for k in keys],
                "grouping": [k[3] for k in keys],
                "limit": limit,
            },
        )
        return [(int(row[0]), int(row[1])) for row in cursor.fetchall()]
