"""Serializers of the evidence API: inputs validate shape, outputs render; services do the rest."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api_fields import TextField
from evidence import services
from evidence.models import (
    Artifact,
    Evidence,
    EvidenceKind,
    LearningSetting,
    Rating,
    Reflection,
)
from learners.models import Learner, Section
from standards.models import Standard

# --- outputs ------------------------------------------------------------------------------------


class ArtifactOut(serializers.ModelSerializer[Artifact]):
    url = serializers.SerializerMethodField(
        help_text="The link of a link artifact; null for a file."
    )
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Artifact
        fields = [
            "id",
            "evidence",
            "kind",
            "url",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "created_at",
            "download_url",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_url(self, artifact: Artifact) -> str | None:
        return artifact.url or None

    def get_download_url(self, artifact: Artifact) -> str | None:
        if artifact.kind != "file":
            return None
        return f"/api/v1/artifacts/{artifact.pk}/download/"


class ReflectionOut(serializers.ModelSerializer[Reflection]):
    class Meta:
        model = Reflection
        fields = ["id", *Reflection.PROMPTS, "created_at"]
        read_only_fields = fields


def _name(user: Any) -> str:
    """How a staff member (or the learner) is named to those who may see the learner."""
    if user is None:
        return ""
    return str(user.get_full_name() or user.get_username())


class RatingOut(serializers.ModelSerializer[Rating]):
    """A rating with who gave it (``rater``), who corrected it (``corrected_by``: the rater of
    the rating that supersedes it) and who removed it (``removed_by``), ids and names."""

    standard_code = TextField(source="standard.human_code", read_only=True)
    superseded_by = serializers.SerializerMethodField()
    removed = serializers.SerializerMethodField()
    rater_name = serializers.SerializerMethodField()
    corrected_by = serializers.SerializerMethodField()
    corrected_by_name = serializers.SerializerMethodField()
    removed_by = serializers.SerializerMethodField()
    removed_by_name = serializers.SerializerMethodField()

    class Meta:
        model = Rating
        fields = [
            "id",
            "evidence",
            "learner",
            "standard",
            "standard_code",
            "score",
            "source",
            "demonstrated_at",
            "recorded_at",
            "comment",
            "supersedes",
            "superseded_by",
            "removed",
            "rater",
            "rater_name",
            "corrected_by",
            "corrected_by_name",
            "removed_by",
            "removed_by_name",
        ]
        read_only_fields = fields

    def get_superseded_by(self, rating: Rating) -> int | None:
        try:
            return int(rating.superseded_by.pk)
        except Rating.DoesNotExist:
            return None

    def get_removed(self, rating: Rating) -> bool:
        return hasattr(rating, "removal")

    def get_rater_name(self, rating: Rating) -> str:
        return _name(rating.rater)

    def _corrector(self, rating: Rating) -> Any:
        try:
            return rating.superseded_by.rater
        except Rating.DoesNotExist:
            return None

    def get_corrected_by(self, rating: Rating) -> int | None:
        corrector = self._corrector(rating)
        return None if corrector is None else int(corrector.pk)

    def get_corrected_by_name(self, rating: Rating) -> str:
        return _name(self._corrector(rating))

    def _remover(self, rating: Rating) -> Any:
        removal = getattr(rating, "removal", None)
        return None if removal is None else removal.removed_by

    def get_removed_by(self, rating: Rating) -> int | None:
        remover = self._remover(rating)
        return None if remover is None else int(remover.pk)

    def get_removed_by_name(self, rating: Rating) -> str:
        return _name(self._remover(rating))


class EvidenceOut(serializers.ModelSerializer[Evidence]):
    status = TextField(read_only=True)

    class Meta:
        model = Evidence
        fields = [
            "id",
            "learner",
            "kind",
            "title",
            "description",
            "setting",
            "demonstrated_at",
            "recorded_at",
            "section",
            "status",
        ]
        read_only_fields = fields


class EvidenceDetailOut(EvidenceOut):
    artifacts = ArtifactOut(many=True, read_only=True)
    reflections = ReflectionOut(many=True, read_only=True)
    ratings = RatingOut(many=True, read_only=True)

    class Meta(EvidenceOut.Meta):
        fields = [*EvidenceOut.Meta.fields, "artifacts", "reflections", "ratings"]
        read_only_fields = fields


class ImportReportOut(serializers.Serializer[Any]):
    rows = serializers.IntegerField()
    evidence_created = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    learners = serializers.IntegerField(
        help_text="Learners whose mastery records the recompute jobs update."
    )
    recompute_job_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="The bulk recompute jobs (GET /api/v1/mastery/bulk-recomputes/<id>/: progress).",
    )


# --- inputs -------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.INT)
class ScopedLearnerField(serializers.PrimaryKeyRelatedField[Learner]):
    """A learner id among those the requesting user may change (the same error otherwise)."""

    def get_queryset(self) -> Any:
        from learners.selectors import changeable_learners

        return changeable_learners(self.context["request"].user).select_related("school")


@extend_schema_field(OpenApiTypes.INT)
class ScopedSectionField(serializers.PrimaryKeyRelatedField[Section]):
    def get_queryset(self) -> Any:
        from learners.selectors import changeable_sections, current_sections_of_learner, learner_of

        user = self.context["request"].user
        if self.context.get("as_student"):
            learner = learner_of(user)
            return current_sections_of_learner(learner) if learner else Section.objects.none()
        return changeable_sections(user)


@extend_schema_field(OpenApiTypes.INT)
class StandardField(serializers.PrimaryKeyRelatedField[Standard]):
    def get_queryset(self) -> Any:
        return Standard.objects.all()


class ScoreMapField(serializers.DictField):
    """``{"<standard id>": score}``: the services check the standards and the scale."""

    child = serializers.DecimalField(max_digits=7, decimal_places=4, coerce_to_string=False)

    def to_internal_value(self, data: Any) -> dict[int, Any]:
        values = super().to_internal_value(data)
        result: dict[int, Any] = {}
        for key, value in values.items():
            if not str(key).isdigit() or len(str(key)) > 18:
                raise serializers.ValidationError(f"{key!r} is not a standard id.")
            result[int(key)] = value
        if len(result) > 200:
            raise serializers.ValidationError("At most 200 standards at a time.")
        return result


class EvidenceIn(serializers.Serializer[Any]):
    """Staff record evidence for one learner, optionally rated."""

    learner = ScopedLearnerField()
    kind = serializers.ChoiceField(choices=EvidenceKind.choices)
    title = TextField(max_length=services.TITLE_MAX)
    description = TextField(
        required=False, allow_blank=True, max_length=services.DESCRIPTION_MAX, default=""
    )
    setting = serializers.ChoiceField(
        choices=LearningSetting.choices, default=LearningSetting.IN_SCHOOL
    )
    demonstrated_at = serializers.DateTimeField()
    section = ScopedSectionField(required=False, allow_null=True, default=None)
    scores = ScoreMapField(required=False, default=dict)
    comment = TextField(
        required=False, allow_blank=True, max_length=services.COMMENT_MAX, default=""
    )
    links = serializers.ListField(
        child=TextField(max_length=services.URL_MAX),
        required=False,
        default=list,
        max_length=services.MAX_ARTIFACTS_PER_CALL,
    )


class ReflectionIn(serializers.Serializer[Any]):
    what_i_learned = TextField(
        required=False, allow_blank=True, max_length=services.REFLECTION_MAX, default=""
    )
    how_i_got_there = TextField(
        required=False, allow_blank=True, max_length=services.REFLECTION_MAX, default=""
    )
    how_i_showed_it = TextField(
        required=False, allow_blank=True, max_length=services.REFLECTION_MAX, default=""
    )
    how_i_will_use_it = TextField(
        required=False, allow_blank=True, max_length=services.REFLECTION_MAX, default=""
    )


class SubmissionIn(serializers.Serializer[Any]):
    """A student's own submission (JSON: links only; files go to evidence/{id}/artifacts/)."""

    kind = serializers.ChoiceField(choices=EvidenceKind.choices)
    title = TextField(max_length=services.TITLE_MAX)
    description = TextField(
        required=False, allow_blank=True, max_length=services.DESCRIPTION_MAX, default=""
    )
    setting = serializers.ChoiceField(
        choices=LearningSetting.choices, default=LearningSetting.IN_SCHOOL
    )
    demonstrated_at = serializers.DateTimeField()
    section = ScopedSectionField(required=False, allow_null=True, default=None)
    reflection = ReflectionIn(required=False, allow_null=True, default=None)
    self_scores = ScoreMapField(required=False, default=dict)
    links = serializers.ListField(
        child=TextField(max_length=services.URL_MAX),
        required=False,
        default=list,
        max_length=services.MAX_ARTIFACTS_PER_CALL,
    )


