"""What the privacy app keeps: an anonymous record of each erasure (no learner id, no name)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ErasureRecord(models.Model):
    """One completed erasure: who asked, when, for which school, and how much was removed.

    It names no learner (not even the id), so it can outlive the erasure: it is the school's
    proof that the request was carried out. ``organisation`` is kept so the school's and
    district's administrators can see their erasures.
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
    organisation = models.ForeignKey(
        "learners.Organisation",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    erased_at = models.DateTimeField(default=timezone.now)
    rows = models.JSONField(default=dict, blank=True)
    files_removed = models.PositiveIntegerField(default=0)
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-erased_at", "-id"]
        indexes = [models.Index(fields=["organisation", "erased_at"], name="privacy_erasure_org")]

    def __str__(self) -> str:
        return f"erasure {self.pk} at {self.erased_at:%Y-%m-%d %H:%M}"

    @property
    def rows_removed(self) -> int:
        return sum(int(count) for count in self.rows.values())
