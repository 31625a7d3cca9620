"""Open Badges 3.0 credentials the platform issued: one per learner per mastered standard.

The signed VC-JWT is kept as issued, so every download of a credential gives the same bytes and
the same ``id`` (a credential is a record the learner keeps and shares; reissuing it with a new
id would make two). Personal data (privacy.registry): erased with the learner.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class Credential(models.Model):
    learner = models.ForeignKey(
        "learners.Learner", on_delete=models.CASCADE, related_name="credentials"
    )
    standard = models.ForeignKey(
        "standards.Standard", on_delete=models.PROTECT, related_name="credentials"
    )
    issuer = models.ForeignKey(
        "learners.Organisation", on_delete=models.PROTECT, related_name="credentials"
    )
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The AchievementCredential (JSON) and its compact VC-JWT, as signed.
    credential = models.JSONField()
    jwt = models.TextField()
    kid = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["learner", "issued_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "standard"], name="badges_credential_one_per_standard"
            )
        ]

    def __str__(self) -> str:
        return f"credential {self.uuid} of learner {self.learner_id}"
