"""API of the standards app under /api/v1/.

Reads: frameworks and standards for any signed-in user (public documents); organisation
settings scoped to the organisations the user may see. Writes go through ``standards.services``
and are allowed to administrators of the organisation only: an organisation (or object) the
user cannot see answers 404, one they see but do not administer 403. Refused input answers 400
with ``{"problems": [{"where", "field", "message"}]}``, field errors of a request body and
malformed bodies included (DRF's ``{"field": ["message"]}`` is rewritten to that one shape).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler

from common.api import ProblemsSerializer, request_problems
from common.api import refused as refused_response
from common.importing import problems_payload
from learners.models import Organisation, Term
from learners.selectors import get_visible_organisation_or_404, learner_of, visible_terms
from standards import selectors, services
from standards.api import serializers as s
from standards.case_provider import fetch_package
from standards.exporters import CASE_VERSION, VERSIONS, build_case_package
from standards.importers.asn import parse_asn_bytes
from standards.importers.base import ImportRefused, ParsedFramework, Problem
from standards.importers.case import parse_case_bytes
from standards.importers.csv import parse_standards_csv
from standards.models import (
    Association,
    CalculationPolicy,
    ElectiveChoice,
    ElectiveGroup,
    Framework,
    ProficiencyScale,
    Requirement,
    Standard,
)
from standards.validation import LevelInput


def _user(request: Request) -> User:
    assert isinstance(request.user, User)  # IsAuthenticated ran first
    return request.user


def _refused(problems: list[Problem]) -> Response:
    return refused_response(problems)


def _problems_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, (ValidationError, ParseError)):
        response.data = problems_payload(request_problems(exc.detail))
    return response


class ProblemErrors:
    """Answers refused input (field errors, malformed bodies) as ``{"problems": [...]}``."""

    def get_exception_handler(self) -> Any:
        return _problems_exception_handler


def _organisation(request: Request, pk: int) -> Organisation:
    return get_visible_organisation_or_404(request.user, pk)


def _term(request: Request, pk: int) -> Term:
    term = visible_terms(request.user).filter(pk=pk).first()
    if term is None:
        raise Http404("Not found.")
    return term


def _standards(ids: list[int]) -> tuple[list[Standard], list[Problem]]:
    found = {standard.pk: standard for standard in Standard.objects.filter(pk__in=ids)}
    problems = [
        Problem("standards", str(pk), "no standard has this id") for pk in ids if pk not in found
    ]
    return [found[pk] for pk in dict.fromkeys(ids) if pk in found], problems


ORGANISATION_PARAM = OpenApiParameter("organisation", int, required=True)


# --- Frameworks and standards --------------------------------------------------------------------


class FrameworkViewSet(ProblemErrors, viewsets.ReadOnlyModelViewSet[Framework]):
    """Frameworks (read by any signed-in user); import by state and district admins."""

    serializer_class = s.FrameworkSerializer
    filterset_fields = ["source_format", "organisation"]

    def get_queryset(self) -> QuerySet[Framework]:
        return selectors.list_frameworks()

    @extend_schema(
        parameters=[OpenApiParameter("version", str, enum=list(VERSIONS), required=False)],
        responses={200: {"type": "object"}},
    )
    @action(detail=True, methods=["get"])
    def case(self, request: Request, pk: str | None = None) -> Response:
        """The framework as a CASE 1.1 CFPackage (``?version=1.0``: the CASE 1.0 shape)."""
        version = request.query_params.get("version", CASE_VERSION)
        if version not in VERSIONS:
            raise ValidationError({"version": f"one of {', '.join(VERSIONS)}"})
        return Response(build_case_package(self.get_object(), version=version))

    @extend_schema(
        request={"multipart/form-data": s.FrameworkImportInput},
        responses={200: s.ImportReportSerializer, 400: ProblemsSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
        serializer_class=s.FrameworkImportInput,
    )
    def import_file(self, request: Request) -> Response:
        """Imports (or re-imports) a CASE package, a CSV or an ASN file; all or nothing."""
        user = _user(request)
        data = s.FrameworkImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        owner = None
        if values.get("organisation") is not None:
            owner = _organisation(request, values["organisation"])
        try:
            report = services.import_framework(
                parsed=_parse(values),
                actor=user,
                organisation=owner,
                dry_run=values["dry_run"],
            )
        except ImportRefused as refused:
            return refused_response(refused)
        return Response(report.as_dict())


def _parse(values: dict[str, Any]) -> ParsedFramework:
    if values.get("url"):
        return parse_case_bytes(fetch_package(values["url"]))
    upload = values["file"]
    if upload.size > 50 * 1024 * 1024:
        raise ImportRefused([Problem("file", "", "is larger than 50 MB")])
    content = upload.read()
    if values["format"] == "csv":
        return parse_standards_csv(
            content,
            framework_identifier=values["identifier"],
            title=values["title"],
            allow_missing_parents=values["allow_missing_parents"],
        )
    if values["format"] == "asn":
        return parse_asn_bytes(content)
    return parse_case_bytes(content)


class StandardViewSet(ProblemErrors, viewsets.ReadOnlyModelViewSet[Standard]):
    """Standards of every framework; filter by framework, parent, code (human code)."""

    serializer_class = s.StandardSerializer
    filterset_fields = ["framework", "parent", "identifier", "status", "is_grouping"]

    def get_queryset(self) -> QuerySet[Standard]:
        standards = Standard.objects.order_by("framework_id", "depth", "position", "pk")
        code = self.request.query_params.get("code")
        if code:
            standards = standards.filter(human_code=code[:100])
        if self.request.query_params.get("top_level") in ("true", "1"):
            standards = standards.filter(parent__isnull=True)
        return standards

    @extend_schema(
        parameters=[
            OpenApiParameter("code", str, description="The human code, exactly"),
            OpenApiParameter("top_level", bool, description="Only items under the document"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=s.AssociationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def associations(self, request: Request, pk: str | None = None) -> Response:
        """The associations that start at this standard (every type)."""
        standard = self.get_object()
        links = Association.objects.filter(origin=standard).order_by("pk")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(links, request, view=self)
        return paginator.get_paginated_response(s.AssociationSerializer(page, many=True).data)


# --- Scales ---------------------------------------------------------------------------------------


def _levels(values: dict[str, Any]) -> list[LevelInput]:
    return [LevelInput(**level) for level in values["levels"]]


class ScaleViewSet(
    ProblemErrors,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[ProficiencyScale],
):
    """Proficiency scales of the organisations the user may see. ``POST`` sets an
    organisation's own scale (replacing it), ``DELETE`` removes it so it inherits again."""

    serializer_class = s.ScaleSerializer
    filterset_fields = ["organisation"]

    def get_queryset(self) -> QuerySet[ProficiencyScale]:
        return selectors.visible_scales(self.request.user).order_by("pk")

    @extend_schema(
        request=s.ScaleInput, responses={201: s.ScaleSerializer, 400: ProblemsSerializer}
    )
    def create(self, request: Request) -> Response:
        data = s.ScaleInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        organisation = _organisation(request, values["organisation"])
        try:
            scale = services.update_scale(
                actor=_user(request),
                organisation=organisation,
                levels=_levels(values),
                mastery_threshold=values["mastery_threshold"],
                name=values["name"],
            )
        except services.InvalidSettings as invalid:
            return _refused(invalid.problems)
        return Response(s.ScaleSerializer(scale).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        scale = self.get_object()
        services.remove_scale(actor=_user(request), organisation=scale.organisation)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[ORGANISATION_PARAM], responses=s.EffectiveScaleSerializer)
    @action(detail=False, methods=["get"])
    def effective(self, request: Request) -> Response:
        """The scale in force for an organisation (its own, inherited or the default)."""
        organisation = _organisation(request, _query_id(request, "organisation"))
        return Response(s.EffectiveScaleSerializer(selectors.scale_for(organisation)).data)


