"""Reads of the learner's mastery page: progress toward the requirements and power standards by
domain, every standard's level with its freshness and the learner's own self-rating beside it,
the growth chart and per-standard level history.

A fixed number of queries whatever the number of standards (about a dozen). The caller checks
that the user may see the learner (``learners.selectors.get_visible_learner_or_404``).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from evidence.models import RatingSource
from evidence.selectors import current_ratings
from learners.models import Learner, Term
from learners.selectors import current_sections_of_learner
from mastery import charts, core
from mastery.core import RulesKeys
from mastery.grid import (
    INSUFFICIENT,
    MASTERED,
    NOT_ASSESSED,
    NOT_YET,
    Domain,
    GridLevel,
    ancestry,
    domain_of,
    grid_levels,
)
from mastery.models import MasteryEvent, MasteryRecord, MasteryState, StaleMastery
from mastery.selectors import stored_explanations
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
    section = current_sections_of_learner(learner).order_by("-term__start_date", "pk").first()
    return section.term if section is not None else None


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


def learner_progress(learner: Learner, *, today: datetime.date | None = None) -> LearnerProgress:
    """The learner's progress (see the module docstring). Standards shown: every requirement
    of the learner's current term (with approved electives; a required grouping with its
    rolled-up record) and every assessable standard the learner has a record or a pending
    recompute on."""
    day = today or timezone.localdate()
    term = current_term(learner)
    required = required_of(learner, term)
    priorities = {item.standard_id: item.priority for item in required}
    pending_ids = set(
        StaleMastery.objects.filter(learner_id=learner.pk).values_list("standard_id", flat=True)
    )
    records = {
        record.standard_id: record
        for record in MasteryRecord.objects.filter(learner_id=learner.pk).filter(
            Q(standard__is_grouping=False) | Q(standard_id__in=list(priorities))
        )
    }
    # The freshness keys' rules and the scale from the pages' cache: one version read.
    page_rules = core.PageRules()
    keys = RulesKeys(page_rules)
    framework_of = dict(
        Standard.objects.filter(pk__in=list(records)).values_list("pk", "framework_id")
    )
    keys.cache.load_many(learner.school_id, framework_of.values())
    pending_ids |= {
        pk
        for pk, record in records.items()
        if keys.is_stale(
            learner.school_id, framework_of[pk], False, record.rules_key, record.ratings_digest
        )
    }
    explanations = stored_explanations(records.values())
    assessable = Q(is_grouping=False) & (Q(pk__in=list(records)) | Q(pk__in=list(pending_ids)))
    standards = list(
        Standard.objects.filter(status=StandardStatus.ACTIVE)
        .filter(Q(pk__in=list(priorities)) | assessable)
        .values_list("pk", "human_code", "statement", "framework_id")
    )
    chains = ancestry([pk for pk, *_ in standards])
    scale = page_rules.scale(learner.school_id)
    levels = grid_levels(scale)
    self_scores: dict[int, Decimal] = {}
    for standard_id, score in (
        current_ratings()
        .filter(learner_id=learner.pk, source=RatingSource.SELF)
        .order_by("standard_id", "-demonstrated_at", "-recorded_at", "-id")
        .values_list("standard_id", "score")
    ):
        self_scores.setdefault(standard_id, score)
    history: dict[int, list[tuple[datetime.datetime, Decimal | None, str]]] = defaultdict(list)
    for standard_id, demonstrated, occurred, points, label in MasteryEvent.objects.filter(
        learner_id=learner.pk
    ).values_list(
        "standard_id", "demonstrated_at", "occurred_at", "to_level_points", "to_level_label"
    ):
        history[standard_id].append((demonstrated or occurred, points, label))
    items: list[StandardProgress] = []
    for pk, code, statement, _framework in standards:
        chain = chains.get(pk, [])
        record = records.get(pk)
        events = sorted(history.get(pk, []), key=lambda event: event[0])
        self_score = self_scores.get(pk)
        items.append(
            StandardProgress(
                standard_id=pk,
                code=code or statement[:24],
                statement=statement,
                domain=domain_of(chain),
                required=pk in priorities,
                power=priorities.get(pk) == "power",
                record_id=record.pk if record else None,
                state=_state(record),
                level=_level(levels, record),
                score=record.score if record else None,
                evidence_count=record.evidence_count if record else 0,
                first_mastered_at=record.first_mastered_at if record else None,
                computed_at=record.computed_at if record else None,
                pending=pk in pending_ids,
                method=_method(explanations[record.pk]) if record else "",
                self_score=self_score,
                self_label=core.level_for(scale, self_score).label
                if self_score is not None
                else "",
                sparkline=charts.level_sparkline(
                    events, low=scale.min_points, high=scale.max_points
                ),
                override=override_note(explanations[record.pk]) if record else None,
            )
        )
    order = {
        pk: tuple(item.position for item in reversed(chains.get(pk, []))) for pk, *_ in standards
    }
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


def _state(record: MasteryRecord | None) -> str:
    if record is None:
        return NOT_ASSESSED
    if record.mastered:
        return MASTERED
    if record.state == MasteryState.INSUFFICIENT_EVIDENCE:
        return INSUFFICIENT
    if record.state == MasteryState.SCORED:
        return NOT_YET
    return NOT_ASSESSED


def _level(levels: list[GridLevel], record: MasteryRecord | None) -> GridLevel | None:
    if record is None or (record.level_points is None and not record.level_label):
        return None
    for level in levels:
        if level.points == record.level_points and level.label == record.level_label:
            return level
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
