"""The privacy API: the access log (administrators), a learner's export and erasure.

Scopes as the pages: administrators of the learner's school or above and the operator; a
learner outside scope answers 404 (the refusal audited), the log lists only entries about
learners in administered organisations.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditEntry
from learners.models import Learner
from privacy import selectors, services
from privacy.api.serializers import AccessLogQuery, AuditEntryOut, EraseIn, ErasureOut
from privacy.views import export_response


def _administered_learner(request: Request, pk: str, action: str) -> Learner:
    try:
        return selectors.get_administered_learner_or_404(request.user, pk)
    except Http404 as exc:
        try:
            learner_id: int | None = selectors.parse_pk(pk)
        except Http404:
            learner_id = None
        exists = learner_id is not None and Learner.objects.filter(pk=learner_id).exists()
        services.record_denied(
            actor=request.user,
            action=action,
            learner_id=learner_id if exists else None,
            object_id=str(pk)[:64],
        )
        raise NotFound() from exc


class AccessLogViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[AuditEntry]):
    """Audit entries about learners of the organisations the user administers, newest first."""

    serializer_class = AuditEntryOut

    def get_queryset(self) -> QuerySet[AuditEntry]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no request user
            return AuditEntry.objects.none()
        if not selectors.may_use_privacy_tools(self.request.user):
            raise PermissionDenied("For administrators.")
        query = AccessLogQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        wanted = selectors.AccessLogFilter(
            learner_id=data.get("learner"),
            actor_id=data.get("actor"),
            action=data.get("action", ""),
            outcome=data.get("outcome", ""),
            since=data.get("since"),
            until=data.get("until"),
        )
        return selectors.search_audit_entries(self.request.user, wanted)

    @extend_schema(parameters=[AccessLogQuery])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class LearnerExportView(APIView):
    """Everything held about one learner: a zip of ``learner.json`` and the learner's files."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: str) -> FileResponse:
        learner = _administered_learner(request, pk, "privacy.export")
        return export_response(request._request, learner)


class LearnerEraseView(APIView):
    """Erase everything held about one learner (``confirm`` must repeat the id)."""

    @extend_schema(request=EraseIn, responses={200: ErasureOut})
    def post(self, request: Request, pk: str) -> Response:
        learner = _administered_learner(request, pk, "privacy.erase")
        incoming = EraseIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        if incoming.validated_data["confirm"] != learner.pk:
            raise serializers.ValidationError({"confirm": "Does not match the learner id."})
        try:
            report = services.erase_learner(actor=request.user, learner_id=learner.pk)
        except DjangoPermissionDenied as exc:
            raise NotFound() from exc
        return Response(
            ErasureOut(
                {
                    "learner": report.learner_id,
                    "rows_removed": report.rows_removed,
                    "files_removed": report.files_removed,
                    "erasure_record": report.record_id,
                    "rows": report.rows,
                }
            ).data
        )
