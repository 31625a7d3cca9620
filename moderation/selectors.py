"""Reads of the moderation app: rounds, blind pieces, agreement, common tasks, all scoped.

Who sees what (scopes come from ``learners.selectors``; anything else answers 404):

- a round, its sample, its agreement by rater pair (with names) and its disagreements: the
  administrators of its organisation (``administered_rounds``);
- a sampled piece: only the teacher it was assigned to (``assigned_items``), blind: the work,
  its reflection and the standard, never the learner's name, the first rating or who gave it
  (``blind_piece``);
- a teacher's own agreement beside their rounds' overall figure, never another teacher's by
  name (``teacher_agreement``);
- common tasks: staff who see the task's organisation (``visible_tasks``); changed by its
  administrators (``administered_tasks``).
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from evidence import uploads
from evidence.models import Artifact, ArtifactKind, EvidenceRemoval, Rating, RatingSource
from evidence.selectors import current_ratings, scale_levels_for
from learners.models import (
    DemographicsImport,
    Enrollment,
    Learner,
    LearnerDemographics,
    Organisation,
    RoleAssignment,
    RoleKind,
    Section,
)
from learners.selectors import (
    AnyUser,
    administered_organisations,
    changeable_sections,
    current_q,
    descendants_of,
    taught_sections,
)
from mastery import core
from mastery.core import Agreement, Scale, agreement, engine_scale, level_position
from moderation.blind import LearnerNames
from moderation.models import (
    CommonTask,
    CommonTaskEvidence,
    ModerationItem,
    ModerationRating,
    ModerationRound,
    RoundStatus,
)
from standards.selectors import scale_for

_MAX_PK = 2**63 - 1
# A disagreement worth a calibration meeting: two levels or more apart.
CALIBRATION_LEVELS = 2


def _active(user: AnyUser | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def _pk(value: object) -> int:
    text = str(value)
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_PK:
        raise Http404("Not found.")
    return int(text)


def _one[M: (ModerationRound, ModerationItem, CommonTask)](queryset: QuerySet[M], pk: object) -> M:
    try:
        return queryset.get(pk=_pk(pk))
    except queryset.model.DoesNotExist as exc:
        raise Http404("Not found.") from exc


# --- rounds (administrators) ---------------------------------------------------------------------


def administered_rounds(user: AnyUser | None) -> QuerySet[ModerationRound]:
    """Rounds of organisations the user administers, newest first, with their progress:
    ``item_count`` pieces, ``rated_count`` with a second rating."""
    if not _active(user):
        return ModerationRound.objects.none()
    return (
        ModerationRound.objects.filter(organisation__in=administered_organisations(user))
        .select_related("organisation", "term", "common_task")
        .annotate(
            item_count=Count("items", distinct=True),
            rated_count=Count("items__ratings__item", distinct=True),
        )
        .order_by("-created_at", "-pk")
    )


def get_administered_round_or_404(user: AnyUser | None, pk: object) -> ModerationRound:
    return _one(administered_rounds(user), pk)


def may_run_rounds(user: AnyUser | None) -> bool:
    """Administrators (of any organisation) and the operator start and close rounds."""
    return _active(user) and administered_organisations(user).exists()


def eligible_reviewers(organisation: Organisation) -> QuerySet[User]:
    """Active users teaching a current section of a school at or below ``organisation``."""
    teaching = RoleAssignment.objects.filter(
        current_q(),
        kind=RoleKind.TEACHER,
        section__school__in=descendants_of(organisation),
    ).values("user_id")
    return User.objects.filter(pk__in=teaching, is_active=True).order_by(
        "last_name", "first_name", "username", "pk"
    )


@dataclass(frozen=True)
class ScoredPiece:
    """One first teacher rating a round may draw (population row)."""

    rating_id: int
    evidence_id: int
    learner_id: int
    standard_id: int
    school_id: int
    section_id: int | None
    rater_id: int


def scored_population(
    *,
    organisation: Organisation,
    start: datetime.datetime,
    end: datetime.datetime,
    standard_ids: Sequence[int],
    task: CommonTask | None = None,
) -> list[ScoredPiece]:
    """Current teacher ratings (not superseded, not removed, by a teacher: no imports,
    overrides or self-ratings) of ``standard_ids`` on evidence demonstrated in [start, end),
    not removed, of active learners at schools at or below ``organisation``; only evidence
    recorded from ``task`` when given. Ordered by rating id."""
    ratings = (
        current_ratings()
        .filter(
            source=RatingSource.TEACHER,
            standard_id__in=list(standard_ids),
            demonstrated_at__gte=start,
            demonstrated_at__lt=end,
            learner__active=True,
            learner__school__in=descendants_of(organisation),
        )
        .exclude(Exists(EvidenceRemoval.objects.filter(evidence_id=OuterRef("evidence_id"))))
    )
    if task is not None:
        ratings = ratings.filter(
            evidence_id__in=CommonTaskEvidence.objects.filter(task=task).values("evidence_id")
        )
    rows = ratings.order_by("pk").values_list(
        "pk",
        "evidence_id",
        "learner_id",
        "standard_id",
        "learner__school_id",
        "evidence__section_id",
        "rater_id",
    )
    return [ScoredPiece(*row) for row in rows]


def teachers_of_learners(
    learner_ids: Iterable[int], section_ids: Iterable[int]
) -> tuple[dict[int, set[int]], dict[int, set[int]]]:
    """Who may not review a learner's work: the current teachers of the sections each learner
    is currently enrolled in (learner -> users), and every teacher ever assigned to each
    section the evidence was recorded in (section -> users). Three queries."""
    sections_of: dict[int, set[int]] = defaultdict(set)
    enrolled = Enrollment.objects.filter(current_q(), learner_id__in=list(learner_ids))
    for learner_id, section_id in enrolled.values_list("learner_id", "section_id"):
        sections_of[section_id].add(learner_id)
    by_learner: dict[int, set[int]] = defaultdict(set)
    current = RoleAssignment.objects.filter(
        current_q(), kind=RoleKind.TEACHER, section_id__in=list(sections_of)
    ).values_list("section_id", "user_id")
    for section_id, user_id in current:
        for learner_id in sections_of[section_id]:
            by_learner[learner_id].add(user_id)
    by_section: dict[int, set[int]] = defaultdict(set)
    ever = RoleAssignment.objects.filter(
        kind=RoleKind.TEACHER, section_id__in=list(section_ids)
    ).values_list("section_id", "user_id")
    for section_id, user_id in ever:
        by_section[section_id].add(user_id)
    return by_learner, by_section


# --- the reviewer's pieces (blind) ----------------------------------------------------------------


def latest_second_rating() -> Subquery:
    """The id of an item's current second rating (the latest), for annotations."""
    return Subquery(
        ModerationRating.objects.filter(item_id=OuterRef("pk"))
        .order_by("-rated_at", "-id")
        .values("pk")[:1]
    )


