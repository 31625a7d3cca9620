"""Output serializers of the learners API (read-only: writes go through services)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from common.api import CountsSerializer, ProblemSerializer
from learners.models import Learner, LearnerProfile, Organisation, Section, Term


class OrganisationSerializer(serializers.ModelSerializer[Organisation]):
    class Meta:
        model = Organisation
        fields = ["id", "kind", "name", "parent", "external_id", "sourced_id"]
        read_only_fields = fields


class TermSerializer(serializers.ModelSerializer[Term]):
    class Meta:
        model = Term
        fields = [
            "id",
            "title",
            "kind",
            "start_date",
            "end_date",
            "school_year",
            "organisation",
            "parent",
            "sourced_id",
        ]
        read_only_fields = fields


class SectionSerializer(serializers.ModelSerializer[Section]):
    class Meta:
        model = Section
        fields = [
            "id",
            "title",
            "school",
            "term",
            "course_code",
            "section_code",
            "subject",
            "grade_levels",
            "sourced_id",
        ]
        read_only_fields = fields


class LearnerSerializer(serializers.ModelSerializer[Learner]):
    class Meta:
        model = Learner
        fields = [
            "id",
            "school",
            "local_id",
            "state_student_id",
            "given_name",
            "family_name",
            "preferred_name",
            "grade_level",
            "active",
        ]
        read_only_fields = fields


class LearnerProfileSerializer(serializers.ModelSerializer[LearnerProfile]):
    class Meta:
        model = LearnerProfile
        fields = ["strengths", "interests", "how_i_learn_best", "goals", "updated_at"]
        read_only_fields = fields


class RosterImportInput(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="A zip of the OneRoster 1.1 CSV files.")
    dry_run = serializers.BooleanField(default=False, help_text="Check and count, write nothing.")
    safety_percent = serializers.IntegerField(
        min_value=0,
        max_value=100,
        required=False,
        allow_null=True,
        default=None,
        help_text="Refuse the roster when more than this share would be skipped or deactivated "
        "(default: the platform's, 5).",
    )


class RosterImportOut(serializers.Serializer[Any]):
    import_id = serializers.IntegerField(allow_null=True)
    dry_run = serializers.BooleanField()
    counts = serializers.DictField(child=CountsSerializer())
    warnings = ProblemSerializer(many=True)
    safety = serializers.DictField()
