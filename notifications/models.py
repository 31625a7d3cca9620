"""Notifications: what happened that a learner or a family should know, in the app and by e-mail.

- ``Notification``: one message to one person about one learner, unique by ``key`` (the event it
  is about), so an event reported twice makes one notification. Its e-mail is sent at most once:
  ``emailed_at`` is set in the transaction that sends it (``notifications.services``).
- ``Preference``: what a person chooses to receive (in the app, by e-mail) and their language.
- ``DigestSubscription``: a guardian's opt-in to the weekly digest about one of their children.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    WORK_SCORED = "work_scored", _("Work scored")
    WORK_RETURNED = "work_returned", _("Work returned to revise")
    ELECTIVE_DECIDED = "elective_decided", _("Elective approved or refused")
    STANDARD_MASTERED = "standard_mastered", _("Standard mastered")
    WEEKLY_DIGEST = "weekly_digest", _("Weekly digest")


class EmailState(models.TextChoices):
    PENDING = "pending", "pending"
    SENT = "sent", "sent"
    SKIPPED = "skipped", "skipped"


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    learner = models.ForeignKey(
        "learners.Learner", on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=24, choices=NotificationKind.choices)
    key = models.CharField(max_length=200, unique=True)
    # What the message shows, rendered in the reader's language when read or sent.
    params = models.JSONField(default=dict, blank=True)
    link = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Shown in the app (the person may receive some kinds by e-mail only).
    in_app = models.BooleanField(default=True)
    email_state = models.CharField(
        max_length=8, choices=EmailState.choices, default=EmailState.SKIPPED
    )
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=NotificationKind.values),
                name="notifications_notification_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"notification {self.pk} ({self.kind}) to user {self.recipient_id}"


class Preference(models.Model):
    """A person's choices; missing means the defaults (``notifications.services.DEFAULTS``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    # Blank: the browser's language.
    language = models.CharField(max_length=8, blank=True, default="")
    in_app_work = models.BooleanField(default=True)
    email_work = models.BooleanField(default=True)
    in_app_electives = models.BooleanField(default=True)
    email_electives = models.BooleanField(default=True)
    in_app_mastered = models.BooleanField(default=True)
    email_mastered = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"


class DigestSubscription(models.Model):
    guardian = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_subscriptions"
    )
    learner = models.ForeignKey(
        "learners.Learner", on_delete=models.CASCADE, related_name="digest_subscriptions"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["guardian", "learner"], name="notifications_digest_unique_pair"
            )
        ]

    def __str__(self) -> str:
        return f"digest of learner {self.learner_id} for user {self.guardian_id}"
