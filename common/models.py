"""Models of the common app (see README.md)."""

from __future__ import annotations

from django.db import models


class RowVersion(models.Model):
    """One version of a row that "as of" reads depend on (ADR 8): the row's tracked columns as
    they were from ``valid_from`` (the writing transaction's time) until the next version of
    the same row; ``deleted`` marks the row's removal.

    Written only by the PostgreSQL trigger ``common_version_row`` (``common/history.py``), on
    every insert, update of a tracked column and delete of a versioned table, whoever writes:
    a service, the admin, an import or plain SQL. Append-only: UPDATE and DELETE are refused
    unless the erasure service runs (``mastery_begin_erasure``, ADR 7). ``learner_id`` names
    the learner a row is about (learners, enrollments, elective choices): such versions are
    personal data
    (``privacy.registry``); they hold ids, grades and dates, never names.
    """

    table_name = models.CharField(max_length=63)
    row_id = models.BigIntegerField()
    learner_id = models.BigIntegerField(null=True, blank=True)
    valid_from = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    data = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(
                fields=["table_name", "row_id", "-valid_from", "-id"], name="rowversion_row"
            ),
            models.Index(fields=["table_name", "valid_from"], name="rowversion_changes"),
            models.Index(
                fields=["learner_id"],
                name="rowversion_learner",
                condition=models.Q(learner_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.table_name} {self.row_id} from {self.valid_from:%Y-%m-%d %H:%M}"
