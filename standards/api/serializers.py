"""Serializers of the standards API: input serializers check shapes and types only (the
services check meaning); output serializers render, and are never used for writes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from common.api import CountsSerializer, ProblemSerializer
from common.api_fields import TextField
from standards.models import (
    Association,
    CalculationPolicy,
    ElectiveChoice,
    ElectiveGroup,
    Framework,
    ProficiencyScale,
    Requirement,
    ScaleLevel,
    Standard,
)

# --- Output --------------------------------------------------------------------------------------


class FrameworkSerializer(serializers.ModelSerializer[Framework]):
    class Meta:
        model = Framework
        fields = [
            "id",
            "identifier",
            "uri",
            "title",
            "creator",
            "publisher",
            "description",
            "subjects",
            "language",
            "version",
            "adoption_status",
            "official_source_url",
            "last_change_at",
            "source_format",
            "organisation",
            "updated_at",
        ]
        read_only_fields = fields


class StandardSerializer(serializers.ModelSerializer[Standard]):
    class Meta:
        model = Standard
        fields = [
            "id",
            "framework",
            "identifier",
            "uri",
            "parent",
            "position",
            "depth",
            "item_type",
            "human_code",
            "list_enumeration",
            "statement",
            "grade_levels",
            "is_grouping",
            "status",
            "last_change_at",
        ]
        read_only_fields = fields


class AssociationSerializer(serializers.ModelSerializer[Association]):
    class Meta:
        model = Association
        fields = [
            "id",
            "identifier",
            "association_type",
            "origin",
            "origin_identifier",
            "destination",
            "destination_identifier",
            "destination_uri",
            "sequence_number",
        ]
        read_only_fields = fields


class ScaleLevelSerializer(serializers.ModelSerializer[ScaleLevel]):
    class Meta:
        model = ScaleLevel
        fields = ["points", "label", "colour", "cut_point", "description"]
        read_only_fields = fields


class ScaleSerializer(serializers.ModelSerializer[ProficiencyScale]):
    levels = ScaleLevelSerializer(many=True, read_only=True)

    class Meta:
        model = ProficiencyScale
        fields = ["id", "organisation", "name", "mastery_threshold", "levels", "updated_at"]
        read_only_fields = fields


class EffectiveLevelSerializer(serializers.Serializer[Any]):
    # Declared in get_fields: "label" would shadow the Field attribute of the same name.
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {
            "points": serializers.DecimalField(max_digits=5, decimal_places=2),
            "label": TextField(),
            "colour": TextField(),
            "cut_point": serializers.DecimalField(max_digits=5, decimal_places=2),
            "description": TextField(),
        }


class EffectiveScaleSerializer(serializers.Serializer[Any]):
    levels = EffectiveLevelSerializer(many=True)
    mastery_threshold = serializers.DecimalField(max_digits=5, decimal_places=2)
    organisation_id = serializers.IntegerField(allow_null=True)
    scale_id = serializers.IntegerField(allow_null=True)


class PolicySerializer(serializers.ModelSerializer[CalculationPolicy]):
    class Meta:
        model = CalculationPolicy
        fields = [
            "id",
            "organisation",
            "framework",
            "method",
            "params",
            "min_evidence",
            "rollup_rule",
            "rollup_params",
            "overrides_end_with_new_evidence",
            "updated_at",
        ]
        read_only_fields = fields


class EffectivePolicySerializer(serializers.Serializer[Any]):
    method = TextField()
    params = serializers.DictField()
    min_evidence = serializers.IntegerField()
    rollup_rule = TextField()
    rollup_params = serializers.DictField()
    organisation_id = serializers.IntegerField(allow_null=True)
    framework_id = serializers.IntegerField(allow_null=True)
    policy_id = serializers.IntegerField(allow_null=True)
    overrides_end_with_new_evidence = serializers.BooleanField()


class RequirementSerializer(serializers.ModelSerializer[Requirement]):
    human_code = TextField(source="standard.human_code", read_only=True)

    class Meta:
        model = Requirement
        fields = [
            "id",
            "organisation",
            "term",
            "grade_level",
            "standard",
            "human_code",
            "priority",
            "created_at",
        ]
        read_only_fields = fields


class RequiredStandardSerializer(serializers.Serializer[Any]):
    standard_id = serializers.IntegerField()
    identifier = TextField()
    human_code = TextField()
    framework_id = serializers.IntegerField()
    priority = TextField()
    organisation_id = serializers.IntegerField()
    requirement_id = serializers.IntegerField()


class ElectiveGroupInfoSerializer(serializers.Serializer[Any]):
    group_id = serializers.IntegerField()
    title = TextField()
    choose = serializers.IntegerField()
    priority = TextField()
    organisation_id = serializers.IntegerField()
    standard_ids = serializers.ListField(child=serializers.IntegerField())


class RequirementSetSerializer(serializers.Serializer[Any]):
    # Declared in get_fields: "required" would shadow the Field attribute of the same name.
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {
            "required": RequiredStandardSerializer(many=True),
            "electives": ElectiveGroupInfoSerializer(many=True),
        }


class ElectiveGroupSerializer(serializers.ModelSerializer[ElectiveGroup]):
    standards = serializers.ManyRelatedField(
        child_relation=serializers.PrimaryKeyRelatedField(read_only=True), read_only=True
    )

    class Meta:
        model = ElectiveGroup
        fields = [
            "id",
            "organisation",
            "term",
            "grade_level",
            "title",
            "choose",
            "priority",
            "standards",
        ]
        read_only_fields = fields


class ElectiveChoiceSerializer(serializers.ModelSerializer[ElectiveChoice]):
    class Meta:
        model = ElectiveChoice
        fields = [
            "id",
            "group",
            "learner",
            "standard",
            "status",
            "chosen_at",
            "decided_at",
            "note",
        ]
        read_only_fields = fields


class ImportReportSerializer(serializers.Serializer[Any]):
    framework = TextField()
    title = TextField()
    framework_id = serializers.IntegerField()
    framework_created = serializers.BooleanField()
    framework_updated = serializers.BooleanField()
    items = serializers.IntegerField()
    associations = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    retired = serializers.IntegerField()
    associations_created = serializers.IntegerField()
    associations_updated = serializers.IntegerField()
    associations_unchanged = serializers.IntegerField()
    associations_removed = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    seconds = serializers.FloatField()
    warnings = ProblemSerializer(many=True)
    counts = serializers.DictField(child=CountsSerializer())


# --- Input ---------------------------------------------------------------------------------------

MAX_ID = 2**63 - 1


def _id(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class FrameworkImportInput(serializers.Serializer[Any]):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("file")) == bool(attrs.get("url")):
            raise serializers.ValidationError({"file": "Give a file or a url (one of them)."})
        if attrs.get("url") and attrs.get("format") != "case":
            raise serializers.ValidationError({"url": "Only CASE packages are fetched by url."})
        return attrs

    format = serializers.ChoiceField(choices=["case", "csv", "asn"], default="case")
    file = serializers.FileField(required=False)
    url = serializers.URLField(
        required=False,
        max_length=2000,
        help_text="CASE only, instead of a file: a provider's .../ims/case/v1p1/CFPackages/{id}.",
    )
    organisation = _id(required=False, allow_null=True)
    identifier = TextField(max_length=255, required=False, default="")
    title = TextField(max_length=500, required=False, default="")
    allow_missing_parents = serializers.BooleanField(default=False)
    dry_run = serializers.BooleanField(default=False)


class LevelInputSerializer(serializers.Serializer[Any]):
    # Declared in get_fields: "label" would shadow the Field attribute of the same name.
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {
            "points": serializers.DecimalField(max_digits=5, decimal_places=2),
            "label": TextField(max_length=50, allow_blank=True),
            "colour": TextField(max_length=7, allow_blank=True),
            "cut_point": serializers.DecimalField(
                max_digits=5, decimal_places=2, required=False, allow_null=True, default=None
            ),
            "description": TextField(max_length=200, required=False, default="", allow_blank=True),
        }


class ScaleInput(serializers.Serializer[Any]):
    organisation = _id()
    name = TextField(max_length=100, required=False, default="", allow_blank=True)
    mastery_threshold = serializers.DecimalField(max_digits=5, decimal_places=2)
    levels = LevelInputSerializer(many=True)


class PolicyInput(serializers.Serializer[Any]):
    organisation = _id()
    framework = _id(required=False, allow_null=True, default=None)
    method = TextField(max_length=40)
    params = serializers.DictField(required=False, default=dict)
    min_evidence = serializers.IntegerField(default=1, min_value=-(2**31), max_value=2**31)
    rollup_rule = TextField(max_length=40, default="all_mastered")
    rollup_params = serializers.DictField(required=False, default=dict)
    overrides_end_with_new_evidence = serializers.BooleanField(required=False, default=False)


class RequirementInput(serializers.Serializer[Any]):
    organisation = _id()
    term = _id()
    grade_level = TextField(max_length=20)
    standards = serializers.ListField(child=_id(), min_length=1, max_length=500)
    priority = TextField(max_length=20)


class ElectiveGroupInput(serializers.Serializer[Any]):
    organisation = _id()
    term = _id()
    grade_level = TextField(max_length=20)
    title = TextField(max_length=200)
    choose = serializers.IntegerField(min_value=-(2**31), max_value=2**31)
    standards = serializers.ListField(child=_id(), min_length=1, max_length=500)
    priority = TextField(max_length=20, default="supporting")


class ElectiveChoiceInput(serializers.Serializer[Any]):
    group = _id()
    standard = _id()


class DecisionInput(serializers.Serializer[Any]):
    approve = serializers.BooleanField()
    note = TextField(max_length=500, required=False, default="", allow_blank=True)
