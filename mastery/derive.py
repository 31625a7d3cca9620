"""From counted ratings (or children's records) to the fields of a mastery record.

Pure functions over the engine (``mastery.rules``; ``mastery.bulk`` for many pairs), no Django:
the recompute, ``verify_mastery``, the as-of selectors and the bulk recompute all derive a record
the same way, so "the record equals the engine's result" has one meaning.

``first_mastered_at`` is derived from the evidence, never remembered: the ``demonstrated_at`` of
the first rating (in the engine's order) after which the ratings so far were mastered. It is
therefore reproducible, "as of" any date, and the same whichever worker computed it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from mastery import bulk, estimators, rules

ALL_MASTERED: Final = "all_mastered"
SHARE_MASTERED: Final = "share_mastered"
LOWEST_LEVEL: Final = "lowest_level"
POINTS: Final = "points"
ROLLUP_RULES: Final = (ALL_MASTERED, SHARE_MASTERED, LOWEST_LEVEL, POINTS)
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RollupRule:
    """How a grouping rolls up from its children (PRODUCT.md "Groupings")."""

    rule: str = ALL_MASTERED
    share: Decimal = Decimal("1")
    points: Mapping[int, int] = field(default_factory=dict)
    required: frozenset[int] = frozenset()
    points_required: int = 1


@dataclass(frozen=True)
class Rules:
    """Everything a recompute needs from the organisation's settings for one framework."""

    policy: rules.Policy
    scale: rules.Scale
    rollup: RollupRule = RollupRule()
    overrides_end_with_new_evidence: bool = False
    # rules_key() of these rules for a statement and for a grouping, computed once.
    leaf_key: int = field(init=False, compare=False, repr=False, default=0)
    grouping_key: int = field(init=False, compare=False, repr=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "leaf_key", rules_key(self, grouping=False))
        object.__setattr__(self, "grouping_key", rules_key(self, grouping=True))


@dataclass(frozen=True)
class Override:
    """A teacher's override in force on one pair (``mastery.MasteryOverride``, ADR 8)."""

    id: int
    score: Decimal
    set_at: datetime
    set_by_id: int
    set_by_name: str
    reason: str


@dataclass(frozen=True)
class Derived:
    """The computed fields of a mastery record."""

    state: str
    score: Decimal | None
    level_points: Decimal | None
    level_label: str
    mastered: bool
    first_mastered_at: datetime | None
    evidence_count: int
    explanation: dict[str, Any]
    calculation_version: str = rules.CALCULATION_VERSION
    # The field's estimators disagree by a level or more (``mastery.estimators``): "the
    # evidence is inconsistent: look again". Always False for a grouping.
    inconsistent: bool = False
    rules_key: int | None = None  # the key of the rules it was computed under (rules_key())
    # The digest of the counted ratings behind it (:func:`digest_value`, signed 64-bit; a
    # grouping's: the wrapping sum of its children's); 0 for none. ADR 8, provenance.
    ratings_digest: int = 0

    def key(self) -> tuple[object, ...]:
        """What must match for a stored record to equal this result (not the explanation)."""
        return (
            self.state,
            self.score,
            self.level_points,
            self.level_label,
            self.mastered,
            self.first_mastered_at,
            self.evidence_count,
            self.calculation_version,
            self.inconsistent,
            self.ratings_digest,
        )


@dataclass(frozen=True)
class ChildRecord:
    """A child standard's stored (or freshly derived) record, as a roll-up reads it."""

    standard_id: int
    state: str
    mastered: bool
    level_points: Decimal | None
    level_label: str
    first_mastered_at: datetime | None
    evidence_count: int
    ratings_digest: int = 0  # the child's (a missing child: 0, the digest of no rating)


def record_key(
    *,
    state: str,
    score: Decimal | None,
    level_points: Decimal | None,
    level_label: str,
    mastered: bool,
    first_mastered_at: datetime | None,
    evidence_count: int,
    calculation_version: str,
    inconsistent: bool,
    ratings_digest: int | None,
) -> tuple[object, ...]:
    """The same tuple as :meth:`Derived.key`, from stored fields (a record stored without a
    digest, from before provenance, never equals a result)."""
    return (
        state,
        score,
        level_points,
        level_label,
        mastered,
        first_mastered_at,
        evidence_count,
        calculation_version,
        inconsistent,
        ratings_digest,
    )


