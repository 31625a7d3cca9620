"""Serializers of the privacy API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from audit.models import AuditEntry, Outcome
from common.api_fields import TextField


class AuditEntryOut(serializers.ModelSerializer[AuditEntry]):
    actor = serializers.IntegerField(source="actor_id", allow_null=True, read_only=True)
    learner = serializers.IntegerField(source="learner_id", allow_null=True, read_only=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "occurred_at",
            "actor",
            "role",
            "action",
            "outcome",
            "learner",
            "object_type",
            "object_id",
            "request_id",
            "detail",
        ]
        read_only_fields = fields


class AccessLogQuery(serializers.Serializer[Any]):
    learner = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    actor = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    action = TextField(required=False, max_length=64)
    outcome = serializers.ChoiceField(required=False, choices=Outcome.choices)
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:
            raise serializers.ValidationError({"until": "The end date is before the start date."})
        return attrs


class EraseIn(serializers.Serializer[Any]):
    confirm = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The learner id again: erasure is final."
    )


class ErasureOut(serializers.Serializer[Any]):
    learner = serializers.IntegerField()
    rows_removed = serializers.IntegerField()
    files_removed = serializers.IntegerField()
    erasure_record = serializers.IntegerField(allow_null=True)
    rows = serializers.DictField(child=serializers.IntegerField())
