"""From counted ratings (or children's records) to the fields of a mastery record.

Pure functions over the engine (``mastery.rules``), no Django: the recompute, ``verify_mastery``,
the as-of selectors and the bulk path all derive a record the same way, so "the record equals the
engine's result" has one meaning.

``first_mastered_at`` is derived from the evidence, never remembered: the ``demonstrated_at`` of
the first rating (in the engine's order) after which the ratings so far were mastered. It is
therefore reproducible, "as of" any date, and the same whichever worker computed it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from mastery import rules

ALL_MASTERED: Final = "all_mastered"
SHARE_MASTERED: Final = "share_mastered"
LOWEST_LEVEL: Final = "lowest_level"
POINTS: Final = "points"
ROLLUP_RULES: Final = (ALL_MASTERED, SHARE_MASTERED, LOWEST_LEVEL, POINTS)


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
) -> tuple[object, ...]:
    """The same tuple as :meth:`Derived.key`, from stored fields."""
    return (
        state,
        score,
        level_points,
        level_label,
        mastered,
        first_mastered_at,
        evidence_count,
        calculation_version,
    )


def first_mastered_at(
    ordered: Sequence[rules.Rating], params: rules.MethodParams, scale: rules.Scale
) -> datetime | None:
    """The ``demonstrated_at`` of the first prefix of ``ordered`` that is mastered, or None."""
    for end in range(params.min_evidence, len(ordered) + 1):
        result = rules.calculate_with(params, ordered[:end])
        _, mastered = rules.level_and_mastery(result.score, result.p_known, params, scale)
        if mastered:
            return ordered[end - 1].demonstrated_at
    return None


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
        return Derived(rules.NOT_ASSESSED, None, None, "", False, None, 0, explanation)
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
    )
