"""API of the learners app. Every list and object comes from a scoping selector: out-of-scope
objects answer 404, lists are paginated. The one write is the roster import (administrators)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import ProblemsSerializer, refused, request_data, request_problems
from common.importing import ImportRefused
from learners import selectors, services
from learners.api.serializers import (
    LearnerProfileSerializer,
    LearnerSerializer,
    OrganisationSerializer,
    RosterImportInput,
    RosterImportOut,
    SectionSerializer,
    TermSerializer,
)
from learners.models import Learner, Organisation, Section, Term
from learners.oneroster import RosterInvalid


class RosterImportViewSet(viewsets.ViewSet):
    """OneRoster 1.1 CSV roster import (a zip) by administrators: all or nothing, rows left out
    on purpose as warnings, refused whole past the safety share; ``dry_run`` writes nothing.
    Refused: 400 with the import framework's ``problems``."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": RosterImportInput},
        responses={200: RosterImportOut, 201: RosterImportOut, 400: ProblemsSerializer},
    )
    def create(self, request: Request) -> Response:
        if not selectors.can_import_roster(request.user):
            raise PermissionDenied("Only an administrator imports rosters.")
        try:
            data = RosterImportInput(data=request_data(request))
        except ImportRefused as malformed:
            return refused(malformed)
        if not data.is_valid():
            return refused(request_problems(data.errors))
        values = data.validated_data
        upload = values["file"]
        percent = values["safety_percent"]
        try:
            result = services.import_roster(
                actor=request.user,  # type: ignore[arg-type]
                source=upload,
                source_name=upload.name or "",
                dry_run=values["dry_run"],
                safety_share=None if percent is None else percent / 100,
            )
        except RosterInvalid as exc:
            return refused(exc)
        code = status.HTTP_200_OK if result.dry_run else status.HTTP_201_CREATED
        return Response(result.as_dict(), status=code)


class OrganisationViewSet(viewsets.ReadOnlyModelViewSet[Organisation]):
    """Organisations the user may see (their scope and its ancestors)."""

    serializer_class = OrganisationSerializer
    filterset_fields = ["kind", "parent"]

    def get_queryset(self) -> QuerySet[Organisation]:
        return selectors.visible_organisations(self.request.user).order_by("pk")


class TermViewSet(viewsets.ReadOnlyModelViewSet[Term]):
    """Terms of the organisations and sections the user may see."""

    serializer_class = TermSerializer
    filterset_fields = ["organisation", "kind", "school_year"]

    def get_queryset(self) -> QuerySet[Term]:
        return selectors.visible_terms(self.request.user).order_by("pk")


class SectionViewSet(viewsets.ReadOnlyModelViewSet[Section]):
    """Sections whose roster the user may see (taught or administered)."""

    serializer_class = SectionSerializer
    filterset_fields = ["school", "term"]

    def get_queryset(self) -> QuerySet[Section]:
        return selectors.visible_sections(self.request.user).order_by("pk")

    @extend_schema(responses=LearnerSerializer(many=True))
    @action(detail=True, methods=["get"])
    def learners(self, request: Request, pk: str | None = None) -> Response:
        """The learners currently enrolled in the section (paginated)."""
        section = self.get_object()
        roster = selectors.section_roster(request.user, section).order_by("pk")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(roster, request, view=self)
        return paginator.get_paginated_response(LearnerSerializer(page, many=True).data)


class LearnerViewSet(viewsets.ReadOnlyModelViewSet[Learner]):
    """Learners the user may see."""

    serializer_class = LearnerSerializer
    filterset_fields = ["school", "grade_level", "active"]

    def get_queryset(self) -> QuerySet[Learner]:
        return selectors.visible_learners(self.request.user).order_by("pk")

    @extend_schema(responses=LearnerProfileSerializer)
    @action(detail=True, methods=["get"])
    def profile(self, request: Request, pk: str | None = None) -> Response:
        """The learner's profile (empty answers when not written yet)."""
        learner = self.get_object()
        profile = selectors.profile_of(learner)
        if profile is None:
            return Response(
                {
                    "strengths": "",
                    "interests": "",
                    "how_i_learn_best": "",
                    "goals": "",
                    "updated_at": None,
                }
            )
        return Response(LearnerProfileSerializer(profile).data)
