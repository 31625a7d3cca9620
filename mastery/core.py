"""The mastery core's facade (ADR 8): the one place other apps, and the mastery pages, read
mastery rules through. Writes stay in ``mastery.services``.

One implementation of each rule, each in one function behind this module:

- counted ratings (ADR 5), now or as of T: :func:`counted_ratings` (ORM),
  :func:`counted_rating_columns` (many learners, as arrays); behind: ``sql.counted_predicate``.
- evaluation of one and of many records: :func:`evaluate_record`, :func:`evaluate_many`,
  :func:`mastery_of`; behind: ``derive`` (one record, many) and ``asof`` (reports).
- first-mastered date: :func:`first_mastered_at` (and in every evaluation); behind:
  ``derive.first_mastered_length`` and its bulk form ``first_mastered_lengths``.
- level of a score: :func:`level_for`; behind: ``rules.Scale.level_for``.
- a learner's required standards and their counts: :func:`required_standards`,
  :class:`RequirementPlan`, :func:`requirement_counts`; behind: ``requirements``.
- rules in force: :func:`rules_for`; behind: ``policy``.
- mastery of today as the workers keep it (reports of today): :func:`recorded_mastery`,
  :func:`fetch_records` and :func:`recorded_results` (many learners, as ``Results``), with
  what is pending; :func:`reads_records` says which reports read them. Behind: ``recorded``.

``tests/mastery/test_one_core.py`` fails when a module outside the core imports the engine's
internals, writes the counted predicate or computes a level, a first-mastered date or an
evaluation.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

import numpy as np
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from numpy.typing import NDArray

from evidence.models import Rating
from mastery import bulk, derive, policy, rules, sql
from mastery.agreement import Agreement, agreement, level_position
from mastery.asof import (
    DAY0,
    INSUFFICIENT,
    NO_DAY,
    SCORED,
    Mastery,
    Ratings,
    ReportDataError,
    Results,
    RulesBook,
    add_rollups,
    apply_overrides,
    day_of,
    digest_text,
    digest_texts,
    end_of_day,
    evaluate_all,
    mastery_of,
    stood_at,
)
from mastery.asof import evaluate as evaluate_many
from mastery.asof import fetch_counted_ratings as counted_rating_columns
from mastery.derive import OVERRIDE, Derived, Rules, ratings_digest
from mastery.estimators import EstimatorComparison
from mastery.policy import PageRules, RulesKeys
from mastery.recorded import (
    Recorded,
    RecordedResults,
    fetch_records,
    reads_records,
    recorded_mastery,
    recorded_results,
    report_mastery,
)
from mastery.requirements import (
    POWER,
    Required,
    RequirementCounts,
    RequirementPlan,
    StandardInfo,
    percent,
    required_standards,
    requirement_counts,
)
from mastery.rules import CALCULATION_VERSION, RulesError, Scale
from mastery.sql import BulkScope, RecordedColumns
from standards.selectors import EffectiveLevel, EffectivePolicy, EffectiveScale

__all__ = [
    "CALCULATION_VERSION",
    "DAY0",
    "INSUFFICIENT",
    "NO_DAY",
    "OVERRIDE",
    "POWER",
    "SCORED",
    "Agreement",
    "BulkScope",
    "Derived",
    "EstimatorComparison",
    "Mastery",
    "PageRules",
    "Ratings",
    "Recorded",
    "RecordedColumns",
    "RecordedResults",
    "ReportDataError",
    "Required",
    "RequirementCounts",
    "RequirementPlan",
    "Results",
    "Rules",
    "RulesBook",
    "RulesError",
    "RulesKeys",
    "Scale",
    "StandardInfo",
    "add_rollups",
    "agreement",
    "apply_overrides",
    "counted_rating_columns",
    "counted_ratings",
    "day_of",
    "digest_text",
    "digest_texts",
    "end_of_day",
    "engine_level",
    "engine_rules",
    "engine_scale",
    "evaluate_all",
    "evaluate_groups",
    "evaluate_many",
    "evaluate_record",
    "fetch_records",
    "first_mastered_at",
    "is_mastered",
    "level_for",
    "level_index",
    "level_position",
    "mastery_of",
    "page_scale",
    "percent",
    "ratings_digest",
    "reads_records",
    "recorded_mastery",
    "recorded_results",
    "report_mastery",
    "required_standards",
    "requirement_counts",
    "rules_for",
    "rules_version_sql",
    "stood_at",
    "stream_counted_ratings",
]


# --- counted ratings ----------------------------------------------------------------------------


def counted_ratings(
    *,
    as_of: datetime.datetime | None = None,
    learner_ids: Iterable[int] | None = None,
    standard_ids: Iterable[int] | None = None,
) -> QuerySet[Rating]:
    """Ratings that count toward mastery (ADR 5), ordered by ``demonstrated_at``,
    ``recorded_at``, id: the ORM form of ``mastery.sql.counted_predicate`` (the same SQL, so
    the rule exists once). With ``as_of`` T: as they counted at T, so the result for a past
    moment never changes."""
    # The SQL is the module's own text with the table's name; T is a parameter.
    table = Rating._meta.db_table
    if as_of is None:
        condition = RawSQL(sql.counted_predicate(table), (), output_field=BooleanField())  # noqa: S611
    else:
        condition = RawSQL(  # noqa: S611
            sql.counted_predicate(table, at="%s"),
            (as_of, as_of, as_of),
            output_field=BooleanField(),
        )
    ratings = Rating.objects.filter(condition)
    if learner_ids is not None:
        ratings = ratings.filter(learner_id__in=list(learner_ids))
    if standard_ids is not None:
        ratings = ratings.filter(standard_id__in=list(standard_ids))
    return ratings.order_by("demonstrated_at", "recorded_at", "id")


def engine_ratings(ratings: Iterable[Rating]) -> list[rules.Rating]:
    """Counted rating rows as the engine's ratings (score, dates, id)."""
    return [rules.Rating(r.score, r.demonstrated_at, r.recorded_at, r.pk) for r in ratings]


