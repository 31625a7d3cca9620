"""Reads of the reports app: who may request which report, the user's requests, download links.

Scoping goes through ``learners.selectors`` only (one mechanism for pages, API and reports):

- state export, school report and equity audit: an organisation the user administers (school
  admins their school; district and state admins theirs and below);
- section gradebook export: a section the user may see (its teachers, its school's admins);
- transcript: a learner the user may see (their teachers, admins, the learner, guardians).

Anything outside that answers 404, the same as a missing object. A download link is a signed
token naming the report and the requesting user, valid for ``LINK_SECONDS``; it is refused
(404) for anyone else, once expired, and whenever the requester has lost the scope since.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Final

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse

from learners.models import Learner, Organisation, OrganisationKind, Section, Term
from learners.selectors import (
    AnyUser,
    administered_organisations,
    descendants_of,
    today,
    visible_learners,
    visible_organisations,
    visible_sections,
    visible_terms,
)
from reports.models import FORMATS_OF, ReportKind, ReportRequest, ReportStatus

LINK_SECONDS: Final = 300
_LINK_SALT: Final = "reports.download"
_MAX_PK: Final = 2**63 - 1


@dataclass(frozen=True)
class ReportScope:
    """What one report covers, resolved and checked."""

    kind: str
    file_format: str
    as_of: datetime.date
    organisation: Organisation | None = None
    term: Term | None = None
    section: Section | None = None
    learner: Learner | None = None


def _id(value: object, field: str) -> int | None:
    if value is None or value == "":
        return None
    text = str(value)
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_PK:
        raise ValidationError({field: f"{field}: expected an id, got {text[:20]!r}."})
    return int(text)


def _one[M: (Organisation, Term, Section, Learner)](queryset: QuerySet[M], pk: int) -> M:
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist as exc:
        raise Http404("Not found.") from exc


def _check_shape(
    kind: str,
    file_format: str,
    as_of: object,
    ids: dict[str, int | None],
) -> datetime.date:
    """Everything that does not depend on who asks: kind, format, day, which ids it needs."""
    if kind not in ReportKind.values:
        raise ValidationError({"kind": f"kind: one of {', '.join(ReportKind.values)}."})
    offered = FORMATS_OF[kind]
    if file_format not in offered:
        raise ValidationError({"format": f"format: {kind} comes as {', '.join(offered)}."})
    if not isinstance(as_of, datetime.date) or isinstance(as_of, datetime.datetime):
        raise ValidationError({"as_of": "as_of: give a date (YYYY-MM-DD)."})
    if as_of > today():
        raise ValidationError({"as_of": "as_of: the day must not be in the future."})
    needed = {
        ReportKind.STATE_EXPORT: ("organisation", "term"),
        ReportKind.SCHOOL_REPORT: ("organisation", "term"),
        ReportKind.SECTION_EXPORT: ("section",),
        ReportKind.TRANSCRIPT: ("learner",),
        ReportKind.EQUITY_AUDIT: ("organisation", "term"),
    }[ReportKind(kind)]
    allowed = {
        ReportKind.STATE_EXPORT: {"organisation", "term"},
        ReportKind.SCHOOL_REPORT: {"organisation", "term"},
        ReportKind.SECTION_EXPORT: {"organisation", "section"},
        ReportKind.TRANSCRIPT: {"organisation", "learner", "term"},
        ReportKind.EQUITY_AUDIT: {"organisation", "term"},
    }[ReportKind(kind)]
    for name in needed:
        if ids[name] is None:
            raise ValidationError({name: f"{name}: required for a {kind}."})
    for name, value in ids.items():
        if value is not None and name not in allowed:
            raise ValidationError({name: f"{name}: not used by a {kind}; leave it empty."})
    return as_of


def resolve_scope(
    user: AnyUser | None,
    *,
    kind: str,
    file_format: str,
    as_of: object,
    organisation: object = None,
    term: object = None,
    section: object = None,
    learner: object = None,
    operator: bool = False,
) -> ReportScope:
    """Check a report's parameters and the user's right to its scope.

    Raises ``ValidationError`` (naming the field) for parameters that make no sense whoever
    asks, and ``Http404`` for an object that is missing or outside the user's scope. With
    ``operator=True`` (the command line, no user) only existence is checked.
    """
    ids = {
        "organisation": _id(organisation, "organisation"),
        "term": _id(term, "term"),
        "section": _id(section, "section"),
        "learner": _id(learner, "learner"),
    }
    day = _check_shape(kind, file_format, as_of, ids)
    # Each scope query is built only when its id was given (building them costs more than
    # running them): the operator (command line) sees every row.
    every = operator
    found_org = found_term = found_section = found_learner = None
    if kind in (ReportKind.STATE_EXPORT, ReportKind.SCHOOL_REPORT, ReportKind.EQUITY_AUDIT):
        assert ids["organisation"] is not None
        administered = Organisation.objects.all() if every else administered_organisations(user)
        found_org = _one(administered, ids["organisation"])
        if kind == ReportKind.SCHOOL_REPORT and found_org.kind != OrganisationKind.SCHOOL:
            raise ValidationError({"organisation": "organisation: a school report is per school."})
    elif ids["organisation"] is not None:
        organisations = Organisation.objects.all() if every else visible_organisations(user)
        found_org = _one(organisations, ids["organisation"])
    if ids["term"] is not None:
        found_term = _one(Term.objects.all() if every else visible_terms(user), ids["term"])
    if ids["section"] is not None:
        sections = Section.objects.all() if every else visible_sections(user)
        found_section = _one(sections.select_related("school", "term"), ids["section"])
    if ids["learner"] is not None:
        learners = Learner.objects.all() if every else visible_learners(user)
        found_learner = _one(learners.select_related("school"), ids["learner"])
    school_id = (
        found_section.school_id
        if found_section is not None
        else found_learner.school_id
        if found_learner is not None
        else None
    )
    if (
        found_org is not None
        and school_id is not None
        and not descendants_of(found_org).filter(pk=school_id).exists()
    ):
        raise ValidationError({"organisation": "organisation: the scope is not within it."})
    return ReportScope(
        kind=kind,
        file_format=file_format,
        as_of=day,
        organisation=found_org,
        term=found_term,
        section=found_section,
        learner=found_learner,
    )


def scope_of(report: ReportRequest) -> dict[str, object]:
    """A request's stored parameters, as ``resolve_scope`` takes them."""
    return {
        "kind": report.kind,
        "file_format": report.file_format,
        "as_of": report.as_of,
        "organisation": report.organisation_id,
        "term": report.term_id,
        "section": report.section_id,
        "learner": report.learner_id,
    }


