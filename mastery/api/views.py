"""The mastery API. Every list and object comes from a scoping selector (out of scope: 404);
lists are paginated; the one write (starting a bulk recompute) goes through a service."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from learners.selectors import (
    get_administered_organisation_or_404,
    get_visible_learner_or_404,
    roles_of,
)
from mastery import selectors, services
from mastery.api.serializers import (
    AsOfIn,
    AsOfOut,
    BulkRecomputeIn,
    BulkRecomputeOut,
    MasteryEventOut,
    MasteryOverrideClearIn,
    MasteryOverrideIn,
    MasteryOverrideOut,
    MasteryRecordDetailOut,
    MasteryRecordOut,
)
from mastery.models import (
    BulkRecompute,
    MasteryEvent,
    MasteryOverride,
    MasteryRecord,
    StaleMastery,
)
from standards.models import Framework, Standard


def _with_stale(records: QuerySet[MasteryRecord]) -> QuerySet[MasteryRecord]:
    return records.annotate(
        stale=Exists(
            StaleMastery.objects.filter(
                learner_id=OuterRef("learner_id"), standard_id=OuterRef("standard_id")
            )
        )
    )


class MasteryRecordViewSet(viewsets.ReadOnlyModelViewSet[MasteryRecord]):
    """Mastery records of the learners the user may see (student: own; guardian: linked;
    teacher: current sections; admin: organisation and below)."""

    filterset_fields = ["learner", "standard", "state", "mastered", "inconsistent"]

    def get_queryset(self) -> QuerySet[MasteryRecord]:
        return _with_stale(selectors.visible_records(self.request.user)).order_by("pk")

    def get_serializer_class(self) -> type[MasteryRecordOut]:
        return MasteryRecordDetailOut if self.action == "retrieve" else MasteryRecordOut

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        record = self.get_object()
        context = {
            **self.get_serializer_context(),
            "explanation": selectors.explain_record(record),
            "estimators": selectors.estimators_of(record.learner, record.standard),
        }
        return Response(MasteryRecordDetailOut(record, context=context).data)


class MasteryEventViewSet(viewsets.ReadOnlyModelViewSet[MasteryEvent]):
    """Mastery events (level changes) of the learners the user may see, oldest first."""

    serializer_class = MasteryEventOut
    filterset_fields = ["learner", "standard", "bulk_recompute"]

    def get_queryset(self) -> QuerySet[MasteryEvent]:
        return selectors.visible_events(self.request.user).order_by("occurred_at", "pk")


class BulkRecomputeViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[BulkRecompute],
):
    """Bulk recomputes of the organisations the user administers, with their progress."""

    serializer_class = BulkRecomputeOut
    filterset_fields = ["organisation", "status", "reason"]

    def get_queryset(self) -> QuerySet[BulkRecompute]:
        return (
            selectors.visible_bulk_recomputes(self.request.user)
            .annotate(
                batches_done=Count("batches", filter=Q(batches__status="done")),
                batches_failed=Count("batches", filter=Q(batches__status="failed")),
                records_written=Sum("batches__records_written"),
            )
            .order_by("-pk")
        )

    @extend_schema(request=BulkRecomputeIn, responses={201: BulkRecomputeOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Start a bulk recompute of an organisation the user administers (else 404)."""
        data = BulkRecomputeIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        organisation = get_administered_organisation_or_404(request.user, values["organisation"])
        framework = None
        if values.get("framework") is not None:
            framework = Framework.objects.filter(pk=values["framework"]).first()
            if framework is None:
                raise Http404("Not found.")
        job = services.start_bulk_recompute(
            actor=request.user,
            organisation=organisation,
            framework=framework,
            reason=values["reason"],
            batch_size=values["batch_size"],
        )
        out = self.get_queryset().get(pk=job.pk)
        return Response(BulkRecomputeOut(out).data, status=status.HTTP_201_CREATED)


class MasteryAsOfView(APIView):
    """The mastery of a learner the user may see on a standard as it stood at ``at``."""

    @extend_schema(parameters=[AsOfIn], responses=AsOfOut)
    def get(self, request: Request) -> Response:
        query = AsOfIn(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        learner = get_visible_learner_or_404(request.user, values["learner"])
        standard = Standard.objects.filter(pk=values["standard"]).first()
        if standard is None:
            raise Http404("Not found.")
        result = selectors.mastery_as_of(learner, standard, values["at"])
        return Response(
            AsOfOut(
                {
                    "learner": learner.pk,
                    "standard": standard.pk,
                    "at": values["at"],
                    "state": result.state,
                    "score": result.score,
                    "level_points": result.level_points,
                    "level_label": result.level_label,
                    "mastered": result.mastered,
                    "first_mastered_at": result.first_mastered_at,
                    "evidence_count": result.evidence_count,
                    "calculation_version": result.calculation_version,
                    "explanation": result.explanation,
                }
            ).data
        )


STAFF_ROLES = frozenset({"teacher", "school_admin", "district_admin", "state_admin"})


def _is_staff(user: Any) -> bool:
    """A current teaching or administering role (or the platform operator)."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return True
    return bool(roles_of(user) & STAFF_ROLES)


def _service(call: Any, **kwargs: Any) -> Any:
    """A service's refusals as API answers: 400 naming the field; 404 outside the scope."""
    try:
        return call(**kwargs)
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise serializers.ValidationError(exc.message_dict) from exc
        raise serializers.ValidationError({"non_field_errors": exc.messages}) from exc
    except DjangoPermissionDenied as exc:
        raise NotFound() from exc


class MasteryOverrideViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[MasteryOverride],
):
    """Overrides (a teacher's professional judgement of a record, with a written reason) of the
    learners the user may see, cleared ones included. ``POST`` sets one (staff who may change
    the learner; it clears the one in force); ``clear`` ends one."""

    serializer_class = MasteryOverrideOut
    filterset_fields = ["learner", "standard"]

    def get_queryset(self) -> QuerySet[MasteryOverride]:
        return selectors.visible_overrides(self.request.user).order_by("-set_at", "-pk")

    @extend_schema(request=MasteryOverrideIn, responses={201: MasteryOverrideOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not _is_staff(request.user):
            raise PermissionDenied("For teachers and administrators.")
        data = MasteryOverrideIn(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        override = _service(
            services.set_override,
            actor=request.user,
            learner=values["learner"],
            standard=values["standard"],
            level=values["level"],
            score=values["score"],
            reason=values["reason"],
        )
        out = self.get_queryset().get(pk=override.pk)
        return Response(MasteryOverrideOut(out).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MasteryOverrideClearIn, responses={200: MasteryOverrideOut})
    @action(detail=True, methods=["post"])
    def clear(self, request: Request, pk: str) -> Response:
        """End the override: the record goes back to what the evidence gives."""
        override = self.get_object()
        data = MasteryOverrideClearIn(data=request.data)
        data.is_valid(raise_exception=True)
        _service(
            services.clear_override,
            actor=request.user,
            override=override,
            reason=data.validated_data["reason"],
        )
        return Response(MasteryOverrideOut(self.get_queryset().get(pk=override.pk)).data)
