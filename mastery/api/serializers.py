"""Serializers of the mastery API: outputs render, inputs validate (writes go through services)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mastery.estimators import EstimatorComparison
from mastery.models import BulkReason, BulkRecompute, MasteryEvent, MasteryRecord
from mastery.services import MAX_BATCH_SIZE


class MasteryRecordOut(serializers.ModelSerializer[MasteryRecord]):
    """A record and how fresh it is: ``computed_at``, and ``stale`` while a recompute is due."""

    standard_code = serializers.CharField(source="standard.human_code", read_only=True)
    stale = serializers.BooleanField(read_only=True)

    class Meta:
        model = MasteryRecord
        fields = [
            "id",
            "learner",
            "standard",
            "standard_code",
            "state",
            "score",
            "level_points",
            "level_label",
            "mastered",
            "first_mastered_at",
            "evidence_count",
            "calculation_version",
            "computed_at",
            "stale",
        ]
        read_only_fields = fields


class MasteryRecordDetailOut(MasteryRecordOut):
    """A record with its explanation: the ordered inputs, method, parameters and arithmetic;
    and the field's estimators on the same ratings beside the policy (``estimators``: each
    estimator's score and level, ``flagged`` when they disagree by a level or more; null for a
    grouping)."""

    explanation = serializers.SerializerMethodField()
    estimators = serializers.SerializerMethodField()

    class Meta(MasteryRecordOut.Meta):
        fields = [*MasteryRecordOut.Meta.fields, "explanation", "estimators"]
        read_only_fields = fields

    def get_explanation(self, record: MasteryRecord) -> dict[str, Any]:
        explained: dict[str, Any] = self.context["explanation"]
        return explained

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "flagged": {"type": "boolean"},
                "levels_apart": {"type": "integer"},
                "spread": {"type": "string", "nullable": True},
                "estimates": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "method": {"type": "string"},
                            "label": {"type": "string"},
                            "score": {"type": "string", "nullable": True},
                            "level": {"type": "string", "nullable": True},
                            "policy": {"type": "boolean"},
                        },
                    },
                },
            },
        }
    )
    def get_estimators(self, record: MasteryRecord) -> dict[str, object] | None:
        comparison: EstimatorComparison | None = self.context.get("estimators")
        return None if comparison is None else comparison.as_json()


class MasteryEventOut(serializers.ModelSerializer[MasteryEvent]):
    class Meta:
        model = MasteryEvent
        fields = [
            "id",
            "learner",
            "standard",
            "from_state",
            "to_state",
            "from_level_points",
            "from_level_label",
            "to_level_points",
            "to_level_label",
            "from_mastered",
            "to_mastered",
            "score",
            "demonstrated_at",
            "occurred_at",
            "bulk_recompute",
            "calculation_version",
        ]
        read_only_fields = fields


class BulkRecomputeOut(serializers.ModelSerializer[BulkRecompute]):
    """A bulk recompute and its progress (batches done of ``batch_count``)."""

    batches_done = serializers.IntegerField(read_only=True)
    batches_failed = serializers.IntegerField(read_only=True)
    records_written = serializers.IntegerField(read_only=True, allow_null=True)
    percent = serializers.SerializerMethodField()

    class Meta:
        model = BulkRecompute
        fields = [
            "id",
            "organisation",
            "framework",
            "reason",
            "status",
            "batch_size",
            "batch_count",
            "batches_done",
            "batches_failed",
            "percent",
            "records_written",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_percent(self, job: BulkRecompute) -> int:
        done = int(getattr(job, "batches_done", 0) or 0)
        return 100 if job.batch_count == 0 else (100 * done) // job.batch_count


class BulkRecomputeIn(serializers.Serializer[dict[str, Any]]):
    organisation = serializers.IntegerField(min_value=1)
    framework = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    reason = serializers.ChoiceField(choices=BulkReason.choices)
    batch_size = serializers.IntegerField(
        min_value=1, max_value=MAX_BATCH_SIZE, default=MAX_BATCH_SIZE
    )


class AsOfIn(serializers.Serializer[dict[str, Any]]):
    learner = serializers.IntegerField(min_value=1)
    standard = serializers.IntegerField(min_value=1)
    at = serializers.DateTimeField()


class AsOfOut(serializers.Serializer[dict[str, Any]]):
    learner = serializers.IntegerField()
    standard = serializers.IntegerField()
    at = serializers.DateTimeField()
    state = serializers.CharField()
    score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    level_points = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    level_label = serializers.CharField(allow_blank=True)
    mastered = serializers.BooleanField()
    first_mastered_at = serializers.DateTimeField(allow_null=True)
    evidence_count = serializers.IntegerField()
    calculation_version = serializers.CharField()
    explanation = serializers.DictField()
