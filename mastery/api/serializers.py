"""Serializers of the mastery API: outputs render, inputs validate (writes go through services)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api_fields import TextField
from learners.models import Learner
from learners.selectors import changeable_learners
from mastery.core import EstimatorComparison, RulesKeys
from mastery.models import (
    BulkReason,
    BulkRecompute,
    MasteryEvent,
    MasteryOverride,
    MasteryRecord,
)
from mastery.selectors import record_pending
from mastery.services import MAX_BATCH_SIZE, OVERRIDE_REASON_MAX
from standards.models import Standard


class MasteryRecordOut(serializers.ModelSerializer[MasteryRecord]):
    """A record and how fresh it is: ``computed_at``, and ``stale`` while a recompute is due;
    ``inconsistent`` when the field's estimators disagree on its ratings by a level or more
    (the evidence is inconsistent: look again; the detail lists them side by side)."""

    standard_code = TextField(source="standard.human_code", read_only=True)
    stale = serializers.SerializerMethodField(
        help_text="A recompute is due: the pair is marked, or the record was computed under "
        "other rules than those in force."
    )

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
            "inconsistent",
            "computed_at",
            "stale",
        ]
        read_only_fields = fields

    _keys: RulesKeys | None = None

    def get_stale(self, record: MasteryRecord) -> bool:
        if self._keys is None:
            self._keys = RulesKeys()  # one per response: the rules read once per school
        return record_pending(record, self._keys)


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
    waiting_for_workers = serializers.BooleanField(
        read_only=True,
        help_text="Some batches could not be sent (the workers were unreachable); they are sent "
        "as soon as the workers are back.",
    )

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
            "waiting_for_workers",
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
    state = TextField()
    score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    level_points = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    level_label = TextField(allow_blank=True)
    mastered = serializers.BooleanField()
    first_mastered_at = serializers.DateTimeField(allow_null=True)
    evidence_count = serializers.IntegerField()
    calculation_version = TextField()
    explanation = serializers.DictField()


def _person(user: Any) -> str:
    """How a staff member is named to those who may see the learner: full name, else login."""
    if user is None:
        return ""
    return str(user.get_full_name() or user.get_username())


class MasteryOverrideOut(serializers.ModelSerializer[MasteryOverride]):
    """An override (professional judgement): the score set, who set it, why, and whether it is
    still in force (cleared ones stay, with who cleared them and why)."""

    standard_code = TextField(source="standard.human_code", read_only=True)
    set_by_name = serializers.SerializerMethodField()
    cleared_by_name = serializers.SerializerMethodField()
    in_force = serializers.SerializerMethodField()

    class Meta:
        model = MasteryOverride
        fields = [
            "id",
            "learner",
            "standard",
            "standard_code",
            "score",
            "reason",
            "set_by",
            "set_by_name",
            "set_at",
            "in_force",
            "cleared_by",
            "cleared_by_name",
            "cleared_at",
            "clear_reason",
        ]
        read_only_fields = fields

    def get_set_by_name(self, override: MasteryOverride) -> str:
        return _person(override.set_by)

    def get_cleared_by_name(self, override: MasteryOverride) -> str:
        return _person(override.cleared_by)

    def get_in_force(self, override: MasteryOverride) -> bool:
        return override.cleared_at is None


@extend_schema_field(OpenApiTypes.INT)
class ChangeableLearnerField(serializers.PrimaryKeyRelatedField[Learner]):
    """A learner id among those the requesting user may change (the same error otherwise)."""

    def get_queryset(self) -> Any:
        return changeable_learners(self.context["request"].user).select_related("school")


@extend_schema_field(OpenApiTypes.INT)
class StandardIdField(serializers.PrimaryKeyRelatedField[Standard]):
    def get_queryset(self) -> Any:
        return Standard.objects.all()


class MasteryOverrideIn(serializers.Serializer[dict[str, Any]]):
    """Set an override: a level of the learner's scale (its points) or a score, and why."""

    learner = ChangeableLearnerField()
    standard = StandardIdField()
    level = serializers.DecimalField(
        max_digits=7, decimal_places=2, required=False, allow_null=True, default=None,
        coerce_to_string=False, help_text="The points of one of the scale's levels.",
    )  # fmt: skip
    score = serializers.DecimalField(
        max_digits=7, decimal_places=4, required=False, allow_null=True, default=None,
        coerce_to_string=False, help_text="A score on the scale (default: the level's points).",
    )  # fmt: skip
    reason = TextField(max_length=OVERRIDE_REASON_MAX)


class MasteryOverrideClearIn(serializers.Serializer[dict[str, Any]]):
    reason = TextField(max_length=OVERRIDE_REASON_MAX, required=False, allow_blank=True, default="")