class ResubmissionIn(serializers.Serializer[Any]):
    note = TextField(required=False, allow_blank=True, max_length=services.COMMENT_MAX, default="")
    reflection = ReflectionIn(required=False, allow_null=True, default=None)
    self_scores = ScoreMapField(required=False, default=dict)
    links = serializers.ListField(
        child=TextField(max_length=services.URL_MAX),
        required=False,
        default=list,
        max_length=services.MAX_ARTIFACTS_PER_CALL,
    )


class ReviewIn(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=services.ReviewDecision.CHOICES)
    scores = ScoreMapField(required=False, default=dict)
    comment = TextField(
        required=False, allow_blank=True, max_length=services.COMMENT_MAX, default=""
    )


class RatingEntryIn(serializers.Serializer[Any]):
    learner = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    standard = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    score = serializers.DecimalField(max_digits=7, decimal_places=4, coerce_to_string=False)
    comment = TextField(
        required=False, allow_blank=True, max_length=services.COMMENT_MAX, default=""
    )


class RatingsIn(serializers.Serializer[Any]):
    """Quick entry: ratings for many learners x standards, one evidence per learner."""

    title = TextField(max_length=services.TITLE_MAX)
    demonstrated_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=EvidenceKind.choices, default=EvidenceKind.OBSERVATION)
    setting = serializers.ChoiceField(
        choices=LearningSetting.choices, default=LearningSetting.IN_SCHOOL
    )
    description = TextField(
        required=False, allow_blank=True, max_length=services.DESCRIPTION_MAX, default=""
    )
    # An id: the service checks it is a current section of the actor's holding every learner
    # (one statement; the scoped queryset of ScopedSectionField cost a fifth of the request).
    section = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False, allow_null=True, default=None
    )
    entries = RatingEntryIn(many=True, max_length=services.MAX_RATINGS_PER_CALL)  # type: ignore[call-arg]


class SupersedeIn(serializers.Serializer[Any]):
    score = serializers.DecimalField(max_digits=7, decimal_places=4, coerce_to_string=False)
    comment = TextField(
        required=False, allow_blank=True, max_length=services.COMMENT_MAX, default=""
    )


class ReasonIn(serializers.Serializer[Any]):
    reason = TextField(max_length=services.REASON_MAX)


class ArtifactIn(serializers.Serializer[Any]):
    file = serializers.FileField(required=False, allow_null=True, default=None)
    url = TextField(required=False, allow_blank=True, max_length=services.URL_MAX, default="")


class ImportIn(serializers.Serializer[Any]):
    file = serializers.FileField()
    dry_run = serializers.BooleanField(required=False, default=False)
