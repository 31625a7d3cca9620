"""Forms of the standards pages. They only shape input; the services validate the meaning."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db.models import QuerySet

from learners.models import Organisation, Term
from standards.models import CalculationMethod, Framework, Priority, RollupRule
from standards.validation import GRADE_LEVELS, MAX_LEVELS, METHOD_PARAMS

FORMAT_CHOICES = [
    ("case", "CASE package (JSON)"),
    ("csv", "CSV of local standards"),
    ("asn", "ASN RDF/JSON"),
]
GRADE_CHOICES = [(level, level) for level in GRADE_LEVELS]
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class FrameworkImportForm(forms.Form):
    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial="case")
    file = forms.FileField(required=False, help_text="At most 50 MB.")
    url = forms.URLField(
        required=False,
        max_length=2000,
        label="Or a CASE provider's address",
        help_text="CASE only: a package address, like https://…/ims/case/v1p1/CFPackages/{id}.",
    )
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.none(),
        required=False,
        label="Owner",
        help_text="The state or district whose administrators may re-import it.",
    )
    identifier = forms.CharField(
        max_length=255, required=False, help_text="CSV only: the framework's identifier."
    )
    title = forms.CharField(max_length=500, required=False, help_text="CSV only: its title.")
    allow_missing_parents = forms.BooleanField(
        required=False,
        help_text="CSV only: place rows whose parent is not in the file at the top level.",
    )
    dry_run = forms.BooleanField(
        required=False, label="Check only", help_text="Report what would change, write nothing."
    )

    def __init__(
        self, *args: Any, owners: QuerySet[Organisation], owner_required: bool, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = owners
        field.required = owner_required

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 50 MB.")
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("file") and not data.get("url"):
            self.add_error("file", "Choose a file, or give a CASE provider's address.")
        elif data.get("file") and data.get("url"):
            self.add_error("url", "Give a file or an address, not both.")
        elif data.get("url") and data.get("format") != "case":
            self.add_error("url", "Only CASE packages are fetched from an address.")
        if data.get("format") == "csv":
            for name in ("identifier", "title"):
                if not (data.get(name) or "").strip():
                    self.add_error(name, "A CSV import needs the framework's identifier and title.")
        return data


class TreeSearchForm(forms.Form):
    q = forms.CharField(max_length=100, required=False, label="Code or text")
    grade = forms.ChoiceField(choices=[("", "Any grade"), *GRADE_CHOICES], required=False)


class ScaleForm(forms.Form):
    """The levels as rows of a fixed-size table; blank rows are ignored."""

    name = forms.CharField(max_length=100, required=False)
    mastery_threshold = forms.DecimalField(max_digits=5, decimal_places=2)

    def __init__(self, *args: Any, rows: int = MAX_LEVELS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_count = rows
        for index in range(rows):
            number = index + 1
            self.fields[f"points_{index}"] = forms.DecimalField(
                max_digits=5, decimal_places=2, required=False, label=f"Level {number} points"
            )
            self.fields[f"label_{index}"] = forms.CharField(
                max_length=50, required=False, label=f"Level {number} label"
            )
            self.fields[f"colour_{index}"] = forms.CharField(
                max_length=7,
                required=False,
                label=f"Level {number} colour",
                widget=forms.TextInput(attrs={"type": "color"}),
            )
            self.fields[f"cut_point_{index}"] = forms.DecimalField(
                max_digits=5,
                decimal_places=2,
                required=False,
                label=f"Level {number} cut point",
                help_text="Blank: the level's points.",
            )
            self.fields[f"description_{index}"] = forms.CharField(
                max_length=200, required=False, label=f"Level {number} description"
            )

    def level_rows(self) -> list[list[forms.BoundField]]:
        names = ("points", "label", "colour", "cut_point", "description")
        return [[self[f"{name}_{index}"] for name in names] for index in range(self.row_count)]

    def levels(self) -> list[dict[str, Any]]:
        """The filled rows (a row with neither points nor label is blank)."""
        rows = []
        for index in range(self.row_count):
            points = self.cleaned_data.get(f"points_{index}")
            label = self.cleaned_data.get(f"label_{index}") or ""
            if points is None and not label.strip():
                continue
            rows.append(
                {
                    "points": points,
                    "label": label,
                    "colour": self.cleaned_data.get(f"colour_{index}") or "",
                    "cut_point": self.cleaned_data.get(f"cut_point_{index}"),
                    "description": self.cleaned_data.get(f"description_{index}") or "",
                }
            )
        return rows


PARAM_FIELDS: dict[str, forms.Field] = {
    "weight": forms.IntegerField(
        required=False, help_text="Decaying average 50-99, weighted average 1-99 (default 65)."
    ),
    "n": forms.IntegerField(required=False, help_text="N times: how many scores must reach it."),
    "threshold": forms.DecimalField(
        required=False,
        max_digits=5,
        decimal_places=2,
        help_text="N times / BKT: the score that counts (default: the mastery threshold).",
    ),
    "evaluate_at": forms.ChoiceField(
        required=False,
        choices=[("", "—"), ("last", "last score"), ("next", "next score")],
        help_text="Power law: where to read the fitted curve.",
    ),
    "min_points": forms.IntegerField(required=False, help_text="Power law: scores needed (2+)."),
    "floor": forms.DecimalField(
        required=False,
        max_digits=5,
        decimal_places=2,
        help_text="Power law: the value a score of 0 counts as.",
    ),
    "p_init": forms.FloatField(required=False, help_text="BKT: P(L0), 0-1."),
    "p_learn": forms.FloatField(required=False, help_text="BKT: P(T), 0-1."),
    "p_guess": forms.FloatField(required=False, help_text="BKT: P(G), between 0 and 1."),
    "p_slip": forms.FloatField(required=False, help_text="BKT: P(S), between 0 and 1."),
    "mastery_probability": forms.FloatField(
        required=False, help_text="BKT: mastered when P(L) reaches it (default 0.95)."
    ),
}


class PolicyForm(forms.Form):
    method = forms.ChoiceField(choices=CalculationMethod.choices)
    min_evidence = forms.IntegerField(
        min_value=1, initial=1, help_text="Ratings needed before a level is given."
    )
    rollup_rule = forms.ChoiceField(choices=RollupRule.choices, label="Roll-up for groupings")
    share = forms.DecimalField(
        required=False,
        max_digits=4,
        decimal_places=3,
        help_text="Share of children mastered: e.g. 0.75.",
    )
    points_required = forms.IntegerField(required=False, help_text="Points rule only.")
    points = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='Points rule only: JSON, standard id to points, e.g. {"12": 2, "13": 1}.',
    )
    required = forms.CharField(
        required=False,
        help_text="Points rule only: standard ids that must be mastered, e.g. 12 13.",
    )
    overrides_end_with_new_evidence = forms.BooleanField(
        required=False,
        label="A teacher's override ends when newer evidence is rated",
        help_text="Otherwise an override stands until the teacher clears it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in PARAM_FIELDS.items():
            self.fields[name] = field.__class__(**_field_kwargs(field))

    def method_params(self) -> dict[str, Any]:
        """The filled parameter fields (the service refuses those the method does not take)."""
        every = set().union(*METHOD_PARAMS.values())
        return {
            name: value
            for name in sorted(every)
            if (value := self.cleaned_data.get(name)) not in (None, "")
        }

    def rollup_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.cleaned_data.get("share") is not None:
            params["share"] = self.cleaned_data["share"]
        if self.cleaned_data.get("points_required") is not None:
            params["points_required"] = self.cleaned_data["points_required"]
        if self.cleaned_data.get("points"):
            params["points"] = self.cleaned_data["points"]
        if self.cleaned_data.get("required"):
            params["required"] = self.cleaned_data["required"]
        return params

    def clean_points(self) -> Any:
        text = (self.cleaned_data.get("points") or "").strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(f"Not valid JSON: {error.msg}.") from error

    def clean_required(self) -> list[str]:
        return (self.cleaned_data.get("required") or "").replace(",", " ").split()


def _field_kwargs(field: forms.Field) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"required": False, "help_text": field.help_text}
    if isinstance(field, forms.ChoiceField):
        kwargs["choices"] = field.choices
    if isinstance(field, forms.DecimalField):
        kwargs["max_digits"] = field.max_digits
        kwargs["decimal_places"] = field.decimal_places
    return kwargs


class RequirementScopeForm(forms.Form):
    term = forms.ModelChoiceField(queryset=Term.objects.none())
    grade_level = forms.ChoiceField(choices=GRADE_CHOICES, label="Grade level")

    def __init__(self, *args: Any, terms: QuerySet[Term], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["term"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = terms


class StandardCodesField(forms.CharField):
    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [part for part in text.replace(",", " ").split() if part]


class RequirementAddForm(forms.Form):
    framework = forms.ModelChoiceField(queryset=Framework.objects.order_by("title"))
    codes = StandardCodesField(
        label="Standards",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Human codes or identifiers, separated by spaces or commas.",
    )
    priority = forms.ChoiceField(choices=Priority.choices)


class ElectiveGroupForm(forms.Form):
    title = forms.CharField(max_length=200)
    framework = forms.ModelChoiceField(queryset=Framework.objects.order_by("title"))
    codes = StandardCodesField(
        label="Standards offered",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Human codes or identifiers, separated by spaces or commas.",
    )
    choose = forms.IntegerField(min_value=1, help_text="How many a learner chooses.")
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.SUPPORTING)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("decline", "Decline")])
    note = forms.CharField(max_length=500, required=False)
