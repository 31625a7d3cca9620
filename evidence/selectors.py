"""Reads of the evidence app: evidence scoped by who may see it, current ratings.

Which ratings *count toward mastery* is the mastery core's rule (``mastery.core.counted_ratings``).

Scoping goes through ``learners.selectors`` only: evidence, artifacts, reflections and ratings
are visible to whoever may see the learner (teachers of the learner's current sections, admins
above the school, the learner, their guardians) and changeable by whoever may change the learner
as staff. Removed evidence is left out of lists unless asked for; its history stays.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404

from evidence.models import (
    Artifact,
    Evidence,
    EvidenceKind,
    EvidenceRemoval,
    EvidenceStatus,
    EvidenceStatusChange,
    LearningSetting,
    Rating,
    RatingRemoval,
    RatingSource,
    Reflection,
)
from learners.models import Learner, Organisation
from learners.selectors import AnyUser, changeable_learners, visible_learners
from standards.models import ProficiencyScale, ScaleLevel, Standard
from standards.selectors import DEFAULT_SCALE, scale_for

# The one resolver of standard codes lives in the standards app; this app's import uses it.
from standards.selectors import StandardMatch as StandardMatch
from standards.selectors import find_standards as find_standards
from standards.selectors import standard_problem as standard_problem

# --- current ratings ------------------------------------------------------------------------


def current_ratings() -> QuerySet[Rating]:
    """Ratings of any source (self-ratings too) that are neither superseded nor removed."""
    return Rating.objects.filter(
        ~Exists(Rating.objects.filter(supersedes_id=OuterRef("pk"))),
        ~Exists(RatingRemoval.objects.filter(rating_id=OuterRef("pk"))),
    )


def current_rating_sql(alias: str) -> str:
    """:func:`current_ratings` as an SQL condition on ratings ``alias``, for the pages' plain
    statements."""
    return (
        f"NOT EXISTS (SELECT 1 FROM {_RATING} sup WHERE sup.supersedes_id = {alias}.id)"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM {_REMOVAL} rem WHERE rem.rating_id = {alias}.id)"
    )


_RATING = Rating._meta.db_table
_REMOVAL = RatingRemoval._meta.db_table


# --- evidence -----------------------------------------------------------------------------------


def with_status(evidence: QuerySet[Evidence]) -> QuerySet[Evidence]:
    """Annotates ``status`` (the latest status change) and ``status_comment``."""
    latest = EvidenceStatusChange.objects.filter(evidence_id=OuterRef("pk")).order_by(
        "-changed_at", "-id"
    )
    return evidence.annotate(
        status=Subquery(latest.values("status")[:1]),
        status_comment=Subquery(latest.values("comment")[:1]),
    )


def _live(evidence: QuerySet[Evidence], include_removed: bool) -> QuerySet[Evidence]:
    if include_removed:
        return evidence
    return evidence.filter(~Exists(EvidenceRemoval.objects.filter(evidence_id=OuterRef("pk"))))


def visible_evidence(user: AnyUser | None, *, include_removed: bool = False) -> QuerySet[Evidence]:
    """Evidence of the learners the user may see, with ``status`` annotated."""
    evidence = Evidence.objects.filter(learner_id__in=visible_learners(user).values("pk"))
    return with_status(_live(evidence, include_removed))


def changeable_evidence(
    user: AnyUser | None, *, include_removed: bool = False
) -> QuerySet[Evidence]:
    """Evidence of the learners whose records the user may change as staff."""
    evidence = Evidence.objects.filter(learner_id__in=changeable_learners(user).values("pk"))
    return with_status(_live(evidence, include_removed))


def own_evidence(user: AnyUser | None) -> QuerySet[Evidence]:
    """The student's own evidence (none for a user who is not a learner)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Evidence.objects.none()
    return with_status(
        _live(Evidence.objects.filter(learner__user_id=user.pk, learner__active=True), False)
    )


def review_queue(user: AnyUser | None) -> QuerySet[Evidence]:
    """Submissions waiting for the user to review: status ``submitted``, oldest first."""
    return (
        changeable_evidence(user)
        .filter(Q(status=EvidenceStatus.SUBMITTED))  # the annotated status
        .select_related("learner", "section")
        .order_by("recorded_at", "id")
    )


