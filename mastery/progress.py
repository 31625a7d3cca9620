"""Reads of the learner's mastery page: progress toward the requirements and power standards by
domain, every standard's level with its freshness and the learner's own self-rating beside it,
the growth chart and per-standard level history.

A fixed number of queries whatever the number of standards (about a dozen). The caller checks
that the user may see the learner (``learners.selectors.get_visible_learner_or_404``).
"""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from evidence.models import Rating, RatingSource
from evidence.selectors import current_rating_sql
from learners.models import Learner, Section, Term
from learners.selectors import current_sections_of_learner
from mastery import charts, core
from mastery.core import RulesKeys
from mastery.grid import (
    INSUFFICIENT,
    MASTERED,
    NOT_ASSESSED,
    NOT_YET,
    Ancestor,
    Domain,
    GridLevel,
    domain_of,
    grid_levels,
)
from mastery.models import (
    ExplanationSummary,
    MasteryEvent,
    MasteryRecord,
    MasteryState,
    StaleMastery,
)
from standards.models import Standard, StandardStatus
from standards.selectors import EffectiveScale


@dataclass(frozen=True)
class OverrideNote:
    """A teacher's override that sets a record's level (ADR 8): who, when, why (the reason is
    the sanitised HTML the service stored), and what the evidence alone gives."""

    set_by: str
    set_at: datetime.datetime | None
    reason: str
    evidence_level: str


def override_note(explanation: dict[str, Any]) -> OverrideNote | None:
    """The override a record's explanation names (None when the record is not overridden)."""
    told = explanation.get("override")
    if explanation.get("method") != "override" or not isinstance(told, dict):
        return None
    when = told.get("set_at")
    alone = explanation.get("evidence_alone") or {}
    return OverrideNote(
        set_by=str(told.get("set_by", "")),
        set_at=datetime.datetime.fromisoformat(when) if when else None,
        reason=str(told.get("reason", "")),
        evidence_level=str(alone.get("level") or ""),
    )


@dataclass(frozen=True)
class StandardProgress:
    standard_id: int
    code: str
    statement: str
    domain: Domain
    required: bool
    power: bool
    record_id: int | None
    state: str  # grid.MASTERED, NOT_YET, INSUFFICIENT or NOT_ASSESSED
    level: GridLevel | None
    score: Decimal | None
    evidence_count: int
    first_mastered_at: datetime.datetime | None
    computed_at: datetime.datetime | None
    pending: bool
    method: str
    self_score: Decimal | None
    self_label: str
    sparkline: charts.Sparkline | None
    override: OverrideNote | None = None

    @property
    def state_label(self) -> str:
        return {
            MASTERED: "Mastered",
            NOT_YET: "Not yet",
            INSUFFICIENT: "Insufficient evidence",
            NOT_ASSESSED: "Not assessed",
        }[self.state]


@dataclass(frozen=True)
class DomainProgress:
    domain: Domain
    standards: list[StandardProgress]

    @property
    def required(self) -> int:
        return sum(1 for item in self.standards if item.required)

    @property
    def mastered_required(self) -> int:
        return sum(1 for item in self.standards if item.required and item.state == MASTERED)

    @property
    def power(self) -> int:
        return sum(1 for item in self.standards if item.power)

    @property
    def mastered_power(self) -> int:
        return sum(1 for item in self.standards if item.power and item.state == MASTERED)


@dataclass(frozen=True)
class LearnerProgress:
    learner: Learner
    term: Term | None
    domains: list[DomainProgress]
    levels: list[GridLevel]
    scale: EffectiveScale
    chart: charts.StepChart
    pending: int
    oldest_computed_at: datetime.datetime | None
    newest_computed_at: datetime.datetime | None
    # The learner's required standards counted by the core (what the chart, the school report
    # and the state export count too).
    counts: core.RequirementCounts

    @property
    def standards(self) -> list[StandardProgress]:
        return [item for domain in self.domains for item in domain.standards]

    @property
    def required(self) -> int:
        return self.counts.required

    @property
    def mastered_required(self) -> int:
        return self.counts.mastered

    @property
    def power(self) -> int:
        return self.counts.power_required

    @property
    def mastered_power(self) -> int:
        return self.counts.power_mastered

    @property
    def mastered(self) -> int:
        return sum(1 for item in self.standards if item.state == MASTERED)

    @property
    def percent_required(self) -> int:
        """Rounded, not truncated (1 of 6: 17%)."""
        return self.counts.percent


def current_term(learner: Learner) -> Term | None:
    """The term of the learner's current sections (the latest to start, if several)."""
    return latest_term(current_sections_of_learner(learner))