def _query_id(request: Request, name: str, required: bool = True) -> int:
    text = request.query_params.get(name, "")
    if text.isascii() and text.isdigit() and 0 < int(text) < 2**63:
        return int(text)
    if required:
        raise Http404("Not found.")
    return 0


# --- Policies -------------------------------------------------------------------------------------


class PolicyViewSet(
    ProblemErrors,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[CalculationPolicy],
):
    """Calculation policies of the organisations the user may see. ``POST`` sets an
    organisation's policy (``framework`` null) or its override for one framework."""

    serializer_class = s.PolicySerializer
    filterset_fields = ["organisation", "framework", "method"]

    def get_queryset(self) -> QuerySet[CalculationPolicy]:
        return selectors.visible_policies(self.request.user).order_by("pk")

    @extend_schema(
        request=s.PolicyInput, responses={201: s.PolicySerializer, 400: ProblemsSerializer}
    )
    def create(self, request: Request) -> Response:
        data = s.PolicyInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        organisation = _organisation(request, values["organisation"])
        framework = (
            selectors.get_framework_or_404(values["framework"]) if values["framework"] else None
        )
        try:
            policy = services.set_policy(
                actor=_user(request),
                organisation=organisation,
                framework=framework,
                method=values["method"],
                params=values["params"],
                min_evidence=values["min_evidence"],
                rollup_rule=values["rollup_rule"],
                rollup_params=values["rollup_params"],
                overrides_end_with_new_evidence=values["overrides_end_with_new_evidence"],
            )
        except services.InvalidSettings as invalid:
            return _refused(invalid.problems)
        return Response(s.PolicySerializer(policy).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        policy = self.get_object()
        services.remove_policy(
            actor=_user(request), organisation=policy.organisation, framework=policy.framework
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[ORGANISATION_PARAM, OpenApiParameter("framework", int)],
        responses=s.EffectivePolicySerializer,
    )
    @action(detail=False, methods=["get"])
    def effective(self, request: Request) -> Response:
        """The policy in force for an organisation and (optionally) a framework."""
        organisation = _organisation(request, _query_id(request, "organisation"))
        framework_id = _query_id(request, "framework", required=False)
        framework = selectors.get_framework_or_404(framework_id) if framework_id else None
        policy = selectors.policy_for(organisation, framework)
        return Response(s.EffectivePolicySerializer(policy).data)


# --- Requirements and electives ------------------------------------------------------------------


class RequirementViewSet(
    ProblemErrors,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Requirement],
):
    """Requirements set at the organisations the user may see. ``POST`` requires standards
    (idempotent; a repeated standard takes the new priority)."""

    serializer_class = s.RequirementSerializer
    filterset_fields = ["organisation", "term", "grade_level", "priority", "standard"]

    def get_queryset(self) -> QuerySet[Requirement]:
        return selectors.visible_requirements(self.request.user).order_by("pk")

    @extend_schema(
        request=s.RequirementInput,
        responses={201: s.RequirementSerializer(many=True), 400: ProblemsSerializer},
    )
    def create(self, request: Request) -> Response:
        data = s.RequirementInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        organisation = _organisation(request, values["organisation"])
        term = _term(request, values["term"])
        standards, problems = _standards(values["standards"])
        if problems:
            return _refused(problems)
        try:
            rows = services.add_requirements(
                actor=_user(request),
                organisation=organisation,
                term=term,
                grade_level=values["grade_level"],
                standards=standards,
                priority=values["priority"],
            )
        except services.InvalidSettings as invalid:
            return _refused(invalid.problems)
        return Response(
            s.RequirementSerializer(rows, many=True).data, status=status.HTTP_201_CREATED
        )

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.remove_requirement(actor=_user(request), requirement=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            ORGANISATION_PARAM,
            OpenApiParameter("term", int, required=True),
            OpenApiParameter("grade_level", str, required=True),
        ],
        responses=s.RequirementSetSerializer,
    )
    @action(detail=False, methods=["get"])
    def effective(self, request: Request) -> Response:
        """What learners of a grade must master in a term there (own and inherited)."""
        organisation = _organisation(request, _query_id(request, "organisation"))
        term = _term(request, _query_id(request, "term"))
        grade_level = request.query_params.get("grade_level", "")[:8]
        result = selectors.requirements_for(organisation, grade_level, term)
        return Response(s.RequirementSetSerializer(result).data)


