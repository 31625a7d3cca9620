"""Writes of the evidence app: evidence, submissions, reviews, ratings, corrections, removals.

Every service is keyword-only and atomic, takes the acting user, validates all of its input
before writing anything and raises ``ValidationError`` (naming the field, or the row of a batch)
on bad input or ``PermissionDenied`` for a target outside the actor's scope; either way nothing
is written. Rows are only ever inserted (ADR 5): a correction supersedes, a removal is a row.
Every service that writes ratings calls ``mastery.services.mark_stale`` in its transaction with
the (learner, standard) pairs it touched, so the mastery records are rebuilt after commit.

Who may do what (``learners.selectors`` decides the scopes):
- staff (teachers of the learner's current sections, admins above the school) record evidence
  and ratings, review submissions, correct and remove ratings (an override of mastery is a
  mastery service: ``mastery.services.set_override``);
- a student submits evidence, reflections and self-ratings for themselves only, revises a
  submission returned to them, and corrects or removes their own self-ratings;
- guardians change nothing.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, Final, Protocol
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import iri_to_uri

from evidence import csv_import, selectors, uploads
from evidence.csv_import import RatingImportRefused, RatingImportReport, RowProblem
from evidence.models import (
    Artifact,
    ArtifactKind,
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
from evidence.scores import parse_score as parse_score  # its callers import it from here
from evidence.text import clean_line, clean_text
from learners import selectors as learner_selectors
from learners import write_scope
from learners.models import Learner, Organisation, Section
from mastery.services import mark_stale
from notifications.services import notify_work_reviewed
from standards.models import Standard

logger = logging.getLogger(__name__)

TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
REFLECTION_MAX = 5_000
COMMENT_MAX = 5_000
REASON_MAX = 2_000
MAX_RATINGS_PER_CALL = 5_000
MAX_ARTIFACTS_PER_CALL = 10
URL_MAX = 2_000


class UploadedFileLike(Protocol):
    """What a service needs of an uploaded file: a name and its bytes (Django's files fit)."""

    name: str | None

    def chunks(self, chunk_size: int | None = None) -> Iterable[bytes]: ...


@dataclass(frozen=True)
class RatingEntry:
    """One rating in a batch: a learner, a standard, a score and an optional comment."""

    learner_id: int
    standard_id: int
    score: Decimal | int | str
    comment: str = ""


@dataclass(frozen=True)
class ReflectionInput:
    """The learner's answers to the four prompts (plain text or HTML, sanitised on write)."""

    what_i_learned: str = ""
    how_i_got_there: str = ""
    how_i_showed_it: str = ""
    how_i_will_use_it: str = ""

    def cleaned(self) -> dict[str, str]:
        return {name: clean_text(getattr(self, name)) for name in Reflection.PROMPTS}


@dataclass
class RecordedRatings:
    """What ``record_ratings`` wrote: one evidence per learner, with its ratings."""

    evidence: list[Evidence] = field(default_factory=list)
    ratings: list[Rating] = field(default_factory=list)


# --- validation helpers -------------------------------------------------------------------------


def _user_id(actor: AbstractBaseUser) -> int:
    return int(str(actor.pk))


def _require_active(actor: AbstractBaseUser | None) -> AbstractBaseUser:
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise PermissionDenied("Sign in to do this.")
    return actor


def _text_field(value: str, name: str, limit: int, *, required: bool = False) -> str:
    if len(value) > limit:
        raise ValidationError({name: f"Keep it under {limit} characters."})
    cleaned = clean_text(value)
    if required and not cleaned:
        raise ValidationError({name: "This field is required."})
    return cleaned


def _title(value: str) -> str:
    title = clean_line(value)
    if not title:
        raise ValidationError({"title": "Give the evidence a title."})
    if len(title) > TITLE_MAX:
        raise ValidationError({"title": f"Keep the title under {TITLE_MAX} characters."})
    return title


def _reason(value: str, name: str = "reason") -> str:
    reason = _text_field(value, name, REASON_MAX)
    if not reason:
        raise ValidationError({name: "Say why: a reason is required."})
    return reason


def _choice(value: str, choices: type[EvidenceKind] | type[LearningSetting], name: str) -> str:
    if value not in choices.values:
        raise ValidationError({name: f"{value!r} is not one of: {', '.join(choices.values)}."})
    return value


def _when(value: datetime.datetime | datetime.date, name: str = "demonstrated_at") -> Any:
    """An aware datetime, not in the future (a date means its start, in the local time zone)."""
    if isinstance(value, datetime.datetime):
        moment = value
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
    elif isinstance(value, datetime.date):
        moment = timezone.make_aware(datetime.datetime.combine(value, datetime.time.min))
    else:
        raise ValidationError({name: "Give a date."})
    if moment > timezone.now() + datetime.timedelta(minutes=5):
        raise ValidationError({name: "This date is in the future."})
    if moment.year < 1900:
        raise ValidationError({name: "This date is too far in the past."})
    return moment


class _ScoreRanges:
    """Score ranges per school, each looked up once per call."""

    def __init__(self, known: Mapping[int, tuple[Decimal, Decimal]] | None = None) -> None:
        self._ranges: dict[int | None, tuple[Decimal, Decimal]] = {}
        for school, bounds in (known or {}).items():
            self._ranges[school] = bounds

    def check(self, value: object, school: Organisation | int | None) -> Decimal:
        key = school.pk if isinstance(school, Organisation) else school
        if key not in self._ranges:
            self._ranges[key] = selectors.score_range_for(school)
        low, high = self._ranges[key]
        return parse_score(value, low=low, high=high)


def _score(value: object, learner: Learner, name: str = "score") -> Decimal:
    try:
        return _ScoreRanges().check(value, learner.school)
    except ValueError as exc:
        raise ValidationError({name: f"{exc}."}) from exc


def _standards_by_id(ids: Iterable[int], name: str = "standards") -> dict[int, Standard]:
    wanted = set(ids)
    found = {s.pk: s for s in Standard.objects.filter(pk__in=wanted)}
    missing = sorted(wanted - found.keys())
    if missing:
        raise ValidationError({name: f"No standard with id {missing[0]}."})
    for standard in found.values():
        problem = selectors.standard_problem(standard)
        if problem:
            raise ValidationError({name: problem})
    return found


def _changeable_learner(actor: AbstractBaseUser, learner: Learner) -> Learner:
    found = (
        learner_selectors.changeable_learners(actor)
        .select_related("school")
        .filter(pk=learner.pk)
        .first()
    )
    if found is None:
        raise PermissionDenied("You may not record evidence for this learner.")
    return found


SECTION_REFUSED: Final = "Choose a current section of the learner."


def _section_for(
    actor: AbstractBaseUser, section: Section | None, learner_ids: set[int]
) -> Section | None:
    """The section staff record evidence in: one the actor may change, where every learner of
    the evidence is currently enrolled."""
    if section is None:
        return None
    enrolled = write_scope.changeable_section_enrolled(actor, section.pk, learner_ids)
    if enrolled is None or enrolled != learner_ids:
        raise ValidationError({"section": SECTION_REFUSED})
    return section


def _links(urls: Sequence[str]) -> list[str]:
    """The links as stored: valid http(s) addresses without a user name or password, encoded
    (host in punycode; quotes, angle brackets, spaces and non-ASCII percent-encoded), so a
    stored link is safe wherever it is written out."""
    cleaned = []
    for index, url in enumerate(urls, start=1):
        value = url.strip()
        if not value:
            continue
        try:
            value = encoded_link(value)
        except ValidationError as exc:
            raise ValidationError(
                {"links": f"Link {index} is not a web address (http or https only)."}
            ) from exc
        if len(value) > URL_MAX:
            raise ValidationError({"links": f"Link {index} is longer than {URL_MAX} characters."})
        cleaned.append(value)
    return cleaned


_LINK_VALIDATOR = URLValidator(schemes=["http", "https"])


def encoded_link(url: str) -> str:
    """``url`` validated and encoded (RFC 3986); ``ValidationError`` if it is not a plain web
    address (another scheme, credentials in it, no host, or invalid once encoded)."""
    if any(ord(char) < 0x20 or char.isspace() for char in url):
        raise ValidationError("not a web address")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").encode("idna").decode("ascii")
        port = parts.port
    except (ValueError, UnicodeError) as exc:
        raise ValidationError("not a web address") from exc
    if parts.scheme.lower() not in ("http", "https") or not host or parts.username is not None:
        raise ValidationError("not a web address")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    value = urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            iri_to_uri(parts.path),
            iri_to_uri(parts.query),
            iri_to_uri(parts.fragment),
        )
    )
    _LINK_VALIDATOR(value)
    return value


