"""Serializers of the reports API: a separate input (validates shape) and output."""

from __future__ import annotations

from rest_framework import serializers

from common.api_fields import TextField
from reports import selectors
from reports.models import ReportFormat, ReportKind, ReportRequest


class ReportRequestInputSerializer(serializers.Serializer[None]):
    kind = serializers.ChoiceField(choices=ReportKind.choices)
    format = serializers.ChoiceField(choices=ReportFormat.choices)
    as_of = serializers.DateField()
    organisation = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    term = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    section = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    learner = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class ReportRequestSerializer(serializers.ModelSerializer[ReportRequest]):
    format = TextField(source="file_format", read_only=True)
    percent = serializers.IntegerField(read_only=True)
    download_url = serializers.SerializerMethodField()
    waiting_for_workers = serializers.BooleanField(
        read_only=True,
        help_text=(
            "Queued while the report workers cannot be reached: it starts as soon as they are "
            "back, nothing to do meanwhile."
        ),
    )

    class Meta:
        model = ReportRequest
        fields = [
            "id",
            "kind",
            "format",
            "as_of",
            "organisation",
            "term",
            "section",
            "learner",
            "status",
            "waiting_for_workers",
            "rows_done",
            "rows_total",
            "percent",
            "row_count",
            "summary",
            "size",
            "sha256",
            "error",
            "created_at",
            "finished_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, report: ReportRequest) -> str | None:
        """A fresh link for the requester, valid a few minutes (None until ready)."""
        path = selectors.download_path(report, api=True)
        request = self.context.get("request")
        if path is None or request is None:
            return path
        return str(request.build_absolute_uri(path))
