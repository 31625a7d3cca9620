"""The moderation API: the same scopes as the pages (``moderation.selectors``), the same writes
(``moderation.services``). Objects outside the scope answer 404; routes a role never uses 403."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evidence.services import RatingEntry
from learners import services as learner_services
from learners.models import Organisation, Section, Term
from learners.selectors import get_administered_organisation_or_404, roles_of
from moderation import selectors, services
from moderation.api import serializers as io
from moderation.models import CommonTask, ModerationItem, ModerationRound
from moderation.views import ADMIN_ROLES, STAFF_ROLES, attachment
from standards.models import Standard
from standards.selectors import resolve_standard_codes


def _gate(request: Request, roles: frozenset[str], message: str) -> None:
    user = request.user
    if getattr(user, "is_superuser", False) and user.is_active:
        return
    if not roles_of(user) & roles:
        raise PermissionDenied(message)


def _valid(serializer: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    incoming = serializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    return dict(incoming.validated_data)


def _call(service: Any, **kwargs: Any) -> Any:
    """Runs a service; its refusals become 400 (naming the field) or 404 (out of scope)."""
    try:
        return service(**kwargs)
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise serializers.ValidationError(exc.message_dict) from exc
        raise serializers.ValidationError({"non_field_errors": exc.messages}) from exc
    except DjangoPermissionDenied as exc:
        raise NotFound() from exc


def _standards(references: list[str]) -> list[Standard]:
    """Standards by code or identifier (the one resolver); a field error lists the problems."""
    resolved = resolve_standard_codes(references)
    if resolved.problems:
        raise serializers.ValidationError({"standards": resolved.problems})
    return resolved.standards


def _object[M: (Organisation, Term, CommonTask, Section)](
    model: type[M], pk: int | None, field: str
) -> M | None:
    """An object named by id in a body; the service checks the scope. A missing one is the
    same field error as one out of scope would get (existence is not revealed)."""
    if pk is None:
        return None
    found = model._default_manager.filter(pk=pk).first()
    if found is None:
        raise serializers.ValidationError({field: "Not one of yours."})
    return found


# --- rounds --------------------------------------------------------------------------------------


class RoundViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ModerationRound]
):
    """Moderation rounds of the organisations the user administers. POST starts one (draws the
    sample and assigns the reviewers); ``close`` keeps or adopts the moderated ratings."""

    def get_queryset(self) -> QuerySet[ModerationRound]:
        return selectors.administered_rounds(self.request.user).prefetch_related("standards")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return io.RoundDetailOut if self.action == "retrieve" else io.RoundOut

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _gate(request, ADMIN_ROLES, "Moderation rounds are run by administrators.")
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        round_ = self.get_object()
        context = {**self.get_serializer_context(), "agreement": selectors.round_agreement(round_)}
        return Response(io.RoundDetailOut(round_, context=context).data)

    @extend_schema(request=io.RoundIn, responses={201: io.RoundOut})
    def create(self, request: Request) -> Response:
        _gate(request, ADMIN_ROLES, "Moderation rounds are run by administrators.")
        data = _valid(io.RoundIn, request)
        organisation = _object(Organisation, data["organisation"], "organisation")
        reviewers = None
        if data.get("reviewers"):
            reviewers = list(User.objects.filter(pk__in=data["reviewers"]))
            if len(reviewers) != len(set(data["reviewers"])):
                raise serializers.ValidationError({"reviewers": "Not one of yours."})
        round_ = _call(
            services.start_round,
            actor=request.user,
            organisation=organisation,
            term=_object(Term, data["term"], "term"),
            title=data["title"],
            standards=_standards(data["standards"]),
            sample_size=data["sample_size"],
            seed=data.get("seed"),
            common_task=_object(CommonTask, data.get("common_task"), "common_task"),
            reviewers=reviewers,
            due_on=data.get("due_on"),
        )
        fresh = self.get_queryset().get(pk=round_.pk)
        return Response(io.RoundOut(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=io.CloseIn, responses={200: io.CloseOut})
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        round_ = self.get_object()
        data = _valid(io.CloseIn, request)
        closed = _call(
            services.close_round,
            actor=request.user,
            round_=round_,
            decision=data["decision"],
            reason=data["reason"],
            item_ids=data.get("items"),
        )
        fresh = self.get_queryset().get(pk=round_.pk)
        body = {
            "round": io.RoundOut(fresh).data,
            "adopted": [item.position for item in closed.adopted],
            "unchanged": closed.unchanged,
            "skipped": [{"position": pos, "reason": why} for pos, why in closed.skipped],
        }
        return Response(body)


# --- blind reviews -------------------------------------------------------------------------------


class ReviewViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ModerationItem]
):
    """The pieces assigned to the user for a blind second rating (nobody else's, whatever the
    role): the work, never the learner's name or the first rating. ``rate`` gives the rating."""

    serializer_class = io.PieceOut

    def get_queryset(self) -> QuerySet[ModerationItem]:
        return selectors.assigned_items(self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _gate(request, frozenset({"teacher"}), "Second ratings are given by teachers.")
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: io.BlindPieceOut})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(io.BlindPieceOut(selectors.blind_piece(self.get_object())).data)

    @extend_schema(request=io.RateIn, responses={200: io.BlindPieceOut})
    @action(detail=True, methods=["post"])
    def rate(self, request: Request, pk: str) -> Response:
        item = self.get_object()
        data = _valid(io.RateIn, request)
        _call(
            services.record_second_rating,
            actor=request.user,
            item=item,
            score=data["score"],
            comment=data["comment"],
        )
        return Response(io.BlindPieceOut(selectors.blind_piece(item)).data)