def learner_evidence(user: AnyUser | None, learner: Learner) -> QuerySet[Evidence]:
    """One learner's evidence timeline (newest first), if the user may see the learner."""
    return (
        visible_evidence(user)
        .filter(learner_id=learner.pk)
        .select_related("section")
        .prefetch_related(prefetch_current_ratings())
        .order_by("-demonstrated_at", "-recorded_at", "-id")
    )


@dataclass(frozen=True)
class TimelineRating:
    code: str  # the standard's human code, else its identifier
    score: Decimal
    source: str


@dataclass(frozen=True)
class TimelineItem:
    """One piece of evidence on a learner page's "latest evidence": what the line shows, and its
    first current ratings (``more``: how many others its own page lists)."""

    pk: int
    title: str
    demonstrated_at: datetime.datetime
    kind: str
    setting: str
    status: str | None
    ratings: list[TimelineRating]
    more: int

    @property
    def kind_label(self) -> str:
        return str(_KIND_LABELS.get(self.kind, self.kind))

    @property
    def setting_label(self) -> str:
        return str(_SETTING_LABELS.get(self.setting, self.setting))


_KIND_LABELS = dict(EvidenceKind.choices)
_SETTING_LABELS = dict(LearningSetting.choices)


def evidence_timeline(learner: Learner, limit: int = 10, ratings: int = 20) -> list[TimelineItem]:
    """The learner's latest ``limit`` pieces of live evidence (newest first, as
    :func:`learner_evidence` orders them) with their status and, for each, its first
    ``ratings`` current ratings (self-ratings too, in the order of ``Rating``) and how many more
    it has: two statements, bounded whatever the learner's number of ratings (the evidence's
    own page and the learner's evidence pages list everything). For a page that has checked the
    user may see the learner: it is :func:`learner_evidence` narrowed to that learner, without
    composing the user's scope a second time."""
    with connection.cursor() as cursor:
        cursor.execute(_TIMELINE_SQL, [learner.pk, limit])
        rows = cursor.fetchall()
        ids = [int(row[0]) for row in rows]
        shown: dict[int, list[TimelineRating]] = {pk: [] for pk in ids}
        total: dict[int, int] = dict.fromkeys(ids, 0)
        if ids:
            cursor.execute(_TIMELINE_RATINGS_SQL, [ids, ratings])
            for evidence_id, code, identifier, score, source, count in cursor.fetchall():
                shown[evidence_id].append(TimelineRating(code or identifier, score, source))
                total[evidence_id] = int(count)
    return [
        TimelineItem(
            pk=int(pk),
            title=title,
            demonstrated_at=demonstrated,
            kind=kind,
            setting=setting,
            status=status,
            ratings=shown[pk],
            more=total[pk] - len(shown[pk]),
        )
        for pk, title, demonstrated, kind, setting, status in rows
    ]


_EVIDENCE = Evidence._meta.db_table
# Live evidence (no removal) with its latest status change, as ``with_status`` annotates it.
_TIMELINE_SQL = (
    f"SELECT e.id, e.title, e.demonstrated_at, e.kind, e.setting,"  # noqa: S608
    f" (SELECT c.status FROM {EvidenceStatusChange._meta.db_table} c WHERE c.evidence_id = e.id"
    f"  ORDER BY c.changed_at DESC, c.id DESC LIMIT 1)"
    f" FROM {_EVIDENCE} e WHERE e.learner_id = %s"
    f" AND NOT EXISTS (SELECT 1 FROM {EvidenceRemoval._meta.db_table} x WHERE x.evidence_id = e.id)"
    f" ORDER BY e.demonstrated_at DESC, e.recorded_at DESC, e.id DESC LIMIT %s"
)
# Current ratings (no rating supersedes them, no removal: ``current_ratings``) of the pieces.
_TIMELINE_RATINGS_SQL = (
    f"SELECT r.evidence_id, r.human_code, r.identifier, r.score, r.source, r.total"  # noqa: S608
    f" FROM (SELECT r.evidence_id, s.human_code, s.identifier, r.score, r.source,"
    f"  row_number() OVER (PARTITION BY r.evidence_id"
    f"   ORDER BY r.demonstrated_at, r.recorded_at, r.id) AS n,"
    f"  count(*) OVER (PARTITION BY r.evidence_id) AS total"
    f"  FROM {Rating._meta.db_table} r JOIN {Standard._meta.db_table} s ON s.id = r.standard_id"
    f"  WHERE r.evidence_id = ANY(%s) AND {current_rating_sql('r')}) r"
    f" WHERE r.n <= %s ORDER BY r.evidence_id, r.n"
)


