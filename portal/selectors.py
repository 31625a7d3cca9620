"""Reads of the learners' and families' pages: a learner's progress in plain words, their pace,
what to work on next, how well they judge their own work, their goals.

Levels, states, counts and first-mastered dates come from what the mastery core keeps
(``mastery.progress.learner_progress`` reads the records, requirements and scale); the pace rule
is the school report's (``reports.school_report``); nothing here recomputes mastery. The
caller checks the viewer may see the learner.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from evidence.models import EvidenceRemoval, EvidenceStatus, Rating, RatingSource
from evidence.selectors import current_rating_sql, learner_evidence, own_evidence
from learners.models import Learner, Term
from learners.selectors import AnyUser, profile_of
from mastery import progress as mastery_progress
from mastery.grid import INSUFFICIENT, MASTERED, NOT_ASSESSED, NOT_YET
from mastery.models import MasteryRecord
from mastery.selectors import stored_explanations
from notifications.models import Notification
from portal import plain
from portal.models import Goal, GoalStatus
from reports.school_report import elapsed_share, on_pace
from standards.models import Association, Standard, StandardStatus

_PLAIN_STATE = {
    MASTERED: plain.MASTERED,
    NOT_YET: plain.NOT_YET,
    INSUFFICIENT: plain.INSUFFICIENT,
    NOT_ASSESSED: plain.NOT_ASSESSED,
}


@dataclass(frozen=True)
class Calibration:
    """How a learner's self-ratings compare with their teachers' scores of the same work."""

    pairs: int
    gap: Decimal | None  # mean of (self-rating - teacher's score); None without pairs

    @property
    def words(self) -> str:
        if self.gap is None:
            return _("No self-rating beside a teacher's score yet.")
        if abs(self.gap) < Decimal("0.25"):
            return _("Self-ratings match the teachers' scores (%(count)s compared).") % {
                "count": self.pairs
            }
        gap = abs(self.gap)
        values = {"gap": plain.number(gap), "count": self.pairs}
        one = 1 if gap == 1 else 2  # "1 point", "0.5 points", "2 points"
        if self.gap > 0:
            return (
                ngettext(
                    "Self-ratings are on average %(gap)s point higher than the teachers' scores "
                    "(%(count)s compared).",
                    "Self-ratings are on average %(gap)s points higher than the teachers' scores "
                    "(%(count)s compared).",
                    one,
                )
                % values
            )
        return (
            ngettext(
                "Self-ratings are on average %(gap)s point lower than the teachers' scores "
                "(%(count)s compared).",
                "Self-ratings are on average %(gap)s points lower than the teachers' scores "
                "(%(count)s compared).",
                one,
            )
            % values
        )


@dataclass(frozen=True)
class MonthCalibration:
    month: datetime.date
    calibration: Calibration

    @property
    def label(self) -> str:
        from django.utils import formats

        return str(formats.date_format(self.month, "YEAR_MONTH_FORMAT"))


@dataclass(frozen=True)
class StandardCard:
    standard_id: int
    code: str
    statement: str
    domain: str
    required: bool
    power: bool
    state: str
    level_index: int | None
    plain: plain.Plain
    self_label: str
    calibration: Calibration
    first_mastered: str
    pending: bool


@dataclass(frozen=True)
class Projection:
    required: int
    mastered: int
    on_pace: bool
    projected: datetime.date | None  # at the current rate; None before a first mastery

    @property
    def done(self) -> bool:
        return self.required > 0 and self.mastered >= self.required


@dataclass(frozen=True)
class NextStep:
    code: str
    statement: str
    reason: str


@dataclass
class LearnerView:
    learner: Learner
    progress: mastery_progress.LearnerProgress
    cards: list[StandardCard]
    required: Projection | None
    power: Projection | None
    next_steps: list[NextStep]
    calibration: Calibration
    calibration_by_month: list[MonthCalibration]
    goals: list[Goal]
    returned: list[object] = field(default_factory=list)
    term_end: datetime.date | None = None
    own: bool = False

    @property
    def domains(self) -> list[tuple[str, list[StandardCard]]]:
        grouped: dict[str, list[StandardCard]] = defaultdict(list)
        for card in self.cards:
            grouped[card.domain].append(card)
        return list(grouped.items())


def _projection(
    required: int, mastered: int, term: Term | None, day: datetime.date
) -> Projection | None:
    """Progress toward ``required`` standards by the end of the term: on pace by the school
    report's rule, and the day the rest would be mastered at the rate so far."""
    if not required or term is None:
        return None
    projected: datetime.date | None = None
    if mastered >= required:
        projected = day
    elif mastered > 0:
        elapsed = max((day - term.start_date).days + 1, 1)
        per_day = mastered / elapsed
        projected = day + datetime.timedelta(days=round((required - mastered) / per_day))
    return Projection(
        required, mastered, on_pace(mastered, required, elapsed_share(term, day)), projected
    )


