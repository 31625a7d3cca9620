# Table names in the SQL below are the models' own constants; every value is a parameter.
# ruff: noqa: S608
"""Mastery as it stood at the end of a day, for many learners at once, streamed in chunks.

Part of the mastery core (ADR 8; other apps reach it through ``mastery.core``). Every figure is
computed from the ratings counted as of the end of the as-of day (``mastery.sql.
counted_predicate``), with the policy and scale in force, by the engine's bulk path
(``mastery.bulk.evaluate_bulk``), the first mastered day by ``mastery.derive``'s prefix rule. So
a report for a past day gives the same rows whenever it is regenerated.

Per chunk of learners (a few thousand), one query reads their counted ratings ordered by
learner, standard and the engine's order: packed into one ``int8[]`` per learner and read
straight into numpy (no Python object per rating), or, for standard ids too large to pack, one
row per rating. Memory is bounded by the chunk, not by the report.

Why not ``mastery.selectors.mastery_as_of_many``: it reads one standard for a list of learners
and derives each record in Python (right for a page, 4 M records would take an hour); the bulk
path here evaluates a chunk's every (learner, standard) pair in a few numpy passes and gives the
same results (``tests/reports/test_asof.py`` compares them).

``first_mastered``: ``mastery.derive.first_mastered_lengths`` (the demonstrated day of the rating
that closes the first mastered prefix of the ordered ratings, as ``derive.first_mastered_at``).
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import numpy as np
import psycopg
from django.db import connection, transaction
from django.utils import timezone
from numpy.typing import NDArray

from mastery import derive, rules, sql
from mastery.bulk import evaluate_bulk
from mastery.derive import ChildRecord, Rules, first_mastered_lengths
from mastery.policy import engine_rules
from mastery.sql import RATING, counted_predicate
from standards.selectors import SettingsAsOf, policy_for, scale_for, settings_as_of

type IntArray = NDArray[np.int64]
type BoolArray = NDArray[np.bool_]

DAY0: Final = datetime.date(2000, 1, 1)
# No day (never mastered); dates before 2000 are negative, so the sentinel is far below them.
NO_DAY: Final = -1_000_000_000
NOT_ASSESSED: Final = rules.STATES.index(rules.NOT_ASSESSED)
INSUFFICIENT: Final = rules.STATES.index(rules.INSUFFICIENT_EVIDENCE)
SCORED: Final = rules.STATES.index(rules.SCORED)

# The fast read packs each rating into one int8: standard id (27 bits), score in hundredths (17
# bits: numeric(5,2) tops at 999.99) and the local day counted from PACK_DAY0 (19 bits).
PACK_DAY0: Final = datetime.date(1800, 1, 1)
_STANDARD_SHIFT: Final = 36
_SCORE_SHIFT: Final = 19
_MAX_PACKED_STANDARD: Final = (1 << 27) - 1
_ARRAY_HEADER: Final = 20  # array_send of a one-dimensional array: ndim, flags, oid, size, lbound
_ARRAY_ITEM: Final = np.dtype([("length", ">i4"), ("value", ">i8")])
_PACK_OFFSET: Final = (DAY0 - PACK_DAY0).days


class ReportDataError(ValueError):
    """The data cannot be evaluated (e.g. a rating off the scale); names ids, never people."""


def end_of_day(day: datetime.date) -> datetime.datetime:
    """The last instant of ``day`` in the platform's time zone: "as of D" counts it whole."""
    return datetime.datetime.combine(day, datetime.time.max, tzinfo=timezone.get_current_timezone())


def stood_at(day: datetime.date) -> datetime.datetime | None:
    """The moment a report of ``day`` reads the roster, requirements and rules at: the end of
    ``day`` when it is past (as they stood then), None for today or later (the live tables)."""
    return end_of_day(day) if day < timezone.localdate() else None


def day_number(moment: datetime.datetime) -> int:
    """Days from 2000-01-01 to the local date of ``moment`` (as the SQL below computes it)."""
    return (timezone.localtime(moment).date() - DAY0).days


def day_of(number: int) -> datetime.date:
    return DAY0 + datetime.timedelta(days=number)


# --- the rules in force, numbered --------------------------------------------------------------