_MAX_PK = 2**63 - 1


def pk_or_404(pk: object) -> int:
    """The primary key as an int; 404 for anything that is not one (like a missing object)."""
    text = str(pk)
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_PK:
        raise Http404("Not found.")
    return int(text)


def get_visible_evidence_or_404(user: AnyUser | None, pk: object) -> Evidence:
    """The evidence with its learner, if the user may see it; otherwise 404 (also if removed)."""
    try:
        return (
            visible_evidence(user)
            .select_related("learner", "learner__school", "section", "submitted_by")
            .get(pk=pk_or_404(pk))
        )
    except Evidence.DoesNotExist as exc:
        raise Http404("Not found.") from exc


def evidence_detail(evidence: Evidence) -> EvidenceDetail:
    """Everything shown on an evidence page: artifacts, reflections (latest last), status
    history, and every rating with its standard, supersession and removal."""
    ratings = list(
        Rating.objects.filter(evidence_id=evidence.pk)
        .select_related("standard", "rater", "removal__removed_by", "superseded_by__rater")
        .order_by("standard__human_code", "recorded_at", "id")
    )
    return EvidenceDetail(
        evidence=evidence,
        artifacts=list(Artifact.objects.filter(evidence_id=evidence.pk).order_by("created_at")),
        reflections=list(
            Reflection.objects.filter(evidence_id=evidence.pk).order_by("created_at", "id")
        ),
        status_changes=list(
            EvidenceStatusChange.objects.filter(evidence_id=evidence.pk).order_by(
                "changed_at", "id"
            )
        ),
        ratings=ratings,
    )


@dataclass(frozen=True)
class EvidenceDetail:
    evidence: Evidence
    artifacts: list[Artifact]
    reflections: list[Reflection]
    status_changes: list[EvidenceStatusChange]
    ratings: list[Rating]

    @property
    def reflection(self) -> Reflection | None:
        return self.reflections[-1] if self.reflections else None

    @property
    def current_ratings(self) -> list[Rating]:
        return [rating for rating in self.ratings if _is_current(rating)]

    @property
    def self_ratings(self) -> list[Rating]:
        return [r for r in self.current_ratings if r.source == RatingSource.SELF]

    @property
    def staff_ratings(self) -> list[Rating]:
        return [r for r in self.current_ratings if r.source != RatingSource.SELF]


def _is_current(rating: Rating) -> bool:
    try:
        rating.superseded_by  # noqa: B018  (reverse one-to-one: raises when absent)
    except Rating.DoesNotExist:
        pass
    else:
        return False
    try:
        rating.removal  # noqa: B018
    except RatingRemoval.DoesNotExist:
        return True
    return False


# --- artifacts and ratings ----------------------------------------------------------------------


def visible_artifacts(user: AnyUser | None) -> QuerySet[Artifact]:
    """Artifacts of visible, not removed evidence."""
    return Artifact.objects.filter(
        evidence_id__in=visible_evidence(user).values("pk")
    ).select_related("evidence")


def get_visible_artifact_or_404(user: AnyUser | None, pk: object) -> Artifact:
    """The artifact, if the user may see its learner; 404 otherwise (the same for all causes)."""
    try:
        return visible_artifacts(user).get(pk=pk_or_404(pk))
    except Artifact.DoesNotExist as exc:
        raise Http404("Not found.") from exc


def visible_ratings(user: AnyUser | None) -> QuerySet[Rating]:
    """Every rating (history included) of the learners the user may see."""
    return Rating.objects.filter(learner_id__in=visible_learners(user).values("pk"))


