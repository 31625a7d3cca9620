"""Writes of the moderation app: common tasks and their results, rounds, second ratings, closing.

Every service is keyword-only and atomic, takes the acting user, validates everything before
writing and raises ``ValidationError`` (naming the field) on bad input or ``PermissionDenied``
for a target outside the actor's scope; either way nothing is written.

- ``create_common_task``: an administrator shares a task with every school at or below their
  organisation.
- ``record_task_results``: a teacher records a section's results on a task, through
  ``evidence.services.record_ratings`` (ordinary teacher ratings), linked to the task.
- ``start_round``: an administrator draws the sample (``moderation.sampling``, seeded) and
  assigns each piece to a teacher outside the learner's sections.
- ``record_second_rating``: the assigned teacher rates a piece blind; kept apart, never counted.
- ``close_round``: an administrator closes the round, keeping the first ratings or adopting the
  moderated ones with a reason; each adopted rating supersedes the current one through
  ``evidence.services.supersede_rating``, the normal correction path, so the mastery record is
  marked stale and recomputed like any other rating.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from django.contrib.auth.models import AbstractBaseUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.recording import record_accesses
from evidence import selectors as evidence_selectors
from evidence import services as evidence_services
from evidence.models import EvidenceKind
from evidence.services import RatingEntry, RecordedRatings
from evidence.text import clean_line, clean_text
from learners.models import Learner, Organisation, Section, Term
from learners.selectors import administered_organisations, today, visible_terms
from moderation import sampling, selectors
from moderation.models import (
    CommonTask,
    CommonTaskEvidence,
    CommonTaskLevel,
    ModerationItem,
    ModerationRating,
    ModerationRound,
    RoundDecision,
    RoundStatus,
)
from standards.models import Standard
from standards.selectors import scale_for, standard_problem

logger = logging.getLogger(__name__)

TITLE_MAX: Final = 200
PROMPT_MAX: Final = 20_000
TEXT_MAX: Final = 5_000
REASON_MAX: Final = 2_000
MAX_STANDARDS: Final = 50
MAX_SAMPLE: Final = 1_000
MAX_SEED: Final = 2**62
CHANGE: Final = "record.change"  # the request audit's action for a change of learner records


def _active(actor: AbstractBaseUser | None) -> AbstractBaseUser:
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise PermissionDenied("Sign in to do this.")
    return actor


def _administers(actor: AbstractBaseUser, organisation: Organisation) -> None:
    if not administered_organisations(actor).filter(pk=organisation.pk).exists():
        raise PermissionDenied("You do not administer this organisation.")


def _title(value: str) -> str:
    title = clean_line(value or "")
    if not title:
        raise ValidationError({"title": "Give it a title."})
    if len(title) > TITLE_MAX:
        raise ValidationError({"title": f"Keep the title under {TITLE_MAX} characters."})
    return title


def _text(value: str, name: str, limit: int, *, required: str = "") -> str:
    if len(value or "") > limit:
        raise ValidationError({name: f"Keep it under {limit} characters."})
    text = clean_text(value or "")
    if required and not text:
        raise ValidationError({name: required})
    return text


def _standards(standards: Sequence[Standard], limit: int = MAX_STANDARDS) -> list[Standard]:
    unique = list(dict.fromkeys(standards))
    if not unique:
        raise ValidationError({"standards": "Choose at least one standard."})
    if len(unique) > limit:
        raise ValidationError({"standards": f"Choose at most {limit} standards."})
    for standard in unique:
        problem = standard_problem(standard)
        if problem:
            raise ValidationError({"standards": f"{problem}."})
    return unique


def _day_bounds(first: datetime.date, last: datetime.date) -> tuple[datetime.datetime, ...]:
    start = timezone.make_aware(datetime.datetime.combine(first, datetime.time.min))
    end = timezone.make_aware(
        datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time.min)
    )
    return start, end


# --- common tasks --------------------------------------------------------------------------------


@transaction.atomic
def create_common_task(
    *,
    actor: AbstractBaseUser,
    organisation: Organisation,
    title: str,
    prompt: str,
    standards: Sequence[Standard],
    opens_on: datetime.date,
    closes_on: datetime.date,
    level_descriptions: Mapping[Decimal, str] | None = None,
) -> CommonTask:
    """Share a task with every school at or below ``organisation`` (which the actor
    administers): its prompt, the standards it shows, what the work looks like at each level
    of the organisation's scale (``level_descriptions``: points -> text), and its window."""
    actor = _active(actor)
    _administers(actor, organisation)
    values = {
        "title": _title(title),
        "prompt": _text(prompt, "prompt", PROMPT_MAX, required="Write the task's prompt."),
    }
    chosen = _standards(standards, limit=20)
    if closes_on < opens_on:
        raise ValidationError({"closes_on": "The window closes before it opens."})
    scale = scale_for(organisation)
    labels = {Decimal(level.points): level.label for level in scale.levels}
    rubric: list[CommonTaskLevel] = []
    for points, text in (level_descriptions or {}).items():
        key = Decimal(points)
        if key not in labels:
            raise ValidationError({"levels": f"{key:g} is not a level of the scale."})
        description = _text(text, "levels", TEXT_MAX)
        if description:
            rubric.append(CommonTaskLevel(points=key, label=labels[key], description=description))
    task = CommonTask.objects.create(
        organisation=organisation,
        opens_on=opens_on,
        closes_on=closes_on,
        created_by_id=actor.pk,
        **values,
    )
    task.standards.set(chosen)
    for level in rubric:
        level.task = task
    CommonTaskLevel.objects.bulk_create(rubric)
    logger.info("common task created", extra={"task_id": task.pk})
    return task


