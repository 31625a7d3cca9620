# Table names in the SQL below are the models' own constants; every value is a parameter.
# ruff: noqa: S608
"""Reads of the mastery app: scoped records, events and jobs; "as of" mastery; verification.

Scoping goes through ``learners.selectors`` only (one mechanism for pages, API and reports):
records and events are visible to whoever may see the learner; bulk recompute jobs to the
administrators of the organisation they cover.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import multiprocessing
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection, connections
from django.db.models import Q, QuerySet
from django.http import Http404
from numpy.typing import NDArray

from evidence.models import Rating, RatingSource
from learners.models import Learner
from learners.selectors import (
    AnyUser,
    administered_organisations,
    placements_as_of,
    visible_learners,
)
from mastery import derive, rules, sql
from mastery.core import counted_ratings
from mastery.derive import ChildRecord, Derived
from mastery.estimators import EstimatorComparison, compare_estimators
from mastery.models import (
    BulkRecompute,
    ExplanationSummary,
    MasteryEvent,
    MasteryOverride,
    MasteryRecord,
    StaleMastery,
)
from mastery.policy import RulesCache, RulesKeys, load_rules
from mastery.rules import RulesError
from standards.models import Standard, StandardStatus
from standards.selectors import active_children_of

_MAX_PK = 2**63 - 1


def _pk(value: object) -> int:
    text = str(value)
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_PK:
        raise Http404("Not found.")
    return int(text)


# --- scoped reads -------------------------------------------------------------------------------


def visible_records(user: AnyUser | None) -> QuerySet[MasteryRecord]:
    """Mastery records of the learners the user may see, with learner and standard joined."""
    return MasteryRecord.objects.filter(
        learner_id__in=visible_learners(user).values("pk")
    ).select_related("learner", "standard")


def record_pending(record: MasteryRecord, keys: RulesKeys | None = None) -> bool:
    """Whether a recompute of ``record`` is due: its pair is marked, or it was computed under
    other rules than those in force (ADR 8). Pages say "recomputing" then, never "up to date"."""
    stale = getattr(record, "stale", None)
    if stale is None:
        stale = StaleMastery.objects.filter(
            learner_id=record.learner_id, standard_id=record.standard_id
        ).exists()
    if stale:
        return True
    keys = keys or RulesKeys()
    school_id = record.learner.school_id
    if keys.is_stale(
        school_id,
        record.standard.framework_id,
        record.standard.is_grouping,
        record.rules_key,
        record.ratings_digest,
    ):
        return True
    if not record.standard.is_grouping:
        return False
    # A grouping is due when anything below it is (verify_mastery's rule).
    below: list[int] = []
    frontier = [record.standard_id]
    while frontier:
        frontier = list(
            Standard.objects.filter(
                parent_id__in=frontier, status=StandardStatus.ACTIVE
            ).values_list("pk", flat=True)
        )
        below += frontier
    if StaleMastery.objects.filter(learner_id=record.learner_id, standard_id__in=below).exists():
        return True
    return any(
        keys.is_stale(school_id, framework_id, grouping, key, digest)
        for framework_id, grouping, key, digest in MasteryRecord.objects.filter(
            learner_id=record.learner_id, standard_id__in=below
        ).values_list(
            "standard__framework_id", "standard__is_grouping", "rules_key", "ratings_digest"
        )
    )


def get_visible_record_or_404(user: AnyUser | None, pk: object) -> MasteryRecord:
    """One record the user may see; the same 404 for missing, out of scope and malformed."""
    try:
        return visible_records(user).get(pk=_pk(pk))
    except MasteryRecord.DoesNotExist as exc:
        raise Http404("Not found.") from exc


def visible_events(user: AnyUser | None) -> QuerySet[MasteryEvent]:
    """Mastery events (the growth history) of the learners the user may see."""
    return MasteryEvent.objects.filter(
        learner_id__in=visible_learners(user).values("pk")
    ).select_related("standard")


def visible_bulk_recomputes(user: AnyUser | None) -> QuerySet[BulkRecompute]:
    """Bulk recompute jobs of organisations the user administers (at or below), and those the
    user started (a ratings import's)."""
    mine = Q()
    if user is not None and user.is_authenticated and user.is_active:
        mine = Q(requested_by_id=user.pk)
    return BulkRecompute.objects.filter(
        Q(organisation_id__in=administered_organisations(user).values("pk")) | mine
    ).select_related("organisation", "framework")


def get_visible_bulk_recompute_or_404(user: AnyUser | None, pk: object) -> BulkRecompute:
    try:
        return visible_bulk_recomputes(user).get(pk=_pk(pk))
    except BulkRecompute.DoesNotExist as exc:
        raise Http404("Not found.") from exc


@dataclass(frozen=True)
class BulkProgress:
    batches: int
    done: int
    failed: int
    records_checked: int
    records_written: int
    events_written: int

    @property
    def percent(self) -> int:
        return 100 if self.batches == 0 else (100 * self.done) // self.batches


def bulk_progress(job: BulkRecompute) -> BulkProgress:
    """Progress of a bulk recompute: batches done of all, and what they wrote. One query."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'done'),"
            " count(*) FILTER (WHERE status = 'failed'), COALESCE(sum(records_checked), 0),"
            " COALESCE(sum(records_written), 0), COALESCE(sum(events_written), 0)"
            " FROM mastery_bulkrecomputebatch WHERE job_id = %s",
            [job.pk],
        )
        row = cursor.fetchone()
    assert row is not None
    return BulkProgress(*(int(value) for value in row))


# --- as of a moment -----------------------------------------------------------------------------


def estimators_of(
    learner: Learner, standard: Standard, ratings: Sequence[Rating] | None = None
) -> EstimatorComparison | None:
    """The field's estimators beside the policy on the learner's counted ratings of
    ``standard`` (``mastery.estimators``), or None for a grouping (it rolls up, it does not
    estimate). ``ratings``: the counted ratings when the caller has read them already. The
    rules are those in force for the learner's school and the standard's framework."""
    if standard.is_grouping:
        return None
    if ratings is None:
        ratings = list(counted_ratings(learner_ids=[learner.pk], standard_ids=[standard.pk]))
    rules_now = load_rules(learner.school_id, standard.framework_id)
    engine_ratings = [
        rules.Rating(r.score, r.demonstrated_at, r.recorded_at, r.pk)
        for r in ratings
        if r.source != RatingSource.SELF
    ]
    try:
        return compare_estimators(engine_ratings, rules_now.policy, rules_now.scale)
    except RulesError:
        return None  # a rating off the scale: the record itself says so


def mastery_as_of(
    learner: Learner, standard: Standard, at: datetime.datetime, *, cache: RulesCache | None = None
) -> Derived:
    """The mastery of ``learner`` on ``standard`` as it stood at ``at``.

    Computed from the ratings counted as of ``at`` (ADR 0005: recorded by then, and neither
    superseded nor removed by then) with the overrides, the learner's school, the policy and
    scale and the standard's active children as they stood then (ADR 8), never from stored
    records; so it is the same whenever it is asked. A grouping rolls up its children as of
    ``at``. Check that the user may see the learner first.
    """
    return mastery_as_of_many([learner], standard, at, cache=cache)[learner.pk]


def mastery_as_of_many(
    learners: Sequence[Learner],
    standard: Standard,
    at: datetime.datetime,
    *,
    cache: RulesCache | None = None,
) -> dict[int, Derived]:
    """:func:`mastery_as_of` for many learners on one standard: two queries per level of the
    standard's subtree, and a few for the overrides, schools and settings as they stood at
    ``at``, whatever the number of learners. ``cache``: rules read as of ``at``
    (``RulesCache(at)``)."""
    ids = [lr.pk for lr in learners]
    placed = placements_as_of(ids, at)
    schools = {
        lr.pk: placed[lr.pk].school_id if lr.pk in placed else lr.school_id for lr in learners
    }
    return _as_of_many(
        ids,
        standard,
        at,
        _AsOf(cache or RulesCache(at), schools, sql.overrides_in_force(learner_ids=ids, at=at)),
    )


@dataclass(frozen=True)
class _AsOf:
    cache: RulesCache
    schools: Mapping[int, int]
    overrides: Mapping[tuple[int, int], derive.Override]


def _as_of_many(
    ids: Sequence[int], standard: Standard, at: datetime.datetime, then: _AsOf
) -> dict[int, Derived]:
    if not standard.is_grouping:
        ratings = sql.counted_ratings_of_learners(list(ids), standard.pk, at)
        out_: dict[int, Derived] = {}
        for learner_id in ids:
            rules_ = then.cache.get(then.schools[learner_id], standard.framework_id)
            counted = ratings[learner_id]
            out_[learner_id] = derive.apply_override(
                derive.derive_record(counted, rules_),
                then.overrides.get((learner_id, standard.pk)),
                rules_,
                max((r.demonstrated_at for r in counted if r.demonstrated_at), default=None),
            )
        return out_
    kids = active_children_of([standard.pk], at=at).get(standard.pk, [])
    children = list(Standard.objects.filter(pk__in=kids).order_by("pk"))
    by_child = {child.pk: _as_of_many(ids, child, at, then) for child in children}
    out: dict[int, Derived] = {}
    for learner_id in ids:
        rows = [_as_child(child.pk, by_child[child.pk][learner_id]) for child in children]
        rules_ = then.cache.get(then.schools[learner_id], standard.framework_id)
        out[learner_id] = derive.derive_rollup(rows, rules_)
    return out


def _as_child(standard_id: int, result: Derived) -> ChildRecord:
    return ChildRecord(
        standard_id=standard_id,
        state=result.state,
        mastered=result.mastered,
        level_points=result.level_points,
        level_label=result.level_label,
        first_mastered_at=result.first_mastered_at,
        evidence_count=result.evidence_count,
        ratings_digest=result.ratings_digest,
    )


def stored_explanations(records: Iterable[MasteryRecord]) -> dict[int, dict[str, Any]]:
    """Each record's stored explanation by record id: its own, or for a record written by a
    bulk recompute (own explanation empty) the shared ``ExplanationSummary`` it names. One
    query, none when no record names a summary."""
    records = list(records)
    keys = {
        r.explanation_key for r in records if not r.explanation and r.explanation_key is not None
    }
    shared: dict[int | None, dict[str, Any]] = {}
    if keys:
        for key, explanation in ExplanationSummary.objects.filter(key__in=keys).values_list(
            "key", "explanation"
        ):
            shared[key] = explanation
    return {r.pk: dict(r.explanation or shared.get(r.explanation_key, {})) for r in records}


def stored_explanation(record: MasteryRecord) -> dict[str, Any]:
    """:func:`stored_explanations` of one record."""
    return stored_explanations([record])[record.pk]


def explain_record(record: MasteryRecord) -> dict[str, Any]:
    """The full explanation of a record: the stored one, or (for a record written by a bulk
    recompute, which stores a summary) the engine's, recomputed from the ratings counted as of
    the record's ``computed_at``."""
    if {"inputs", "children", "override"} & set(record.explanation):
        return dict(record.explanation)
    return mastery_as_of(record.learner, record.standard, record.computed_at).explanation


# --- verification -------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What ``verify_mastery`` found. ``stale``: marked dirty, or missing although the pair has
    counted ratings; ``wrong``: not marked, yet different from the engine's result."""

    checked: int = 0
    stale: int = 0
    wrong: int = 0
    wrong_pairs: list[tuple[int, int]] = field(default_factory=list)
    stale_pairs: list[tuple[int, int]] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return {"checked": self.checked, "stale": self.stale, "wrong": self.wrong}


@dataclass(frozen=True)
class _Stored:
    key: tuple[object, ...]
    child: ChildRecord
    rules_key: int | None = None
    ratings_digest: int | None = None


def _learner_ranges(batch: int, wanted: set[int] | None) -> Iterator[tuple[int, int]]:
    if wanted is not None:
        ids = sorted(wanted)
    else:
        with connection.cursor() as cursor:
            # The learners with a record or a rating (both reference the learner): a probe of
            # each table per learner, not a DISTINCT over every record and rating.
            cursor.execute(
                f"SELECT l.id FROM {sql.LEARNER} l"
                f" WHERE EXISTS (SELECT 1 FROM {sql.RECORD} m WHERE m.learner_id = l.id)"
                f" OR EXISTS (SELECT 1 FROM {sql.RATING} r WHERE r.learner_id = l.id)"
                " ORDER BY l.id"
            )
            ids = [int(row[0]) for row in cursor.fetchall()]
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        yield chunk[0], chunk[-1]


def _fetch(query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall())


def verify_mastery(
    *, batch: int = 500, learner_ids: Iterable[int] | None = None, processes: int = 1
) -> VerifyReport:
    """Recompute every record in memory with the engine and compare it with what is stored.

    Reads in learner-id ranges (a few queries per range, whatever its size). Every pair with a
    record or a counted rating is checked; groupings are rolled up from the recomputed
    children. Writes nothing.

    ``processes`` > 1: the ranges are shared out, in order, between that many forked processes
    (each range is checked exactly as in one process, on its own connection: the cores the bulk
    recompute uses), and their reports joined in range order. Inside a transaction (a test, a
    caller's ``atomic``) it runs in this process: another connection could not see its rows.
    """
    wanted = None if learner_ids is None else set(learner_ids)
    ranges = list(_learner_ranges(batch, wanted))
    if processes > 1 and len(ranges) > 1 and not connection.in_atomic_block:
        return _verify_in_processes(ranges, wanted, processes)
    return _verify_ranges(ranges, wanted)


@dataclass(frozen=True)
class _Catalogue:
    """The standards as verify reads them, once per process: by id, the active children of
    each, the framework of each, every id sorted (a pair's array key is the learner and the
    standard's place here) and the ids of the standards under a grouping."""

    standards: dict[int, Standard]
    children_of: dict[int, list[int]]
    frameworks: dict[int, int]
    ids: NDArray[np.int64]
    under_grouping: NDArray[np.int64]

    @classmethod
    def load(cls) -> _Catalogue:
        standards = {
            s.pk: s
            for s in Standard.objects.only(
                "id", "framework_id", "parent_id", "is_grouping", "status"
            )
        }
        children_of: dict[int, list[int]] = defaultdict(list)
        for s in standards.values():
            if s.parent_id is not None and s.status == StandardStatus.ACTIVE:
                children_of[s.parent_id].append(s.pk)
        under = [
            pk
            for pk, s in standards.items()
            if s.parent_id in standards and standards[s.parent_id].is_grouping
        ]
        return cls(
            standards,
            children_of,
            {pk: s.framework_id for pk, s in standards.items()},
            np.array(sorted(standards), dtype=np.int64),
            np.array(sorted(under), dtype=np.int64),
        )

    def groupings_above(self, standard_id: int) -> Iterator[int]:
        """The grouping ancestors of a standard, nearest first (a rated statement's need
        records too)."""
        standard = self.standards.get(standard_id)
        parent = None if standard is None else standard.parent_id
        while parent is not None and parent in self.standards:
            if not self.standards[parent].is_grouping:
                return
            yield parent
            parent = self.standards[parent].parent_id


def _verify_ranges(ranges: Sequence[tuple[int, int]], wanted: set[int] | None) -> VerifyReport:
    report = VerifyReport()
    cache = RulesCache()
    catalogue = _Catalogue.load()
    for low, high in ranges:
        _verify_range(low, high, wanted, catalogue, cache, report)
    return report


def _verify_in_child(ranges: Sequence[tuple[int, int]], wanted: set[int] | None) -> VerifyReport:
    try:
        return _verify_ranges(ranges, wanted)
    finally:
        connections.close_all()


def _verify_in_processes(
    ranges: Sequence[tuple[int, int]], wanted: set[int] | None, processes: int
) -> VerifyReport:
    """:func:`_verify_ranges` over contiguous shares of ``ranges`` in forked processes."""
    processes = min(processes, len(ranges))
    # Contiguous shares of about equal size, in order, so the joined pair lists stay sorted.
    bounds = [round(i * len(ranges) / processes) for i in range(processes + 1)]
    shares = [ranges[bounds[i] : bounds[i + 1]] for i in range(processes)]
    connections.close_all()  # a forked child must never use the parent's socket
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
        parts = list(pool.map(_verify_in_child, shares, [wanted] * processes))
    report = VerifyReport()
    for part in parts:
        report.checked += part.checked
        report.stale += part.stale
        report.wrong += part.wrong
        report.stale_pairs += part.stale_pairs
        report.wrong_pairs += part.wrong_pairs
    return report


def _stored_rows(
    low: int, high: int, pairs: Sequence[tuple[int, int]] | None
) -> dict[tuple[int, int], _Stored]:
    """The stored records of learners ``low..high`` (only ``pairs`` of them, when given), each
    with its key (``derive.record_key``), its fields as a roll-up reads them and its rules key."""
    where = ""
    params: list[Any] = [low, high]
    if pairs is not None:
        where = (
            " AND (learner_id, standard_id) IN (SELECT * FROM unnest(%s::bigint[], %s::bigint[]))"
        )
        params += [[p[0] for p in pairs], [p[1] for p in pairs]]
    stored: dict[tuple[int, int], _Stored] = {}
    # first_mastered_at as microseconds since the epoch (exact: extract gives a numeric), made a
    # UTC datetime as the engine's are: a third of the cost of the driver's timestamptz loader.
    for row in _fetch(
        "SELECT learner_id, standard_id, state, score, level_points, level_label, mastered,"
        " (extract(epoch FROM first_mastered_at) * 1000000)::bigint, evidence_count,"
        f" calculation_version, inconsistent, rules_key, ratings_digest FROM {sql.RECORD}"
        f" WHERE learner_id BETWEEN %s AND %s{where}",
        params,
    ):
        score, points, first = (
            sql.to_decimal(row[3]),
            sql.to_decimal(row[4]),
            None if row[7] is None else derive.from_epoch_us(int(row[7])),
        )
        key = derive.record_key(
            state=row[2],
            score=score,
            level_points=points,
            level_label=row[5],
            mastered=bool(row[6]),
            first_mastered_at=first,
            evidence_count=row[8],
            calculation_version=row[9],
            inconsistent=bool(row[10]),
            ratings_digest=row[12],
        )
        stored[(int(row[0]), int(row[1]))] = _Stored(
            key,
            ChildRecord(
                int(row[1]), row[2], bool(row[6]), points, row[5], first, row[8], row[12] or 0
            ),
            row[11],
            row[12],
        )
    return stored


def _expected(
    results: derive.PairResults, labels: Mapping[str, int]
) -> tuple[sql.RecordArrays, NDArray[np.bool_]]:
    """The engine's result of every pair of ``results`` encoded as ``sql.read_record_arrays``
    encodes a stored record of it (``labels``: label -> its number there), with whether the
    encoding is exact (a level whose points have more than 4 decimals cannot be)."""
    size = len(results)
    out = {name: np.zeros(size, np.int64) for name in sql.RecordArrays.__dataclass_fields__}
    out["learner"], out["standard"] = results.learner, results.standard
    exact = np.ones(size, bool)
    for settings, columns, members in zip(
        results.rules, results.columns, results.members, strict=True
    ):
        levels = settings.scale.levels
        units = [level.points * 10000 for level in levels]
        if any(u != u.to_integral_value() for u in units):
            exact[members] = False
            continue
        none = len(levels)  # the tables' last entry: no level
        level = np.where(columns.level_index < 0, none, columns.level_index).astype(np.int64)
        hundredths = columns.score_hundredths
        out["state"][members] = columns.state.astype(np.int64) + 1
        out["score"][members] = np.where(hundredths < 0, sql.NO_UNITS, hundredths * 100)
        out["points"][members] = np.array([int(u) for u in units] + [sql.NO_UNITS], np.int64)[level]
        out["label"][members] = np.array(
            [labels[lv.label] for lv in levels] + [labels[""]], np.int64
        )[level]
        out["first_us"][members] = np.maximum(columns.first_us, 0)
        out["evidence_count"][members] = columns.evidence_count
        out["rules_key"][members] = settings.leaf_key
        out["ratings_digest"][members] = columns.digest
        out["flags"][members] = (
            columns.mastered.astype(np.int64) * sql.MASTERED_BIT
            + columns.inconsistent.astype(np.int64) * sql.INCONSISTENT_BIT
            + sql.VERSION_BIT
            + (columns.first_us < 0) * sql.NO_FIRST_BIT
        )
    return sql.RecordArrays(**out), exact


def _labels(results: derive.PairResults) -> dict[str, int]:
    """Every level label the rules of ``results`` can give, and none (""), numbered from 1."""
    every = ["", *(level.label for settings in results.rules for level in settings.scale.levels)]
    return {label: place + 1 for place, label in enumerate(dict.fromkeys(every))}


def _agreement(
    records: sql.RecordArrays,
    results: derive.PairResults,
    labels: Mapping[str, int],
    excluded: Iterable[tuple[int, int]],
    low: int,
    high: int,
    catalogue: _Catalogue,
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Which stored records (rows of ``records``) equal, field by field, the engine's result
    of their pair (in ``results``) under rules whose key they carry, their pair not among
    ``excluded``; and, for each, the place of its pair in ``results``. Whole columns at once:
    no Python work per record."""
    size = int(records.learner.shape[0])
    ids = catalogue.ids
    width = int(ids.shape[0]) + 1
    if not size or not len(results) or width < 2 or (high - low + 1) * width >= 2**62:
        return np.zeros(size, bool), np.zeros(size, np.int64)

    def keys(learner: NDArray[np.int64], standard: NDArray[np.int64]) -> NDArray[np.int64]:
        place = np.minimum(np.searchsorted(ids, standard), width - 2)
        return np.where(ids[place] == standard, (learner - low) * width + place, -1)

    stored_keys = keys(records.learner, records.standard)
    result_keys = keys(results.learner, results.standard)  # sorted, as the pairs are
    place = np.minimum(np.searchsorted(result_keys, stored_keys), len(results) - 1)
    expected, exact = _expected(results, labels)
    agree = (stored_keys >= 0) & (result_keys[place] == stored_keys) & exact[place]
    for name in ("state", "score", "points", "label", "first_us", "evidence_count", "flags"):
        agree &= getattr(records, name) == getattr(expected, name)[place]
    agree &= records.rules_key == expected.rules_key[place]
    agree &= records.ratings_digest == expected.ratings_digest[place]
    out = sorted(excluded)
    if out:
        agree &= ~np.isin(
            stored_keys,
            keys(
                np.array([p[0] for p in out], dtype=np.int64),
                np.array([p[1] for p in out], dtype=np.int64),
            ),
        )
    return agree, place


def _verify_range(
    low: int,
    high: int,
    wanted: set[int] | None,
    catalogue: _Catalogue,
    cache: RulesCache,
    report: VerifyReport,
) -> None:
    """Check the pairs of learners ``low..high``: those whose record the arrays prove equal to
    the engine's result (a statement's record, not marked, not overridden, under the rules in
    force) in whole columns; every other pair (different, missing, marked, overridden, under
    other rules, a grouping, or any pair of a range whose ratings the scale refuses) one by one
    with the exact rules below, which find and name what is stale or wrong."""
    standards, children_of = catalogue.standards, catalogue.children_of
    schools = dict(
        _fetch(f"SELECT id, school_id FROM {sql.LEARNER} WHERE id BETWEEN %s AND %s", [low, high])
    )
    marked = {
        (int(r[0]), int(r[1]))
        for r in _fetch(
            f"SELECT learner_id, standard_id FROM {sql.STALE} WHERE learner_id BETWEEN %s AND %s",
            [low, high],
        )
    }
    ratings: dict[tuple[int, int], list[Any]] = defaultdict(list)
    overrides = sql.overrides_in_force(low=low, high=high)
    newest: dict[tuple[int, int], datetime.datetime] = {}
    results: derive.PairResults | None = None
    try:
        # The engine's numpy path, proven equal to the per-record one (test_bulk_recompute.py).
        arrays = sql.read_counted_ratings(sql.BulkScope(low, high, None, None))
        results = derive.derive_pair_results(
            arrays.learner,
            arrays.standard,
            arrays.score,
            arrays.demonstrated_us,
            arrays.ids,
            schools,
            catalogue.frameworks,
            cache.get,
        )
    except RulesError:
        # A rating the scale refuses is reported pair by pair (wrong) by the exact path.
        results = None
        for row in _fetch(
            f"SELECT r.id, r.score, r.demonstrated_at, r.recorded_at, r.learner_id,"
            f" r.standard_id FROM {sql.RATING} r WHERE r.learner_id BETWEEN %s AND %s"
            f" AND {sql.counted_predicate('r')}"
            " ORDER BY r.learner_id, r.standard_id, r.demonstrated_at, r.recorded_at, r.id",
            [low, high],
        ):
            ratings[(int(row[4]), int(row[5]))].append(sql.rating_of(row))
        for pair, items in ratings.items():
            latest = max((r.demonstrated_at for r in items if r.demonstrated_at), default=None)
            if latest is not None:
                newest[pair] = latest
    # Pairs left to the exact path, the place in ``results`` of the rated pairs it may read,
    # and the pairs under a grouping that the arrays proved (a roll-up's children).
    pairs: set[tuple[int, int]]
    leaf_at: dict[tuple[int, int], int] = {}
    settled: set[tuple[int, int]] = set()
    rated: set[tuple[int, int]]
    if results is None:
        stored = _stored_rows(low, high, None)
        rated = {pair for pair in ratings if not standards[pair[1]].is_grouping}
        pairs = set(stored) | rated
    else:
        labels = _labels(results)
        records = sql.read_record_arrays(
            low, high, rules.STATES, list(labels), rules.CALCULATION_VERSION
        )
        agree, place = _agreement(
            records, results, labels, marked | set(overrides), low, high, catalogue
        )
        if wanted is None:
            report.checked += int(agree.sum())
        else:
            report.checked += int(
                np.isin(records.learner[agree], np.fromiter(wanted, np.int64)).sum()
            )
        differ = np.flatnonzero(~agree)
        left = list(
            zip(records.learner[differ].tolist(), records.standard[differ].tolist(), strict=True)
        )
        stored = _stored_rows(low, high, left) if left else {}
        proved = np.zeros(len(results), bool)
        proved[place[agree]] = True
        under = np.isin(results.standard, catalogue.under_grouping)
        index = np.flatnonzero(~proved | under)
        leaf_at = dict(
            zip(
                zip(results.learner[index].tolist(), results.standard[index].tolist(), strict=True),
                index.tolist(),
                strict=True,
            )
        )
        settled = {pair for pair, at in leaf_at.items() if proved[at]}
        rated = set(leaf_at)  # every rated pair with a grouping above is among them
        pairs = set(left) | {pair for pair, at in leaf_at.items() if not proved[at]}
        for pair in overrides:
            if pair in leaf_at:
                newest[pair] = derive.from_epoch_us(int(results.last_us[leaf_at[pair]]))
    in_force = {pair for pair in overrides if pair[1] in standards and pair[0] in schools}
    pairs |= in_force
    # A rated statement's grouping ancestors must have records too.
    for learner_id, standard_id in rated | in_force:
        pairs.update((learner_id, parent) for parent in catalogue.groupings_above(standard_id))
    derived: dict[tuple[int, int], Derived | None] = {}

    def compute(pair: tuple[int, int]) -> Derived | None:
        if pair in derived:
            return derived[pair]
        learner_id, standard_id = pair
        standard = standards.get(standard_id)
        result: Derived | None = None
        if standard is not None and learner_id in schools:
            rules_ = cache.get(schools[learner_id], standard.framework_id)
            try:
                if standard.is_grouping:
                    kids = [
                        _as_child(c, r)
                        if (r := compute((learner_id, c))) is not None
                        else ChildRecord(c, "not_assessed", False, None, "", None, 0)
                        for c in sorted(children_of.get(standard_id, []))
                    ]
                    result = derive.derive_rollup(kids, rules_)
                else:
                    result = derive.apply_override(
                        results.derived(leaf_at[pair])
                        if results is not None and pair in leaf_at
                        else derive.derive_record(ratings.get(pair, []), rules_),
                        overrides.get(pair),
                        rules_,
                        newest.get(pair),
                    )
            except RulesError:
                result = None
        derived[pair] = result
        return result

    keys = RulesKeys(cache)

    def dirty(pair: tuple[int, int]) -> bool:
        """Marked, missing, computed under other rules than those in force, or a grouping over
        a dirty child: a recompute is due."""
        if pair in settled:
            return False  # stored, not marked, under the rules in force (the arrays said)
        if pair in marked or pair not in stored:
            return pair in marked or pair in pairs
        standard = standards.get(pair[1])
        if standard is None:
            return False
        have = stored[pair]
        if pair[0] in schools and keys.is_stale(
            schools[pair[0]],
            standard.framework_id,
            standard.is_grouping,
            have.rules_key,
            have.ratings_digest,
        ):
            return True
        if not standard.is_grouping:
            return False
        return any(dirty((pair[0], child)) for child in children_of.get(pair[1], []))

    for pair in sorted(pairs):
        if wanted is not None and pair[0] not in wanted:
            continue
        report.checked += 1
        result = compute(pair)
        have = stored.get(pair)
        if dirty(pair):
            report.stale += 1
            report.stale_pairs.append(pair)
        elif have is not None and (result is None or have.key != result.key()):
            report.wrong += 1
            report.wrong_pairs.append(pair)


# --- overrides ----------------------------------------------------------------------------------


def visible_overrides(user: AnyUser | None) -> QuerySet[MasteryOverride]:
    """Overrides (in force and cleared) of the learners the user may see, with who set and
    cleared them."""
    return MasteryOverride.objects.filter(
        learner_id__in=visible_learners(user).values("pk")
    ).select_related("standard", "set_by", "cleared_by")
