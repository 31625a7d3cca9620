"""Reads of the privacy app: who may export or erase whom, the access log, what remains.

Exports and erasures are the school's requests, so they are for the administrators of the
learner's school (or of the district or state above it) and the platform operator; teachers,
guardians and students get 404, as for anything outside their scope.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.http import Http404

from audit.models import AuditEntry
from learners.models import Learner
from learners.selectors import administered_organisations
from privacy import registry
from privacy.models import ErasureRecord

type AnyUser = AbstractBaseUser | AnonymousUser

_MAX_PK = 2**63 - 1


def _active(user: AnyUser | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def administered_learners(user: AnyUser | None) -> QuerySet[Learner]:
    """Learners of the schools at or below the organisations the user administers (every
    learner for the operator): the learners whose data the user may export or erase."""
    if user is None or not _active(user):
        return Learner.objects.none()
    if getattr(user, "is_superuser", False):
        return Learner.objects.all()
    return Learner.objects.filter(school_id__in=administered_organisations(user).values("pk"))


def may_use_privacy_tools(user: AnyUser | None) -> bool:
    """Administrators of any organisation and the operator (the pages then scope)."""
    if user is None or not _active(user):
        return False
    return bool(getattr(user, "is_superuser", False)) or administered_organisations(user).exists()


def parse_pk(value: object) -> int:
    """A positive database id, or ``Http404`` (the same answer as an id out of scope)."""
    text = str(value)
    if not text.isascii() or not text.isdigit() or int(text) == 0 or int(text) > _MAX_PK:
        raise Http404("Not found.")
    return int(text)


def get_administered_learner_or_404(user: AnyUser | None, pk: object) -> Learner:
    try:
        return administered_learners(user).select_related("school").get(pk=parse_pk(pk))
    except Learner.DoesNotExist as exc:
        raise Http404("Not found.") from exc


@dataclass(frozen=True)
class AccessLogFilter:
    """What an administrator searches the access log by (all optional)."""

    learner_id: int | None = None
    actor_id: int | None = None
    action: str = ""
    outcome: str = ""
    since: datetime.date | None = None
    until: datetime.date | None = None


def visible_audit_entries(user: AnyUser | None) -> QuerySet[AuditEntry]:
    """Audit entries an administrator may search: those about learners of the schools they
    administer. An entry without a learner names no school, so those are for the operator."""
    if user is None or not _active(user):
        return AuditEntry.objects.none()
    if getattr(user, "is_superuser", False):
        return AuditEntry.objects.all()
    return AuditEntry.objects.filter(learner_id__in=administered_learners(user).values("pk"))


def search_audit_entries(user: AnyUser | None, wanted: AccessLogFilter) -> QuerySet[AuditEntry]:
    """The entries of :func:`visible_audit_entries` matching ``wanted``, newest first."""
    entries = visible_audit_entries(user)
    if wanted.learner_id is not None:
        entries = entries.filter(learner_id=wanted.learner_id)
    if wanted.actor_id is not None:
        entries = entries.filter(actor_id=wanted.actor_id)
    if wanted.action:
        entries = entries.filter(action=wanted.action)
    if wanted.outcome:
        entries = entries.filter(outcome=wanted.outcome)
    if wanted.since is not None:
        entries = entries.filter(occurred_at__date__gte=wanted.since)
    if wanted.until is not None:
        entries = entries.filter(occurred_at__date__lte=wanted.until)
    return entries.order_by("-occurred_at", "-id")


def visible_erasures(user: AnyUser | None) -> QuerySet[ErasureRecord]:
    """Erasure records of the organisations the user administers (all for the operator)."""
    if user is None or not _active(user):
        return ErasureRecord.objects.none()
    if getattr(user, "is_superuser", False):
        return ErasureRecord.objects.all()
    return ErasureRecord.objects.filter(
        organisation_id__in=administered_organisations(user).values("pk")
    )


def remaining_rows(learner_id: int, user_id: int | None = None) -> dict[str, int]:
    """How many rows still name the learner, per registered model (plus the admin's change
    log about the learner and, when given, the student's login): all zero after an erasure."""
    counts = {entry.model: entry.rows_of(learner_id).count() for entry in registry.entries()}
    learner_type = ContentType.objects.get_for_model(Learner)
    counts["admin.LogEntry"] = LogEntry.objects.filter(
        content_type=learner_type, object_id=str(learner_id)
    ).count()
    if user_id is not None:
        counts["auth.User"] = User.objects.filter(pk=user_id).count()
        counts["audit.AuditEntry(actor)"] = AuditEntry.objects.filter(Q(actor_id=user_id)).count()
    return counts