class ReviewFileView(APIView):
    """A file of an assigned piece, named by its number."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int, number: int) -> FileResponse:
        try:
            item = selectors.get_assigned_item_or_404(request.user, pk)
        except Http404 as exc:
            raise NotFound() from exc
        handle, name, content_type = selectors.open_piece_file(item, number)
        return attachment(handle, name, content_type)


class MyAgreementView(APIView):
    """The user's own agreement beside everyone's in the rounds they took part in."""

    @extend_schema(responses={200: io.TeacherAgreementOut})
    def get(self, request: Request) -> Response:
        _gate(request, STAFF_ROLES, "Moderation is for teachers and administrators.")
        return Response(io.TeacherAgreementOut(selectors.teacher_agreement(request.user)).data)


# --- common tasks --------------------------------------------------------------------------------


class TaskViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[CommonTask]
):
    """Common tasks shared with the user's organisations. POST shares one (administrators);
    ``results`` records a section's results on it (its teachers)."""

    serializer_class = io.TaskOut

    def get_queryset(self) -> QuerySet[CommonTask]:
        return selectors.visible_tasks(self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _gate(request, STAFF_ROLES, "Common tasks are for teachers and administrators.")
        return super().list(request, *args, **kwargs)

    @extend_schema(request=io.TaskIn, responses={201: io.TaskOut})
    def create(self, request: Request) -> Response:
        _gate(request, ADMIN_ROLES, "Common tasks are shared by administrators.")
        data = _valid(io.TaskIn, request)
        try:
            levels = {Decimal(points): text for points, text in data["levels"].items()}
        except ArithmeticError as exc:
            raise serializers.ValidationError({"levels": "Name each level by its points."}) from exc
        task = _call(
            services.create_common_task,
            actor=request.user,
            organisation=_object(Organisation, data["organisation"], "organisation"),
            title=data["title"],
            prompt=data["prompt"],
            standards=_standards(data["standards"]),
            opens_on=data["opens_on"],
            closes_on=data["closes_on"],
            level_descriptions=levels,
        )
        fresh = self.get_queryset().get(pk=task.pk)
        return Response(io.TaskOut(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=io.ResultsIn, responses={201: io.ResultOut(many=True)})
    @action(detail=True, methods=["post"])
    def results(self, request: Request, pk: str) -> Response:
        task = self.get_object()
        data = _valid(io.ResultsIn, request)
        recorded = _call(
            services.record_task_results,
            actor=request.user,
            task=task,
            section=_object(Section, data["section"], "section"),
            demonstrated_at=data["demonstrated_on"],
            entries=[
                RatingEntry(learner_id=e["learner"], standard_id=e["standard"], score=e["score"])
                for e in data["entries"]
            ],
        )
        return Response(
            io.ResultOut(recorded.evidence, many=True).data, status=status.HTTP_201_CREATED
        )


class DemographicsView(APIView):
    """Whether OneRoster demographics (the equity audit's subgroups) are kept, per organisation
    the user administers; POST turns it on or off for one (off deletes what was kept)."""

    @extend_schema(responses={200: io.DemographicsChoiceOut(many=True)})
    def get(self, request: Request) -> Response:
        _gate(request, ADMIN_ROLES, "For administrators.")
        choices = selectors.demographics_choices(request.user)
        return Response(io.DemographicsChoiceOut(choices, many=True).data)

    @extend_schema(request=io.DemographicsChoiceIn, responses={200: io.DemographicsChoiceOut})
    def post(self, request: Request) -> Response:
        _gate(request, ADMIN_ROLES, "For administrators.")
        data = _valid(io.DemographicsChoiceIn, request)
        try:
            organisation = get_administered_organisation_or_404(request.user, data["organisation"])
        except Http404 as exc:
            raise serializers.ValidationError({"organisation": "Not one of yours."}) from exc
        learner_services.set_demographics_import(
            actor=request.user,  # type: ignore[arg-type]
            organisation=organisation,
            enabled=data["enabled"],
        )
        choice = next(
            c
            for c in selectors.demographics_choices(request.user)
            if c.organisation == organisation
        )
        return Response(io.DemographicsChoiceOut(choice).data)
