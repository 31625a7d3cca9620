"""Mastery records, their history, the dirty markers and bulk recompute jobs (see README.md).

Everything here is derived from the ratings of the evidence app by ``mastery.services``: no
model is written anywhere else, and no ``save()`` carries logic. The flow is in
docs/decisions/0005-evidence-and-mastery-flow.md.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

# NO_DB_CONSTRAINT: PostgreSQL checks a foreign key once per inserted row (Django's are
# deferred: at COMMIT), and a bulk recompute from nothing inserts a record and an event per
# (learner, standard): those checks were most of its time (bench/recompute.py; the learner keys
# alone cost about 3 us a row, a quarter of PostgreSQL's time in a bulk recompute).
# Standards are never deleted (they are retired: ``status``) and jobs only through the ORM,
# whose ``on_delete`` still applies, so those keys are kept by the application alone.
# The learner keys of records and events are kept by a lock per write instead of a check per
# row: every writer of records and events (``mastery.sql.pair_context``, a bulk
# batch's ``lock_learners_and_clear_markers``) reads the learner FOR KEY SHARE before it writes,
# as the key check did, and writes nothing for a learner that is gone; a learner's deletion
# (an erasure, which locks the learner FOR UPDATE first) waits for those writers and then sees
# their rows. A deferred trigger on the learners table (migration 0009) refuses to delete a
# learner whose records or events remain, as the key's NO ACTION did.


class MasteryState(models.TextChoices):
    """The engine's states (``mastery.rules.STATES``; a test keeps them equal)."""

    NOT_ASSESSED = "not_assessed", "Not assessed"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence", "Insufficient evidence"
    SCORED = "scored", "Scored"


class MasteryRecord(models.Model):
    """The computed mastery of one learner on one standard, rebuilt from every counted rating.

    For a grouping standard (domain, cluster) the record is the roll-up of its children's
    records. ``level_points``/``level_label`` are the scale level reached (blank unless the
    state is ``scored`` or a roll-up gives a level); ``computed_at`` says how fresh it is.
    """

    # No single-column indexes: (learner) is the prefix of the unique (learner, standard),
    # (standard) the prefix of mastery_record_by_std; each would only slow every write.
    # Neither the learner nor the standard is a database foreign key (see NO_DB_CONSTRAINT).
    learner = models.ForeignKey(
        "learners.Learner",
        on_delete=models.CASCADE,
        related_name="mastery_records",
        db_index=False,
        db_constraint=False,
    )
    standard = models.ForeignKey(
        "standards.Standard",
        on_delete=models.CASCADE,
        related_name="mastery_records",
        db_index=False,
        db_constraint=False,
    )
    state = models.CharField(
        max_length=24, choices=MasteryState.choices, default=MasteryState.NOT_ASSESSED
    )
    score = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    level_points = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    level_label = models.CharField(max_length=100, blank=True, default="")
    mastered = models.BooleanField(default=False)
    first_mastered_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the evidence first reached mastery: the demonstrated time of the first "
        "rating after which the counted ratings so far were mastered.",
    )
    evidence_count = models.PositiveIntegerField(default=0)
    explanation = models.JSONField(default=dict, blank=True)
    explanation_key = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The key of the ExplanationSummary shared by every record a bulk recompute "
        "wrote under one policy; such a record's own explanation is empty.",
    )
    calculation_version = models.CharField(max_length=20, blank=True, default="")
    inconsistent = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The field's estimators (mastery.estimators) disagree on these ratings by a "
        "level or more: the evidence is inconsistent, look again. Never on a grouping.",
    )
    rules_key = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The digest of the rules that computed the record (mastery.derive.rules_key); "
        "a record whose key is not the key of the rules in force is stale (ADR 8).",
    )
    ratings_digest = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="A digest of the counted ratings the record was computed from (ADR 8, "
        "provenance).",
    )
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["learner_id", "standard_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "standard"], name="mastery_record_unique_learner_standard"
            ),
            models.CheckConstraint(
                condition=Q(state__in=MasteryState.values), name="mastery_record_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(mastered=False) | Q(state=MasteryState.SCORED),
                name="mastery_record_mastered_only_when_scored",
            ),
        ]
        indexes = [models.Index(fields=["standard", "learner"], name="mastery_record_by_std")]

    def __str__(self) -> str:
        return f"learner {self.learner_id} on standard {self.standard_id}: {self.state}"


