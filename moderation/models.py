"""Moderation rounds, second ratings, common tasks (see README.md).

A **moderation round** draws a seeded, stratified sample of scored evidence (one item per first
teacher rating of a chosen standard) and assigns each item to a second teacher outside the
learner's sections, who rates it blind. **Second ratings** live here, apart from the evidence
app's ratings: they never count toward mastery. Only ``moderation.services.close_round`` with
the decision "adopt" turns one into a rating, through ``evidence.services.supersede_rating``
(the normal correction path); the new rating is then named in ``ModerationItem.adopted_rating``.

A **common task** is a task shared by the sections of every school at or below an organisation
(title, prompt, standards, a description per level of the scale, a window); the evidence
recorded from it is linked by ``CommonTaskEvidence``, so rounds can draw from one task.

Rows are written only by ``moderation.services``. Second ratings are append-only: the latest
of an item (by time, then id) is its current one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class CommonTask(models.Model):
    """A task shared across sections and schools, so that evidence from it is comparable."""

    organisation = models.ForeignKey(
        "learners.Organisation", on_delete=models.PROTECT, related_name="common_tasks"
    )
    title = models.CharField(max_length=200)
    prompt = models.TextField()
    standards = models.ManyToManyField("standards.Standard", related_name="common_tasks")
    opens_on = models.DateField()
    closes_on = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-opens_on", "title", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_on__gte=models.F("opens_on")),
                name="moderation_task_closes_after_it_opens",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class CommonTaskLevel(models.Model):
    """What the task's work looks like at one level of the scale (its rubric)."""

    task = models.ForeignKey(CommonTask, on_delete=models.CASCADE, related_name="levels")
    points = models.DecimalField(max_digits=6, decimal_places=2)
    label = models.CharField(max_length=100)
    description = models.TextField()

    class Meta:
        ordering = ["task", "-points"]
        constraints = [
            models.UniqueConstraint(fields=["task", "points"], name="moderation_level_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.label} of task {self.task_id}"


class CommonTaskEvidence(models.Model):
    """Evidence recorded from a common task."""

    task = models.ForeignKey(CommonTask, on_delete=models.PROTECT, related_name="evidence_links")
    evidence = models.OneToOneField(
        "evidence.Evidence", on_delete=models.PROTECT, related_name="common_task_link"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "evidence"]

    def __str__(self) -> str:
        return f"evidence {self.evidence_id} from task {self.task_id}"


class RoundStatus(models.TextChoices):
    OPEN = "open", "Open for second ratings"
    CLOSED = "closed", "Closed"


class RoundDecision(models.TextChoices):
    KEEP = "keep", "Keep the first ratings"
    ADOPT = "adopt", "Adopt the moderated ratings"


class ModerationRound(models.Model):
    """One moderation round: the sample drawn for an organisation, a term and some standards."""

    organisation = models.ForeignKey(
        "learners.Organisation", on_delete=models.PROTECT, related_name="moderation_rounds"
    )
    term = models.ForeignKey("learners.Term", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    standards = models.ManyToManyField("standards.Standard", related_name="+")
    common_task = models.ForeignKey(
        CommonTask, null=True, blank=True, on_delete=models.PROTECT, related_name="rounds"
    )
    sample_size = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    population = models.PositiveIntegerField(
        default=0, help_text="How many scored pieces the sample was drawn from."
    )
    due_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=RoundStatus.choices, default=RoundStatus.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decision = models.CharField(max_length=8, choices=RoundDecision.choices, blank=True)
    reason = models.TextField(blank=True, default="")
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RoundStatus.values), name="moderation_round_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=RoundStatus.OPEN, decision="", closed_at__isnull=True)
                | Q(status=RoundStatus.CLOSED, decision__in=RoundDecision.values)
                & Q(closed_at__isnull=False),
                name="moderation_round_closed_with_a_decision",
            ),
            models.CheckConstraint(
                condition=Q(sample_size__gte=1), name="moderation_round_sample_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ModerationItem(models.Model):
    """One sampled piece: the first teacher rating of a standard on an evidence, and who
    rates it again, blind. ``school`` and ``section`` are the stratum it was drawn from."""

    round = models.ForeignKey(ModerationRound, on_delete=models.PROTECT, related_name="items")
    position = models.PositiveIntegerField()
    rating = models.ForeignKey("evidence.Rating", on_delete=models.PROTECT, related_name="+")
    evidence = models.ForeignKey("evidence.Evidence", on_delete=models.PROTECT, related_name="+")
    learner = models.ForeignKey("learners.Learner", on_delete=models.PROTECT, related_name="+")
    standard = models.ForeignKey("standards.Standard", on_delete=models.PROTECT, related_name="+")
    school = models.ForeignKey("learners.Organisation", on_delete=models.PROTECT, related_name="+")
    section = models.ForeignKey(
        "learners.Section", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    first_rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="moderation_items"
    )
    adopted_rating = models.OneToOneField(
        "evidence.Rating", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["round", "position"]
        constraints = [
            models.UniqueConstraint(fields=["round", "position"], name="moderation_item_position"),
            models.UniqueConstraint(fields=["round", "rating"], name="moderation_item_once"),
            models.CheckConstraint(
                condition=~Q(reviewer=models.F("first_rater")),
                name="moderation_item_reviewer_is_not_the_first_rater",
            ),
        ]
        indexes = [models.Index(fields=["reviewer", "round"], name="moderation_item_reviewer")]

    def __str__(self) -> str:
        return f"piece {self.position} of round {self.round_id}"


class ModerationRating(models.Model):
    """A second, blind rating of a sampled piece. Kept apart: it never counts toward mastery."""

    item = models.ForeignKey(ModerationItem, on_delete=models.PROTECT, related_name="ratings")
    score = models.DecimalField(max_digits=5, decimal_places=2)
    comment = models.TextField(blank=True, default="")
    rated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    rated_at = models.DateTimeField()

    class Meta:
        ordering = ["item", "rated_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=0), name="moderation_rating_score_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"second rating {self.pk} of item {self.item_id}"
