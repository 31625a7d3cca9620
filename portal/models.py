"""The learner's own goals: what they aim for, by when, toward which standards, and how it went.

Written by the learner only (``portal.services``); read by their teachers and guardians.
Personal data (privacy.registry): exported and erased with the learner.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class GoalStatus(models.TextChoices):
    WORKING = "working", _("Working on it")
    REACHED = "reached", _("Reached")
    CHANGED = "changed", _("Changed my mind")


class Goal(models.Model):
    learner = models.ForeignKey("learners.Learner", on_delete=models.CASCADE, related_name="goals")
    title = models.CharField(max_length=200)
    # The standards the goal is about (ids; a goal outlives a retired standard).
    standard_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    target_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=GoalStatus.choices, default=GoalStatus.WORKING)
    reflection = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["status", "target_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=GoalStatus.values), name="portal_goal_status_valid"
            )
        ]

    def __str__(self) -> str:
        return f"goal {self.pk} of learner {self.learner_id}"