def latest_term(sections: Iterable[Section]) -> Term | None:
    """The term of the section (term loaded) that started last; among sections of terms that
    started the same day, the first section's (lowest id)."""
    chosen = min(
        sections,
        key=lambda section: (-section.term.start_date.toordinal(), section.pk),
        default=None,
    )
    return chosen.term if chosen is not None else None


def _method(explanation: dict[str, Any]) -> str:
    method = str(explanation.get("method", ""))
    params = explanation.get("params") or {}
    shown = {
        name: value
        for name, value in params.items()
        if name in {"weight", "n", "threshold", "evaluate_at", "min_points"}
    }
    if shown:
        method += " (" + ", ".join(f"{name} {value}" for name, value in shown.items()) + ")"
    return method


def required_of(learner: Learner, term: Term | None) -> tuple[core.Required, ...]:
    """The learner's required standards in ``term`` (the core's rule; none without a term)."""
    if term is None:
        return ()
    return core.required_standards([learner], term)[learner.pk]


@dataclass(frozen=True)
class _Record:
    """What the page shows of one stored record (read in plain SQL, no model instance)."""

    pk: int
    framework_id: int
    is_grouping: bool
    state: str
    mastered: bool
    level_points: Decimal | None
    level_label: str
    score: Decimal | None
    evidence_count: int
    first_mastered_at: datetime.datetime | None
    computed_at: datetime.datetime
    rules_key: int | None
    ratings_digest: int | None
    # The parts of the stored explanation the page shows (method, params, override,
    # evidence_alone): the record's own, or the bulk recompute's summary it names.
    explanation: dict[str, Any]


_SUMMARY = ExplanationSummary._meta.db_table
_RECORD = MasteryRecord._meta.db_table
_STANDARD = Standard._meta.db_table
_STALE = StaleMastery._meta.db_table
_RATING = Rating._meta.db_table
_EVENT = MasteryEvent._meta.db_table

# The keys of a stored explanation the page reads (``_method``, ``override_note``): the rest
# (a record's inputs, its arithmetic) stays in the database.
_SHOWN_KEYS = ("method", "params", "override", "evidence_alone")

# A record's own explanation, or when it is empty the summary it names
# (``mastery.selectors.stored_explanations``), cut to the keys shown.
_RECORDS_SQL = (
    f"SELECT m.id, m.standard_id, s.framework_id, s.is_grouping, m.state, m.mastered,"  # noqa: S608
    f" m.level_points, m.level_label, m.score, m.evidence_count, m.first_mastered_at,"
    f" m.computed_at, m.rules_key, m.ratings_digest,"
    f" (SELECT jsonb_object_agg(x.key, x.value) FROM jsonb_each(CASE"
    f"  WHEN m.explanation IS NOT NULL AND jsonb_typeof(m.explanation) = 'object'"
    f"   AND m.explanation <> '{{}}'::jsonb THEN m.explanation"
    f"  ELSE (SELECT es.explanation FROM {_SUMMARY} es WHERE es.key = m.explanation_key"
    f"   AND jsonb_typeof(es.explanation) = 'object' ORDER BY es.id LIMIT 1) END) x"
    f"  WHERE x.key = ANY(%s))"
    f" FROM {_RECORD} m JOIN {_STANDARD} s ON s.id = m.standard_id"
    f" WHERE m.learner_id = %s AND (NOT s.is_grouping OR m.standard_id = ANY(%s))"
)

# The learner's pending markers (kind 0), latest current self-rating per standard (kind 1),
# level history (kind 2, oldest first as ``MasteryEvent``'s order) and the version of the rules
# in force at the learner's school (kind 3, for the pages' cache: ``PageRules.use_version``).
_FACTS_SQL = (
    f"SELECT 0, p.standard_id, NULL::timestamptz, NULL::numeric, NULL::text, NULL::timestamptz,"  # noqa: S608
    f" NULL::bigint FROM {_STALE} p WHERE p.learner_id = %s"
    f" UNION ALL SELECT 1, own.standard_id, NULL, own.score, NULL, NULL, NULL FROM"
    f" (SELECT DISTINCT ON (r.standard_id) r.standard_id, r.score FROM {_RATING} r"
    f"  WHERE r.learner_id = %s AND r.source = %s AND {current_rating_sql('r')}"
    f"  ORDER BY r.standard_id, r.demonstrated_at DESC, r.recorded_at DESC, r.id DESC) own"
    f" UNION ALL SELECT 2, e.standard_id, COALESCE(e.demonstrated_at, e.occurred_at),"
    f" e.to_level_points, e.to_level_label, e.occurred_at, e.id FROM {_EVENT} e"
    f" WHERE e.learner_id = %s"
    f" UNION ALL SELECT 3, NULL, NULL, NULL, {core.rules_version_sql('%s')}, NULL, NULL"
    f" ORDER BY 1, 2, 6, 7"
)