def get_visible_rating_or_404(user: AnyUser | None, pk: object) -> Rating:
    try:
        return (
            visible_ratings(user)
            .select_related("evidence", "learner", "standard")
            .get(pk=pk_or_404(pk))
        )
    except Rating.DoesNotExist as exc:
        raise Http404("Not found.") from exc


def rating_chain(rating: Rating) -> list[Rating]:
    """The rating's corrections, oldest first: the rating it superseded back to the first one,
    then itself, then each rating that superseded it. Bounded by the chain's length."""
    earlier: list[Rating] = []
    node = rating
    while node.supersedes_id is not None:
        node = Rating.objects.get(pk=node.supersedes_id)
        earlier.append(node)
    later: list[Rating] = []
    node = rating
    while True:
        following = Rating.objects.filter(supersedes_id=node.pk).first()
        if following is None:
            break
        later.append(following)
        node = following
    return [*reversed(earlier), rating, *later]


# --- standards and scales -----------------------------------------------------------------------


def score_range_for(organisation: Organisation | int | None) -> tuple[Decimal, Decimal]:
    """The scores a rating may take for learners of ``organisation``: the lowest to the highest
    level's points of the proficiency scale in force there (one query). Scores below the scale
    are refused here, because the engine cannot place them on it (a scale that wants 0 says so
    with a level of 0 points)."""
    scale = DEFAULT_SCALE if organisation is None else scale_for(organisation)
    return scale.min_points, scale.max_points


def score_ranges_of_schools(school_ids: Iterable[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """:func:`score_range_for` of several schools in one plain SQL statement (the ratings API
    checks a quick entry's scores with it): the nearest scale with levels among each school and
    its two ancestors, else the default scale."""
    ids = sorted({int(pk) for pk in school_ids})
    org, scale = Organisation._meta.db_table, ProficiencyScale._meta.db_table
    level = ScaleLevel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT lin.a, r.lo, r.hi FROM (SELECT o1.id AS a, o1.parent_id AS b,"  # noqa: S608
            f" o2.parent_id AS c FROM {org} o1 LEFT JOIN {org} o2 ON o2.id = o1.parent_id"
            f" WHERE o1.id = ANY(%s)) lin"
            f" LEFT JOIN LATERAL (SELECT s.id FROM {scale} s"
            f" WHERE s.organisation_id IN (lin.a, lin.b, lin.c)"
            f" AND EXISTS (SELECT 1 FROM {level} x WHERE x.scale_id = s.id)"
            f" ORDER BY CASE s.organisation_id WHEN lin.a THEN 0 WHEN lin.b THEN 1 ELSE 2 END"
            f" LIMIT 1) near ON true"
            f" LEFT JOIN LATERAL (SELECT min(sl.points) AS lo, max(sl.points) AS hi"
            f" FROM {level} sl WHERE sl.scale_id = near.id) r ON true",
            [ids],
        )
        rows = cursor.fetchall()
    default = (DEFAULT_SCALE.min_points, DEFAULT_SCALE.max_points)
    return {
        int(row[0]): default if row[1] is None else (Decimal(row[1]), Decimal(row[2]))
        for row in rows
    }


def scale_levels_for(organisation: Organisation | None) -> list[tuple[Decimal, str]]:
    """The levels of the scale in force for ``organisation``, highest first: (points, label)."""
    scale = DEFAULT_SCALE if organisation is None else scale_for(organisation)
    return [(level.points, level.label) for level in scale.levels]


def prefetch_current_ratings() -> Prefetch[str]:
    """Prefetches an evidence list's current ratings (self-ratings too) with their standards."""
    return Prefetch("ratings", queryset=current_ratings().select_related("standard"))


def prefetch_rating_history() -> Prefetch[str]:
    """Prefetches every rating of an evidence with its standard, correction and removal."""
    return Prefetch(
        "ratings",
        queryset=Rating.objects.select_related(
            "standard", "rater", "removal__removed_by", "superseded_by__rater"
        ).order_by("recorded_at", "id"),
    )