def assigned_items(user: AnyUser | None) -> QuerySet[ModerationItem]:
    """The pieces assigned to the user as second rater, in their rounds' order, with
    ``second_id`` (their current second rating, if any). Nobody else's, whatever the role."""
    if not _active(user):
        return ModerationItem.objects.none()
    assert user is not None
    return (
        ModerationItem.objects.filter(reviewer_id=user.pk)
        .select_related("round", "standard")
        .annotate(second_id=latest_second_rating())
        .order_by("-round__created_at", "round_id", "position")
    )


def waiting(items: QuerySet[ModerationItem]) -> QuerySet[ModerationItem]:
    """The items without a second rating yet, in open rounds."""
    return items.filter(
        ~Exists(ModerationRating.objects.filter(item_id=OuterRef("pk"))),
        round__status=RoundStatus.OPEN,
    )


def get_assigned_item_or_404(user: AnyUser | None, pk: object) -> ModerationItem:
    return _one(assigned_items(user), pk)


@dataclass(frozen=True)
class BlindArtifact:
    """A file or link of the piece, named by its number, never by its original name."""

    number: int
    kind: str
    size: int | None
    content_type: str
    url: str  # a link's address; blank for a file or a withheld link
    withheld: bool


@dataclass(frozen=True)
class BlindPiece:
    """Everything a blind reviewer sees of a piece: the work and the standard, no one's name."""

    item_id: int
    position: int
    round_title: str
    round_open: bool
    standard_code: str
    standard_statement: str
    kind: str
    title: str
    description: str
    demonstrated_on: datetime.date
    artifacts: list[BlindArtifact]
    reflection: list[tuple[str, str]]
    levels: list[tuple[Decimal, str]]
    task_title: str
    task_prompt: str
    task_levels: list[tuple[Decimal, str, str]]
    second: ModerationRating | None


_PROMPTS = (
    ("what_i_learned", "What did I learn?"),
    ("how_i_got_there", "How did I get there?"),
    ("how_i_showed_it", "How did I show it?"),
    ("how_i_will_use_it", "How will I use it?"),
)


def piece_artifacts(item: ModerationItem) -> list[Artifact]:
    """The piece's files and links in the order they were attached (numbered from 1)."""
    return list(Artifact.objects.filter(evidence_id=item.evidence_id).order_by("created_at", "pk"))


