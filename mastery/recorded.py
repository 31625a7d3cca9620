"""Mastery of today as the workers keep it (ADR 8): the stored records of many learners at once.

Part of the mastery core (other apps reach it through ``mastery.core``). A report of today reads
the records the workers keep, the same ones every page shows, and says how many of its figures
still wait for a recompute; a report of a past day computes them as they stood (``asof``). The
records come back as the ``asof.Results`` a computation gives, so a report renders either the
same way, and once the queue has drained both give the same rows, byte for byte
(``tests/reports/test_recorded.py``).

Two queries per page of learners (the records as arrays, their markers), no Python per record:
only pairs waiting for a recompute (few) are walked one by one, to mark their groupings too.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from django.utils import timezone
from numpy.typing import NDArray

from mastery import policy, sql
from mastery.asof import (
    NO_DAY,
    Mastery,
    Results,
    RulesBook,
    masteries,
    mastery_of,
    rules_of_groups,
    stood_at,
)

type IntArray = NDArray[np.int64]
type BoolArray = NDArray[np.bool_]
type Pair = tuple[int, int]


@dataclass(frozen=True)
class RecordedResults:
    """Stored records as ``Results`` rows (sorted by learner, then standard), with what a
    computation does not have: each row's stored rules key (0 where ``unkeyed``: NULL), whether
    its ratings digest is missing (``results.digest`` is 0 there) and its calculation version;
    and the pairs read whose figures may still move (``pending``)."""

    results: Results
    rules_key: IntArray
    unkeyed: BoolArray
    undigested: BoolArray
    version: NDArray[np.str_]
    # Marked, computed under other rules or before provenance (``policy.RulesKeys.is_stale``),
    # or a grouping above such a pair: what pages show as "recomputing".
    pending: frozenset[Pair]

    def pending_among(self, wanted: Mapping[int, Iterable[int]]) -> int:
        """How many pairs of ``wanted`` (learner id -> standard ids) are pending."""
        if not self.pending:
            return 0
        sets = {learner: set(ids) for learner, ids in wanted.items()}
        return sum(1 for learner, standard in self.pending if standard in sets.get(learner, ()))


def _below(standard_ids: Iterable[int], children_of: Mapping[int, Sequence[int]]) -> set[int]:
    """The standards and every active standard below them."""
    out: set[int] = set()
    frontier = list(standard_ids)
    while frontier:
        standard = frontier.pop()
        if standard in out:
            continue
        out.add(standard)
        frontier.extend(children_of.get(standard, ()))
    return out


def fetch_records(
    learner_ids: Sequence[int],
    standard_ids: Iterable[int],
    children_of: Mapping[int, Sequence[int]],
) -> sql.RecordedColumns:
    """The records (and markers) of ``learner_ids`` on ``standard_ids`` and every standard
    below them (a grouping is pending when anything below it is): the database's part of
    :func:`recorded_results`, which a report may run in a second thread."""
    below = sorted(_below(standard_ids, children_of))
    return sql.read_records(
        list(learner_ids), below, tz=timezone.get_current_timezone_name(), no_day=NO_DAY
    )


def _lookup(mapping: Mapping[int, int], keys: IntArray) -> IntArray:
    known = np.array(sorted(mapping), np.int64)
    values = np.array([mapping[int(k)] for k in known.tolist()], np.int64)
    return values[np.searchsorted(known, keys)]


def recorded_results(
    arrays: sql.RecordedColumns,
    *,
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    children_of: Mapping[int, Sequence[int]],
    book: RulesBook,
) -> RecordedResults:
    """:func:`fetch_records`' rows as ``Results`` under the rules numbered by ``book`` (in force
    now: the method shown, the key a fresh record carries), with the pending pairs. Records of
    learners or standards the caller does not know (``school_of``, ``framework_of``) are left
    out."""
    known = np.isin(arrays.learner, np.array(sorted(school_of), np.int64)) & np.isin(
        arrays.standard, np.array(sorted(framework_of), np.int64)
    )
    order = np.lexsort((arrays.standard, arrays.learner))
    order = order[known[order]]
    learner, standard = arrays.learner[order], arrays.standard[order]
    flags = arrays.flags[order]
    size = int(order.shape[0])
    grouping = np.isin(standard, np.array(sorted(children_of), np.int64))
    rules_id = (
        rules_of_groups(learner, standard, school_of, framework_of, book)
        if size
        else np.zeros(0, np.int64)
    )
    label = np.full(size, -1, np.int64)
    if size:
        names, inverse = np.unique(np.array(arrays.labels)[order], return_inverse=True)
        ids = np.array([book.label_id(str(name)) for name in names.tolist()], np.int64)
        label = np.where(flags & sql.LEVEL_FLAG, ids[inverse.reshape(-1)], -1).astype(np.int64)
    version = np.array(arrays.versions, dtype=str)[order] if size else np.zeros(0, str)
    results = Results(
        learner=learner,
        standard=standard,
        state=arrays.state[order],
        score_hundredths=arrays.score_hundredths[order],
        label=label,
        mastered=(flags & sql.MASTERED_FLAG) > 0,
        evidence_count=arrays.evidence_count[order],
        first_day=arrays.first_day[order],
        rules_id=rules_id,
        rollup=grouping,
        overridden=(flags & sql.OVERRIDE_FLAG) > 0,
        digest=arrays.ratings_digest[order],
    )
    unkeyed = (flags & sql.UNKEYED_FLAG) > 0
    undigested = (flags & sql.UNDIGESTED_FLAG) > 0
    stored = arrays.rules_key[order]
    leaf = np.array([r.leaf_key for r in book.rules], np.int64)
    group = np.array([r.grouping_key for r in book.rules], np.int64)
    current = np.where(grouping, group[rules_id], leaf[rules_id]) if size else stored
    stale = policy.stale_records(stored, unkeyed, undigested, current)
    pending: set[Pair] = set(arrays.marked)
    for row in np.flatnonzero(stale).tolist():
        pending.add((int(learner[row]), int(standard[row])))
    parent_of = {child: parent for parent, kids in children_of.items() for child in kids}
    for learner_id, standard_id in list(pending):
        parent = parent_of.get(standard_id)
        while parent is not None and (learner_id, parent) not in pending:
            pending.add((learner_id, parent))
            parent = parent_of.get(parent)
    return RecordedResults(results, stored, unkeyed, undigested, version, frozenset(pending))


@dataclass(frozen=True)
class Recorded:
    """Mastery read from the stored records (``recorded_mastery``) and how fresh it is."""

    results: dict[tuple[int, int], Mastery]
    # Pairs whose record is waiting for a recompute (a dirty marker, computed under rules
    # other than those in force, or a grouping above such a pair): their figures may move.
    pending: int


def recorded_mastery(
    wanted: Mapping[int, Sequence[int]],
    *,
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    children_of: Mapping[int, Sequence[int]],
    book: RulesBook,
) -> Recorded:
    """Mastery of each learner (``wanted``: learner id -> standard ids) on each of their
    standards *now*, as the workers keep it (``MasteryRecord``, an override included), with the
    number of those pairs pending a recompute: what a report of today shows (ADR 8), where
    ``mastery_of(..., at=T)`` computes a past day. A pair without a record is not assessed."""
    learner_ids = sorted(wanted)
    standard_ids = {s for ids in wanted.values() for s in ids}
    if not learner_ids or not standard_ids:
        return Recorded({}, 0)
    read = recorded_results(
        fetch_records(learner_ids, standard_ids, children_of),
        school_of=school_of,
        framework_of=framework_of,
        children_of=children_of,
        book=book,
    )
    shown = masteries(
        read.results,
        wanted,
        school_of=school_of,
        framework_of=framework_of,
        children_of=children_of,
        book=book,
    )
    return Recorded(shown, read.pending_among(wanted))


def report_mastery(
    wanted: Mapping[int, Sequence[int]],
    *,
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    children_of: Mapping[int, Sequence[int]],
    at: datetime.datetime,
    book: RulesBook,
    recorded: bool,
) -> tuple[dict[tuple[int, int], Mastery], int | None]:
    """What a report shows of each learner's standards, and how many of those figures wait for
    a recompute: read from the records the workers keep (``recorded``: a report of today,
    :func:`recorded_mastery`), or computed as of ``at`` (a past day, ``mastery_of``: nothing is
    pending, None)."""
    if recorded:
        read = recorded_mastery(
            wanted,
            school_of=school_of,
            framework_of=framework_of,
            children_of=children_of,
            book=book,
        )
        return read.results, read.pending
    computed = mastery_of(
        wanted,
        school_of=school_of,
        framework_of=framework_of,
        children_of=children_of,
        at=at,
        book=book,
    )
    return computed, None


def reads_records(day: datetime.date) -> bool:
    """Whether a report as of ``day`` is a report of today, read from the records the workers
    keep: today, or a day not over yet (``stood_at`` gives no moment: the live tables). A past
    day is computed as it stood."""
    return stood_at(day) is None