# --- rules, levels, evaluation ------------------------------------------------------------------


def rules_for(school_id: int, framework_id: int, *, at: datetime.datetime | None = None) -> Rules:
    """The policy, scale and roll-up in force for learners of ``school_id`` on a framework
    (``at``: as they stood then)."""
    return policy.load_rules(school_id, framework_id, at=at)


def rules_version_sql(school: str) -> str:
    """A scalar subquery (``school``: an SQL expression): the version of the rows the rules in
    force at the school are read from, for a page that reads it within one of its own
    statements and hands it to :class:`PageRules` (``use_version``)."""
    return sql.rules_version_sql(school)


def page_scale(school_id: int) -> EffectiveScale:
    """The effective scale of a school for a page (the process's cache, checked against the
    version of its rows: ``policy.page_scale``)."""
    return policy.page_scale(school_id)


def engine_scale(scale: EffectiveScale) -> rules.Scale:
    """An effective scale as the engine's scale (for agreement statistics and the like)."""
    return policy.engine_scale(scale)


def engine_rules(policy_: EffectivePolicy, scale: EffectiveScale) -> Rules:
    """A policy and a scale (in force, or proposed in a what-if) as the engine's rules."""
    return policy.engine_rules(policy_, scale)


def engine_level(scale: rules.Scale, score: Decimal) -> rules.Level:
    """The level of ``score`` on an engine scale (the one rule: ``rules.Scale.level_for``)."""
    return scale.level_for(score)


def is_mastered(scale: EffectiveScale, score: Decimal) -> bool:
    """Whether ``score`` reaches the scale's mastery threshold (a level's cut point, say)."""
    return Decimal(score) >= policy.engine_scale(scale).mastery_threshold


def stream_counted_ratings(scope: BulkScope) -> Iterator[tuple[int, int, float, int]]:
    """(learner, standard, score, demonstrated in epoch microseconds) of every counted rating
    in ``scope``, by pair then in the engine's order."""
    return sql.stream_counted_ratings(scope)


def evaluate_groups(
    groups: NDArray[np.int64], scores: NDArray[np.float64], settings: Rules
) -> bulk.BulkResult:
    """Many groups of ratings (``groups`` non-decreasing, scores in the engine's order) under
    ``settings`` at once (the engine's bulk path; a what-if's "before" and "after")."""
    return bulk.evaluate_bulk(groups, scores, settings.policy, settings.scale)


def level_index(scale: EffectiveScale, score: Decimal) -> int:
    """The position in ``scale.levels`` of the level of ``score`` (``rules.Scale.level_for``:
    the highest level whose cut point is at or below it, else the lowest)."""
    engine = policy.engine_scale(scale)
    return engine.levels.index(engine.level_for(score))


def level_for(scale: EffectiveScale, score: Decimal) -> EffectiveLevel:
    """The level of ``score`` on ``scale`` (a self-rating's or a single rating's label), by the
    engine's one rule."""
    return scale.levels[level_index(scale, score)]


def evaluate_record(
    ratings: Sequence[rules.Rating], settings: Rules, override: derive.Override | None = None
) -> Derived:
    """One learner's record on one assessable standard from its counted ratings, with the
    teacher's override in force applied as the recompute applies it (``derive.apply_override``:
    unless the policy ends it with evidence demonstrated after it)."""
    result = derive.derive_record(ratings, settings)
    if override is None:
        return result
    newest = max((r.demonstrated_at for r in ratings if r.demonstrated_at), default=None)
    return derive.apply_override(result, override, settings, newest)


def first_mastered_at(ratings: Sequence[rules.Rating], settings: Rules) -> datetime.datetime | None:
    """When the counted ratings (the engine's order) first made the record mastered."""
    ordered = rules.order_ratings(ratings)
    return derive.first_mastered_at(
        ordered, settings.policy.resolve(settings.scale), settings.scale
    )