_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,8})$")


def open_piece_file(item: ModerationItem, number: int) -> tuple[IO[bytes], str, str]:
    """File ``number`` of a piece (as ``blind_piece`` numbers them): an open handle, a name
    that says nothing of its author (``piece-3-file-1.pdf``) and its detected type."""
    artifacts = piece_artifacts(item)
    if not 1 <= number <= len(artifacts) or artifacts[number - 1].kind != ArtifactKind.FILE:
        raise Http404("Not found.")
    artifact = artifacts[number - 1]
    found = _EXTENSION.search(artifact.original_name)
    name = f"piece-{item.position}-file-{number}" + (f".{found.group(1)}" if found else "")
    try:
        handle = uploads.open_stored(artifact.storage_name)
    except (OSError, ValueError) as exc:
        raise Http404("Not found.") from exc
    return handle, name, artifact.content_type


def blind_piece(item: ModerationItem) -> BlindPiece:
    """The piece as its reviewer sees it. Reads the learner's names only to hide them."""
    evidence = item.evidence
    learner = Learner.objects.only("given_name", "family_name", "preferred_name", "school_id").get(
        pk=item.learner_id
    )
    names = LearnerNames([learner.given_name, learner.family_name, learner.preferred_name])
    artifacts = []
    for number, artifact in enumerate(piece_artifacts(item), start=1):
        withheld = artifact.kind == ArtifactKind.LINK and names.in_address(artifact.url)
        artifacts.append(
            BlindArtifact(
                number=number,
                kind=artifact.kind,
                size=artifact.size,
                content_type=artifact.content_type,
                url=artifact.url if artifact.kind == ArtifactKind.LINK and not withheld else "",
                withheld=withheld,
            )
        )
    reflection = evidence.reflections.order_by("-created_at", "-id").first()
    answers = (
        [(prompt, names.text(getattr(reflection, name))) for name, prompt in _PROMPTS]
        if reflection is not None
        else []
    )
    task = getattr(getattr(evidence, "common_task_link", None), "task", None)
    second = ModerationRating.objects.filter(item_id=item.pk).order_by("-rated_at", "-id").first()
    return BlindPiece(
        item_id=item.pk,
        position=item.position,
        round_title=item.round.title,
        round_open=item.round.status == RoundStatus.OPEN,
        standard_code=item.standard.human_code or item.standard.identifier,
        standard_statement=item.standard.statement,
        kind=evidence.get_kind_display(),
        title=names.text(evidence.title),
        description=names.text(evidence.description),
        demonstrated_on=timezone.localtime(evidence.demonstrated_at).date(),
        artifacts=artifacts,
        reflection=answers,
        levels=scale_levels_for(learner.school),
        task_title=task.title if task is not None else "",
        task_prompt=task.prompt if task is not None else "",
        task_levels=[(lv.points, lv.label, lv.description) for lv in task.levels.all()]
        if task is not None
        else [],
        second=second,
    )


# --- agreement -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatedPair:
    """A piece with both ratings, as level positions on the learner's school's scale."""

    item_id: int
    round_id: int
    position: int
    evidence_id: int
    standard_id: int
    school_id: int
    first_rater_id: int
    reviewer_id: int
    first_score: Decimal
    second_score: Decimal
    first: int
    second: int
    categories: int
    first_label: str
    second_label: str

    @property
    def apart(self) -> int:
        return abs(self.first - self.second)


class _Scales:
    """Engine scales per school, each read once."""

    def __init__(self) -> None:
        self._scales: dict[int, Scale] = {}

    def of(self, school_id: int) -> Scale:
        if school_id not in self._scales:
            self._scales[school_id] = engine_scale(scale_for(school_id))
        return self._scales[school_id]


def rated_pairs(items: QuerySet[ModerationItem]) -> list[RatedPair]:
    """The items that have a second rating, with both ratings placed on the scale."""
    current = ModerationRating.objects.filter(item_id=OuterRef("pk")).order_by("-rated_at", "-id")
    rows = (
        items.annotate(second=Subquery(current.values("score")[:1]))
        .filter(second__isnull=False)
        .order_by("round_id", "position")
        .values_list(
            "pk",
            "round_id",
            "position",
            "evidence_id",
            "standard_id",
            "school_id",
            "first_rater_id",
            "reviewer_id",
            "rating__score",
            "second",
        )
    )
    scales = _Scales()
    out = []
    for pk, round_id, position, evidence_id, standard_id, school_id, first_by, by, a, b in rows:
        scale = scales.of(school_id)
        out.append(
            RatedPair(
                item_id=pk,
                round_id=round_id,
                position=position,
                evidence_id=evidence_id,
                standard_id=standard_id,
                school_id=school_id,
                first_rater_id=first_by,
                reviewer_id=by,
                first_score=a,
                second_score=b,
                first=level_position(scale, a),
                second=level_position(scale, b),
                categories=len(scale.levels),
                first_label=core.engine_level(scale, a).label,
                second_label=core.engine_level(scale, b).label,
            )
        )
    return out