@transaction.atomic
def record_task_results(
    *,
    actor: AbstractBaseUser,
    task: CommonTask,
    section: Section,
    demonstrated_at: datetime.date,
    entries: Sequence[RatingEntry],
) -> RecordedRatings:
    """A section's results on a common task: teacher ratings recorded the normal way (one
    evidence per learner, titled as the task, kind assessment), each evidence linked to the
    task. The section must be one the actor may change, at a school the task is shared with,
    and the day within the task's window."""
    actor = _active(actor)
    if not selectors.visible_tasks(actor).filter(pk=task.pk).exists():
        raise PermissionDenied("This task is not shared with you.")
    if not selectors.task_sections(actor, task).filter(pk=section.pk).exists():
        raise ValidationError({"section": "Choose one of your sections the task is shared with."})
    if not task.opens_on <= demonstrated_at <= task.closes_on:
        raise ValidationError(
            {
                "demonstrated_at": f"The task runs from {task.opens_on:%d %b %Y} to "
                f"{task.closes_on:%d %b %Y}: choose a day within it."
            }
        )
    allowed = set(task.standards.values_list("pk", flat=True))
    for index, entry in enumerate(entries):
        if entry.standard_id not in allowed:
            raise ValidationError({f"entries[{index}]": "Not a standard of this task."})
    recorded = evidence_services.record_ratings(
        actor=actor,
        entries=entries,
        title=task.title,
        demonstrated_at=demonstrated_at,
        kind=EvidenceKind.ASSESSMENT,
        section=section,
    )
    CommonTaskEvidence.objects.bulk_create(
        CommonTaskEvidence(task=task, evidence=item) for item in recorded.evidence
    )
    logger.info("task results", extra={"task_id": task.pk, "ratings": len(recorded.ratings)})
    return recorded


# --- rounds --------------------------------------------------------------------------------------