def first_mastered_length(
    ordered: Sequence[rules.Rating], params: rules.MethodParams, scale: rules.Scale
) -> int:
    """**The** first-mastered rule: the length of the shortest prefix of ``ordered`` (the
    engine's order) that is mastered, 0 when none is."""
    for end in range(max(1, params.min_evidence), len(ordered) + 1):
        result = rules.calculate_with(params, ordered[:end])
        _, mastered = rules.level_and_mastery(result.score, result.p_known, params, scale)
        if mastered:
            return end
    return 0


def first_mastered_at(
    ordered: Sequence[rules.Rating], params: rules.MethodParams, scale: rules.Scale
) -> datetime | None:
    """The ``demonstrated_at`` of the first prefix of ``ordered`` that is mastered, or None."""
    end = first_mastered_length(ordered, params, scale)
    return ordered[end - 1].demonstrated_at if end else None


# A group longer than this finds its first mastered prefix with the per-record rule (quadratic,
# but such groups are rare); shorter ones are expanded into prefixes for numpy.
LONG_GROUP: Final = 200
# Methods whose value never exceeds the highest score it was computed from.
BOUNDED_BY_MAX: Final = frozenset(
    {"highest", "latest", "average", "mode", "n_times", "weighted_average", "decaying_average"}
)