def _check_files(files: Sequence[UploadedFileLike]) -> list[uploads.CheckedUpload]:
    checked = []
    for index, file in enumerate(files, start=1):
        try:
            checked.append(
                uploads.check_upload(name=file.name or "", data=uploads.read_bounded(file))
            )
        except ValidationError as exc:
            raise ValidationError({"files": f"File {index}: {' '.join(exc.messages)}"}) from exc
    return checked


def _check_attachment_count(links: Sequence[str], files: Sequence[object]) -> None:
    if len(links) + len(files) > MAX_ARTIFACTS_PER_CALL:
        raise ValidationError(
            {"files": f"Attach at most {MAX_ARTIFACTS_PER_CALL} files and links at a time."}
        )


def _mark_stale(
    pairs: Iterable[tuple[int, int]],
    *,
    actor: AbstractBaseUser,
    action: str,
    object_type: str,
    object_id: object,
    learner_ids: Iterable[int] = (),
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Tells the mastery app which (learner, standard) records our writes made stale, in our
    transaction (ADR 5): the recomputes are queued only if it commits; and writes the audit
    entries of the write (one per learner, one statement), whoever called the service (page,
    API, command, import, admin): the service, not the HTTP response, is the record of it."""
    from audit.recording import record_accesses  # the audit app reads evidence's models

    unique = sorted(set(pairs))
    if unique:
        mark_stale(pairs=unique)
    learners = sorted({learner for learner, _ in unique} | set(learner_ids))
    if not learners:
        return  # nothing was written
    record_accesses(
        actor=actor,
        action=action,
        allowed=True,
        learner_ids_sql="SELECT unnest(%s::bigint[]) AS learner_ref",
        params=[learners],
        object_type=object_type,
        object_id=object_id,
        detail={"ratings": len(unique), **dict(detail or {})},
    )


# --- writing helpers (only called after validation) ---------------------------------------------


def _status(
    evidence: Evidence, status: str, actor: AbstractBaseUser, comment: str = ""
) -> EvidenceStatusChange:
    return EvidenceStatusChange.objects.create(
        evidence=evidence, status=status, changed_by_id=_user_id(actor), comment=comment
    )


def _attach(
    evidence: Evidence,
    actor: AbstractBaseUser,
    links: Sequence[str],
    checked: Sequence[uploads.CheckedUpload],
    written: list[str],
) -> list[Artifact]:
    """Writes files (recording their names in ``written`` for clean-up) and artifact rows."""
    artifacts = [
        Artifact(evidence=evidence, kind=ArtifactKind.LINK, url=url, uploaded_by_id=_user_id(actor))
        for url in links
    ]
    for upload in checked:
        storage_name = uploads.store(upload)
        written.append(storage_name)
        artifacts.append(
            Artifact(
                evidence=evidence,
                kind=ArtifactKind.FILE,
                storage_name=storage_name,
                original_name=upload.original_name,
                content_type=upload.content_type,
                size=upload.size,
                sha256=upload.sha256,
                uploaded_by_id=_user_id(actor),
            )
        )
    return Artifact.objects.bulk_create(artifacts)


class _FileCleanup:
    """Deletes the files a failed write stored (the rows roll back; files are outside)."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def __enter__(self) -> list[str]:
        return self.written

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            uploads.delete_stored(self.written)


# --- evidence recorded by staff -----------------------------------------------------------------


@transaction.atomic
def record_evidence(
    *,
    actor: AbstractBaseUser,
    learner: Learner,
    kind: str,
    title: str,
    demonstrated_at: datetime.datetime | datetime.date,
    description: str = "",
    setting: str = LearningSetting.IN_SCHOOL,
    section: Section | None = None,
    scores: Mapping[int, Decimal | int | str] | None = None,
    comment: str = "",
    links: Sequence[str] = (),
    files: Sequence[UploadedFileLike] = (),
) -> Evidence:
    """Staff record one evidence for one learner, with teacher ratings (standard id -> score)
    and artifacts. Status ``scored`` when rated, else ``submitted`` (it waits in the review
    queue). Raises PermissionDenied unless the actor may change the learner."""
    actor = _require_active(actor)
    learner = _changeable_learner(actor, learner)
    values = _evidence_values(kind, title, description, setting, demonstrated_at)
    section = _section_for(actor, section, {learner.pk})
    standards = _standards_by_id((scores or {}).keys())
    checked_scores = {sid: _score(value, learner) for sid, value in (scores or {}).items()}
    comment = _text_field(comment, "comment", COMMENT_MAX)
    links = _links(links)
    _check_attachment_count(links, files)
    checked_files = _check_files(files)

    with _FileCleanup() as written:
        evidence = Evidence.objects.create(
            learner=learner, section=section, submitted_by_id=_user_id(actor), **values
        )
        _attach(evidence, actor, links, checked_files, written)
        rated = bool(checked_scores)
        _status(evidence, EvidenceStatus.SCORED if rated else EvidenceStatus.SUBMITTED, actor)
        Rating.objects.bulk_create(
            Rating(
                evidence=evidence,
                learner_id=learner.pk,
                demonstrated_at=evidence.demonstrated_at,
                standard_id=standards[sid].pk,
                score=score,
                source=RatingSource.TEACHER,
                rater_id=_user_id(actor),
                comment=comment,
            )
            for sid, score in checked_scores.items()
        )
        _mark_stale(
            ((learner.pk, sid) for sid in checked_scores),
            actor=actor, action="evidence.record", object_type="evidence.evidence",
            object_id=evidence.pk, learner_ids=[learner.pk],
        )  # fmt: skip
    logger.info("evidence recorded", extra={"evidence_id": evidence.pk, "ratings": rated})
    return evidence


def _evidence_values(
    kind: str,
    title: str,
    description: str,
    setting: str,
    demonstrated_at: datetime.datetime | datetime.date,
) -> dict[str, Any]:
    return {
        "kind": _choice(kind, EvidenceKind, "kind"),
        "title": _title(title),
        "description": _text_field(description, "description", DESCRIPTION_MAX),
        "setting": _choice(setting, LearningSetting, "setting"),
        "demonstrated_at": _when(demonstrated_at),
    }


@transaction.atomic
def record_ratings(
    *,
    actor: AbstractBaseUser,
    entries: Sequence[RatingEntry],
    title: str,
    demonstrated_at: datetime.datetime | datetime.date,
    kind: str = EvidenceKind.OBSERVATION,
    setting: str = LearningSetting.IN_SCHOOL,
    description: str = "",
    section: Section | None = None,
) -> RecordedRatings:
    """Quick entry: teacher ratings for many learners x many standards in one call.

    One evidence per learner (status ``scored``) carries that learner's ratings. Set-based: the
    number of queries does not grow with the number of entries. Every entry is checked first
    (learner in the actor's scope, standard ratable, score on the learner's scale, no pair twice)
    and a ``ValidationError`` names the first bad entry (``entries[i]``); nothing is written.
    """
    actor = _require_active(actor)
    if not entries:
        raise ValidationError({"entries": "Choose at least one learner and one standard."})
    if len(entries) > MAX_RATINGS_PER_CALL:
        raise ValidationError({"entries": f"At most {MAX_RATINGS_PER_CALL} ratings at a time."})
    values = _evidence_values(kind, title, description, setting, demonstrated_at)
    learner_ids = {entry.learner_id for entry in entries}
    schools = write_scope.changeable_learner_schools(actor, learner_ids)  # learner -> school
    standards = {s.pk: s for s in Standard.objects.filter(pk__in={e.standard_id for e in entries})}
    ranges = _ScoreRanges(selectors.score_ranges_of_schools(set(schools.values())))
    section = _section_for(actor, section, learner_ids)
    seen: set[tuple[int, int]] = set()
    checked: list[tuple[RatingEntry, Decimal, str]] = []
    for index, entry in enumerate(entries):
        where = f"entries[{index}]"
        school = schools.get(entry.learner_id)
        if school is None:
            raise ValidationError({where: f"Learner {entry.learner_id} is not one of yours."})
        standard = standards.get(entry.standard_id)
        if standard is None:
            raise ValidationError({where: f"No standard with id {entry.standard_id}."})
        problem = selectors.standard_problem(standard)
        if problem:
            raise ValidationError({where: problem})
        pair = (entry.learner_id, entry.standard_id)
        if pair in seen:
            raise ValidationError({where: "This learner and standard appear twice."})
        seen.add(pair)
        try:
            score = ranges.check(entry.score, school)
        except ValueError as exc:
            raise ValidationError({where: f"score: {exc}."}) from exc
        checked.append((entry, score, _text_field(entry.comment, where, COMMENT_MAX)))

    order = sorted(learner_ids)
    evidence = Evidence.objects.bulk_create(
        Evidence(
            learner_id=learner_id,
            section=section,
            submitted_by_id=_user_id(actor),
            **values,
        )
        for learner_id in order
    )
    by_learner = {item.learner_id: item for item in evidence}
    EvidenceStatusChange.objects.bulk_create(
        EvidenceStatusChange(
            evidence=item, status=EvidenceStatus.SCORED, changed_by_id=_user_id(actor)
        )
        for item in evidence
    )
    ratings = Rating.objects.bulk_create(
        [
            Rating(
                evidence=by_learner[entry.learner_id],
                learner_id=entry.learner_id,
                demonstrated_at=values["demonstrated_at"],
                standard=standards[entry.standard_id],
                score=score,
                source=RatingSource.TEACHER,
                rater_id=_user_id(actor),
                comment=comment,
            )
            for entry, score, comment in checked
        ],
        batch_size=1000,
    )
    _mark_stale(
        seen, actor=actor, action="evidence.ratings.record", object_type="evidence.rating",
        object_id="", detail={"evidence": len(evidence)},
    )  # fmt: skip
    logger.info("ratings recorded", extra={"evidence": len(evidence), "ratings": len(ratings)})
    return RecordedRatings(evidence=evidence, ratings=ratings)


# --- student submissions ------------------------------------------------------------------------


def _own_learner(actor: AbstractBaseUser) -> Learner:
    learner = learner_selectors.learner_of(actor)
    if learner is None or not learner.active:
        raise PermissionDenied("Only a student submits evidence, for themselves.")
    return learner


def _self_ratings(
    learner: Learner, self_scores: Mapping[int, Decimal | int | str] | None
) -> tuple[dict[int, Standard], dict[int, Decimal]]:
    scores = dict(self_scores or {})
    standards = _standards_by_id(scores.keys(), "self_ratings")
    checked = {sid: _score(value, learner, "self_ratings") for sid, value in scores.items()}
    return standards, checked


def _reflection(reflection: ReflectionInput | None) -> dict[str, str]:
    if reflection is None:
        return {}
    for name in Reflection.PROMPTS:
        if len(getattr(reflection, name)) > REFLECTION_MAX:
            raise ValidationError({name: f"Keep each answer under {REFLECTION_MAX} characters."})
    cleaned = reflection.cleaned()
    return cleaned if any(cleaned.values()) else {}


def _write_self_ratings(
    evidence: Evidence, actor: AbstractBaseUser, scores: Mapping[int, Decimal]
) -> list[Rating]:
    """Self-ratings on the evidence; one that replaces the learner's earlier self-rating of the
    same standard on this evidence supersedes it."""
    earlier = {
        rating.standard_id: rating
        for rating in selectors.current_ratings().filter(
            evidence_id=evidence.pk, source=RatingSource.SELF, standard_id__in=list(scores)
        )
    }
    created = Rating.objects.bulk_create(
        Rating(
            evidence=evidence,
            learner_id=evidence.learner_id,
            demonstrated_at=evidence.demonstrated_at,
            standard_id=sid,
            score=score,
            source=RatingSource.SELF,
            rater_id=_user_id(actor),
            supersedes=earlier.get(sid),
        )
        for sid, score in scores.items()
    )
    _mark_stale(
        ((evidence.learner_id, sid) for sid in scores),
        actor=actor, action="evidence.self_ratings.record", object_type="evidence.evidence",
        object_id=evidence.pk,
    )  # fmt: skip
    return created


@transaction.atomic
def submit_evidence(
    *,
    actor: AbstractBaseUser,
    kind: str,
    title: str,
    demonstrated_at: datetime.datetime | datetime.date,
    description: str = "",
    setting: str = LearningSetting.IN_SCHOOL,
    section: Section | None = None,
    reflection: ReflectionInput | None = None,
    self_scores: Mapping[int, Decimal | int | str] | None = None,
    links: Sequence[str] = (),
    files: Sequence[UploadedFileLike] = (),
) -> Evidence:
    """A student submits their own evidence: description, artifacts, a reflection on the four
    prompts and self-ratings (standard id -> score; shown beside, never counted). Status
    ``submitted``: it waits in the review queue of the learner's teachers."""
    actor = _require_active(actor)
    learner = _own_learner(actor)
    values = _evidence_values(kind, title, description, setting, demonstrated_at)
    if section is not None and not (
        learner_selectors.current_sections_of_learner(learner).filter(pk=section.pk).exists()
    ):
        raise ValidationError({"section": "Choose one of your current sections."})
    reflection_values = _reflection(reflection)
    _standards, scores = _self_ratings(learner, self_scores)
    links = _links(links)
    _check_attachment_count(links, files)
    checked_files = _check_files(files)
    if not (values["description"] or links or checked_files):
        raise ValidationError({"description": "Describe the evidence, or attach a file or a link."})

    with _FileCleanup() as written:
        evidence = Evidence.objects.create(
            learner=learner, section=section, submitted_by_id=_user_id(actor), **values
        )
        _attach(evidence, actor, links, checked_files, written)
        if reflection_values:
            Reflection.objects.create(
                evidence=evidence, author_id=_user_id(actor), **reflection_values
            )
        _write_self_ratings(evidence, actor, scores)
        _status(evidence, EvidenceStatus.SUBMITTED, actor)
    logger.info("evidence submitted", extra={"evidence_id": evidence.pk})
    return evidence


def _lock(evidence: Evidence) -> Evidence:
    """Locks the evidence row (reviews of one evidence run one after the other) and returns it
    with its current status. SELECT ... FOR UPDATE fires no UPDATE trigger."""
    locked = (
        selectors.with_status(Evidence.objects.select_for_update(of=("self",)))
        .select_related("learner", "learner__school")
        .filter(pk=evidence.pk)
        .first()
    )
    if locked is None or EvidenceRemoval.objects.filter(evidence_id=evidence.pk).exists():
        raise ValidationError({"evidence": "This evidence was removed."})
    return locked


@transaction.atomic
def resubmit_evidence(
    *,
    actor: AbstractBaseUser,
    evidence: Evidence,
    note: str = "",
    reflection: ReflectionInput | None = None,
    self_scores: Mapping[int, Decimal | int | str] | None = None,
    links: Sequence[str] = (),
    files: Sequence[UploadedFileLike] = (),
) -> Evidence:
    """The student revises a submission that was returned to them: new artifacts, a new
    reflection and self-ratings are added (earlier ones stay in the history) and it goes back
    to ``submitted``."""
    actor = _require_active(actor)
    learner = _own_learner(actor)
    if evidence.learner_id != learner.pk:
        raise PermissionDenied("You may revise only your own evidence.")
    evidence = _lock(evidence)
    if getattr(evidence, "status", None) != EvidenceStatus.RETURNED:
        raise ValidationError({"evidence": "Only evidence returned for revision is revised."})
    note = _text_field(note, "note", COMMENT_MAX)
    reflection_values = _reflection(reflection)
    _standards, scores = _self_ratings(learner, self_scores)
    links = _links(links)
    _check_attachment_count(links, files)
    checked_files = _check_files(files)

    with _FileCleanup() as written:
        _attach(evidence, actor, links, checked_files, written)
        if reflection_values:
            Reflection.objects.create(
                evidence=evidence, author_id=_user_id(actor), **reflection_values
            )
        _write_self_ratings(evidence, actor, scores)
        _status(evidence, EvidenceStatus.SUBMITTED, actor, note)
    logger.info("evidence resubmitted", extra={"evidence_id": evidence.pk})
    return evidence


@transaction.atomic
def reflect_on_evidence(
    *, actor: AbstractBaseUser, evidence: Evidence, reflection: ReflectionInput
) -> Reflection:
    """The learner reflects on their own evidence, whoever recorded it (a teacher's observation
    or assessment too): a new reflection (the latest is current; earlier ones stay). Only the
    learner themselves; at least one answer."""
    actor = _require_active(actor)
    learner = _own_learner(actor)
    if evidence.learner_id != learner.pk:
        raise PermissionDenied("You may reflect only on your own evidence.")
    locked = _lock(evidence)
    values = _reflection(reflection)
    if not values:
        raise ValidationError({"what_i_learned": "Answer at least one of the questions."})
    created = Reflection.objects.create(evidence=locked, author_id=_user_id(actor), **values)
    logger.info("reflection added", extra={"evidence_id": locked.pk})
    return created


# --- review -------------------------------------------------------------------------------------


class ReviewDecision:
    SCORE = "score"
    RETURN = "return"
    CHOICES = (SCORE, RETURN)


@transaction.atomic
def review_submission(
    *,
    actor: AbstractBaseUser,
    evidence: Evidence,
    decision: str,
    scores: Mapping[int, Decimal | int | str] | None = None,
    comment: str = "",
) -> Evidence:
    """Staff review a submitted evidence: ``score`` it (teacher ratings per standard; a standard
    this evidence already has a current teacher rating for is superseded, not doubled) or
    ``return`` it for revision with a required comment. Only ``submitted`` evidence is
    reviewed; the evidence row is locked so two reviewers cannot both score it."""
    actor = _require_active(actor)
    _changeable_learner(actor, evidence.learner)
    if decision not in ReviewDecision.CHOICES:
        raise ValidationError({"decision": "Choose to score it or to return it for revision."})
    evidence = _lock(evidence)
    if getattr(evidence, "status", None) != EvidenceStatus.SUBMITTED:
        raise ValidationError({"evidence": "This evidence is not waiting for a review."})
    comment = _text_field(comment, "comment", COMMENT_MAX)
    if decision == ReviewDecision.RETURN:
        if not comment:
            raise ValidationError({"comment": "Say what to revise: a comment is required."})
        if scores:
            raise ValidationError({"scores": "A returned submission is not scored."})
        change = _status(evidence, EvidenceStatus.RETURNED, actor, comment)
        _notify_reviewed(evidence, change, returned=True)
        logger.info("submission returned", extra={"evidence_id": evidence.pk})
        return evidence
    if not scores:
        raise ValidationError({"scores": "Score at least one standard."})
    standards = _standards_by_id(scores.keys(), "scores")
    checked = {sid: _score(value, evidence.learner, "scores") for sid, value in scores.items()}
    earlier = {
        rating.standard_id: rating
        for rating in selectors.current_ratings().filter(
            evidence_id=evidence.pk, standard_id__in=list(checked)
        )
        if rating.source != RatingSource.SELF
    }
    Rating.objects.bulk_create(
        Rating(
            evidence=evidence,
            learner_id=evidence.learner_id,
            demonstrated_at=evidence.demonstrated_at,
            standard_id=standards[sid].pk,
            score=score,
            source=RatingSource.TEACHER,
            rater_id=_user_id(actor),
            comment=comment,
            supersedes=earlier.get(sid),
        )
        for sid, score in checked.items()
    )
    change = _status(evidence, EvidenceStatus.SCORED, actor, comment)
    _mark_stale(
        ((evidence.learner_id, sid) for sid in checked),
        actor=actor, action="evidence.review", object_type="evidence.evidence",
        object_id=evidence.pk, learner_ids=[evidence.learner_id],
    )  # fmt: skip
    _notify_reviewed(evidence, change, returned=False)
    logger.info("submission scored", extra={"evidence_id": evidence.pk, "ratings": len(checked)})
    return evidence


def _notify_reviewed(evidence: Evidence, change: EvidenceStatusChange, *, returned: bool) -> None:
    """The learner (and their guardians) are told, in this transaction; e-mail after commit."""
    notify_work_reviewed(
        learner=evidence.learner,
        evidence_id=evidence.pk,
        title=evidence.title,
        status_change_id=change.pk,
        returned=returned,
    )


# --- corrections and removals ---------------------------------------------------------------


def _may_change_rating(actor: AbstractBaseUser, rating: Rating) -> None:
    if rating.source == RatingSource.SELF:
        if not Learner.objects.filter(pk=rating.learner_id, user_id=_user_id(actor)).exists():
            raise PermissionDenied("Only the learner changes their self-rating.")
        return
    if not learner_selectors.changeable_learners(actor).filter(pk=rating.learner_id).exists():
        raise PermissionDenied("You may not change this learner's ratings.")


def _lock_rating(rating: Rating) -> Rating:
    # The rating row only, then its learner and school without a lock: locking the joined
    # learner row too (FOR UPDATE) made a recompute of that learner, which takes FOR KEY SHARE
    # on it (then at its commit, by a key check; now as it starts, the key of its records),
    # wait for us while we waited for its marker: a deadlock (seen in CI;
    # tests/mastery/test_lock_order.py).
    Rating.objects.select_for_update().filter(pk=rating.pk).values_list("pk").first()
    locked = Rating.objects.select_related("learner__school").get(pk=rating.pk)
    if Rating.objects.filter(supersedes_id=locked.pk).exists():
        raise ValidationError({"rating": "This rating was already corrected: correct the newest."})
    if RatingRemoval.objects.filter(rating_id=locked.pk).exists():
        raise ValidationError({"rating": "This rating was removed."})
    return locked


@transaction.atomic
def supersede_rating(
    *, actor: AbstractBaseUser, rating: Rating, score: Decimal | int | str, comment: str
) -> Rating:
    """Corrects a rating: a new rating on the same evidence, learner and standard names the old
    one in ``supersedes`` (the old row is never changed). A teacher's correction needs a
    comment saying why; only the newest rating of a chain can be corrected. A self-rating is
    corrected by its learner only; any other rating by staff, and stays of its kind (an imported
    score corrected by a teacher becomes a teacher rating)."""
    actor = _require_active(actor)
    _may_change_rating(actor, rating)
    locked = _lock_rating(rating)
    new_score = _score(score, locked.learner)
    comment = _text_field(comment, "comment", COMMENT_MAX)
    if locked.source != RatingSource.SELF and not comment:
        raise ValidationError({"comment": "Say why the rating changes: a comment is required."})
    source = (
        locked.source
        if locked.source in (RatingSource.SELF, RatingSource.OVERRIDE)
        else RatingSource.TEACHER
    )
    created = Rating.objects.create(
        evidence_id=locked.evidence_id,
        learner_id=locked.learner_id,
        demonstrated_at=locked.demonstrated_at,
        standard_id=locked.standard_id,
        score=new_score,
        source=source,
        rater_id=_user_id(actor),
        comment=comment,
        supersedes=locked,
    )
    _mark_stale(
        [(locked.learner_id, locked.standard_id)],
        actor=actor, action="evidence.rating.supersede", object_type="evidence.rating",
        object_id=created.pk, detail={"supersedes": locked.pk},
    )  # fmt: skip
    logger.info("rating superseded", extra={"rating_id": locked.pk, "by": created.pk})
    return created


@transaction.atomic
def remove_rating(*, actor: AbstractBaseUser, rating: Rating, reason: str) -> RatingRemoval:
    """Soft-deletes a rating with a required reason; it stops counting from now on and stays in
    the history. Only the newest rating of a correction chain is removed."""
    actor = _require_active(actor)
    _may_change_rating(actor, rating)
    locked = _lock_rating(rating)
    removal = RatingRemoval.objects.create(
        rating=locked, reason=_reason(reason), removed_by_id=_user_id(actor)
    )
    _mark_stale(
        [(locked.learner_id, locked.standard_id)],
        actor=actor, action="evidence.rating.remove", object_type="evidence.rating",
        object_id=locked.pk,
    )  # fmt: skip
    logger.info("rating removed", extra={"rating_id": locked.pk})
    return removal


@transaction.atomic
def remove_evidence(*, actor: AbstractBaseUser, evidence: Evidence, reason: str) -> EvidenceRemoval:
    """Soft-deletes evidence with a required reason: it leaves every list, and each of its
    current ratings gets a removal with the same reason (so none of them counts any more).
    Staff who may change the learner remove any evidence; a student removes their own
    submission while it is not scored."""
    actor = _require_active(actor)
    staff = learner_selectors.changeable_learners(actor).filter(pk=evidence.learner_id).exists()
    locked = _lock(evidence)
    if not staff:
        own = locked.learner.user_id == _user_id(actor)
        if not own or getattr(locked, "status", None) == EvidenceStatus.SCORED:
            raise PermissionDenied("You may not remove this evidence.")
    reason = _reason(reason)
    removal = EvidenceRemoval.objects.create(
        evidence=locked, reason=reason, removed_by_id=_user_id(actor)
    )
    live = list(selectors.current_ratings().filter(evidence_id=locked.pk))
    RatingRemoval.objects.bulk_create(
        RatingRemoval(rating=rating, reason=reason, removed_by_id=_user_id(actor))
        for rating in live
    )
    _mark_stale(
        ((rating.learner_id, rating.standard_id) for rating in live),
        actor=actor, action="evidence.remove", object_type="evidence.evidence",
        object_id=locked.pk, learner_ids=[locked.learner_id],
    )  # fmt: skip
    logger.info("evidence removed", extra={"evidence_id": locked.pk, "ratings": len(live)})
    return removal


@transaction.atomic
def add_artifacts(
    *,
    actor: AbstractBaseUser,
    evidence: Evidence,
    links: Sequence[str] = (),
    files: Sequence[UploadedFileLike] = (),
) -> list[Artifact]:
    """Attaches files or links to evidence: staff who may change the learner, or the learner
    on their own evidence while it is not scored."""
    actor = _require_active(actor)
    staff = learner_selectors.changeable_learners(actor).filter(pk=evidence.learner_id).exists()
    locked = _lock(evidence)
    if not staff and (
        locked.learner.user_id != _user_id(actor)
        or getattr(locked, "status", None) == EvidenceStatus.SCORED
    ):
        raise PermissionDenied("You may not add to this evidence.")
    links = _links(links)
    if not links and not files:
        raise ValidationError({"files": "Attach a file or a link."})
    _check_attachment_count(links, files)
    checked_files = _check_files(files)
    with _FileCleanup() as written:
        artifacts = _attach(locked, actor, links, checked_files, written)
    return artifacts


# --- ratings CSV import -------------------------------------------------------------------------


@transaction.atomic
def import_ratings_csv(
    *,
    actor: AbstractBaseUser,
    data: bytes | IO[bytes],
    dry_run: bool = False,
    max_bytes: int | None = None,
) -> RatingImportReport:
    """Imports ratings from a CSV file of any size (``evidence.csv_import``: the columns, and
    how): ``data`` is the file's bytes or an open binary stream, read once, in bounded memory.

    All or nothing: every row is checked (the learner among the actor's, the standard ratable
    and unambiguous, the score on the learner's scale, no row twice) and
    ``RatingImportRefused`` lists the problems by row and column (every one counted, the first
    ``common.importing.MAX_PROBLEMS`` listed) with nothing written. Rows with the same learner,
    date and title make one evidence (kind ``assessment``, status ``scored``). Idempotent:
    importing the same file again finds its evidence by that key and reports every row
    unchanged; a row whose score changed supersedes the earlier rating. The records of the
    touched pairs are marked stale and their learners handed to one bulk recompute job (the
    report's ``recompute_job_ids``); one audit entry per learner whose ratings changed.
    Set-based: the number of queries does not grow with the number of rows. ``max_bytes``: the
    largest file accepted (``settings.IMPORT_MAX_BYTES`` by default).
    """
    actor = _require_active(actor)
    limit = int(settings.IMPORT_MAX_BYTES) if max_bytes is None else max_bytes
    job = csv_import.RatingImport(actor=actor)
    try:
        with transaction.atomic():
            job.run(data, max_bytes=limit, dry_run=dry_run)
    except IntegrityError as exc:
        # Only what changed while the file was read gets here: another import of the same
        # evidence committed first (the unique evidence key, a rating superseded twice), or a
        # learner was erased (their key, checked at the end of the import).
        raise RatingImportRefused(
            [
                RowProblem(
                    0,
                    "",
                    "the same rows were imported, or their learners changed, while this file"
                    " was read: import it again",
                )
            ]
        ) from exc
    report = job.report
    if not dry_run:
        # LogRecord has its own "created": prefix the report's keys.
        logger.info(
            "ratings imported", extra={f"import_{k}": v for k, v in report.as_dict().items()}
        )
    return report
