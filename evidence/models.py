"""Evidence of learning, its artifacts, reflections and ratings (see README.md).

Everything here is history and append-only (docs/decisions/0005-evidence-and-mastery-flow.md):
rows are inserted by ``evidence.services`` and never updated or deleted. A correction is a new
row that names the one it replaces (``Rating.supersedes``); a removal is a row of its own with a
reason (``RatingRemoval``, ``EvidenceRemoval``); a status is the latest ``EvidenceStatusChange``.
On PostgreSQL, triggers (migration 0002) refuse UPDATE and DELETE on every table of this app
except the erased learner's rows in a transaction that called ``mastery_begin_erasure``
(the erasure service only: privacy/migrations/0002, common/database_roles.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EvidenceKind(models.TextChoices):
    OBSERVATION = "observation", _("Observation")
    ASSESSMENT = "assessment", _("Assessment")
    PROJECT = "project", _("Project")
    COMMUNITY = "community", _("Community or work-based")
    PRIOR_LEARNING = "prior_learning", _("Prior learning")


class LearningSetting(models.TextChoices):
    """Where the learning happened."""

    IN_SCHOOL = "in_school", _("In school")
    COMMUNITY = "community", _("Community")
    ONLINE = "online", _("Online")
    WORK_BASED = "work_based", _("Work-based")


class EvidenceStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    SCORED = "scored", "Scored"
    RETURNED = "returned", "Returned for revision"


class RatingSource(models.TextChoices):
    TEACHER = "teacher", "Teacher"
    SELF = "self", "Self-rating"
    IMPORT = "import", "Imported"
    OVERRIDE = "override", "Professional judgement"


class ArtifactKind(models.TextChoices):
    FILE = "file", "File"
    LINK = "link", "Link"


class Evidence(models.Model):
    """One demonstration of learning by one learner.

    ``description`` is sanitised HTML (nh3) or plain text escaped by the same sanitiser.
    ``source_key`` identifies evidence created by an import (a re-import finds it again and
    creates no duplicate); blank for evidence entered by hand.
    """

    learner = models.ForeignKey(
        "learners.Learner", on_delete=models.PROTECT, related_name="evidence"
    )
    kind = models.CharField(max_length=16, choices=EvidenceKind.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    setting = models.CharField(
        "where the learning happened",
        max_length=16,
        choices=LearningSetting.choices,
        default=LearningSetting.IN_SCHOOL,
    )
    demonstrated_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    section = models.ForeignKey(
        "learners.Section",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="evidence",
    )
    source_key = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-demonstrated_at", "-recorded_at", "-id"]
        verbose_name_plural = "evidence"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=EvidenceKind.values), name="evidence_evidence_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(setting__in=LearningSetting.values),
                name="evidence_evidence_setting_valid",
            ),
            models.UniqueConstraint(
                fields=["learner", "source_key"],
                condition=~Q(source_key=""),
                name="evidence_evidence_unique_source_key",
            ),
        ]
        indexes = [models.Index(fields=["learner", "demonstrated_at"])]

    def __str__(self) -> str:
        return f"evidence {self.pk} of learner {self.learner_id}"


class EvidenceStatusChange(models.Model):
    """The history of an evidence's status; the latest row (by ``changed_at``, id) is current."""

    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="status_changes")
    status = models.CharField(max_length=16, choices=EvidenceStatus.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)
    comment = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["evidence", "changed_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=EvidenceStatus.values),
                name="evidence_statuschange_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["evidence", "-changed_at", "-id"])]

    def __str__(self) -> str:
        return f"evidence {self.evidence_id} {self.status}"


class EvidenceRemoval(models.Model):
    """A soft delete of evidence, with its reason. Its ratings get removals of their own."""

    evidence = models.OneToOneField(Evidence, on_delete=models.PROTECT, related_name="removal")
    reason = models.TextField()
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    removed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["removed_at", "id"]

    def __str__(self) -> str:
        return f"removal of evidence {self.evidence_id}"


class Artifact(models.Model):
    """A file or a link attached to evidence.

    A file lives at ``MEDIA_ROOT/artifacts/<storage_name>`` (a random UUID, never a name the
    user chose) and is only sent through the permission-checked download view, as an
    attachment with ``content_type`` (detected from the bytes). ``original_name`` is kept,
    sanitised, for the download's suggested file name only.
    """

    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="artifacts")
    kind = models.CharField(max_length=8, choices=ArtifactKind.choices)
    url = models.URLField(max_length=2000, blank=True, default="")
    storage_name = models.CharField(max_length=64, blank=True, default="")
    original_name = models.CharField(max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=128, blank=True, default="")
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["evidence", "created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind=ArtifactKind.FILE, url="", size__isnull=False)
                    & ~Q(storage_name="")
                    & ~Q(content_type="")
                )
                | (Q(kind=ArtifactKind.LINK, storage_name="", size__isnull=True) & ~Q(url="")),
                name="evidence_artifact_file_or_link",
            ),
            models.UniqueConstraint(
                fields=["storage_name"],
                condition=~Q(storage_name=""),
                name="evidence_artifact_unique_storage_name",
            ),
        ]

    def __str__(self) -> str:
        return f"artifact {self.pk} ({self.kind}) of evidence {self.evidence_id}"