@transaction.atomic
def start_round(
    *,
    actor: AbstractBaseUser,
    organisation: Organisation,
    term: Term,
    title: str,
    standards: Sequence[Standard],
    sample_size: int,
    seed: int | None = None,
    common_task: CommonTask | None = None,
    reviewers: Sequence[User] | None = None,
    due_on: datetime.date | None = None,
) -> ModerationRound:
    """Draw a round's sample and assign its pieces.

    The population is every current teacher rating of ``standards`` on evidence demonstrated
    in ``term``, at schools at or below ``organisation`` (only evidence from ``common_task``
    when given); the sample is stratified by school and section and seeded (the same seed on
    the same population draws the same pieces; without one, a random seed is chosen and
    kept). Each piece goes to one of ``reviewers`` (default: every current teacher at or below
    the organisation) who is neither its first rater nor a teacher of the learner's sections,
    the load spread evenly. ``ValidationError`` names the field when nothing can be drawn or a
    piece has nobody to review it."""
    actor = _active(actor)
    _administers(actor, organisation)
    if not visible_terms(actor).filter(pk=term.pk).exists():
        raise ValidationError({"term": "Choose one of your terms."})
    values_title = _title(title)
    chosen = _standards(standards)
    if isinstance(sample_size, bool) or not 1 <= sample_size <= MAX_SAMPLE:
        raise ValidationError({"sample_size": f"Sample between 1 and {MAX_SAMPLE} pieces."})
    if seed is None:
        seed = secrets.randbelow(2**31)
    elif isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ValidationError({"seed": "The seed is a whole number from 0."})
    if (
        common_task is not None
        and not selectors.visible_tasks(actor).filter(pk=common_task.pk).exists()
    ):
        raise ValidationError({"common_task": "Choose one of the tasks shared with you."})
    if due_on is not None and due_on < today():
        raise ValidationError({"due_on": "The due day is in the past."})
    pool = selectors.eligible_reviewers(organisation)
    if reviewers is None:
        reviewer_ids = list(pool.values_list("pk", flat=True))
    else:
        reviewer_ids = sorted({user.pk for user in reviewers})
        allowed = set(pool.filter(pk__in=reviewer_ids).values_list("pk", flat=True))
        if set(reviewer_ids) - allowed:
            raise ValidationError(
                {"reviewers": "Choose reviewers among the teachers of this organisation."}
            )
    if not reviewer_ids:
        raise ValidationError({"reviewers": "No teacher of this organisation can review."})

    start, end = _day_bounds(term.start_date, term.end_date)
    population = selectors.scored_population(
        organisation=organisation,
        start=start,
        end=end,
        standard_ids=[standard.pk for standard in chosen],
        task=common_task,
    )
    if not population:
        raise ValidationError(
            {"standards": "No scored evidence of these standards in this term: nothing to draw."}
        )
    by_rating = {piece.rating_id: piece for piece in population}
    sample = sampling.draw_sample(
        [
            sampling.Candidate((piece.school_id, piece.section_id or 0), piece.rating_id)
            for piece in population
        ],
        sample_size,
        seed,
    )
    pieces = [by_rating[candidate.id] for candidate in sample]
    by_learner, by_section = selectors.teachers_of_learners(
        {piece.learner_id for piece in pieces},
        {piece.section_id for piece in pieces if piece.section_id is not None},
    )
    try:
        assigned = sampling.assign_reviewers(
            [
                (
                    position,
                    frozenset(
                        {piece.rater_id}
                        | by_learner.get(piece.learner_id, set())
                        | by_section.get(piece.section_id or 0, set())
                    ),
                )
                for position, piece in enumerate(pieces, start=1)
            ],
            reviewer_ids,
            seed,
        )
    except sampling.NoReviewer as error:
        raise ValidationError(
            {
                "reviewers": f"Nobody outside the learner's classes can review piece "
                f"{error.piece}: add reviewers who teach other classes."
            }
        ) from error
    round_ = ModerationRound.objects.create(
        organisation=organisation,
        term=term,
        title=values_title,
        common_task=common_task,
        sample_size=sample_size,
        seed=seed,
        population=len(population),
        due_on=due_on,
        created_by_id=actor.pk,
    )
    round_.standards.set(chosen)
    ModerationItem.objects.bulk_create(
        ModerationItem(
            round=round_,
            position=position,
            rating_id=piece.rating_id,
            evidence_id=piece.evidence_id,
            learner_id=piece.learner_id,
            standard_id=piece.standard_id,
            school_id=piece.school_id,
            section_id=piece.section_id,
            first_rater_id=piece.rater_id,
            reviewer_id=assigned[position],
        )
        for position, piece in enumerate(pieces, start=1)
    )
    logger.info(
        "moderation round started",
        extra={"round_id": round_.pk, "pieces": len(pieces), "population": len(population)},
    )
    return round_


@transaction.atomic
def record_second_rating(
    *, actor: AbstractBaseUser, item: ModerationItem, score: Decimal | int | str, comment: str = ""
) -> ModerationRating:
    """The assigned reviewer's blind rating of a piece (a new one replaces their earlier one;
    both are kept). Only while the round is open. It never counts toward mastery."""
    actor = _active(actor)
    locked = (
        ModerationItem.objects.select_for_update(of=("self",))
        .select_related("round")
        .filter(pk=item.pk)
        .first()
    )
    if locked is None or locked.reviewer_id != actor.pk:
        raise PermissionDenied("This piece is not yours to review.")
    if locked.round.status != RoundStatus.OPEN:
        raise ValidationError({"score": "This round is closed."})
    school = Learner.objects.filter(pk=locked.learner_id).values_list("school_id", flat=True)
    low, high = evidence_selectors.score_range_for(school.get())
    try:
        checked = evidence_services.parse_score(score, low=low, high=high)
    except ValueError as exc:
        raise ValidationError({"score": f"{exc}."}) from exc
    second = ModerationRating.objects.create(
        item=locked,
        score=checked,
        comment=_text(comment, "comment", TEXT_MAX),
        rated_by_id=actor.pk,
        rated_at=timezone.now(),
    )
    logger.info("second rating", extra={"item_id": locked.pk})
    return second