# The standards shown (active; required ones, groupings too, and the assessable ones of
# ``ids``), each with its ancestors, nearest first (the standard itself at hops 0).
_CHAINS_SQL = (
    f"WITH RECURSIVE up(start_id, id, parent_id, hops) AS ("  # noqa: S608
    f" SELECT s.id, s.id, s.parent_id, 0 FROM {_STANDARD} s"
    f" WHERE s.status = %s AND (s.id = ANY(%s) OR (s.id = ANY(%s) AND NOT s.is_grouping))"
    f" UNION ALL SELECT up.start_id, s.id, s.parent_id, up.hops + 1"
    f" FROM {_STANDARD} s JOIN up ON s.id = up.parent_id WHERE up.hops < 50)"
    f" SELECT up.start_id, up.hops, s.id, s.position, s.is_grouping, s.item_type,"
    f" s.human_code, s.statement FROM up JOIN {_STANDARD} s ON s.id = up.id"
    f" ORDER BY up.start_id, up.hops"
)


def _records(learner_id: int, required: list[int]) -> dict[int, _Record]:
    """The learner's records on assessable standards and on required groupings, by standard."""
    with connection.cursor() as cursor:
        cursor.execute(_RECORDS_SQL, [list(_SHOWN_KEYS), learner_id, required])
        rows = cursor.fetchall()
    records = {}
    for row in rows:
        pk, standard_id, framework, grouping, state, mastered, points, label = row[:8]
        score, count, first, computed, key, digest, explanation = row[8:]
        records[int(standard_id)] = _Record(
            pk=int(pk),
            framework_id=int(framework),
            is_grouping=bool(grouping),
            state=state,
            mastered=bool(mastered),
            level_points=points,
            level_label=label or "",
            score=score,
            evidence_count=int(count),
            first_mastered_at=first,
            computed_at=computed,
            rules_key=key,
            ratings_digest=digest,
            # Django reads jsonb as text and decodes it in the field, so a plain cursor does too.
            explanation=json.loads(explanation) if isinstance(explanation, str) else {},
        )
    return records


@dataclass
class _Facts:
    pending: set[int]
    self_scores: dict[int, Decimal]
    history: dict[int, list[tuple[datetime.datetime, Decimal | None, str]]]
    rules_version: str | None = None


def _facts(learner: Learner) -> _Facts:
    facts = _Facts(set(), {}, defaultdict(list))
    pk = learner.pk
    with connection.cursor() as cursor:
        cursor.execute(_FACTS_SQL, [pk, pk, RatingSource.SELF, pk, learner.school_id])
        for kind, standard_id, when, points, label, _occurred, _id in cursor.fetchall():
            if kind == 0:
                facts.pending.add(int(standard_id))
            elif kind == 1:
                facts.self_scores[int(standard_id)] = points
            elif kind == 2:
                facts.history[int(standard_id)].append((when, points, label or ""))
            else:
                facts.rules_version = label
    return facts


def _chains(required: list[int], assessable: list[int]) -> dict[int, list[Ancestor]]:
    chains: dict[int, list[Ancestor]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_CHAINS_SQL, [StandardStatus.ACTIVE, required, assessable])
        for start, hops, pk, position, grouping, item_type, code, statement in cursor.fetchall():
            chains.setdefault(int(start), []).append(
                Ancestor(
                    hops=int(hops),
                    pk=int(pk),
                    position=int(position),
                    is_grouping=bool(grouping),
                    item_type=item_type or "",
                    code=code or "",
                    statement=statement or "",
                )
            )
    return chains