@dataclass
class RulesBook:
    """The rules in force per (school, framework), deduplicated and numbered for arrays.

    Read once per (school, framework) through the standards contract (``policy_for`` and
    ``scale_for``), as they stood at ``at`` (None: in force now; a report of a past day gives
    the end of that day); two schools under the same effective policy and scale share one
    number. Level labels and method names are numbered too, so results carry small integers.
    """

    at: datetime.datetime | None = None
    rules: list[Rules] = field(default_factory=list)
    # (policy id, scale id) of each rules number (None: the platform's default).
    sources: list[tuple[int | None, int | None]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    _by_pair: dict[tuple[int, int], int] = field(default_factory=dict)
    _by_key: dict[tuple[int | None, int | None], int] = field(default_factory=dict)
    _label_ids: dict[str, int] = field(default_factory=dict)
    _level_labels: list[IntArray] = field(default_factory=list)
    # The what-if (``mastery.whatif``): the rules that would replace those in force for a
    # (school, framework) pair, or None where those in force keep applying.
    replace: Callable[[int, int], Rules | None] | None = None
    _then: SettingsAsOf = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # One reader of the settings for every (school, framework): each table read once, not
        # two queries per school (the state export's 40 schools: 80 queries, 0.3 s).
        self._then = (
            SettingsAsOf(timezone.now(), live=True) if self.at is None else settings_as_of(self.at)
        )

    def rules_id(self, school_id: int, framework_id: int) -> int:
        pair = (school_id, framework_id)
        found = self._by_pair.get(pair)
        if found is not None:
            return found
        proposed = None if self.replace is None else self.replace(school_id, framework_id)
        if proposed is not None:
            number = self._number(proposed, (None, None))
        else:
            policy = policy_for(school_id, framework_id, at=self._then)
            scale = scale_for(school_id, at=self._then)
            key = (policy.policy_id, scale.scale_id)
            known = self._by_key.get(key)
            number = self._number(engine_rules(policy, scale), key) if known is None else known
            self._by_key[key] = number
        self._by_pair[pair] = number
        return number

    def _number(self, engine: Rules, source: tuple[int | None, int | None]) -> int:
        self.rules.append(engine)
        self.sources.append(source)
        self._level_labels.append(
            np.array([self.label_id(level.label) for level in engine.scale.levels], np.int64)
        )
        return len(self.rules) - 1

    def label_id(self, label: str) -> int:
        if label not in self._label_ids:
            self._label_ids[label] = len(self.labels)
            self.labels.append(label)
        return self._label_ids[label]

    def level_labels(self, rules_id: int) -> IntArray:
        """Label ids of the scale's levels in ``Scale.levels`` order (as ``level_index``)."""
        return self._level_labels[rules_id]

    def method(self, rules_id: int) -> str:
        return self.rules[rules_id].policy.method

    def rollup_method(self, rules_id: int) -> str:
        return self.rules[rules_id].rollup.rule


# --- reading counted ratings --------------------------------------------------------------------


@dataclass(frozen=True)
class Ratings:
    """Counted ratings ordered by learner, standard, then the engine's order."""

    learner: IntArray
    standard: IntArray
    score_hundredths: IntArray
    day: IntArray
    # The ratings' ids (for the digest of the counted ratings, ADR 8 provenance).
    ids: IntArray

    def __len__(self) -> int:
        return int(self.learner.shape[0])


def _no_ratings() -> Ratings:
    empty = np.zeros(0, np.int64)
    return Ratings(empty, empty, empty, empty, empty)


def _packed_sql() -> str:
    """The fast read (PostgreSQL): one row per learner, their counted ratings packed in one
    ``int8[]`` (sent as its raw bytes, read in binary by ``_read_packed``), in the engine's
    order.

    The counted rule is ``mastery.sql.counted_predicate`` in its hashed ``NOT IN`` form (a hash
    probe costs a few ns per rating, a nested-loop anti-join about 1.3 us: 2.6 s on 2 M
    ratings, measured); ``tests/reports/test_asof.py`` checks the result against
    ``mastery.core.counted_ratings``. The aggregate reads the ordered subquery
    row by row (no parallel plan: see ``_read_packed``); ``_unpack`` checks the order anyway.
    """
    # The local day under the transaction's own time zone (``_read_packed`` sets it): a third of
    # the cost of ``AT TIME ZONE`` with the zone's name, which looks the zone up for every rating
    # (30 against 61 ms per 200,000 ratings, measured), and the same day.
    day = "(r.demonstrated_at::date - DATE '1800-01-01')"
    packed = (
        f"(r.standard_id << {_STANDARD_SHIFT}) | ((r.score * 100)::int8 << {_SCORE_SHIFT})"
        f" | GREATEST({day}, 0)"
    )
    return (
        "SELECT ordered.learner_id, array_send(array_agg(ordered.packed)),"
        f" array_send(array_agg(ordered.id)) FROM (SELECT r.learner_id, r.id, {packed} AS packed"
        f" FROM {RATING} r"
        " WHERE r.learner_id BETWEEN %(low)s AND %(high)s"
        " AND r.learner_id = ANY(%(ids)s::bigint[])"
        " AND r.standard_id = ANY(%(standards)s::bigint[])"
        f" AND {counted_predicate('r', at='%(at)s', form='in')}"
        " ORDER BY r.learner_id, r.standard_id, r.demonstrated_at, r.recorded_at, r.id"
        ") AS ordered GROUP BY ordered.learner_id ORDER BY ordered.learner_id"
    )


def _rows_sql() -> str:
    """The plain read (standard ids too large to pack): one row per rating, by mastery's own
    counted-ratings SQL."""
    return (
        f"SELECT r.learner_id, r.standard_id, r.score, r.demonstrated_at, r.id FROM {RATING} r"
        " WHERE r.learner_id BETWEEN %(low)s AND %(high)s"
        " AND r.learner_id = ANY(%(ids)s::bigint[])"
        " AND r.standard_id = ANY(%(standards)s::bigint[])"
        f" AND {counted_predicate('r', at='%(at)s')}"
        " ORDER BY r.learner_id, r.standard_id, r.demonstrated_at, r.recorded_at, r.id"
    )


def fetch_counted_ratings(
    learner_ids: Sequence[int],
    standard_ids: Sequence[int],
    at: datetime.datetime,
    *,
    packed: bool | None = None,
) -> Ratings:
    """The ratings of ``learner_ids`` (ascending) on ``standard_ids`` counted as of ``at``, in
    one query. ``packed`` (default: when the standard ids fit) reads them packed into one array
    per learner; otherwise one row per rating. Both give the same ratings."""
    if not learner_ids or not standard_ids:
        return _no_ratings()
    fits = max(standard_ids) <= _MAX_PACKED_STANDARD
    params: dict[str, Any] = {
        "low": learner_ids[0],
        "high": learner_ids[-1],
        "at": at,
        "ids": list(learner_ids),
        "standards": list(standard_ids),
    }
    if fits if packed is None else packed:
        return _read_packed(params | {"tz": timezone.get_current_timezone_name()})
    return _read_rows(_rows_sql(), params)


def _read_packed(params: dict[str, Any]) -> Ratings:
    with transaction.atomic(), connection.cursor() as cursor:
        # A parallel plan would interleave the ordered rows; JIT costs more than it saves here.
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql.HASHED_READS)
        cursor.execute("SELECT set_config('TimeZone', %(tz)s, true)", params)
        # A cursor that binds its parameters in the server and reads the result in binary: the
        # arrays arrive as their raw bytes, not hex text to encode and decode, and the page's
        # learner ids go as one binary array (a third of the CPU of the text read, and less
        # than a binary COPY, which hands Python one message per learner; measured).
        with psycopg.Cursor(cursor.cursor.connection) as binary:
            binary.execute(_packed_sql(), params, binary=True)
            rows = binary.fetchall()
    return _unpack(rows)