_LATEST = "ORDER BY r.demonstrated_at DESC, r.recorded_at DESC, r.id DESC"
_CALIBRATION_SQL = (
    "SELECT p.standard_id, p.own, p.teacher, p.demonstrated FROM ("  # noqa: S608
    f" SELECT r.evidence_id, r.standard_id,"
    f" (array_agg(r.score {_LATEST}) FILTER (WHERE r.source = %(self)s))[1] AS own,"
    f" (array_agg(r.score {_LATEST}) FILTER (WHERE r.source = %(teacher)s))[1] AS teacher,"
    f" (array_agg(r.demonstrated_at {_LATEST}))[1] AS demonstrated"
    f" FROM {Rating._meta.db_table} r WHERE r.learner_id = %(learner)s"
    f" AND r.source IN (%(self)s, %(teacher)s) AND {current_rating_sql('r')}"
    f" AND NOT EXISTS (SELECT 1 FROM {EvidenceRemoval._meta.db_table} x"
    f"  WHERE x.evidence_id = r.evidence_id)"
    f" GROUP BY r.evidence_id, r.standard_id"
    f" HAVING bool_or(r.source = %(self)s) AND bool_or(r.source = %(teacher)s)) p"
    f" ORDER BY p.evidence_id, p.standard_id"
)


def calibration_of(
    learner: Learner,
) -> tuple[dict[int, Calibration], Calibration, list[MonthCalibration]]:
    """Self-ratings beside the teachers' scores of the same evidence and standard (current
    ratings only): per standard, overall, and per month of the work."""
    # Each (evidence, standard) with both a self-rating and a teacher's score, paired in SQL: the
    # latest of each source (``Rating``'s order), when the latest of the two was demonstrated.
    # One row per self-rating at most, whatever the learner's number of teachers' ratings.
    with connection.cursor() as cursor:
        cursor.execute(
            _CALIBRATION_SQL,
            {"learner": learner.pk, "self": RatingSource.SELF, "teacher": RatingSource.TEACHER},
        )
        pairs = cursor.fetchall()
    gaps_by_standard: dict[int, list[Decimal]] = defaultdict(list)
    gaps_by_month: dict[datetime.date, list[Decimal]] = defaultdict(list)
    everything: list[Decimal] = []
    for standard_id, own, teacher, demonstrated in pairs:
        gap = own - teacher
        gaps_by_standard[standard_id].append(gap)
        local = timezone.localtime(demonstrated).date()
        gaps_by_month[local.replace(day=1)].append(gap)
        everything.append(gap)

    def summary(gaps: list[Decimal]) -> Calibration:
        if not gaps:
            return Calibration(0, None)
        return Calibration(len(gaps), (sum(gaps, Decimal(0)) / len(gaps)).quantize(Decimal("0.01")))

    return (
        {standard_id: summary(gaps) for standard_id, gaps in gaps_by_standard.items()},
        summary(everything),
        [MonthCalibration(month, summary(gaps_by_month[month])) for month in sorted(gaps_by_month)],
    )


def _next_steps(
    cards: list[StandardCard], mastered_ids: set[int], name: str | None, limit: int = 5
) -> list[NextStep]:
    """Power standards not mastered, then what the framework's ``precedes`` links lead to;
    worded for the learner (``name`` None) or about them (their given name, for families)."""
    steps: list[NextStep] = []
    if name is None:
        not_yet = _("A power standard you have not mastered yet.")
    else:
        not_yet = _("A power standard %(name)s has not mastered yet.") % {"name": name}
    order = {NOT_YET: 0, INSUFFICIENT: 1, NOT_ASSESSED: 2}
    for card in sorted(
        (c for c in cards if c.power and c.state != MASTERED),
        key=lambda c: (order.get(c.state, 3), c.code),
    ):
        steps.append(NextStep(card.code, card.statement, not_yet))
    seen = {card.standard_id for card in cards if card.power}
    following = (
        Association.objects.filter(
            association_type="precedes",
            origin_id__in=mastered_ids,
            destination__status=StandardStatus.ACTIVE,
            destination__is_grouping=False,
        )
        .exclude(destination_id__in=mastered_ids)
        .select_related("origin", "destination")
        .order_by("sequence_number", "destination__human_code")[: limit * 2]
    )
    for link in following:
        if link.destination is None or link.origin is None or link.destination.pk in seen:
            continue
        seen.add(link.destination.pk)
        code = link.origin.human_code or link.origin.statement[:40]
        if name is None:
            why = _("Comes next after %(code)s, which you mastered.") % {"code": code}
        else:
            why = _("Comes next after %(code)s, which %(name)s mastered.") % {
                "code": code,
                "name": name,
            }
        steps.append(
            NextStep(
                link.destination.human_code or link.destination.statement[:40],
                link.destination.statement,
                why,
            )
        )
    return steps[: limit * 2]


