"""API views of the evidence app: every list and object scoped by ``evidence.selectors``,
every write through ``evidence.services``. Objects outside the user's scope answer 404;
write endpoints for staff answer 403 to other roles."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import ProblemsSerializer, refused, request_data, request_problems
from common.importing import ImportRefused
from common.input import JSONParser
from evidence import selectors, services, uploads
from evidence.api import serializers as io
from evidence.csv_import import RatingImportRefused
from evidence.models import Artifact, Evidence, EvidenceStatus, Rating, RatingSource
from evidence.views import attachment_response, is_staff
from learners import selectors as learner_selectors
from learners.models import Section


def _bad_request(error: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(error, "error_dict"):
        return serializers.ValidationError(error.message_dict)
    return serializers.ValidationError({"non_field_errors": error.messages})


def _call(service: Any, **kwargs: Any) -> Any:
    """Runs a service, turning its refusals into API answers (400, or 404 out of scope)."""
    try:
        return service(**kwargs)
    except DjangoValidationError as exc:
        raise _bad_request(exc) from exc
    except DjangoPermissionDenied as exc:
        raise NotFound() from exc


def _require_staff(request: Request) -> None:
    if not is_staff(request.user):
        raise PermissionDenied("For teachers and administrators.")


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise serializers.ValidationError({name: "Give a whole number."})
    return int(value)


LEARNER_PARAM = OpenApiParameter("learner", int, description="Only this learner's rows.")


class EvidenceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Evidence]
):
    """Evidence the user may see. POST records evidence (staff); actions review, resubmit,
    remove and add artifacts."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[Evidence]:
        evidence = selectors.visible_evidence(self.request.user).order_by("-recorded_at", "-id")
        learner = _int_param(self.request, "learner")
        if learner is not None:
            evidence = evidence.filter(learner_id=learner)
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in EvidenceStatus.values:
                raise serializers.ValidationError({"status": "Not a status."})
            evidence = evidence.filter(Q(status=wanted))  # the annotated current status
        if self.action == "retrieve":
            evidence = evidence.prefetch_related(
                "artifacts", "reflections", selectors.prefetch_rating_history()
            )
        return evidence

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return io.EvidenceDetailOut if self.action == "retrieve" else io.EvidenceOut

    @extend_schema(
        parameters=[
            LEARNER_PARAM,
            OpenApiParameter("status", str, enum=EvidenceStatus.values, description="Status."),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=io.EvidenceIn, responses={201: io.EvidenceOut})
    def create(self, request: Request) -> Response:
        _require_staff(request)
        data = _valid(io.EvidenceIn, request)
        evidence = _call(
            services.record_evidence,
            actor=request.user,
            learner=data["learner"],
            kind=data["kind"],
            title=data["title"],
            description=data["description"],
            setting=data["setting"],
            demonstrated_at=data["demonstrated_at"],
            section=data["section"],
            scores=data["scores"],
            comment=data["comment"],
            links=data["links"],
        )
        return self._created(evidence)

    def _created(self, evidence: Evidence) -> Response:
        fresh = selectors.with_status(Evidence.objects.filter(pk=evidence.pk)).get()
        return Response(io.EvidenceOut(fresh).data, status=status.HTTP_201_CREATED)

    def _changeable(self, pk: object) -> Evidence:
        try:
            return (
                selectors.changeable_evidence(self.request.user)
                .select_related("learner__school")
                .get(pk=selectors.pk_or_404(pk))
            )
        except (Evidence.DoesNotExist, Http404) as exc:
            raise NotFound() from exc

    @extend_schema(request=io.ReviewIn, responses={200: io.EvidenceOut})
    @action(detail=True, methods=["post"])
    def review(self, request: Request, pk: str) -> Response:
        evidence = self._changeable(pk)
        data = _valid(io.ReviewIn, request)
        _call(
            services.review_submission,
            actor=request.user,
            evidence=evidence,
            decision=data["decision"],
            scores=data["scores"],
            comment=data["comment"],
        )
        fresh = selectors.with_status(Evidence.objects.filter(pk=evidence.pk)).get()
        return Response(io.EvidenceOut(fresh).data)

    @extend_schema(request=io.ResubmissionIn, responses={200: io.EvidenceOut})
    @action(detail=True, methods=["post"])
    def resubmit(self, request: Request, pk: str) -> Response:
        try:
            evidence = selectors.own_evidence(request.user).get(pk=selectors.pk_or_404(pk))
        except (Evidence.DoesNotExist, Http404) as exc:
            raise NotFound() from exc
        data = _valid(io.ResubmissionIn, request)
        _call(
            services.resubmit_evidence,
            actor=request.user,
            evidence=evidence,
            note=data["note"],
            reflection=_reflection(data["reflection"]),
            self_scores=data["self_scores"],
            links=data["links"],
        )
        fresh = selectors.with_status(Evidence.objects.filter(pk=evidence.pk)).get()
        return Response(io.EvidenceOut(fresh).data)

    @extend_schema(request=io.ReasonIn, responses={204: None})
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str) -> Response:
        evidence = self.get_object()
        data = _valid(io.ReasonIn, request)
        _call(
            services.remove_evidence, actor=request.user, evidence=evidence, reason=data["reason"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=io.ArtifactIn, responses={201: io.ArtifactOut(many=True)})
    @action(detail=True, methods=["post"])
    def artifacts(self, request: Request, pk: str) -> Response:
        evidence = self.get_object()
        data = _valid(io.ArtifactIn, request)
        created = _call(
            services.add_artifacts,
            actor=request.user,
            evidence=evidence,
            links=[data["url"]] if data["url"] else [],
            files=[data["file"]] if data["file"] else [],
        )
        return Response(io.ArtifactOut(created, many=True).data, status=status.HTTP_201_CREATED)


def _section_or_400(section_id: int | None) -> Section | None:
    """The section of a quick entry by id; the service checks the actor may use it. A missing
    one is refused with the service's words for one out of scope (existence is not revealed)."""
    if section_id is None:
        return None
    section = Section.objects.filter(pk=section_id).first()
    if section is None:
        raise serializers.ValidationError({"section": services.SECTION_REFUSED})
    return section


def _valid(serializer_class: type[serializers.Serializer[Any]], request: Request) -> Any:
    serializer = serializer_class(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _reflection(data: dict[str, str] | None) -> services.ReflectionInput | None:
    return services.ReflectionInput(**data) if data else None


class SubmissionViewSet(viewsets.GenericViewSet[Evidence]):
    """A student submits their own evidence."""

    serializer_class = io.SubmissionIn

    def get_queryset(self) -> QuerySet[Evidence]:
        return selectors.own_evidence(self.request.user)

    @extend_schema(request=io.SubmissionIn, responses={201: io.EvidenceOut})
    def create(self, request: Request) -> Response:
        learner = learner_selectors.learner_of(request.user)
        if learner is None or not learner.active:
            raise PermissionDenied("Only a student submits evidence, for themselves.")
        serializer = io.SubmissionIn(
            data=request.data, context={"request": request, "as_student": True}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        evidence = _call(
            services.submit_evidence,
            actor=request.user,
            kind=data["kind"],
            title=data["title"],
            description=data["description"],
            setting=data["setting"],
            demonstrated_at=data["demonstrated_at"],
            section=data["section"],
            reflection=_reflection(data["reflection"]),
            self_scores=data["self_scores"],
            links=data["links"],
        )
        fresh = selectors.with_status(Evidence.objects.filter(pk=evidence.pk)).get()
        return Response(io.EvidenceOut(fresh).data, status=status.HTTP_201_CREATED)


class RatingViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Rating]
):
    """Every rating (history included) of the learners the user may see. POST records ratings
    (quick entry); actions supersede, remove and import (an override of mastery is
    ``/api/v1/mastery/overrides/``)."""

    serializer_class = io.RatingOut
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[Rating]:
        ratings = (
            selectors.visible_ratings(self.request.user)
            .select_related("standard", "rater", "removal__removed_by", "superseded_by__rater")
            .order_by("-recorded_at", "-id")
        )
        learner = _int_param(self.request, "learner")
        if learner is not None:
            ratings = ratings.filter(learner_id=learner)
        standard = _int_param(self.request, "standard")
        if standard is not None:
            ratings = ratings.filter(standard_id=standard)
        return ratings

    @extend_schema(
        parameters=[LEARNER_PARAM, OpenApiParameter("standard", int, description="One standard.")]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=io.RatingsIn, responses={201: io.RatingOut(many=True)})
    def create(self, request: Request) -> Response:
        _require_staff(request)
        data = _valid(io.RatingsIn, request)
        recorded = _call(
            services.record_ratings,
            actor=request.user,
            entries=[
                services.RatingEntry(
                    learner_id=entry["learner"],
                    standard_id=entry["standard"],
                    score=entry["score"],
                    comment=entry["comment"],
                )
                for entry in data["entries"]
            ],
            title=data["title"],
            demonstrated_at=data["demonstrated_at"],
            kind=data["kind"],
            setting=data["setting"],
            description=data["description"],
            section=_section_or_400(data["section"]),
        )
        # The answer without a query per rating: the service attached each rating's standard,
        # and nothing can supersede or remove a rating inside the transaction that created it.
        for rating in recorded.ratings:
            Rating.superseded_by.related.set_cached_value(rating, None)
            Rating.removal.related.set_cached_value(rating, None)
        return Response(
            io.RatingOut(recorded.ratings, many=True).data, status=status.HTTP_201_CREATED
        )

    def _changeable(self, pk: str) -> Rating:
        rating = self.get_object()
        mine = rating.source == RatingSource.SELF and rating.learner.user_id == self.request.user.pk
        staff = (
            rating.source != RatingSource.SELF
            and learner_selectors.changeable_learners(self.request.user)
            .filter(pk=rating.learner_id)
            .exists()
        )
        if not (mine or staff):
            raise NotFound()
        return rating

    @extend_schema(request=io.SupersedeIn, responses={201: io.RatingOut})
    @action(detail=True, methods=["post"])
    def supersede(self, request: Request, pk: str) -> Response:
        rating = self._changeable(pk)
        data = _valid(io.SupersedeIn, request)
        created = _call(
            services.supersede_rating,
            actor=request.user,
            rating=rating,
            score=data["score"],
            comment=data["comment"],
        )
        return Response(io.RatingOut(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=io.ReasonIn, responses={204: None})
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str) -> Response:
        rating = self._changeable(pk)
        data = _valid(io.ReasonIn, request)
        _call(services.remove_rating, actor=request.user, rating=rating, reason=data["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=io.ImportIn,
        responses={200: io.ImportReportOut, 201: io.ImportReportOut, 400: ProblemsSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_csv(self, request: Request) -> Response:
        """All or nothing: 400 with ``problems`` (file, row, column, reason) and nothing written."""
        _require_staff(request)
        try:
            given = io.ImportIn(data=request_data(request))
        except ImportRefused as malformed:
            return refused(malformed)
        if not given.is_valid():
            return refused(request_problems(given.errors))
        data = given.validated_data
        try:
            report = _call(
                services.import_ratings_csv,
                actor=request.user,
                data=data["file"],
                dry_run=data["dry_run"],
            )
        except RatingImportRefused as problems:
            return refused(problems)
        code = status.HTTP_200_OK if report.dry_run else status.HTTP_201_CREATED
        return Response(io.ImportReportOut(report).data, status=code)


class ArtifactViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Artifact]
):
    """Artifacts of the evidence the user may see; ``download`` sends a file as an attachment."""

    serializer_class = io.ArtifactOut

    def get_queryset(self) -> QuerySet[Artifact]:
        artifacts = selectors.visible_artifacts(self.request.user).order_by("-created_at", "-id")
        evidence = _int_param(self.request, "evidence")
        if evidence is not None:
            artifacts = artifacts.filter(evidence_id=evidence)
        return artifacts

    @extend_schema(
        parameters=[OpenApiParameter("evidence", int, description="One evidence's artifacts.")]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> FileResponse:
        artifact = self.get_object()
        if not artifact.storage_name:
            raise NotFound()
        try:
            handle = uploads.open_stored(artifact.storage_name)
        except (OSError, ValueError) as exc:
            raise NotFound() from exc
        return attachment_response(handle, artifact.original_name, artifact.content_type)