def first_mastered_lengths(
    scores: NDArray[np.float64],
    starts: NDArray[np.int64],
    counts: NDArray[np.int64],
    final_mastered: NDArray[np.bool_],
    engine: Rules,
) -> NDArray[np.int64]:
    """:func:`first_mastered_length` of many groups at once (the bulk form): per group of
    ``scores`` (rows ``starts[g]`` .. ``+ counts[g]``, in the engine's order), the length of the
    shortest mastered prefix (0: none), given whether the whole group is mastered.

    Prefixes from the policy's minimum evidence up to one short of the group are evaluated
    together in one bulk call, skipping those that cannot be mastered (``BOUNDED_BY_MAX``
    methods before the first score at the threshold); groups longer than ``LONG_GROUP`` go
    through :func:`first_mastered_length` itself, so memory stays bounded."""
    params = engine.policy.resolve(engine.scale)
    first = np.where(final_mastered, counts, 0).astype(np.int64)
    long_group = counts > LONG_GROUP
    shortest = np.full(counts.shape[0], max(1, params.min_evidence), np.int64)
    if params.method in BOUNDED_BY_MAX:
        # These give a value no higher than the best score so far, and scores and the threshold
        # are whole hundredths: no prefix ending before the first score at the threshold can
        # be mastered. (power_law extrapolates and bkt is a probability: no such bound.)
        reaches = scores * 100 >= float(engine.scale.mastery_threshold * 100) - 1e-6
        position = np.arange(scores.shape[0], dtype=np.int64) - np.repeat(starts, counts) + 1
        first_reach = np.minimum.reduceat(np.where(reaches, position, LONG_GROUP + 1), starts)
        shortest = np.maximum(shortest, first_reach)
    prefixes = np.where(long_group, 0, np.maximum(counts - shortest, 0))
    total = int(prefixes.sum())
    if total:
        owner = np.repeat(np.arange(counts.shape[0], dtype=np.int64), prefixes)
        offsets = np.repeat(np.cumsum(prefixes) - prefixes, prefixes)
        length = shortest[owner] + np.arange(total, dtype=np.int64) - offsets
        row_prefix = np.repeat(np.arange(total, dtype=np.int64), length)
        position = np.arange(int(length.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(length) - length, length
        )
        source = starts[owner][row_prefix] + position
        result = bulk.evaluate_bulk(row_prefix, scores[source], engine.policy, engine.scale)
        hits = np.flatnonzero(result.mastered)
        if hits.shape[0]:
            # Prefixes run by group, then by length: the first hit per group is the shortest.
            winners, where = np.unique(owner[hits], return_index=True)
            first[winners] = length[hits[where]]
    for group in np.flatnonzero(long_group & final_mastered).tolist():
        start, count = int(starts[group]), int(counts[group])
        ordered = [
            rules.Rating(score=Decimal(repr(float(x))), id=i)
            for i, x in enumerate(scores[start : start + count])
        ]
        first[group] = first_mastered_length(ordered, params, engine.scale)
    return first


# --- provenance ---------------------------------------------------------------------------------

_MASK64: Final = (1 << 64) - 1


def splitmix64(value: int) -> int:
    """The SplitMix64 finaliser of ``value`` (mod 2**64): a well-mixed 64-bit number."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def signed64(value: int) -> int:
    """A 64-bit pattern (any integer, taken mod 2**64) as a signed 64-bit integer: how a
    digest is stored (``MasteryRecord.ratings_digest``, a ``bigint``)."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def digest_value(ratings: Iterable[tuple[int | None, Decimal | float | int]]) -> int:
    """**The** digest of a record's counted ratings (ADR 8, provenance), signed 64-bit: the
    64-bit sum, wrapping, of ``splitmix64(rating_id * 2**20 + score in hundredths)`` over
    ``(rating id, score)`` pairs. Order-free, so an auditor recomputes it from the ratings
    alone, and a grouping's is the sum of its children's; 0 for none. :func:`ratings_digests`
    is the same for many groups at once, :func:`ratings_digest` its text."""
    total = 0
    for rating_id, score in ratings:
        hundredths = int((Decimal(str(score)) * 100).to_integral_value())
        total = (total + splitmix64(((int(rating_id or 0) << 20) + hundredths) & _MASK64)) & _MASK64
    return signed64(total)


def sum_digests(digests: Iterable[int]) -> int:
    """The digest of the union of disjoint sets of ratings: the wrapping sum of theirs."""
    return signed64(sum(digests))


def digest_hex(value: int) -> str:
    """A digest as 16 hex digits (its unsigned 64-bit pattern)."""
    return f"{value & _MASK64:016x}"


def ratings_digest(ratings: Iterable[tuple[int | None, Decimal | float | int]]) -> str:
    """:func:`digest_value` as 16 hex digits (``"0000000000000000"`` for none)."""
    return digest_hex(digest_value(ratings))


def ratings_digests(
    ids: NDArray[np.int64], score_hundredths: NDArray[np.int64], starts: NDArray[np.int64]
) -> NDArray[np.uint64]:
    """:func:`ratings_digest` of each group of rows beginning at ``starts`` (non-empty groups,
    in row order), with numpy's wrapping unsigned arithmetic; format with ``f"{x:016x}"``
    (``.view(np.int64)``: the signed values of :func:`digest_value`)."""
    if ids.shape[0] == 0:
        return np.zeros(0, np.uint64)
    with np.errstate(over="ignore"):
        z = (ids.astype(np.uint64) << np.uint64(20)) + score_hundredths.astype(np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return np.add.reduceat(z, starts).astype(np.uint64)


def derive_record(ratings: Sequence[rules.Rating], settings: Rules) -> Derived:
    """The record of one learner on one assessable standard from its counted ratings.

    Raises ``rules.RulesError`` when a rating does not fit the scale (the caller logs the ids).
    """
    ordered = rules.order_ratings(ratings)
    result = rules.evaluate(ordered, settings.policy, settings.scale)
    first = (
        first_mastered_at(ordered, settings.policy.resolve(settings.scale), settings.scale)
        if ordered
        else None
    )
    explanation = dict(result.explanation)
    explanation["first_mastered_at"] = None if first is None else first.isoformat()
    return Derived(
        state=result.state,
        score=result.score,
        level_points=None if result.level is None else result.level.points,
        level_label="" if result.level is None else result.level.label,
        mastered=result.mastered,
        first_mastered_at=first,
        evidence_count=result.evidence_count,
        explanation=explanation,
        inconsistent=estimators.compare_estimators(
            ordered, settings.policy, settings.scale
        ).flagged,
        rules_key=settings.leaf_key,
        ratings_digest=digest_value((r.id, r.score) for r in ordered),
    )


OVERRIDE: Final = "override"


def override_applies(override: Override | None, settings: Rules, newest: datetime | None) -> bool:
    """Whether ``override`` sets the record: it is in force, and unless the policy ends
    overrides with newer evidence, whatever the ratings; else only while no counted rating was
    demonstrated after it was set (``newest``: the latest counted ``demonstrated_at``)."""
    if override is None:
        return False
    if not settings.overrides_end_with_new_evidence or newest is None:
        return True
    return newest <= override.set_at


def apply_override(
    result: Derived, override: Override | None, settings: Rules, newest: datetime | None
) -> Derived:
    """The record of a leaf with ``override`` in force, from ``result`` (what the counted ratings
    give): the override's score, the scale's level for it and mastered when it reaches the
    mastery threshold; the evidence count stays the counted ratings'. ``first_mastered_at`` is
    the earlier of the evidence's and the override's ``set_at`` when the override masters. The
    explanation says override, who, why, when, and what the evidence alone gives. ``result``
    unchanged when the override does not apply (:func:`override_applies`).
    """
    if override is None:
        return result
    if not override_applies(override, settings, newest):
        ended = dict(result.explanation)
        ended["override_ended"] = {
            "id": override.id,
            "set_at": override.set_at.isoformat(),
            "note": "ended by evidence demonstrated after it (the policy says so)",
        }
        return replace(result, explanation=ended)
    scale = settings.scale
    level = scale.level_for(override.score)
    mastered = override.score >= scale.mastery_threshold
    first = result.first_mastered_at
    if mastered and (first is None or override.set_at < first):
        first = override.set_at
    explanation: dict[str, Any] = {
        "calculation_version": rules.CALCULATION_VERSION,
        "method": OVERRIDE,
        "override": {
            "id": override.id,
            "score": str(override.score),
            "level": level.label,
            "set_by_id": override.set_by_id,
            "set_by": override.set_by_name,
            "set_at": override.set_at.isoformat(),
            "reason": override.reason,
        },
        "evidence_alone": {
            "state": result.state,
            "score": None if result.score is None else str(result.score),
            "level": result.level_label,
            "mastered": result.mastered,
            "method": result.explanation.get("method"),
        },
        "first_mastered_at": None if first is None else first.isoformat(),
    }
    return Derived(
        state=rules.SCORED,
        score=override.score,
        level_points=level.points,
        level_label=level.label,
        mastered=mastered,
        first_mastered_at=first,
        evidence_count=result.evidence_count,
        explanation=explanation,
        # The evidence's own estimators still disagree (or not): the override does not hide it.
        inconsistent=result.inconsistent,
        rules_key=settings.leaf_key,
        # Provenance stays the evidence's: the counted ratings behind the record.
        ratings_digest=result.ratings_digest,
    )


def _level_of(child: ChildRecord, scale: rules.Scale) -> rules.Level | None:
    if child.level_points is None:
        return None
    for level in scale.levels:
        if level.points == child.level_points:
            return level
    return rules.Level(child.level_points, child.level_label)


def derive_rollup(children: Sequence[ChildRecord], settings: Rules) -> Derived:
    """The record of one learner on a grouping, rolled up from its children's records.

    A child without a record counts as not assessed. When mastered, ``first_mastered_at`` is the
    latest ``first_mastered_at`` of the mastered children (when the last one needed came in).
    """
    scale = settings.scale
    rule = settings.rollup
    if not children:
        explanation: dict[str, Any] = {
            "calculation_version": rules.CALCULATION_VERSION,
            "rule": rule.rule,
            "children": [],
            "notes": ["the grouping has no child standards"],
        }
        return Derived(
            rules.NOT_ASSESSED, None, None, "", False, None, 0, explanation,
            rules_key=settings.grouping_key,
        )  # fmt: skip
    engine_children = [
        rules.ChildMastery(c.standard_id, c.state, c.mastered, _level_of(c, scale))
        for c in children
    ]
    if rule.rule == SHARE_MASTERED:
        result = rules.rollup_share_mastered(engine_children, rule.share)
    elif rule.rule == LOWEST_LEVEL:
        result = rules.rollup_lowest_level(engine_children, scale)
    elif rule.rule == POINTS:
        # One policy's points cover every grouping of the framework: take this grouping's
        # children (a child without points gives none).
        ids = {c.standard_id for c in children}
        points: dict[int | str, int] = {i: rule.points.get(i, 0) for i in ids}
        required: set[int | str] = {i for i in rule.required if i in ids}
        result = rules.rollup_points(engine_children, points, required, rule.points_required)
    else:
        result = rules.rollup_all_mastered(engine_children)
    first = None
    if result.mastered:
        dates = [c.first_mastered_at for c in children if c.mastered and c.first_mastered_at]
        first = max(dates) if dates else None
    explanation = dict(result.explanation)
    explanation["first_mastered_at"] = None if first is None else first.isoformat()
    return Derived(
        state=result.state,
        score=None,
        level_points=None if result.level is None else result.level.points,
        level_label="" if result.level is None else result.level.label,
        mastered=result.mastered,
        first_mastered_at=first,
        evidence_count=sum(c.evidence_count for c in children),
        explanation=explanation,
        rules_key=settings.grouping_key,
        ratings_digest=sum_digests(c.ratings_digest for c in children),
    )


# --- the bulk path ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkGroups:
    """Many pairs' counted ratings, each pair's rows contiguous and in the engine's order.

    ``starts``/``counts`` delimit the pairs' rows in ``scores``, ``demonstrated_us``
    (microseconds since the epoch, UTC) and ``ids`` (the ratings' ids, for the digest).
    """

    starts: NDArray[np.int64]
    counts: NDArray[np.int64]
    scores: NDArray[np.float64]
    demonstrated_us: NDArray[np.int64]
    ids: NDArray[np.int64]


def bulk_summary(settings: Rules) -> dict[str, Any]:
    """The explanation a bulk recompute stores (the same for every pair under one policy): the
    method, parameters and scale. The full arithmetic is rebuilt on request from the ratings as
    of ``computed_at`` (``mastery.selectors.explain_record``)."""
    return {
        "calculation_version": rules.CALCULATION_VERSION,
        "method": settings.policy.method,
        "params": settings.policy.resolve(settings.scale).as_json(),
        "scale": settings.scale.as_json(),
        "summary": "computed by a bulk recompute; the full explanation is rebuilt on request",
    }


def summary_key(summary: Mapping[str, Any]) -> int:
    """The ``ExplanationSummary.key`` of a summary: the first 8 bytes of the SHA-256 of its
    canonical JSON, as a signed 64-bit integer (equal summaries, equal keys)."""
    text = json.dumps(summary, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def rules_key(settings: Rules, *, grouping: bool) -> int:
    """The digest of the rules a record is computed under (ADR 8, "freshness"), signed 64-bit:
    for a statement the method with its resolved parameters (minimum evidence included), the
    scale, whether newer evidence ends an override and the calculation version; for a grouping
    the roll-up rule with its parameters, the scale and the calculation version. A record whose
    stored key differs from the key of the rules in force is stale."""
    payload: dict[str, Any] = {
        "calculation_version": rules.CALCULATION_VERSION,
        "scale": settings.scale.as_json(),
    }
    if grouping:
        rollup = settings.rollup
        payload["rollup"] = {
            "rule": rollup.rule,
            "share": str(rollup.share),
            "points": sorted((int(k), int(v)) for k, v in rollup.points.items()),
            "required": sorted(rollup.required),
            "points_required": rollup.points_required,
        }
    else:
        payload["method"] = settings.policy.method
        try:
            payload["params"] = settings.policy.resolve(settings.scale).as_json()
        except rules.RulesError as exc:  # parameters the engine refuses: a key of their own
            payload["params"] = {"refused": str(exc), **dict(settings.policy.params)}
        payload["overrides_end_with_new_evidence"] = settings.overrides_end_with_new_evidence
    return summary_key(payload)


@dataclass(frozen=True)
class BulkColumns:
    """One row per pair of a ``BulkGroups``: what ``derive_record`` gives, as arrays.

    ``state`` indexes ``rules.STATES``; ``score_hundredths`` is -1 without a score;
    ``level_index`` indexes the scale's ``levels`` (-1: none); ``first_us`` is the
    ``demonstrated_at`` (epoch microseconds) of the first mastered prefix, -1 if never;
    ``digest`` the pair's :func:`digest_value` (signed).
    """

    state: NDArray[np.int8]
    score_hundredths: NDArray[np.int64]
    level_index: NDArray[np.int16]
    mastered: NDArray[np.bool_]
    evidence_count: NDArray[np.int64]
    first_us: NDArray[np.int64]
    inconsistent: NDArray[np.bool_]
    digest: NDArray[np.int64]


def derive_bulk_columns(groups: BulkGroups, settings: Rules) -> BulkColumns:
    """:func:`derive_record` for many pairs at once with the engine's numpy path.

    One ``evaluate_bulk`` call for the pairs, and the first mastered prefix
    (``first_mastered_at``) by :func:`first_mastered_lengths` (the one bulk form of the rule,
    which the reports as of a day use too): equal, pair by pair, to ``derive_record`` on the
    same ratings (``tests/mastery/test_bulk_recompute.py``).
    """
    counts = groups.counts
    size = int(counts.shape[0])
    if size == 0:
        empty = np.zeros(0, np.int64)
        return BulkColumns(
            np.zeros(0, np.int8),
            empty,
            np.zeros(0, np.int16),
            np.zeros(0, bool),
            empty,
            empty,
            np.zeros(0, bool),
            empty,
        )
    # The pairs' rows, contiguous: pair g covers rows pair_start[g] .. + counts[g] - 1.
    pair_rows = np.repeat(np.arange(size, dtype=np.int64), counts)
    pair_start = np.cumsum(counts) - counts
    whole = groups.starts[pair_rows] + np.arange(pair_rows.shape[0]) - pair_start[pair_rows]
    scores = groups.scores[whole]
    result = bulk.evaluate_bulk(pair_rows, scores, settings.policy, settings.scale)
    first_len = first_mastered_lengths(scores, pair_start, counts, result.mastered, settings)
    reached = first_len > 0
    first_row = groups.starts + np.where(reached, first_len, 1) - 1
    inconsistent = estimators.disagree_bulk(pair_rows, scores, settings.policy, settings.scale)
    # Scores are whole hundredths (numeric(5,2)): rint recovers them exactly from the floats.
    digest = ratings_digests(
        groups.ids[whole], np.rint(scores * 100).astype(np.int64), pair_start
    ).view(np.int64)
    return BulkColumns(
        state=result.state,
        score_hundredths=result.score_hundredths,
        level_index=result.level_index,
        mastered=result.mastered,
        evidence_count=counts.copy(),
        first_us=np.where(reached, groups.demonstrated_us[first_row], -1),
        inconsistent=inconsistent,
        digest=digest,
    )


def from_epoch_us(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def derive_bulk(groups: BulkGroups, settings: Rules) -> list[Derived]:
    """:func:`derive_bulk_columns` as one ``Derived`` per pair (explanation: the summary)."""
    columns = derive_bulk_columns(groups, settings)
    summary = bulk_summary(settings)
    # derived_at for every row, with each column made a list of Python values once (indexing
    # numpy arrays one scalar at a time cost most of verify_mastery's CPU).
    levels = settings.scale.levels
    states = [rules.STATES[index] for index in columns.state.tolist()]
    return [
        Derived(
            state=state,
            score=None if hundredths < 0 else Decimal(hundredths).scaleb(-2),
            level_points=None if level_index < 0 else levels[level_index].points,
            level_label="" if level_index < 0 else levels[level_index].label,
            mastered=bool(mastered),
            first_mastered_at=None if first_us < 0 else EPOCH + timedelta(microseconds=first_us),
            evidence_count=count,
            explanation=summary,
            inconsistent=bool(inconsistent),
            rules_key=settings.leaf_key,
            ratings_digest=digest,
        )
        for state, hundredths, level_index, mastered, first_us, count, inconsistent, digest in zip(
            states,
            columns.score_hundredths.tolist(),
            columns.level_index.tolist(),
            columns.mastered.tolist(),
            columns.first_us.tolist(),
            columns.evidence_count.tolist(),
            columns.inconsistent.tolist(),
            columns.digest.tolist(),
            strict=True,
        )
    ]


def derived_at(
    columns: BulkColumns, row: int, settings: Rules, explanation: dict[str, Any]
) -> Derived:
    """Row ``row`` of ``columns`` as a ``Derived`` (with ``explanation``)."""
    level_index = int(columns.level_index[row])
    level = None if level_index < 0 else settings.scale.levels[level_index]
    hundredths = int(columns.score_hundredths[row])
    first_us = int(columns.first_us[row])
    return Derived(
        state=rules.STATES[int(columns.state[row])],
        score=None if hundredths < 0 else Decimal(hundredths).scaleb(-2),
        level_points=None if level is None else level.points,
        level_label="" if level is None else level.label,
        mastered=bool(columns.mastered[row]),
        first_mastered_at=None if first_us < 0 else from_epoch_us(first_us),
        evidence_count=int(columns.evidence_count[row]),
        explanation=explanation,
        inconsistent=bool(columns.inconsistent[row]),
        rules_key=settings.leaf_key,
        ratings_digest=int(columns.digest[row]),
    )


def pair_bounds(
    learner: NDArray[np.int64], standard: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Where each (learner, standard) pair's rows start in rows sorted by pair, and how many."""
    total = int(learner.shape[0])
    if total == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty
    change = np.r_[True, (learner[1:] != learner[:-1]) | (standard[1:] != standard[:-1])]
    starts = np.flatnonzero(change).astype(np.int64)
    return starts, np.diff(np.r_[starts, total]).astype(np.int64)


def gather(
    starts: NDArray[np.int64], counts: NDArray[np.int64], chosen: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """The rows of the ``chosen`` pairs, contiguous: (rows, new starts, counts)."""
    lengths = counts[chosen]
    new_starts = np.cumsum(lengths) - lengths
    rows = np.repeat(starts[chosen] - new_starts, lengths) + np.arange(int(lengths.sum()))
    return rows, new_starts, lengths


def lookup(values: Mapping[int, int], keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """``values[k]`` for every ``k`` of ``keys``, vectorised; ``KeyError`` for a missing key."""
    known = np.array(sorted(values), dtype=np.int64)
    mapped = np.array([values[int(k)] for k in known], dtype=np.int64)
    place = np.minimum(np.searchsorted(known, keys), max(known.shape[0] - 1, 0))
    missing = np.flatnonzero(known[place] != keys) if known.shape[0] else np.arange(keys.size)
    if missing.shape[0]:
        raise KeyError(int(keys[missing[0]]))
    return mapped[place]


@dataclass(frozen=True)
class PairResults:
    """:func:`derive_record` of many pairs as columns: pair ``i`` is ``(learner[i],
    standard[i])`` (sorted), computed under ``rules[group[i]]``, its fields at row ``row[i]``
    of ``columns[group[i]]``; ``members[g]``: the pairs of group ``g``, in order;
    ``last_us``: its newest counted ``demonstrated_us`` (for overrides)."""

    learner: NDArray[np.int64]
    standard: NDArray[np.int64]
    last_us: NDArray[np.int64]
    group: NDArray[np.int64]
    row: NDArray[np.int64]
    rules: tuple[Rules, ...]
    columns: tuple[BulkColumns, ...]
    members: tuple[NDArray[np.int64], ...]

    def __len__(self) -> int:
        return int(self.learner.shape[0])

    def derived(self, index: int) -> Derived:
        """Pair ``index`` as a ``Derived`` (what :func:`derive_record` gives; explanation: the
        bulk summary)."""
        group = int(self.group[index])
        settings = self.rules[group]
        return derived_at(
            self.columns[group], int(self.row[index]), settings, bulk_summary(settings)
        )


def derive_pair_results(
    learner: NDArray[np.int64],
    standard: NDArray[np.int64],
    scores: NDArray[np.float64],
    demonstrated_us: NDArray[np.int64],
    ids: NDArray[np.int64],
    schools: Mapping[int, int],
    frameworks: Mapping[int, int],
    rules_for: Callable[[int, int], Rules],
) -> PairResults:
    """:func:`derive_record` of every pair of rows sorted by (learner, standard, engine order),
    as :class:`PairResults`: one engine call (:func:`derive_bulk_columns`) per distinct rules
    (``rules_for(schools[learner], frameworks[standard])``), no Python work per pair."""
    starts, counts = pair_bounds(learner, standard)
    size = int(starts.shape[0])
    pair_learner = learner[starts]
    pair_standard = standard[starts]
    school_ids, school_of = np.unique(lookup(schools, pair_learner), return_inverse=True)
    framework_ids, framework_of = np.unique(lookup(frameworks, pair_standard), return_inverse=True)
    width = int(framework_ids.shape[0])
    keys, inverse = np.unique(
        school_of.reshape(-1) * width + framework_of.reshape(-1), return_inverse=True
    )
    inverse = inverse.reshape(-1).astype(np.int64)
    row = np.zeros(size, np.int64)
    settings: list[Rules] = []
    columns: list[BulkColumns] = []
    members: list[NDArray[np.int64]] = []
    for k, key in enumerate(keys.tolist()):
        rules_ = rules_for(int(school_ids[key // width]), int(framework_ids[key % width]))
        chosen = np.flatnonzero(inverse == k).astype(np.int64)
        rows, new_starts, lengths = gather(starts, counts, chosen)
        groups = BulkGroups(new_starts, lengths, scores[rows], demonstrated_us[rows], ids[rows])
        row[chosen] = np.arange(chosen.shape[0], dtype=np.int64)
        settings.append(rules_)
        columns.append(derive_bulk_columns(groups, rules_))
        members.append(chosen)
    return PairResults(
        learner=pair_learner,
        standard=pair_standard,
        last_us=demonstrated_us[starts + counts - 1] if size else np.zeros(0, np.int64),
        group=inverse,
        row=row,
        rules=tuple(settings),
        columns=tuple(columns),
        members=tuple(members),
    )