@dataclass
class ClosedRound:
    """What closing a round did: the pieces whose moderated rating was adopted, those already
    rated the same, and those left alone with the reason (``(position, reason)``)."""

    round: ModerationRound
    adopted: list[ModerationItem] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)


@transaction.atomic
def close_round(
    *,
    actor: AbstractBaseUser,
    round_: ModerationRound,
    decision: str,
    reason: str = "",
    item_ids: Collection[int] | None = None,
) -> ClosedRound:
    """Close an open round. ``keep``: the first ratings stand, the second ones stay apart.
    ``adopt`` (a reason is required): for each rated piece (or those of ``item_ids``) whose
    second rating differs from the current rating of its standard on the evidence, that rating
    is superseded by the moderated score through ``evidence.services.supersede_rating``, with
    the reason as its comment; the mastery record recomputes as after any correction."""
    actor = _active(actor)
    _administers(actor, round_.organisation)
    locked = ModerationRound.objects.select_for_update().get(pk=round_.pk)
    if locked.status != RoundStatus.OPEN:
        raise ValidationError({"decision": "This round is already closed."})
    if decision not in RoundDecision.values:
        raise ValidationError(
            {"decision": "Choose to keep the first ratings or adopt the moderated ones."}
        )
    text = _text(reason, "reason", REASON_MAX)
    if decision == RoundDecision.ADOPT and not text:
        raise ValidationError({"reason": "Say why the moderated ratings are adopted."})
    items = list(
        ModerationItem.objects.select_for_update(of=("self",))
        .filter(round=locked)
        .annotate(second_id=selectors.latest_second_rating())
        .order_by("position")
    )
    if item_ids is not None:
        if decision != RoundDecision.ADOPT:
            raise ValidationError({"items": "Choose pieces only when adopting."})
        known = {item.pk for item in items}
        unknown = sorted(set(item_ids) - known)
        if unknown:
            raise ValidationError({"items": f"Piece {unknown[0]} is not in this round."})
        items = [item for item in items if item.pk in set(item_ids)]
    outcome = ClosedRound(round=locked)
    if decision == RoundDecision.ADOPT:
        seconds = ModerationRating.objects.in_bulk([i.second_id for i in items if i.second_id])
        for item in items:
            if item.second_id is None:
                outcome.skipped.append((item.position, "no second rating"))
                continue
            _adopt(actor, locked, item, seconds[item.second_id], text, outcome)
    if outcome.adopted:
        _audit_adoptions(actor, locked, outcome.adopted)
    locked.status = RoundStatus.CLOSED
    locked.decision = decision
    locked.reason = text
    locked.closed_by_id = actor.pk
    locked.closed_at = timezone.now()
    locked.save(update_fields=["status", "decision", "reason", "closed_by", "closed_at"])
    logger.info(
        "moderation round closed",
        extra={"round_id": locked.pk, "decision": decision, "adopted": len(outcome.adopted)},
    )
    return outcome


def _audit_adoptions(
    actor: AbstractBaseUser, round_: ModerationRound, adopted: list[ModerationItem]
) -> None:
    """One audit entry per learner whose rating an adoption corrected (one statement)."""
    learners = ModerationItem.objects.filter(pk__in=[item.pk for item in adopted]).values(
        learner_ref=F("learner_id")
    )
    sql, params = learners.query.sql_with_params()
    record_accesses(
        actor=actor,
        action=CHANGE,
        allowed=True,
        learner_ids_sql=sql,
        params=params,
        object_type="moderation.moderationround",
        object_id=round_.pk,
        detail={"change": "moderated rating adopted", "pieces": len(adopted)},
    )


def _adopt(
    actor: AbstractBaseUser,
    round_: ModerationRound,
    item: ModerationItem,
    second: ModerationRating,
    reason: str,
    outcome: ClosedRound,
) -> None:
    current = selectors.rating_for_adoption(item)
    if current is None:
        outcome.skipped.append((item.position, "the rating was removed"))
        return
    if current.score == second.score:
        outcome.unchanged += 1
        return
    try:
        adopted = evidence_services.supersede_rating(
            actor=actor,
            rating=current,
            score=second.score,
            comment=f"Moderated rating adopted ({round_.title}): {reason}",
        )
    except PermissionDenied:
        outcome.skipped.append((item.position, "the learner is no longer in your organisation"))
        return
    item.adopted_rating = adopted
    item.save(update_fields=["adopted_rating"])
    outcome.adopted.append(item)
