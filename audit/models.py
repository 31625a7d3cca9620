"""The audit log and the record of disclosures (see README.md).

Both tables are append-only: rows are inserted by ``audit.services`` and never updated or
deleted. On PostgreSQL a trigger (migration 0002) refuses UPDATE and DELETE unless the
transaction erases the learner (``mastery_begin_erasure``: the erasure service only, ADR 7).

The log outlives the rows it names: ``actor`` and ``learner`` are foreign keys without a
database constraint, so an audit row never blocks deleting a user and is never rewritten when
one goes (``SET NULL`` would be an UPDATE). They keep the id that acted or was read.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Outcome(models.TextChoices):
    ALLOWED = "allowed", "Allowed"
    DENIED = "denied", "Denied"


class AuditEntry(models.Model):
    """One access to (or change of) learner records, allowed or denied.

    ``action`` is a dotted verb (``report.request``, ``report.download``, ...); ``object_type``
    and ``object_id`` name what was touched (``reports.reportrequest`` and its id); ``learner``
    is set when the access concerns one learner. ``role`` holds the roles the actor had at the
    time (comma-separated, ``operator`` for the command line). ``detail`` carries ids and
    parameters, never names or other personal data.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    role = models.CharField(max_length=120, blank=True, default="")
    learner = models.ForeignKey(
        "learners.Learner",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    action = models.CharField(max_length=64)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.ALLOWED)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)
    request_id = models.CharField(max_length=64, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "audit entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=Outcome.values), name="audit_entry_outcome_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["learner", "occurred_at"], name="audit_entry_learner"),
            models.Index(fields=["actor", "occurred_at"], name="audit_entry_actor"),
            models.Index(fields=["object_type", "object_id"], name="audit_entry_object"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} by user {self.actor_id} at {self.occurred_at}"


class Disclosure(models.Model):
    """One learner's records disclosed outside the school (FERPA's record of disclosures).

    One row per learner per disclosure (e.g. per learner included in a state accountability
    export): who disclosed, to whom, why, and which object (the report) carried the data.
    """

    learner = models.ForeignKey(
        "learners.Learner", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    role = models.CharField(max_length=120, blank=True, default="")
    recipient = models.CharField(max_length=200)
    purpose = models.CharField(max_length=200)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    disclosed_at = models.DateTimeField(default=timezone.now)
    request_id = models.CharField(max_length=64, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["disclosed_at", "id"]
        indexes = [
            models.Index(fields=["learner", "disclosed_at"], name="audit_disclosure_learner"),
            models.Index(fields=["object_type", "object_id"], name="audit_disclosure_object"),
        ]

    def __str__(self) -> str:
        return f"disclosure of learner {self.learner_id} to {self.recipient}"