def learner_view(
    learner: Learner, *, viewer: AnyUser, today: datetime.date | None = None
) -> LearnerView:
    """Everything the plain learner page and the learner's home show (a fixed number of
    queries whatever the number of standards)."""
    day = today or timezone.localdate()
    progress = mastery_progress.learner_progress(learner, today=day)
    items = progress.standards
    records = list(MasteryRecord.objects.filter(pk__in=[i.record_id for i in items if i.record_id]))
    stored = stored_explanations(records)
    explanations = {record.standard_id: stored[record.pk] for record in records}
    levels = [
        plain.ScaleLevel(level.label, level.points, level.cut_point)
        for level in progress.scale.levels
    ]
    threshold = progress.scale.mastery_threshold
    per_standard, overall, by_month = calibration_of(learner)
    own = learner.user_id is not None and learner.user_id == getattr(viewer, "pk", None)
    cards = [
        StandardCard(
            standard_id=item.standard_id,
            code=item.code,
            statement=item.statement,
            domain=item.domain.label,
            required=item.required,
            power=item.power,
            state=item.state,
            level_index=item.level.index if item.level is not None else None,
            plain=plain.explain(
                state=_PLAIN_STATE[item.state],
                level_label=item.level.label if item.level is not None else "",
                score=item.score,
                evidence_count=item.evidence_count,
                explanation=explanations.get(item.standard_id, {}),
                levels=levels,
                threshold=threshold,
                own=own,
            ),
            self_label=item.self_label,
            calibration=per_standard.get(item.standard_id, Calibration(0, None)),
            first_mastered=plain.day(item.first_mastered_at),
            pending=item.pending,
        )
        for item in items
    ]
    term = progress.term
    mastered_ids = {card.standard_id for card in cards if card.state == MASTERED}
    returned: list[object] = []
    if own:
        returned = list(
            own_evidence(viewer).filter(Q(status=EvidenceStatus.RETURNED)).order_by("-recorded_at")
        )
    return LearnerView(
        learner=learner,
        progress=progress,
        cards=cards,
        required=_projection(progress.required, progress.mastered_required, term, day),
        power=_projection(progress.power, progress.mastered_power, term, day),
        next_steps=_next_steps(cards, mastered_ids, None if own else learner.given_name),
        calibration=overall,
        calibration_by_month=by_month,
        goals=list(Goal.objects.filter(learner_id=learner.pk)),
        returned=returned,
        term_end=term.end_date if term is not None else None,
        own=own,
    )


def goal_standards(goals: list[Goal]) -> dict[int, str]:
    """Codes of the standards the goals name (one query)."""
    ids = {pk for goal in goals for pk in goal.standard_ids}
    return {
        pk: code or statement[:40]
        for pk, code, statement in Standard.objects.filter(pk__in=ids).values_list(
            "pk", "human_code", "statement"
        )
    }


def open_goals(learner: Learner) -> list[Goal]:
    return list(Goal.objects.filter(learner_id=learner.pk, status=GoalStatus.WORKING))


def recent_notifications(user: AnyUser, limit: int = 5) -> list[Notification]:
    return list(
        Notification.objects.filter(recipient_id=user.pk, in_app=True).order_by(
            "-created_at", "-id"
        )[:limit]
    )


def learner_page_context(viewer: AnyUser, learner: Learner) -> dict[str, Any]:
    """The context of ``portal/learner.html``: the learner's progress in plain words for a
    student (their own) or a family member. The caller checked the viewer sees the learner."""
    view = learner_view(learner, viewer=viewer)
    return {
        "view": view,
        "learner": learner,
        "own": view.own,
        "goal_standards": goal_standards(view.goals),
        "evidence": list(learner_evidence(viewer, learner)[:10]),
        "profile": profile_of(learner),
    }
