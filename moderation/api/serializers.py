"""Serializers of the moderation API: inputs validate shape, outputs render; services do the rest.

The blind piece (``BlindPieceOut``) carries no learner, no evidence or rating id, no first
rating and nobody's name: only the work, the standard, the levels and the reviewer's own rating.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api_fields import TextField
from mastery.core import Agreement
from moderation.models import CommonTask, ModerationItem, ModerationRound, RoundDecision
from moderation.selectors import BlindPiece, RoundAgreement, TeacherAgreement


def agreement_json(result: Agreement) -> dict[str, Any]:
    """Shares and kappa as decimal numbers (4 places); null where undefined."""
    return {
        "pairs": result.pairs,
        "exact": None if result.exact is None else round(float(result.exact), 4),
        "adjacent": None if result.adjacent is None else round(float(result.adjacent), 4),
        "kappa": None if result.kappa is None else round(float(result.kappa), 4),
    }


class AgreementOut(serializers.Serializer[Agreement]):
    pairs = serializers.IntegerField(help_text="Pieces rated twice.")
    exact = serializers.FloatField(allow_null=True, help_text="Share on the same level.")
    adjacent = serializers.FloatField(
        allow_null=True, help_text="Share at most one level apart (exact included)."
    )
    kappa = serializers.FloatField(
        allow_null=True,
        help_text="Cohen's kappa, quadratic weights; null when undefined (one level only).",
    )

    def to_representation(self, instance: Agreement) -> dict[str, Any]:
        return agreement_json(instance)


class AgreementRowOut(serializers.Serializer[Any]):
    name = TextField(help_text="The standard, school or pair of raters.")
    agreement = AgreementOut()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {"name": instance.label, "agreement": agreement_json(instance.result)}


class DisagreementOut(serializers.Serializer[Any]):
    position = serializers.IntegerField()
    evidence = serializers.IntegerField(source="evidence_id")
    standard = serializers.IntegerField(source="standard_id")
    first_score = serializers.DecimalField(max_digits=5, decimal_places=2)
    first_level = TextField(source="first_label")
    second_score = serializers.DecimalField(max_digits=5, decimal_places=2)
    second_level = TextField(source="second_label")


class RoundAgreementOut(serializers.Serializer[RoundAgreement]):
    overall = AgreementOut()
    by_standard = AgreementRowOut(many=True)
    by_school = AgreementRowOut(many=True)
    by_raters = AgreementRowOut(many=True)
    disagreements = DisagreementOut(many=True, help_text="Pieces two levels or more apart.")


class RoundOut(serializers.ModelSerializer[ModerationRound]):
    standards = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField(help_text="keep or adopt once closed; null open.")
    item_count = serializers.IntegerField(read_only=True)
    rated_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ModerationRound
        fields = [
            "id",
            "title",
            "organisation",
            "term",
            "standards",
            "common_task",
            "sample_size",
            "seed",
            "population",
            "item_count",
            "rated_count",
            "due_on",
            "status",
            "decision",
            "reason",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields

    def get_standards(self, round_: ModerationRound) -> list[str]:
        return [s.human_code or s.identifier for s in round_.standards.all()]

    @extend_schema_field({"type": "string", "nullable": True})
    def get_decision(self, round_: ModerationRound) -> str | None:
        return round_.decision or None


class RoundDetailOut(RoundOut):
    agreement = serializers.SerializerMethodField()

    class Meta(RoundOut.Meta):
        fields = [*RoundOut.Meta.fields, "agreement"]
        read_only_fields = fields

    def get_agreement(self, round_: ModerationRound) -> dict[str, Any]:
        data: dict[str, Any] = RoundAgreementOut(self.context["agreement"]).data
        return data


class RoundIn(serializers.Serializer[None]):
    title = TextField(max_length=200)
    organisation = serializers.IntegerField(min_value=1)
    term = serializers.IntegerField(min_value=1)
    standards = serializers.ListField(
        child=TextField(max_length=255),
        min_length=1,
        max_length=50,
        help_text="Codes or CASE identifiers of the standards to moderate.",
    )
    sample_size = serializers.IntegerField(min_value=1, max_value=1000)
    seed = serializers.IntegerField(min_value=0, max_value=2**62, required=False, allow_null=True)
    common_task = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    reviewers = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_null=True,
        max_length=500,
        help_text="User ids of the reviewers; default: every teacher of the organisation.",
    )
    due_on = serializers.DateField(required=False, allow_null=True)


class CloseIn(serializers.Serializer[None]):
    decision = serializers.ChoiceField(choices=RoundDecision.choices)
    reason = TextField(max_length=2000, required=False, allow_blank=True, default="")
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_null=True,
        max_length=1000,
        help_text="Adopt only these pieces (ids); default: every piece rated differently.",
    )


class CloseOut(serializers.Serializer[Any]):
    round = RoundOut()
    adopted = serializers.ListField(child=serializers.IntegerField(), help_text="Piece positions.")
    unchanged = serializers.IntegerField()
    skipped = serializers.ListField(child=serializers.DictField())


# --- blind pieces --------------------------------------------------------------------------------


class PieceOut(serializers.ModelSerializer[ModerationItem]):
    """A piece in the reviewer's list: where it is, never whose it is."""

    round_title = TextField(source="round.title", read_only=True)
    round_open = serializers.SerializerMethodField()
    standard_code = serializers.SerializerMethodField()
    rated = serializers.SerializerMethodField()

    class Meta:
        model = ModerationItem
        fields = ["id", "round", "round_title", "round_open", "position", "standard_code", "rated"]
        read_only_fields = fields

    def get_round_open(self, item: ModerationItem) -> bool:
        return bool(item.round.status == "open")

    def get_standard_code(self, item: ModerationItem) -> str:
        return str(item.standard.human_code or item.standard.identifier)

    def get_rated(self, item: ModerationItem) -> bool:
        return getattr(item, "second_id", None) is not None


