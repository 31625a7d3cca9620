"""Forms of the moderation pages: shapes only; the services validate what depends on scope."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from learners.models import Learner, Organisation, Term
from moderation.models import CommonTask, RoundDecision
from moderation.services import MAX_SAMPLE
from standards.models import Standard
from standards.selectors import resolve_standard_codes


def level_choices(
    levels: list[tuple[Decimal, str]], *, blank: str | None = None
) -> list[tuple[str, str]]:
    choices = [(f"{points:g}", f"{label} ({points:g})") for points, label in levels]
    return ([("", blank)] if blank is not None else []) + choices


class DateInput(forms.DateInput):
    input_type = "date"


class StandardCodesField(forms.CharField):
    """Standards named by their codes (or identifiers), separated by commas or spaces."""

    def clean(self, value: Any) -> list[Standard]:
        text = super().clean(value)
        resolved = resolve_standard_codes(text or "")
        if resolved.problems:
            raise ValidationError(resolved.problems)
        return resolved.standards


class UserChoices(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.get_full_name() or obj.username)


class RoundForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    organisation = forms.ModelChoiceField(
        label="Organisation",
        queryset=Organisation.objects.none(),
        help_text="The sample is drawn across its schools and sections.",
    )
    term = forms.ModelChoiceField(label="Term", queryset=Term.objects.none())
    standards = StandardCodesField(
        label="Standards",
        max_length=2000,
        help_text="Codes of the standards to moderate, separated by commas or spaces.",
    )
    common_task = forms.ModelChoiceField(
        label="Only evidence from a common task",
        queryset=CommonTask.objects.none(),
        required=False,
        empty_label="Any scored evidence",
    )
    sample_size = forms.IntegerField(
        label="Pieces to sample", min_value=1, max_value=MAX_SAMPLE, initial=20
    )
    seed = forms.IntegerField(
        label="Seed",
        required=False,
        min_value=0,
        help_text="Leave empty for a random one. The same seed draws the same pieces again.",
    )
    reviewers = UserChoices(
        label="Reviewers",
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to use every teacher of the organisation.",
    )
    due_on = forms.DateField(label="Second ratings due by", required=False, widget=DateInput)

    def __init__(
        self,
        *args: Any,
        organisations: QuerySet[Organisation],
        terms: QuerySet[Term],
        tasks: QuerySet[CommonTask],
        reviewers: QuerySet[User],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        for name, queryset in (
            ("organisation", organisations),
            ("term", terms),
            ("common_task", tasks),
            ("reviewers", reviewers),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = queryset


class CloseRoundForm(forms.Form):
    decision = forms.ChoiceField(
        label="Decision", choices=RoundDecision.choices, widget=forms.RadioSelect
    )
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required to adopt the moderated ratings: it becomes each correction's comment.",
    )
    items = forms.MultipleChoiceField(
        label="Adopt only these pieces",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to adopt every piece whose second rating differs.",
    )

    def __init__(self, *args: Any, items: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["items"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(str(pk), label) for pk, label in items]

    def item_ids(self) -> list[int] | None:
        chosen = self.cleaned_data.get("items") or []
        return [int(pk) for pk in chosen] or None


class SecondRatingForm(forms.Form):
    score = forms.ChoiceField(label="Your level for this piece", widget=forms.RadioSelect)
    comment = forms.CharField(
        label="Comment (optional)",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, levels: list[tuple[Decimal, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["score"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = level_choices(levels)


class TaskForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    organisation = forms.ModelChoiceField(
        label="Shared with",
        queryset=Organisation.objects.none(),
        help_text="Every school at or below it may use the task.",
    )
    prompt = forms.CharField(label="Prompt", max_length=20000, widget=forms.Textarea)
    standards = StandardCodesField(
        label="Standards",
        max_length=2000,
        help_text="Codes of the standards the task shows, separated by commas or spaces.",
    )
    opens_on = forms.DateField(label="Opens on", widget=DateInput)
    closes_on = forms.DateField(label="Closes on", widget=DateInput)

    def __init__(
        self,
        *args: Any,
        organisations: QuerySet[Organisation],
        levels: list[tuple[Decimal, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = organisations
        self.levels = levels
        for points, label in levels:
            self.fields[self.level_field(points)] = forms.CharField(
                label=f"What {label} ({points:g}) looks like",
                required=False,
                max_length=5000,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    @staticmethod
    def level_field(points: Decimal) -> str:
        return f"level_{points:g}".replace(".", "_")

    def level_descriptions(self) -> dict[Decimal, str]:
        return {
            points: self.cleaned_data.get(self.level_field(points), "")
            for points, _label in self.levels
        }


class TaskResultsForm(forms.Form):
    """One level per learner and standard (blank: not rated), and the day of the task."""

    demonstrated_on = forms.DateField(label="Day of the task", widget=DateInput)

    def __init__(
        self,
        *args: Any,
        learners: list[Learner],
        standards: list[Standard],
        levels: list[tuple[Decimal, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.rows: list[tuple[Learner, list[tuple[Standard, str]]]] = []
        for learner in learners:
            cells = []
            for standard in standards:
                name = f"score_{learner.pk}_{standard.pk}"
                self.fields[name] = forms.ChoiceField(
                    label=f"{standard.human_code or standard.identifier}",
                    choices=level_choices(levels, blank="Not rated"),
                    required=False,
                )
                cells.append((standard, name))
            self.rows.append((learner, cells))

    def bound_rows(self) -> list[tuple[Learner, list[forms.BoundField]]]:
        """Each learner with the bound fields of their standards (for the template)."""
        return [(learner, [self[name] for _, name in cells]) for learner, cells in self.rows]

    def scores(self) -> list[tuple[int, int, str]]:
        """(learner id, standard id, score) of every rated cell."""
        out = []
        for learner, cells in self.rows:
            for standard, name in cells:
                value = self.cleaned_data.get(name)
                if value:
                    out.append((learner.pk, standard.pk, value))
        return out


class EquityAuditForm(forms.Form):
    organisation = forms.ModelChoiceField(
        label="Organisation",
        queryset=Organisation.objects.none(),
        help_text="A school, a district or a state you administer.",
    )
    term = forms.ModelChoiceField(label="Term", queryset=Term.objects.none())
    as_of = forms.DateField(
        label="As of",
        widget=DateInput,
        help_text="Counted as the evidence stood at the end of this day.",
    )
    file_format = forms.ChoiceField(
        label="Format", choices=[("xlsx", "Excel (XLSX)"), ("csv", "CSV")], initial="xlsx"
    )

    def __init__(
        self,
        *args: Any,
        organisations: QuerySet[Organisation],
        terms: QuerySet[Term],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        for name, queryset in (("organisation", organisations), ("term", terms)):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = queryset