# --- the user's requests -----------------------------------------------------------------------


def own_reports(user: AnyUser | None) -> QuerySet[ReportRequest]:
    """The reports the user requested, newest first (nobody lists anyone else's)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return ReportRequest.objects.none()
    return ReportRequest.objects.filter(requester_id=user.pk).order_by("-created_at", "-pk")


def get_own_report_or_404(user: AnyUser | None, pk: object) -> ReportRequest:
    text = str(pk)
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_PK:
        raise Http404("Not found.")
    try:
        return own_reports(user).get(pk=int(text))
    except ReportRequest.DoesNotExist as exc:
        raise Http404("Not found.") from exc


# --- download links ----------------------------------------------------------------------------


def download_token(report: ReportRequest) -> str:
    """A signed token naming the report and its requester (valid ``LINK_SECONDS``)."""
    return signing.TimestampSigner(salt=_LINK_SALT).sign_object(
        {"r": report.pk, "u": report.requester_id}
    )


def download_path(report: ReportRequest, *, api: bool = False) -> str | None:
    """A fresh short-lived download path for a finished report, else None."""
    if report.status != ReportStatus.DONE or report.requester_id is None:
        return None
    name = "reports-api:download" if api else "reports:download"
    return reverse(name, args=[download_token(report)])


@dataclass(frozen=True)
class LinkCheck:
    """What a download link resolved to: the report when usable, else why not (for the log)."""

    report: ReportRequest | None
    reason: str
    report_id: int | None = None


def check_download(user: AnyUser | None, token: str) -> LinkCheck:
    """The report a link names, if ``user`` is the requester it was issued to, the link has
    not expired and the report is ready. Never raises; the caller answers 404 otherwise."""
    try:
        payload = signing.TimestampSigner(salt=_LINK_SALT).unsign_object(
            token, max_age=LINK_SECONDS
        )
    except signing.SignatureExpired:
        return LinkCheck(None, "expired")
    except signing.BadSignature:
        return LinkCheck(None, "bad signature")
    if not isinstance(payload, dict) or not isinstance(payload.get("r"), int):
        return LinkCheck(None, "bad signature")
    report_id = int(payload["r"])
    if user is None or not user.is_authenticated or payload.get("u") != user.pk:
        return LinkCheck(None, "another user", report_id)
    report = own_reports(user).filter(pk=report_id).first()
    if report is None or report.status != ReportStatus.DONE:
        return LinkCheck(None, "not ready", report_id)
    try:
        resolve_scope(user, **scope_of(report))  # type: ignore[arg-type]
    except (Http404, ValidationError):
        return LinkCheck(None, "scope lost", report_id)
    return LinkCheck(report, "", report_id)