class BlindArtifactOut(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    kind = TextField()
    size = serializers.IntegerField(allow_null=True)
    content_type = TextField()
    url = TextField(help_text="A link's address; blank for a file or a withheld link.")
    withheld = serializers.BooleanField(help_text="A link whose address names the learner.")
    download_url = serializers.SerializerMethodField()

    def get_download_url(self, artifact: Any) -> str | None:
        if artifact.kind != "file":
            return None
        item_id = self.context["item_id"]
        return f"/api/v1/moderation/reviews/{item_id}/files/{artifact.number}/"


class BlindPieceOut(serializers.Serializer[BlindPiece]):
    id = serializers.IntegerField(source="item_id")
    position = serializers.IntegerField()
    round_title = TextField()
    round_open = serializers.BooleanField()
    standard_code = TextField()
    standard_statement = TextField()
    kind = TextField()
    title = TextField()
    description = TextField()
    demonstrated_on = serializers.DateField()
    artifacts = serializers.SerializerMethodField()
    reflection = serializers.SerializerMethodField()
    levels = serializers.SerializerMethodField()
    task = serializers.SerializerMethodField()
    your_rating = serializers.SerializerMethodField()

    def get_artifacts(self, piece: BlindPiece) -> list[dict[str, Any]]:
        out = BlindArtifactOut(piece.artifacts, many=True, context={"item_id": piece.item_id})
        return [dict(row) for row in out.data]

    def get_reflection(self, piece: BlindPiece) -> list[dict[str, str]]:
        return [{"prompt": prompt, "answer": answer} for prompt, answer in piece.reflection]

    def get_levels(self, piece: BlindPiece) -> list[dict[str, str]]:
        return [{"points": f"{points:g}", "label": label} for points, label in piece.levels]

    def get_task(self, piece: BlindPiece) -> dict[str, Any] | None:
        if not piece.task_title:
            return None
        return {
            "title": piece.task_title,
            "prompt": piece.task_prompt,
            "levels": [
                {"points": f"{p:g}", "label": label, "description": text}
                for p, label, text in piece.task_levels
            ],
        }

    def get_your_rating(self, piece: BlindPiece) -> dict[str, Any] | None:
        if piece.second is None:
            return None
        return {
            "score": f"{piece.second.score:.2f}",
            "comment": piece.second.comment,
            "rated_at": piece.second.rated_at.isoformat(),
        }


class RateIn(serializers.Serializer[None]):
    score = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=Decimal(0))
    comment = TextField(max_length=5000, required=False, allow_blank=True, default="")


class TeacherAgreementOut(serializers.Serializer[TeacherAgreement]):
    own = AgreementOut(help_text="Pieces you rated, first or second.")
    group = AgreementOut(help_text="Every piece of the rounds you took part in.")
    rounds = serializers.IntegerField()


# --- common tasks --------------------------------------------------------------------------------


class TaskOut(serializers.ModelSerializer[CommonTask]):
    standards = serializers.SerializerMethodField()
    levels = serializers.SerializerMethodField()
    evidence_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = CommonTask
        fields = [
            "id",
            "title",
            "organisation",
            "prompt",
            "standards",
            "levels",
            "opens_on",
            "closes_on",
            "evidence_count",
            "created_at",
        ]
        read_only_fields = fields

    def get_standards(self, task: CommonTask) -> list[dict[str, Any]]:
        return [
            {"id": s.pk, "code": s.human_code or s.identifier, "statement": s.statement}
            for s in task.standards.all()
        ]

    def get_levels(self, task: CommonTask) -> list[dict[str, str]]:
        return [
            {"points": f"{lv.points:g}", "label": lv.label, "description": lv.description}
            for lv in task.levels.all()
        ]


class TaskIn(serializers.Serializer[None]):
    title = TextField(max_length=200)
    organisation = serializers.IntegerField(min_value=1)
    prompt = TextField(max_length=20000)
    standards = serializers.ListField(child=TextField(max_length=255), min_length=1, max_length=20)
    opens_on = serializers.DateField()
    closes_on = serializers.DateField()
    levels = serializers.DictField(
        child=TextField(max_length=5000, allow_blank=True),
        required=False,
        default=dict,
        help_text="What the work looks like at each level: points -> description.",
    )


class ResultEntryIn(serializers.Serializer[None]):
    learner = serializers.IntegerField(min_value=1)
    standard = serializers.IntegerField(min_value=1)
    score = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=Decimal(0))


class ResultsIn(serializers.Serializer[None]):
    section = serializers.IntegerField(min_value=1)
    demonstrated_on = serializers.DateField()
    entries = serializers.ListField(child=ResultEntryIn(), allow_empty=False, max_length=5000)


class ResultOut(serializers.Serializer[Any]):
    """One evidence recorded from the task (one per learner)."""

    id = serializers.IntegerField(source="pk")
    learner = serializers.IntegerField(source="learner_id")
    title = TextField()


# --- the equity audit's subgroups ---------------------------------------------------------------


class DemographicsChoiceOut(serializers.Serializer[Any]):
    organisation = serializers.IntegerField(source="organisation.pk")
    name = TextField(source="organisation.name")
    enabled = serializers.BooleanField(help_text="Kept here by this organisation's choice.")
    inherited = serializers.BooleanField(help_text="Kept here by an organisation above it.")
    stored = serializers.IntegerField(help_text="Learners below it with demographics kept.")


class DemographicsChoiceIn(serializers.Serializer[None]):
    organisation = serializers.IntegerField(min_value=1)
    enabled = serializers.BooleanField()
