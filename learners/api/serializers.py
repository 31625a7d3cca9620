"""Output serializers of the learners API (read-only: writes go through services)."""

from __future__ import annotations

from rest_framework import serializers

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