class Reflection(models.Model):
    """The learner's answers to the four prompts; the latest one of an evidence is current."""

    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="reflections")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    what_i_learned = models.TextField("What did I learn?", blank=True, default="")
    how_i_got_there = models.TextField("How did I get there?", blank=True, default="")
    how_i_showed_it = models.TextField("How did I show it?", blank=True, default="")
    how_i_will_use_it = models.TextField("How will I use it?", blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    PROMPTS = ("what_i_learned", "how_i_got_there", "how_i_showed_it", "how_i_will_use_it")

    class Meta:
        ordering = ["evidence", "created_at", "id"]

    def __str__(self) -> str:
        return f"reflection {self.pk} on evidence {self.evidence_id}"


class Rating(models.Model):
    """A score of one evidence against one standard (table ``evidence_rating``).

    ``learner`` and ``demonstrated_at`` are copied from the evidence so the covering index
    ``(learner_id, standard_id, demonstrated_at, recorded_at, id) INCLUDE (score, source)``
    serves the ordered read of a learner's ratings. A rating *counts toward mastery* when its
    source is not ``self``, no rating supersedes it and it has no removal
    (``mastery.core.counted_ratings``).
    """

    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="ratings")
    # The covering index below leads with learner_id: no separate index for the foreign key.
    learner = models.ForeignKey(
        "learners.Learner", on_delete=models.PROTECT, related_name="ratings", db_index=False
    )
    demonstrated_at = models.DateTimeField()
    standard = models.ForeignKey(
        "standards.Standard", on_delete=models.PROTECT, related_name="ratings"
    )
    score = models.DecimalField(max_digits=5, decimal_places=2)
    source = models.CharField(max_length=8, choices=RatingSource.choices)
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    comment = models.TextField(blank=True, default="")
    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
    )

    class Meta:
        ordering = ["demonstrated_at", "recorded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=RatingSource.values), name="evidence_rating_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0), name="evidence_rating_score_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(supersedes=models.F("id")),
                name="evidence_rating_not_superseding_itself",
            ),
        ]
        indexes = [
            models.Index(
                fields=["learner", "standard", "demonstrated_at", "recorded_at", "id"],
                include=["score", "source"],
                name="evidence_rating_covering",
            ),
        ]

    def __str__(self) -> str:
        return f"rating {self.pk}: learner {self.learner_id} standard {self.standard_id}"


class RatingRemoval(models.Model):
    """A soft delete of a rating, with its reason: the rating stops counting from ``removed_at``."""

    rating = models.OneToOneField(Rating, on_delete=models.PROTECT, related_name="removal")
    reason = models.TextField()
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    removed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["removed_at", "id"]

    def __str__(self) -> str:
        return f"removal of rating {self.rating_id}"