class ElectiveGroupViewSet(
    ProblemErrors,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[ElectiveGroup],
):
    """Elective groups ("choose k of these n") of the organisations the user may see."""

    serializer_class = s.ElectiveGroupSerializer
    filterset_fields = ["organisation", "term", "grade_level"]

    def get_queryset(self) -> QuerySet[ElectiveGroup]:
        return selectors.visible_elective_groups(self.request.user).order_by("pk")

    @extend_schema(
        request=s.ElectiveGroupInput,
        responses={201: s.ElectiveGroupSerializer, 400: ProblemsSerializer},
    )
    def create(self, request: Request) -> Response:
        data = s.ElectiveGroupInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        organisation = _organisation(request, values["organisation"])
        term = _term(request, values["term"])
        standards, problems = _standards(values["standards"])
        if problems:
            return _refused(problems)
        try:
            group = services.create_elective_group(
                actor=_user(request),
                organisation=organisation,
                term=term,
                grade_level=values["grade_level"],
                title=values["title"],
                choose=values["choose"],
                standards=standards,
                priority=values["priority"],
            )
        except services.InvalidSettings as invalid:
            return _refused(invalid.problems)
        return Response(s.ElectiveGroupSerializer(group).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.delete_elective_group(actor=_user(request), group=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ElectiveChoiceViewSet(
    ProblemErrors,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[ElectiveChoice],
):
    """Elective choices of the learners the user may see. A student ``POST``s their own
    choice; the learner's teachers (or admins) decide; the student may withdraw a waiting one."""

    serializer_class = s.ElectiveChoiceSerializer
    filterset_fields = ["group", "learner", "status"]

    def get_queryset(self) -> QuerySet[ElectiveChoice]:
        return selectors.visible_elective_choices(self.request.user).order_by("pk")

    @extend_schema(
        request=s.ElectiveChoiceInput,
        responses={201: s.ElectiveChoiceSerializer, 400: ProblemsSerializer},
    )
    def create(self, request: Request) -> Response:
        data = s.ElectiveChoiceInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        learner = learner_of(request.user)
        if learner is None:
            raise Http404("Not found.")
        group = selectors.offered_elective_groups(learner).filter(pk=values["group"]).first()
        if group is None:
            raise Http404("Not found.")
        standard = group.standards.filter(pk=values["standard"]).first()
        if standard is None:
            return _refused([Problem("choice", "standard", "is not one of this group's standards")])
        try:
            choice = services.choose_elective(actor=_user(request), group=group, standard=standard)
        except services.InvalidSettings as invalid:
            return _refused(invalid.problems)
        return Response(s.ElectiveChoiceSerializer(choice).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.DecisionInput,
        responses={200: s.ElectiveChoiceSerializer, 400: ProblemsSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=s.DecisionInput)
    def decide(self, request: Request, pk: str | None = None) -> Response:
        """Approve or decline a waiting choice (the learner's teachers and admins)."""
        choice = selectors.choices_to_review(request.user).filter(pk=self.get_object().pk).first()
        if choice is None:
            raise Http404("Not found.")
        data = s.DecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            decided = services.decide_elective_choice(
                actor=_user(request),
                choice=choice,
                approve=data.validated_data["approve"],
                note=data.validated_data["note"],
            )
        except services.InvalidSettings as invalid:
            return _refused(invalid.problems)
        return Response(s.ElectiveChoiceSerializer(decided).data)

    @extend_schema(request=None, responses={200: s.ElectiveChoiceSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        """The learner withdraws their own waiting choice."""
        choice = self.get_object()
        try:
            services.withdraw_elective_choice(actor=_user(request), choice=choice)
        except services.InvalidSettings as invalid:
            return _refused(invalid.problems)
        choice.refresh_from_db()
        return Response(s.ElectiveChoiceSerializer(choice).data)
