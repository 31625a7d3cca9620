"""Report requests: what was asked, by whom, for which scope and day, and where the file is.

A request is written by ``reports.services.request_report`` and moved through its states only
by ``reports.services.generate_report`` (queued -> running -> done or failed). The file lives
under ``settings.REPORTS_ROOT`` with a generated name (never served directly: downloads go
through signed, short-lived links bound to the requester, see ``reports.selectors``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ReportKind(models.TextChoices):
    STATE_EXPORT = "state_export", "State accountability export"
    SCHOOL_REPORT = "school_report", "School accountability report"
    TRANSCRIPT = "transcript", "Learner mastery transcript"
    SECTION_EXPORT = "section_export", "Section gradebook export"
    EQUITY_AUDIT = "equity_audit", "Equity audit of the measurement"


class ReportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON (Ed-Fi)"
    NDJSON = "ndjson", "Ed-Fi records, one per line (NDJSON)"
    XLSX = "xlsx", "Excel (XLSX)"
    PDF = "pdf", "PDF"


# The formats each kind is offered in (the first is the default).
FORMATS_OF: dict[str, tuple[str, ...]] = {
    ReportKind.STATE_EXPORT: (ReportFormat.CSV, ReportFormat.JSON, ReportFormat.NDJSON),
    ReportKind.SCHOOL_REPORT: (ReportFormat.XLSX, ReportFormat.CSV),
    ReportKind.TRANSCRIPT: (ReportFormat.PDF,),
    ReportKind.SECTION_EXPORT: (ReportFormat.CSV, ReportFormat.XLSX),
    ReportKind.EQUITY_AUDIT: (ReportFormat.XLSX, ReportFormat.CSV),
}


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"


class ReportRequest(models.Model):
    """One requested report and, once generated, its file.

    Scope: ``organisation`` and ``term`` (state export, school report), ``section`` (gradebook
    export) or ``learner`` (transcript, with an optional ``term``). ``as_of`` is the day the
    report describes (ratings counted as of its end). Progress is ``rows_done`` of
    ``rows_total``; ``attempt`` names the generation that owns the row (a redelivered task
    takes over, the one it replaced cannot finish), ``lease_expires_at`` until when it holds it
    without renewing (R12). ``error`` holds ids and reasons only.
    """

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=ReportKind.choices)
    file_format = models.CharField("format", max_length=8, choices=ReportFormat.choices)
    organisation = models.ForeignKey(
        "learners.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    term = models.ForeignKey(
        "learners.Term", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    section = models.ForeignKey(
        "learners.Section", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    learner = models.ForeignKey(
        "learners.Learner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    as_of = models.DateField("as of")
    status = models.CharField(
        max_length=8, choices=ReportStatus.choices, default=ReportStatus.QUEUED
    )
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    row_count = models.BigIntegerField(null=True, blank=True)
    # What the file leaves out and why, e.g. {"not_assessed": 120} for an Ed-Fi export.
    summary = models.JSONField(default=dict, blank=True)
    file_name = models.CharField(max_length=80, unique=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    attempt = models.CharField(max_length=32, blank=True, default="")
    # The outbox and the lease (R11, R12): when the generation message last went to the broker
    # (None: not sent yet), since when sending it fails (the broker is unreachable), the message
    # whose task holds the report, until when (renewed while it runs), and how many attempts
    # have taken it up.
    sent_at = models.DateTimeField(null=True, blank=True)
    send_failed_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ReportKind.values), name="reports_request_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(file_format__in=ReportFormat.values),
                name="reports_request_format_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReportStatus.values), name="reports_request_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["requester", "-created_at"], name="reports_by_requester")]

    def __str__(self) -> str:
        return f"{self.kind} report {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == ReportStatus.DONE:
            return 100
        if self.rows_total <= 0:
            return 0
        return min(100, (100 * self.rows_done) // self.rows_total)

    @property
    def waiting_for_workers(self) -> bool:
        """Queued, and its message could not be sent: the broker was unreachable."""
        return self.status == ReportStatus.QUEUED and self.send_failed_at is not None

    @property
    def download_name(self) -> str:
        """The suggested file name: kind, day and id, never a person's name."""
        return f"{self.kind}-{self.as_of.isoformat()}-{self.pk}.{self.file_format}"