def _unpack(rows: Sequence[tuple[Any, ...]]) -> Ratings:
    """The ratings of the packed read's rows (learner id, packed ratings, rating ids; each
    array as ``array_send`` writes it: ``_ARRAY_HEADER`` bytes, then per element its length and
    value, never NULL)."""
    if not rows:
        return _no_ratings()
    learners = np.array([row[0] for row in rows], np.int64)
    blobs = [memoryview(row[1])[_ARRAY_HEADER:] for row in rows]
    counts = np.array([len(blob) // _ARRAY_ITEM.itemsize for blob in blobs], np.int64)
    values = np.frombuffer(b"".join(blobs), dtype=_ARRAY_ITEM)["value"].astype(np.int64)
    standard = values >> _STANDARD_SHIFT
    score = (values >> _SCORE_SHIFT) & ((1 << (_STANDARD_SHIFT - _SCORE_SHIFT)) - 1)
    day = (values & ((1 << _SCORE_SHIFT) - 1)) - _PACK_OFFSET
    id_blobs = b"".join([memoryview(row[2])[_ARRAY_HEADER:] for row in rows])
    ids = np.frombuffer(id_blobs, dtype=_ARRAY_ITEM)["value"].astype(np.int64)
    learner = np.repeat(learners, counts)
    _check_order(learner, standard, day)
    return Ratings(learner, standard, score, day, ids)


def _check_order(learner: IntArray, standard: IntArray, day: IntArray) -> None:
    """Learners, then standards, then days never go back: a plan that lost the order fails
    loudly instead of giving wrong scores."""
    if learner.shape[0] < 2:
        return
    same_learner = learner[1:] == learner[:-1]
    same_group = same_learner & (standard[1:] == standard[:-1])
    if (
        np.any(learner[1:] < learner[:-1])
        or np.any(same_learner & (standard[1:] < standard[:-1]))
        or np.any(same_group & (day[1:] < day[:-1]))
    ):
        raise ReportDataError("ratings arrived out of the engine's order; nothing was written")


def _read_rows(sql: str, params: dict[str, Any]) -> Ratings:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    learner = np.array([row[0] for row in rows], np.int64)
    standard = np.array([row[1] for row in rows], np.int64)
    score = np.array([int(Decimal(row[2]) * 100) for row in rows], np.int64)
    day = np.array([day_number(row[3]) for row in rows], np.int64)
    ids = np.array([row[4] for row in rows], np.int64)
    return Ratings(learner, standard, score, day, ids)


# --- evaluating -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    """One row per (learner, standard) evaluated, sorted by learner then standard id.

    ``state`` indexes ``mastery.rules.STATES``; ``score_hundredths`` is -1 without a score;
    ``label`` indexes ``RulesBook.labels`` (-1: no level); ``first_day`` counts days from
    2000-01-01 (-1: never mastered); ``rules_id`` numbers the rules used; ``rollup`` marks a
    grouping rolled up from its children (its method is the roll-up rule).
    """

    learner: IntArray
    standard: IntArray
    state: IntArray
    score_hundredths: IntArray
    label: IntArray
    mastered: BoolArray
    evidence_count: IntArray
    first_day: IntArray
    rules_id: IntArray
    rollup: BoolArray
    # A teacher's override in force set the row (``apply_overrides``; its method: override).
    overridden: BoolArray
    # ``derive.ratings_digest`` of the counted ratings behind the row (a grouping: of its
    # children's), as signed 64-bit integers (format with ``digest_text``).
    digest: IntArray

    def __len__(self) -> int:
        return int(self.learner.shape[0])

    def find(
        self, learner: IntArray, standard: IntArray, universe: IntArray | None = None
    ) -> IntArray:
        """Row index of each (learner, standard) pair, -1 where there is none (not assessed).

        ``universe``: the sorted ids of every standard that can occur (saves a sort)."""
        if len(self) == 0 or learner.shape[0] == 0:
            return np.full(learner.shape[0], -1, np.int64)
        # One int64 key per pair: the learner id times the number of possible standards, plus
        # the standard's rank among them (ids stay far below 2**63 / that number).
        distinct = (
            np.unique(np.concatenate([self.standard, standard])) if universe is None else universe
        )
        width = distinct.shape[0]
        have = self.learner * width + np.searchsorted(distinct, self.standard)
        want = learner * width + np.searchsorted(distinct, standard)
        order: IntArray | None = None
        if np.any(have[1:] < have[:-1]):
            order = np.argsort(have, kind="stable")
            have = have[order]
        place = np.minimum(np.searchsorted(have, want), have.shape[0] - 1)
        rows = place if order is None else order[place]
        return np.where(have[place] == want, rows, -1).astype(np.int64)

    def lookup(self) -> dict[tuple[int, int], int]:
        """(learner id, standard id) -> row, for reports that walk results in Python."""
        return {
            (int(lr), int(st)): row
            for row, (lr, st) in enumerate(
                zip(self.learner.tolist(), self.standard.tolist(), strict=True)
            )
        }


def _concat(parts: Sequence[Results]) -> Results:
    names = Results.__dataclass_fields__
    return Results(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in names})


def empty_results() -> Results:
    i = np.zeros(0, np.int64)
    b = np.zeros(0, bool)
    return Results(i, i, i, i, i, b, i, i, i, b, b, i)


def evaluate(
    ratings: Ratings,
    *,
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    book: RulesBook,
) -> Results:
    """Every (learner, standard) group of ``ratings`` under the rules in force for the
    learner's school and the standard's framework: ``mastery.rules.evaluate`` per group, plus
    the first mastered day. Raises ``ReportDataError`` naming the learner and standard ids of a
    group the engine refuses (e.g. a score off the scale)."""
    total = len(ratings)
    if total == 0:
        return empty_results()
    learner, standard = ratings.learner, ratings.standard
    starts = np.flatnonzero(
        np.r_[True, (learner[1:] != learner[:-1]) | (standard[1:] != standard[:-1])]
    )
    counts = np.diff(np.r_[starts, total])
    groups = starts.shape[0]
    group_learner, group_standard = learner[starts], standard[starts]
    group_of_row = np.repeat(np.arange(groups, dtype=np.int64), counts)
    group_rules = rules_of_groups(group_learner, group_standard, school_of, framework_of, book)

    state = np.zeros(groups, np.int64)
    score = np.full(groups, -1, np.int64)
    label = np.full(groups, -1, np.int64)
    mastered = np.zeros(groups, bool)
    first_day = np.full(groups, NO_DAY, np.int64)
    scores = ratings.score_hundredths.astype(np.float64) / 100
    local_starts = _local_starts(counts)
    single = int(group_rules.min()) == int(group_rules.max())
    for rules_id in [int(group_rules[0])] if single else np.unique(group_rules).tolist():
        if single:
            chosen = np.arange(groups, dtype=np.int64)  # one set of rules: no selection needed
            rows = np.arange(total, dtype=np.int64)
        else:
            chosen = np.flatnonzero(group_rules == rules_id)
            rows = np.flatnonzero(group_rules[group_of_row] == rules_id)
        engine = book.rules[rules_id]
        try:
            result = evaluate_bulk(group_of_row[rows], scores[rows], engine.policy, engine.scale)
        except rules.RulesError as error:
            raise _data_error(error, rows, learner, standard) from error
        state[chosen] = result.state
        score[chosen] = result.score_hundredths
        level = result.level_index.astype(np.int64)
        label[chosen] = np.where(level >= 0, book.level_labels(rules_id)[level], -1)
        mastered[chosen] = result.mastered
        sub_starts = local_starts if chosen.shape[0] == groups else _local_starts(counts[chosen])
        first = first_mastered_lengths(
            scores[rows], sub_starts, counts[chosen], result.mastered, engine
        )
        days = ratings.day[rows]
        first_day[chosen] = np.where(first > 0, days[np.maximum(sub_starts + first - 1, 0)], NO_DAY)
    return Results(
        learner=group_learner,
        standard=group_standard,
        state=state,
        score_hundredths=score,
        label=label,
        mastered=mastered,
        evidence_count=counts.astype(np.int64),
        first_day=first_day,
        rules_id=group_rules,
        rollup=np.zeros(groups, bool),
        overridden=np.zeros(groups, bool),
        digest=derive.ratings_digests(ratings.ids, ratings.score_hundredths, starts).view(np.int64),
    )


def _local_starts(counts: IntArray) -> IntArray:
    return np.asarray(np.r_[0, np.cumsum(counts)[:-1]], dtype=np.int64)


def _data_error(
    error: rules.RulesError, rows: IntArray, learner: IntArray, standard: IntArray
) -> ReportDataError:
    text = str(error)
    where = ""
    if text.startswith("scores: row "):
        local = int(text.split()[2])
        row = int(rows[local])
        where = f"learner {int(learner[row])}, standard {int(standard[row])}: "
    return ReportDataError(f"{where}{text}")


def rules_of_groups(
    group_learner: IntArray,
    group_standard: IntArray,
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    book: RulesBook,
) -> IntArray:
    """The rules number of every group, without sorting: a small (school x framework) table
    indexed through binary searches on the learner and standard ids."""
    learner_ids = np.array(sorted(school_of), np.int64)
    standard_ids = np.array(sorted(framework_of), np.int64)
    schools, school_index = np.unique(
        np.array([school_of[i] for i in learner_ids.tolist()], np.int64), return_inverse=True
    )
    frameworks, framework_index = np.unique(
        np.array([framework_of[i] for i in standard_ids.tolist()], np.int64), return_inverse=True
    )
    table = np.array(
        [[book.rules_id(s, f) for f in frameworks.tolist()] for s in schools.tolist()], np.int64
    ).reshape(schools.shape[0], frameworks.shape[0])
    rows = school_index.reshape(-1)[np.searchsorted(learner_ids, group_learner)]
    columns = framework_index.reshape(-1)[np.searchsorted(standard_ids, group_standard)]
    return table[rows, columns]


# --- overrides ----------------------------------------------------------------------------------


def apply_overrides(
    results: Results,
    *,
    learner_ids: Sequence[int],
    standard_ids: Sequence[int],
    at: datetime.datetime,
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    book: RulesBook,
) -> Results:
    """``results`` with the teachers' overrides in force at ``at`` (ADR 8) on pairs of
    ``learner_ids`` x ``standard_ids`` applied, as the recompute applies them
    (``derive.apply_override`` on ``derive.derive_record`` of the pair's counted ratings as of
    ``at``): an overridden pair without ratings gets a row too. Two queries (the overrides, the
    overridden pairs' ratings); overrides are few, so the exact path costs nothing per rating.
    Apply before ``add_rollups`` so groupings roll up the overridden children."""
    if not learner_ids or not standard_ids:
        return results
    # By id range, then narrowed here: the overrides are few, and a list of a page's thousands
    # of ids cost the ORM about 50 ms of CPU a page to compose (measured on the state export).
    learners, standards = set(learner_ids), set(standard_ids)
    overrides = {
        pair: override
        for pair, override in sql.overrides_in_force(
            low=min(learners), high=max(learners), at=at
        ).items()
        if pair[0] in learners and pair[1] in standards
    }
    if not overrides:
        return results
    pairs = sorted(overrides)
    ratings = sql.counted_ratings_of_pairs(pairs, at)
    values: list[tuple[int, ...]] = []
    for learner_id, standard_id in pairs:
        rid = book.rules_id(school_of[learner_id], framework_of[standard_id])
        settings = book.rules[rid]
        counted = ratings.get((learner_id, standard_id), [])
        newest = max((r.demonstrated_at for r in counted if r.demonstrated_at), default=None)
        try:
            evidence = derive.derive_record(counted, settings)
        except rules.RulesError as error:
            raise ReportDataError(
                f"learner {learner_id}, standard {standard_id}: {error}"
            ) from error
        override = overrides[(learner_id, standard_id)]
        out = derive.apply_override(evidence, override, settings, newest)
        values.append(
            (
                learner_id,
                standard_id,
                rules.STATES.index(out.state),
                -1 if out.score is None else int(out.score * 100),
                book.label_id(out.level_label) if out.level_points is not None else -1,
                int(out.mastered),
                out.evidence_count,
                NO_DAY if out.first_mastered_at is None else day_number(out.first_mastered_at),
                rid,
                int(derive.override_applies(override, settings, newest)),
                out.ratings_digest,  # the counted ratings', an override or not
            )
        )
    table = np.array(values, np.int64).reshape(len(values), 11)
    more = Results(
        learner=table[:, 0],
        standard=table[:, 1],
        state=table[:, 2],
        score_hundredths=table[:, 3],
        label=table[:, 4],
        mastered=table[:, 5].astype(bool),
        evidence_count=table[:, 6],
        first_day=table[:, 7],
        rules_id=table[:, 8],
        rollup=np.zeros(len(values), bool),
        overridden=table[:, 9].astype(bool),
        digest=table[:, 10],
    )
    if len(results):
        replaced = results.find(more.learner, more.standard)
        keep = np.ones(len(results), bool)
        keep[replaced[replaced >= 0]] = False
        results = Results(
            **{name: getattr(results, name)[keep] for name in Results.__dataclass_fields__}
        )
    merged = _concat([results, more])
    order = np.lexsort((merged.standard, merged.learner))
    return Results(**{name: getattr(merged, name)[order] for name in Results.__dataclass_fields__})


# --- groupings ----------------------------------------------------------------------------------


def add_rollups(
    results: Results,
    *,
    pairs: Sequence[tuple[int, int]],
    children_of: Mapping[int, Sequence[int]],
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    book: RulesBook,
) -> Results:
    """``results`` plus the roll-up of each (learner, grouping) in ``pairs`` from its children's
    results (recursively; a child without ratings is not assessed), as
    ``mastery.derive.derive_rollup`` computes it. ``children_of`` lists active children."""
    if not pairs:
        return results
    found = results.lookup()
    extra: dict[tuple[int, int], tuple[int, ...]] = {}

    def child(learner_id: int, standard_id: int) -> ChildRecord:
        if standard_id in children_of:
            row = rolled(learner_id, standard_id)
            state, _score, label, flag, count, first, _rid, digest = row
            mastered = bool(flag)
        else:
            index = found.get((learner_id, standard_id))
            if index is None:
                return ChildRecord(standard_id, rules.NOT_ASSESSED, False, None, "", None, 0)
            state = int(results.state[index])
            label = int(results.label[index])
            mastered = bool(results.mastered[index])
            count = int(results.evidence_count[index])
            first = int(results.first_day[index])
            digest = int(results.digest[index])
        rid = book.rules_id(school_of[learner_id], framework_of[standard_id])
        points = _points_of(book.rules[rid], book.labels[label]) if label >= 0 else None
        return ChildRecord(
            standard_id=standard_id,
            state=rules.STATES[state],
            mastered=mastered,
            level_points=points,
            level_label=book.labels[label] if label >= 0 else "",
            first_mastered_at=None if first == NO_DAY else _noon(first),
            evidence_count=count,
            ratings_digest=digest,
        )

    def rolled(learner_id: int, grouping_id: int) -> tuple[int, ...]:
        key = (learner_id, grouping_id)
        if key not in extra:
            rid = book.rules_id(school_of[learner_id], framework_of[grouping_id])
            kids = [child(learner_id, c) for c in sorted(children_of.get(grouping_id, ()))]
            try:
                out = derive.derive_rollup(kids, book.rules[rid])
            except rules.RulesError as error:
                raise ReportDataError(
                    f"learner {learner_id}, standard {grouping_id}: {error}"
                ) from error
            extra[key] = (
                rules.STATES.index(out.state),
                -1,
                book.label_id(out.level_label) if out.level_points is not None else -1,
                int(out.mastered),
                out.evidence_count,
                NO_DAY if out.first_mastered_at is None else day_number(out.first_mastered_at),
                rid,
                out.ratings_digest,  # its children's, summed (derive_rollup)
            )
        return extra[key]

    for learner_id, grouping_id in pairs:
        rolled(learner_id, grouping_id)
    keys = list(extra)
    values = np.array([extra[key] for key in keys], np.int64).reshape(len(keys), 8)
    more = Results(
        learner=np.array([k[0] for k in keys], np.int64),
        standard=np.array([k[1] for k in keys], np.int64),
        state=values[:, 0],
        score_hundredths=values[:, 1],
        label=values[:, 2],
        mastered=values[:, 3].astype(bool),
        evidence_count=values[:, 4],
        first_day=values[:, 5],
        rules_id=values[:, 6],
        rollup=np.ones(len(keys), bool),
        overridden=np.zeros(len(keys), bool),
        digest=values[:, 7],
    )
    merged = _concat([results, more])
    order = np.lexsort((merged.standard, merged.learner))
    return Results(**{name: getattr(merged, name)[order] for name in Results.__dataclass_fields__})


def digest_text(digest: int) -> str:
    """A digest (signed 64-bit) as 16 hex digits, as ``derive.ratings_digest`` writes it."""
    return f"{digest & ((1 << 64) - 1):016x}"


def digest_texts(digests: IntArray, prefix: str = "", suffix: str = "") -> NDArray[np.object_]:
    """:func:`digest_text` of many digests at once, each between ``prefix`` and ``suffix``, as
    an array of ``str``: one hex string with a separator after every 8 bytes, the pieces put in
    and split in C (a third of the time of converting numpy strings to objects, measured on the
    state export's pages)."""
    out = np.empty(digests.shape[0], dtype=object)
    if digests.shape[0]:
        text = digests.astype(">i8").tobytes().hex("\x00", 8)
        if prefix or suffix:
            text = prefix + text.replace("\x00", suffix + "\x00" + prefix) + suffix
        out[:] = text.split("\x00")
    return out


def _points_of(engine: Rules, label: str) -> Decimal | None:
    for level in engine.scale.levels:
        if level.label == label:
            return level.points
    return None


def _noon(day: int) -> datetime.datetime:
    """A moment on local day ``day`` (children's first mastered days, for the roll-up's max)."""
    zone = zoneinfo.ZoneInfo(timezone.get_current_timezone_name())
    return datetime.datetime.combine(day_of(day), datetime.time(12), tzinfo=zone)


def evaluate_all(
    ratings: Ratings,
    *,
    learner_ids: Sequence[int],
    standard_ids: Sequence[int],
    groupings: Sequence[tuple[int, int]],
    at: datetime.datetime,
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    children_of: Mapping[int, Sequence[int]],
    book: RulesBook,
) -> Results:
    """Every record a page of learners has as of ``at``: ``ratings`` (counted as of ``at``, of
    ``learner_ids`` on ``standard_ids``) evaluated, the overrides in force applied, then the
    (learner, grouping) pairs of ``groupings`` rolled up from their children. The one pipeline
    of the reports, ``mastery_of`` and the what-if."""
    results = evaluate(ratings, school_of=school_of, framework_of=framework_of, book=book)
    results = apply_overrides(
        results,
        learner_ids=learner_ids,
        standard_ids=standard_ids,
        at=at,
        school_of=school_of,
        framework_of=framework_of,
        book=book,
    )
    return add_rollups(
        results,
        pairs=groupings,
        children_of=children_of,
        school_of=school_of,
        framework_of=framework_of,
        book=book,
    )


# --- small scopes: results as plain values ------------------------------------------------------

ROW_STATES: Final = ("mastered", "not_yet", "insufficient_evidence", "not_assessed")


@dataclass(frozen=True)
class Mastery:
    """One learner's mastery of one standard as of the report's day, ready to show."""

    state: str  # one of ROW_STATES
    level: str
    score: str  # two decimals, "" without a score
    first_mastered: datetime.date | None
    evidence_count: int
    method: str

    @property
    def mastered(self) -> bool:
        return self.state == "mastered"


def row_state(state: int, mastered: bool) -> str:
    if state == SCORED:
        return "mastered" if mastered else "not_yet"
    return "insufficient_evidence" if state == INSUFFICIENT else "not_assessed"


def _method_of(results: Results, row: int, book: RulesBook) -> str:
    if results.overridden[row]:
        return derive.OVERRIDE
    rid = int(results.rules_id[row])
    return book.rollup_method(rid) if results.rollup[row] else book.method(rid)


def mastery_of(
    wanted: Mapping[int, Sequence[int]],
    *,
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    children_of: Mapping[int, Sequence[int]],
    at: datetime.datetime,
    book: RulesBook,
) -> dict[tuple[int, int], Mastery]:
    """Mastery as of ``at`` of each learner (``wanted``: learner id -> standard ids) on each of
    their standards, groupings rolled up; a pair without counted ratings is not assessed. For
    page-sized scopes (a school's page of learners, a section, one learner): one query."""
    if not wanted:
        return {}

    def leaves(standard_id: int) -> list[int]:
        kids = children_of.get(standard_id)
        return [standard_id] if kids is None else [x for k in kids for x in leaves(k)]

    learner_ids = sorted(wanted)
    standard_ids = sorted({leaf for ids in wanted.values() for s in ids for leaf in leaves(s)})
    results = evaluate_all(
        fetch_counted_ratings(learner_ids, standard_ids, at),
        learner_ids=learner_ids,
        standard_ids=standard_ids,
        groupings=[(lr, s) for lr in learner_ids for s in wanted[lr] if s in children_of],
        at=at,
        school_of=school_of,
        framework_of=framework_of,
        children_of=children_of,
        book=book,
    )
    return masteries(
        results,
        wanted,
        school_of=school_of,
        framework_of=framework_of,
        children_of=children_of,
        book=book,
    )


def masteries(
    results: Results,
    wanted: Mapping[int, Sequence[int]],
    *,
    school_of: Mapping[int, int],
    framework_of: Mapping[int, int],
    children_of: Mapping[int, Sequence[int]],
    book: RulesBook,
) -> dict[tuple[int, int], Mastery]:
    """The rows of ``results`` (computed as of a day, or read from the records) for each pair
    of ``wanted``, ready to show; a pair without a row is not assessed, under the method in
    force."""
    found = results.lookup()
    out: dict[tuple[int, int], Mastery] = {}
    for learner_id in sorted(wanted):
        for standard_id in wanted[learner_id]:
            row = found.get((learner_id, standard_id))
            if row is None:
                rid = book.rules_id(school_of[learner_id], framework_of[standard_id])
                grouping = standard_id in children_of
                method = book.rollup_method(rid) if grouping else book.method(rid)
                out[(learner_id, standard_id)] = Mastery("not_assessed", "", "", None, 0, method)
                continue
            rid = int(results.rules_id[row])
            label = int(results.label[row])
            hundredths = int(results.score_hundredths[row])
            day = int(results.first_day[row])
            out[(learner_id, standard_id)] = Mastery(
                state=row_state(int(results.state[row]), bool(results.mastered[row])),
                level=book.labels[label] if label >= 0 else "",
                score="" if hundredths < 0 else f"{hundredths // 100}.{hundredths % 100:02d}",
                first_mastered=None if day == NO_DAY else day_of(day),
                evidence_count=int(results.evidence_count[row]),
                method=_method_of(results, row, book),
            )
    return out