class ExplanationSummary(models.Model):
    """The explanation a bulk recompute gives every record it writes under one policy (method,
    parameters, scale, calculation version), stored once rather than once per record.

    ``key`` is a 64-bit digest of the JSON (``mastery.derive.summary_key``): records name it in
    ``MasteryRecord.explanation_key``. Rows are only ever added (by the bulk recompute, without
    waiting on other batches: two batches may add the same summary twice, harmlessly), never
    changed or deleted. The full arithmetic of a record is rebuilt on request
    (``mastery.selectors.explain_record``).
    """

    key = models.BigIntegerField(db_index=True)
    explanation = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"explanation summary {self.key}"


class MasteryEvent(models.Model):
    """A change of a learner's level (or of mastered) on a standard: the growth history.

    Append-only: one row per change, written by the recompute in the same transaction as the
    record. ``demonstrated_at`` is the demonstrated time of the newest counted rating then.
    """

    # No (learner) index: it is the prefix of mastery_event_history. The learner, the standard
    # and the bulk recompute are not database foreign keys (see NO_DB_CONSTRAINT).
    learner = models.ForeignKey(
        "learners.Learner",
        on_delete=models.CASCADE,
        related_name="mastery_events",
        db_index=False,
        db_constraint=False,
    )
    standard = models.ForeignKey(
        "standards.Standard",
        on_delete=models.CASCADE,
        related_name="mastery_events",
        db_constraint=False,
    )
    from_state = models.CharField(max_length=24, choices=MasteryState.choices)
    to_state = models.CharField(max_length=24, choices=MasteryState.choices)
    from_level_points = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    from_level_label = models.CharField(max_length=100, blank=True, default="")
    to_level_points = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    to_level_label = models.CharField(max_length=100, blank=True, default="")
    from_mastered = models.BooleanField(default=False)
    to_mastered = models.BooleanField(default=False)
    score = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    demonstrated_at = models.DateTimeField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    bulk_recompute = models.ForeignKey(
        "BulkRecompute",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        db_constraint=False,
    )
    calculation_version = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        ordering = ["learner_id", "standard_id", "occurred_at", "id"]
        indexes = [
            models.Index(
                fields=["learner", "standard", "occurred_at"], name="mastery_event_history"
            )
        ]

    def __str__(self) -> str:
        return (
            f"learner {self.learner_id} on standard {self.standard_id}: "
            f"{self.from_level_label or self.from_state} -> {self.to_level_label or self.to_state}"
        )


class StaleMastery(models.Model):
    """A dirty marker: the record of (learner, standard) must be rebuilt.

    Inserted by ``mastery.services.mark_stale`` in the transaction that changed the ratings,
    deleted by the recompute in the transaction that rebuilt the record. ``enqueued_at`` is when
    a recompute was last queued for it; the sweep re-queues markers left behind by a lost message.
    """

    pk = models.CompositePrimaryKey("learner_id", "standard_id")
    # The primary key's index leads with the learner: no index of its own. The standard is an
    # application key, like the records' (ADR 5: standards are retired, never deleted): a
    # ratings import marks a million pairs, and each key check costs more than the marker
    # (bench/import.py, docs/performance.md). The learner's key stays: erasure relies on it.
    learner = models.ForeignKey(
        "learners.Learner", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    standard = models.ForeignKey(
        "standards.Standard",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    marked_at = models.DateTimeField()
    enqueued_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["enqueued_at"], name="mastery_stale_enqueued")]

    def __str__(self) -> str:
        return f"stale: learner {self.learner_id} on standard {self.standard_id}"


class SweepCursor(models.Model):
    """How far the sweep has checked an append-only table by id (ratings, removals)."""

    name = models.CharField(max_length=50, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} checked up to {self.last_id}"


class BulkReason(models.TextChoices):
    POLICY = "policy", "Calculation policy changed"
    SCALE = "scale", "Proficiency scale changed"
    REQUIREMENT = "requirement", "Requirements changed"
    ORGANISATION = "organisation", "Whole organisation"
    IMPORT = "import", "Ratings imported"


class BulkStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BulkRecompute(models.Model):
    """A recompute of every record of an organisation's learners (optionally one framework),
    or of the given learners only (``reason`` import: the learners a ratings import touched;
    ``organisation`` is then the nearest one above all of them).

    Split into learner-id-range batches (:class:`BulkRecomputeBatch`) run on the ``bulk``
    queue; progress is the share of batches done.
    """

    organisation = models.ForeignKey(
        "learners.Organisation", on_delete=models.CASCADE, related_name="bulk_recomputes"
    )
    framework = models.ForeignKey(
        "standards.Framework",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="bulk_recomputes",
    )
    reason = models.CharField(max_length=16, choices=BulkReason.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=BulkStatus.choices, default=BulkStatus.QUEUED)
    batch_size = models.PositiveIntegerField(default=1000)
    batch_count = models.PositiveIntegerField(default=0)
    learner_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the broker refused a batch's message (R11: the request did not wait); cleared once
    # ``requeue_bulk_batches`` (every minute) has sent them.
    send_failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=BulkStatus.values), name="mastery_bulk_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"bulk recompute {self.pk} of organisation {self.organisation_id} ({self.status})"

    @property
    def waiting_for_workers(self) -> bool:
        """Not finished, and some of its batches could not be sent: the broker was unreachable."""
        return (
            self.status in (BulkStatus.QUEUED, BulkStatus.RUNNING)
            and self.send_failed_at is not None
        )


class BulkRecomputeBatch(models.Model):
    """One learner-id range (inclusive) of a bulk recompute, recomputed in one transaction."""

    job = models.ForeignKey(BulkRecompute, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    learner_id_from = models.BigIntegerField()
    learner_id_to = models.BigIntegerField()
    # When set, only these learners of the range (a job over given learners); else all of the
    # job's organisation in the range.
    learner_ids = ArrayField(models.BigIntegerField(), null=True, blank=True)
    status = models.CharField(max_length=10, choices=BulkStatus.choices, default=BulkStatus.QUEUED)
    records_checked = models.PositiveIntegerField(default=0)
    records_written = models.PositiveIntegerField(default=0)
    events_written = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="mastery_batch_unique_number"),
            models.CheckConstraint(
                condition=Q(learner_id_to__gte=models.F("learner_id_from")),
                name="mastery_batch_range_ordered",
            ),
            models.CheckConstraint(
                condition=Q(status__in=BulkStatus.values), name="mastery_batch_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.number} of bulk recompute {self.job_id} ({self.status})"


class MasteryOverride(models.Model):
    """A teacher's professional judgement of one learner on one assessable standard: the record
    takes ``score`` (and the scale's level for it) instead of what the counted ratings give,
    until it is cleared (or, where the policy says so, until a counted rating demonstrated
    after ``set_at`` exists). ADR 8.

    Written only by ``mastery.services.set_override`` / ``clear_override``. A row is never
    deleted: clearing stamps ``cleared_at``/``cleared_by``, so an override is "as of" like the
    ratings (in force at T: set at or before T, not cleared at or before T). At most one
    override in force per learner and standard (a new one clears the one before).
    """

    learner = models.ForeignKey(
        "learners.Learner", on_delete=models.CASCADE, related_name="mastery_overrides"
    )
    standard = models.ForeignKey(
        "standards.Standard", on_delete=models.PROTECT, related_name="mastery_overrides"
    )
    score = models.DecimalField(max_digits=8, decimal_places=4)
    reason = models.TextField()
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField()
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cleared_at = models.DateTimeField(null=True, blank=True)
    clear_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["learner_id", "standard_id", "set_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "standard"],
                condition=Q(cleared_at__isnull=True),
                name="mastery_override_one_in_force",
            ),
            models.CheckConstraint(
                condition=Q(cleared_at__isnull=True, cleared_by__isnull=True)
                | Q(cleared_at__isnull=False, cleared_by__isnull=False),
                name="mastery_override_cleared_by_someone",
            ),
            models.CheckConstraint(condition=Q(score__gte=0), name="mastery_override_score"),
        ]
        indexes = [
            models.Index(fields=["learner", "standard", "set_at"], name="mastery_override_pair")
        ]

    def __str__(self) -> str:
        return f"override of learner {self.learner_id} on standard {self.standard_id}"