def agreement_of(pairs: Sequence[RatedPair]) -> Agreement:
    """Agreement over pairs; a mix of scales is compared on the widest one's positions."""
    categories = max((pair.categories for pair in pairs), default=2)
    return agreement(((pair.first, pair.second) for pair in pairs), max(categories, 2))


@dataclass(frozen=True)
class AgreementRow:
    """Agreement of one group (a standard, a school, a pair of raters)."""

    label: str
    result: Agreement


def _grouped[K: Hashable](
    pairs: Sequence[RatedPair], key: Callable[[RatedPair], K], label: Callable[[K], str]
) -> list[AgreementRow]:
    groups: dict[K, list[RatedPair]] = defaultdict(list)
    for pair in pairs:
        groups[key(pair)].append(pair)
    rows = [AgreementRow(label(k), agreement_of(members)) for k, members in groups.items()]
    return sorted(rows, key=lambda row: row.label)


@dataclass
class RoundAgreement:
    """A round's agreement overall and per standard, school and pair of raters, and the
    pieces two levels or more apart (for a calibration meeting)."""

    overall: Agreement
    by_standard: list[AgreementRow] = field(default_factory=list)
    by_school: list[AgreementRow] = field(default_factory=list)
    by_raters: list[AgreementRow] = field(default_factory=list)
    disagreements: list[RatedPair] = field(default_factory=list)
    pairs: list[RatedPair] = field(default_factory=list)

    @property
    def tables(self) -> list[tuple[str, str, list[AgreementRow]]]:
        """(caption, first column, rows) of each breakdown, for pages."""
        return [
            ("By standard", "Standard", self.by_standard),
            ("By school", "School", self.by_school),
            ("By pair of raters (first, then second)", "Raters", self.by_raters),
        ]


def _names(user_ids: Iterable[int]) -> dict[int, str]:
    return {
        user.pk: user.get_full_name() or user.username
        for user in User.objects.filter(pk__in=set(user_ids)).only(
            "first_name", "last_name", "username"
        )
    }


def round_agreement(round_: ModerationRound) -> RoundAgreement:
    """For the round's administrators: everything, raters named."""
    pairs = rated_pairs(ModerationItem.objects.filter(round=round_))
    codes = {
        standard.pk: standard.human_code or standard.identifier
        for standard in round_.standards.all()
    }
    schools = dict(
        Organisation.objects.filter(pk__in={p.school_id for p in pairs}).values_list("pk", "name")
    )
    names = _names([p.first_rater_id for p in pairs] + [p.reviewer_id for p in pairs])
    return RoundAgreement(
        overall=agreement_of(pairs),
        by_standard=_grouped(pairs, lambda p: p.standard_id, lambda k: codes.get(k, str(k))),
        by_school=_grouped(pairs, lambda p: p.school_id, lambda k: schools.get(k, str(k))),
        by_raters=_grouped(
            pairs,
            lambda p: (p.first_rater_id, p.reviewer_id),
            lambda k: f"{names.get(k[0], '?')} then {names.get(k[1], '?')}",
        ),
        disagreements=[p for p in pairs if p.apart >= CALIBRATION_LEVELS],
        pairs=pairs,
    )


@dataclass(frozen=True)
class TeacherAgreement:
    """A teacher's own agreement (as first or second rater) beside everyone's in the same
    rounds: no other teacher is named."""

    own: Agreement
    group: Agreement
    rounds: int


def teacher_agreement(user: AnyUser | None) -> TeacherAgreement:
    if not _active(user):
        return TeacherAgreement(agreement([], 2), agreement([], 2), 0)
    assert user is not None
    mine = Q(first_rater_id=user.pk) | Q(reviewer_id=user.pk)
    round_ids = set(ModerationItem.objects.filter(mine).values_list("round_id", flat=True))
    pairs = rated_pairs(ModerationItem.objects.filter(round_id__in=round_ids))
    own = [p for p in pairs if user.pk in (p.first_rater_id, p.reviewer_id)]
    return TeacherAgreement(agreement_of(own), agreement_of(pairs), len(round_ids))


