"""Forms of the evidence pages. They check the shape of input; the services check the rest."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from evidence import services
from evidence.models import EvidenceKind, LearningSetting, Reflection
from learners.models import Learner, Section
from standards import selectors as standard_selectors
from standards.models import Standard

REFLECTION_PROMPTS = {
    "what_i_learned": _("What did I learn?"),
    "how_i_got_there": _("How did I get there?"),
    "how_i_showed_it": _("How did I show it?"),
    "how_i_will_use_it": _("How will I use it?"),
}
SELF_RATING_ROWS = 3


def level_choices(levels: Iterable[tuple[Decimal, str]]) -> list[tuple[str, str]]:
    return [(f"{points:g}", f"{points:g} {label}") for points, label in levels]


def resolve_standard_codes(text: str) -> list[Standard]:
    """Standards named by codes (full or short) or identifiers separated by commas, semicolons
    or spaces, through the one resolver (``standards.selectors.resolve_standard_codes``);
    every problem is raised at once."""
    resolved = standard_selectors.resolve_standard_codes(text)
    if resolved.problems:
        raise ValidationError(resolved.problems)
    return resolved.standards


class DateInput(forms.DateInput):
    input_type = "date"


class LearnerChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.display_name)


class QuickEntryForm(forms.Form):
    """Quick entry for one section: learners x standards, one level, a note."""

    learners = LearnerChoiceField(
        queryset=Learner.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    standards = forms.CharField(
        label="Standards",
        help_text="Codes or identifiers, separated by commas or spaces (e.g. 3.OA.A.1, 3.OA.A.2).",
        max_length=5000,
    )
    score = forms.ChoiceField(label="Level", widget=forms.RadioSelect)
    title = forms.CharField(max_length=services.TITLE_MAX)
    kind = forms.ChoiceField(choices=EvidenceKind.choices, initial=EvidenceKind.OBSERVATION)
    setting = forms.ChoiceField(
        label="Where the learning happened",
        choices=LearningSetting.choices,
        initial=LearningSetting.IN_SCHOOL,
    )
    demonstrated_on = forms.DateField(label="Date demonstrated", widget=DateInput)
    description = forms.CharField(
        label="Note", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, roster: Any, levels: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        learners = self.fields["learners"]
        assert isinstance(learners, forms.ModelMultipleChoiceField)
        learners.queryset = roster
        score = self.fields["score"]
        assert isinstance(score, forms.ChoiceField)
        score.choices = levels
        self.fields["demonstrated_on"].initial = timezone.localdate()

    def clean_standards(self) -> list[Standard]:
        return resolve_standard_codes(self.cleaned_data["standards"])


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (each still checked by content in the service)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class ReflectionForm(forms.Form):
    """The four reflection prompts (a learner's reflection on any of their evidence)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, prompt in REFLECTION_PROMPTS.items():
            self.fields[name] = forms.CharField(
                label=prompt,
                required=False,
                max_length=services.REFLECTION_MAX,
                widget=forms.Textarea(attrs={"rows": 3}),
            )

    def reflection(self) -> services.ReflectionInput:
        return services.ReflectionInput(
            **{name: self.cleaned_data.get(name, "") for name in Reflection.PROMPTS}
        )


class ReviseForm(forms.Form):
    """What a student adds when revising: a note, files and links, the reflection, self-ratings."""

    note = forms.CharField(
        label=_("What I changed"),
        required=False,
        max_length=services.COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    file = MultipleFileField(
        required=False, label=_("Files (optional: choose several at once if you like)")
    )
    link = forms.CharField(
        required=False,
        max_length=services.URL_MAX * services.MAX_ARTIFACTS_PER_CALL,
        label=_("Links (optional, one per line)"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, levels: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, prompt in REFLECTION_PROMPTS.items():
            self.fields[name] = forms.CharField(
                label=prompt,
                required=False,
                max_length=services.REFLECTION_MAX,
                widget=forms.Textarea(attrs={"rows": 3}),
            )
        for row in range(1, SELF_RATING_ROWS + 1):
            self.fields[f"standard_{row}"] = forms.CharField(
                label=_("Standard %(row)s (code)") % {"row": row}, required=False, max_length=255
            )
            self.fields[f"self_score_{row}"] = forms.ChoiceField(
                label=_("My level for standard %(row)s") % {"row": row},
                choices=[("", _("(choose)")), *levels],
                required=False,
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        scores: dict[int, str] = {}
        for row in range(1, SELF_RATING_ROWS + 1):
            code = (cleaned.get(f"standard_{row}") or "").strip()
            score = cleaned.get(f"self_score_{row}") or ""
            if not code and not score:
                continue
            if not code or not score:
                self.add_error(f"standard_{row}", "Give both the standard and your level.")
                continue
            try:
                found = resolve_standard_codes(code)
            except ValidationError as exc:
                self.add_error(f"standard_{row}", exc)
                continue
            if len(found) != 1:
                self.add_error(f"standard_{row}", "Give one standard per row.")
                continue
            scores[found[0].pk] = score
        cleaned["self_scores"] = scores
        return cleaned

    def reflection(self) -> services.ReflectionInput:
        return services.ReflectionInput(
            **{name: self.cleaned_data.get(name, "") for name in Reflection.PROMPTS}
        )

    def link_list(self) -> list[str]:
        """Links, one per line (the service checks each is a web address)."""
        text = self.cleaned_data.get("link") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def file_list(self) -> list[Any]:
        return list(self.cleaned_data.get("file") or [])


class SubmitEvidenceForm(ReviseForm):
    """A student's submission: the evidence, files and links, the reflection, self-ratings."""

    title = forms.CharField(label=_("Title"), max_length=services.TITLE_MAX)
    kind = forms.ChoiceField(
        label=_("Kind"), choices=EvidenceKind.choices, initial=EvidenceKind.PROJECT
    )
    setting = forms.ChoiceField(
        label=_("Where the learning happened"),
        choices=LearningSetting.choices,
        initial=LearningSetting.IN_SCHOOL,
    )
    demonstrated_on = forms.DateField(label=_("Date demonstrated"), widget=DateInput)
    section = forms.ModelChoiceField(
        queryset=Section.objects.none(), required=False, label=_("Class (optional)")
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=services.DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
    )

    field_order = [
        "title",
        "kind",
        "setting",
        "demonstrated_on",
        "section",
        "description",
        "file",
        "link",
    ]

    def __init__(
        self, *args: Any, sections: Any, levels: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, levels=levels, **kwargs)
        del self.fields["note"]
        section = self.fields["section"]
        assert isinstance(section, forms.ModelChoiceField)
        section.queryset = sections
        self.fields["demonstrated_on"].initial = timezone.localdate()
        self.order_fields(self.field_order)


class ReviewForm(forms.Form):
    """Score a submission (a level per standard) or return it for revision."""

    decision = forms.ChoiceField(
        choices=[
            (services.ReviewDecision.SCORE, "Score it"),
            (services.ReviewDecision.RETURN, "Return it for revision"),
        ],
        widget=forms.RadioSelect,
        initial=services.ReviewDecision.SCORE,
    )
    also_standards = forms.CharField(
        label="Also rate standards (codes)", required=False, max_length=5000
    )
    also_score = forms.ChoiceField(label="Level for those standards", required=False)
    comment = forms.CharField(
        required=False, max_length=services.COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(
        self,
        *args: Any,
        standards: list[Standard],
        levels: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.rated_standards = standards
        also = self.fields["also_score"]
        assert isinstance(also, forms.ChoiceField)
        also.choices = [("", "(choose)"), *levels]
        for standard in standards:
            self.fields[f"score_{standard.pk}"] = forms.ChoiceField(
                label=f"Level for {standard.human_code or standard.identifier}",
                choices=[("", "(not rated)"), *levels],
                required=False,
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        scores: dict[int, str] = {}
        for standard in self.rated_standards:
            value = cleaned.get(f"score_{standard.pk}")
            if value:
                scores[standard.pk] = value
        codes = (cleaned.get("also_standards") or "").strip()
        if codes:
            try:
                extra = resolve_standard_codes(codes)
            except ValidationError as exc:
                self.add_error("also_standards", exc)
                extra = []
            if extra and not cleaned.get("also_score"):
                self.add_error("also_score", "Choose the level for these standards.")
            for standard in extra:
                scores.setdefault(standard.pk, cleaned.get("also_score") or "")
        cleaned["scores"] = scores
        return cleaned


class SupersedeRatingForm(forms.Form):
    score = forms.ChoiceField(label="Corrected level")
    comment = forms.CharField(
        label="Why it changes", max_length=services.COMMENT_MAX, widget=forms.Textarea({"rows": 2})
    )

    def __init__(self, *args: Any, levels: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        score = self.fields["score"]
        assert isinstance(score, forms.ChoiceField)
        score.choices = levels


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=services.REASON_MAX, widget=forms.Textarea({"rows": 2})
    )


class RatingImportForm(forms.Form):
    file = forms.FileField(label="Ratings CSV file")
    dry_run = forms.BooleanField(label="Check only (write nothing)", required=False, initial=False)


class SectionQuickEntryForm(QuickEntryForm):
    """Quick entry as the teacher's journey uses it: tick learners (or every learner of the
    section) and the section's standards (or type other codes), a level for every ticked
    learner and/or a level per learner, the date the learning was shown and a note; one submit
    records every learner x standard pair, one piece of evidence per learner.

    ``cleaned_data["levels"]`` maps each learner to rate to their level;
    ``cleaned_data["learners"]`` lists them and ``["standards"]`` holds the merged standards.
    """

    all_learners = forms.BooleanField(required=False, label="Every learner of the section")
    section_standards = forms.TypedMultipleChoiceField(
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        label="Standards of this section",
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput, max_length=2000)

    field_order = [
        "all_learners",
        "learners",
        "section_standards",
        "standards",
        "score",
        "demonstrated_on",
        "title",
        "kind",
        "setting",
        "description",
        "next",
    ]

    def __init__(self, *args: Any, standard_choices: list[tuple[int, str]], **kwargs: Any):
        level_choices: list[tuple[str, str]] = kwargs["levels"]
        super().__init__(*args, **kwargs)
        self.fields["learners"].required = False
        score = self.fields["score"]
        assert isinstance(score, forms.ChoiceField)
        score.required = False
        score.label = "Level for every ticked learner"
        codes = self.fields["standards"]
        codes.required = False
        codes.label = "Other standards (codes)"
        ticked = self.fields["section_standards"]
        assert isinstance(ticked, forms.TypedMultipleChoiceField)
        ticked.choices = standard_choices
        self.fields["title"].initial = "Observation"
        learners = self.fields["learners"]
        assert isinstance(learners, forms.ModelMultipleChoiceField)
        assert learners.queryset is not None
        self.roster = list(learners.queryset)
        for learner in self.roster:
            self.fields[f"level_{learner.pk}"] = forms.ChoiceField(
                label=f"Level for {learner.display_name}",
                choices=[("", "(the level for every ticked learner)"), *level_choices],
                required=False,
            )
        self.order_fields(self.field_order)

    def learner_rows(self) -> list[tuple[Any, forms.BoundField]]:
        """Each learner's checkbox (from the learners field) with their own level's field."""
        boxes = list(self["learners"])
        return [
            (box, self[f"level_{learner.pk}"])
            for box, learner in zip(boxes, self.roster, strict=True)
        ]

    def clean_standards(self) -> list[Standard]:
        text = self.cleaned_data.get("standards") or ""
        return resolve_standard_codes(text) if text.strip() else []

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        ticked_learners = list(cleaned.get("learners") or [])
        if cleaned.get("all_learners"):
            ticked_learners = list(self.roster)
        common = cleaned.get("score") or ""
        levels: dict[Learner, str] = {}
        missing: list[str] = []
        for learner in self.roster:
            own = cleaned.get(f"level_{learner.pk}") or ""
            if own:
                levels[learner] = own
            elif learner in ticked_learners:
                if common:
                    levels[learner] = common
                else:
                    missing.append(learner.display_name)
        if missing:
            others = " and others" if len(missing) > 5 else ""
            self.add_error(
                "score",
                "Choose a level for every ticked learner, or a level for each of "
                f"{', '.join(missing[:5])}{others}.",
            )
        elif not levels and "learners" not in self.errors:
            self.add_error("learners", "Choose at least one learner, or every learner.")
        ticked = list(Standard.objects.filter(pk__in=cleaned.get("section_standards") or []))
        standards = list({s.pk: s for s in [*ticked, *(cleaned.get("standards") or [])]}.values())
        if not standards and "standards" not in self.errors:
            self.add_error("section_standards", "Choose at least one standard, or type its code.")
        cleaned["levels"] = levels
        cleaned["learners"] = list(levels)
        cleaned["standards"] = standards
        return cleaned


class GridRatingsForm(forms.Form):
    """Levels typed in the section grid: one ``rating`` value per cell, ``learner:standard:level``
    (ids and the level's points), and the evidence they make (one per learner)."""

    title = forms.CharField(max_length=services.TITLE_MAX, label="Title of the evidence")
    kind = forms.ChoiceField(choices=EvidenceKind.choices, initial=EvidenceKind.OBSERVATION)
    demonstrated_on = forms.DateField(label="Date demonstrated", widget=DateInput)
    next = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args: Any, levels: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.level_values = {value for value, _label in levels}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values = self.data.getlist("rating") if hasattr(self.data, "getlist") else []
        if not values:
            raise forms.ValidationError("Type at least one level in the grid before saving.")
        if len(values) > services.MAX_RATINGS_PER_CALL:
            raise forms.ValidationError(
                f"Save at most {services.MAX_RATINGS_PER_CALL} levels at a time."
            )
        ratings: dict[tuple[int, int], str] = {}
        for value in values:
            parts = str(value).split(":")
            if len(parts) != 3 or not all(
                part.isascii() and part.isdigit() and len(part) < 19 for part in parts[:2]
            ):
                raise forms.ValidationError(
                    "The grid sent a level it cannot read: reload the page."
                )
            if parts[2] not in self.level_values:
                raise forms.ValidationError(
                    f"{parts[2]} is not a level of this school's scale: reload the page."
                )
            ratings[(int(parts[0]), int(parts[1]))] = parts[2]
        cleaned["ratings"] = ratings
        return cleaned


class SectionChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.title} ({obj.school.name})"


class ReviewFilterForm(forms.Form):
    """The review queue narrowed to one of the user's current sections."""

    section = SectionChoiceField(
        queryset=Section.objects.none(), required=False, empty_label="All my sections"
    )

    def __init__(self, *args: Any, sections: list[Section], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["section"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = (
            Section.objects.filter(pk__in=[s.pk for s in sections])
            .select_related("school")
            .order_by("title", "school__name", "pk")
        )


class BulkReviewForm(forms.Form):
    """Several submissions reviewed at once: scored at their self-ratings, or returned."""

    evidence = forms.TypedMultipleChoiceField(coerce=int, choices=[], required=True)
    action = forms.ChoiceField(
        choices=[
            (services.ReviewDecision.SCORE, "Score at the learners' own levels"),
            (services.ReviewDecision.RETURN, "Return for revision"),
        ]
    )
    comment = forms.CharField(required=False, max_length=services.COMMENT_MAX)

    def clean_evidence(self) -> list[int]:
        return list(self.cleaned_data["evidence"])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["evidence"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        # Any ids: the view keeps only the submissions waiting in the user's own queue.
        values = self.data.getlist("evidence") if hasattr(self.data, "getlist") else []
        field.choices = [(v, v) for v in values if str(v).isascii() and str(v).isdigit()]
        field.error_messages["required"] = "Tick at least one submission."