def learner_progress(
    learner: Learner,
    *,
    today: datetime.date | None = None,
    sections: Iterable[Section] | None = None,
) -> LearnerProgress:
    """The learner's progress (see the module docstring). Standards shown: every requirement
    of the learner's current term (with approved electives; a required grouping with its
    rolled-up record) and every assessable standard the learner has a record or a pending
    recompute on. ``sections``: the learner's current sections with their terms when the
    caller has read them (``learners.selectors.current_sections_for``), else they are read."""
    day = today or timezone.localdate()
    term = current_term(learner) if sections is None else latest_term(sections)
    required = required_of(learner, term)
    priorities = {item.standard_id: item.priority for item in required}
    required_ids = list(priorities)
    records = _records(learner.pk, required_ids)
    facts = _facts(learner)
    pending_ids = facts.pending
    # The freshness keys' rules and the scale from the pages' cache, under the version the
    # facts' statement read.
    page_rules = core.PageRules()
    page_rules.use_version(learner.school_id, facts.rules_version)
    keys = RulesKeys(page_rules)
    keys.cache.load_many(learner.school_id, {record.framework_id for record in records.values()})
    pending_ids |= {
        pk
        for pk, record in records.items()
        if keys.is_stale(
            learner.school_id,
            record.framework_id,
            record.is_grouping,
            record.rules_key,
            record.ratings_digest,
        )
    }
    chains = _chains(required_ids, sorted(set(records) | pending_ids))
    scale = page_rules.scale(learner.school_id)
    levels = grid_levels(scale)
    level_by_key = {(level.points, level.label): level for level in levels}
    low, high = scale.min_points, scale.max_points
    items: list[StandardProgress] = []
    for pk, chain in chains.items():
        own = chain[0]
        record = records.get(pk)
        self_score = facts.self_scores.get(pk)
        items.append(
            StandardProgress(
                standard_id=pk,
                code=own.code or own.statement[:24],
                statement=own.statement,
                domain=domain_of(chain),
                required=pk in priorities,
                power=priorities.get(pk) == "power",
                record_id=record.pk if record else None,
                state=_state(record),
                level=_level(levels, level_by_key, record),
                score=record.score if record else None,
                evidence_count=record.evidence_count if record else 0,
                first_mastered_at=record.first_mastered_at if record else None,
                computed_at=record.computed_at if record else None,
                pending=pk in pending_ids,
                method=_method(record.explanation) if record else "",
                self_score=self_score,
                self_label=core.level_for(scale, self_score).label
                if self_score is not None
                else "",
                sparkline=charts.level_sparkline(
                    sorted(facts.history.get(pk, []), key=lambda event: event[0]),
                    low=low,
                    high=high,
                ),
                override=override_note(record.explanation) if record else None,
            )
        )
    order = {pk: tuple(item.position for item in reversed(chain)) for pk, chain in chains.items()}
    items.sort(key=lambda item: (order[item.standard_id], item.code))
    grouped: dict[Domain, list[StandardProgress]] = defaultdict(list)
    for item in items:
        grouped[item.domain].append(item)
    domains = [DomainProgress(domain, grouped[domain]) for domain in grouped]
    states = {item.standard_id: item.state for item in items}
    counts = core.requirement_counts(required, lambda sid: states.get(sid) == MASTERED)
    computed = [record.computed_at for record in records.values()]
    counted = [item for item in items if item.state == MASTERED and item.first_mastered_at]
    if priorities:
        counted = [item for item in counted if item.required]
    start = term.start_date if term is not None else day - datetime.timedelta(days=90)
    end = min(day, term.end_date) if term is not None and term.end_date > start else day
    chart = charts.cumulative_step_chart(
        [item.first_mastered_at for item in counted if item.first_mastered_at is not None],
        start=start,
        end=end,
        title="Required standards mastered over time"
        if priorities
        else "Standards mastered over time",
        what="mastered",
        target=counts.required or None,
        target_label="required",
    )
    return LearnerProgress(
        learner=learner,
        term=term,
        domains=domains,
        levels=levels,
        scale=scale,
        chart=chart,
        pending=len(pending_ids),
        oldest_computed_at=min(computed, default=None),
        newest_computed_at=max(computed, default=None),
        counts=counts,
    )


def _state(record: _Record | None) -> str:
    if record is None:
        return NOT_ASSESSED
    if record.mastered:
        return MASTERED
    if record.state == MasteryState.INSUFFICIENT_EVIDENCE:
        return INSUFFICIENT
    if record.state == MasteryState.SCORED:
        return NOT_YET
    return NOT_ASSESSED


def _level(
    levels: list[GridLevel],
    by_key: dict[tuple[Decimal, str], GridLevel],
    record: _Record | None,
) -> GridLevel | None:
    if record is None or (record.level_points is None and not record.level_label):
        return None
    found = by_key.get((record.level_points, record.level_label))  # type: ignore[arg-type]
    if found is not None:
        return found
    for level in levels:
        if level.label == record.level_label:
            return level
    return None


def learner_standard_options(learner: Learner, limit: int = 300) -> list[tuple[str, str]]:
    """(human code, statement) of the standards a learner's submission is likely to show: the
    requirements of their current term and the standards they already have a record on. For
    the submit form's suggestions; three or four queries."""
    term = current_term(learner)
    required = [item.standard_id for item in required_of(learner, term)]
    recorded = MasteryRecord.objects.filter(learner_id=learner.pk).values("standard_id")
    return list(
        Standard.objects.filter(status=StandardStatus.ACTIVE, is_grouping=False)
        .filter(Q(pk__in=required) | Q(pk__in=recorded))
        .exclude(human_code="")
        .order_by("human_code")
        .values_list("human_code", "statement")[:limit]
    )