# --- common tasks --------------------------------------------------------------------------------


def _tasks() -> QuerySet[CommonTask]:
    return (
        CommonTask.objects.select_related("organisation")
        .prefetch_related("standards", "levels")
        .annotate(evidence_count=Count("evidence_links", distinct=True))
        .order_by("-opens_on", "title", "pk")
    )


def _staff_reach(user: AnyUser) -> QuerySet[Organisation]:
    """Where the user works as staff: the organisations they administer (and below) and the
    schools of the sections they teach. Never a guardian's or a student's school: a teacher who
    is also a parent elsewhere gets exactly the union of the roles (ADR 3)."""
    return Organisation.objects.filter(
        Q(pk__in=administered_organisations(user).values("pk"))
        | Q(pk__in=taught_sections(user).values("school_id"))
    )


def visible_tasks(user: AnyUser | None) -> QuerySet[CommonTask]:
    """Common tasks shared with where the user works as staff: tasks of those organisations
    and of their ancestors (a district's task reaches its schools' teachers). Students and
    guardians see none: tasks reach them as their teachers give them."""
    if not _active(user):
        return CommonTask.objects.none()
    assert user is not None
    if getattr(user, "is_superuser", False):
        return _tasks()
    reach = _staff_reach(user)
    return _tasks().filter(
        Q(organisation__in=reach)
        | Q(organisation__in=reach.values("parent_id"))
        | Q(organisation__in=reach.values("parent__parent_id"))
    )


def administered_tasks(user: AnyUser | None) -> QuerySet[CommonTask]:
    if not _active(user):
        return CommonTask.objects.none()
    return _tasks().filter(organisation__in=administered_organisations(user))


def get_visible_task_or_404(user: AnyUser | None, pk: object) -> CommonTask:
    return _one(visible_tasks(user), pk)


def task_sections(user: AnyUser | None, task: CommonTask) -> QuerySet[Section]:
    """The sections the user may record the task's results for: sections they may change, at a
    school at or below the task's organisation, in a term that overlaps the task's window."""
    return (
        changeable_sections(user)
        .filter(
            school__in=descendants_of(task.organisation),
            term__start_date__lte=task.closes_on,
            term__end_date__gte=task.opens_on,
        )
        .select_related("school", "term")
        .order_by("title", "pk")
    )


def rating_for_adoption(item: ModerationItem) -> Rating | None:
    """The newest current staff rating of the item's standard on its evidence (the first
    rating, or the correction that replaced it since): what an adoption supersedes."""
    return (
        core.counted_ratings()
        .filter(evidence_id=item.evidence_id, standard_id=item.standard_id)
        .order_by("-recorded_at", "-pk")
        .first()
    )


def adopted_count(round_: ModerationRound) -> int:
    return ModerationItem.objects.filter(round=round_, adopted_rating__isnull=False).count()


# --- the equity audit's subgroups ---------------------------------------------------------------


@dataclass(frozen=True)
class DemographicsChoice:
    """An organisation the user administers, whether demographics are kept there (its own
    choice, or an organisation above it), and how many learners have them stored."""

    organisation: Organisation
    enabled: bool
    inherited: bool
    stored: int


def demographics_choices(user: AnyUser | None) -> list[DemographicsChoice]:
    """One choice per organisation the user administers (in tree order: kind, name), with the
    learners whose demographics are stored below it. Four queries whatever the tree."""
    organisations = list(administered_organisations(user).order_by("kind", "name", "pk"))
    lineage = {
        pk: (parent, grandparent)
        for pk, parent, grandparent in Organisation.objects.filter(
            pk__in=[o.pk for o in organisations]
        ).values_list("pk", "parent_id", "parent__parent_id")
    }
    chosen = set(DemographicsImport.objects.values_list("organisation_id", flat=True))
    stored: dict[int, int] = defaultdict(int)
    for school, parent, grandparent, count in (
        LearnerDemographics.objects.filter(learner__school__in=[o.pk for o in organisations])
        .values("learner__school_id")
        .annotate(n=Count("pk"))
        .values_list(
            "learner__school_id",
            "learner__school__parent_id",
            "learner__school__parent__parent_id",
            "n",
        )
    ):
        for pk in (school, parent, grandparent):
            if pk is not None:
                stored[pk] += count
    return [
        DemographicsChoice(
            organisation=organisation,
            enabled=organisation.pk in chosen,
            inherited=bool(set(lineage.get(organisation.pk, ())) & chosen),
            stored=stored.get(organisation.pk, 0),
        )
        for organisation in organisations
    ]
