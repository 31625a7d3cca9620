"""Forms of the standards pages. They only shape input; the services validate the meaning."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.db.models import QuerySet

from learners.models import Organisation, Term
from standards.models import CalculationMethod, Framework, Priority, RollupRule, Standard
from standards.selectors import resolve_standard_codes, split_codes
from standards.validation import GRADE_LEVELS, MAX_LEVELS, METHOD_PARAMS, ROLLUP_PARAMS

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
        label="Weight of the newest score (%)",
        required=False,
        help_text="Decaying average 50-99, weighted average 1-99 (default 65).",
    ),
    "n": forms.IntegerField(
        label="Scores needed at the threshold (N)",
        required=False,
        help_text="How many scores must reach the threshold.",
    ),
    "threshold": forms.DecimalField(
        label="Threshold score",
        required=False,
        max_digits=5,
        decimal_places=2,
        help_text="The score that counts (default: the mastery threshold).",
    ),
    "evaluate_at": forms.ChoiceField(
        label="Read the fitted curve at",
        required=False,
        choices=[
            ("", "the default (the last score)"),
            ("last", "the last score"),
            ("next", "the next score"),
        ],
    ),
    "min_points": forms.IntegerField(
        label="Scores needed for a fit", required=False, help_text="2 or more (default 3)."
    ),
    "floor": forms.DecimalField(
        label="A score of 0 counts as",
        required=False,
        max_digits=5,
        decimal_places=2,
    ),
    "p_init": forms.FloatField(
        label="Chance the learner already knows it, P(L0)", required=False, help_text="0 to 1."
    ),
    "p_learn": forms.FloatField(
        label="Chance of learning it at each step, P(T)", required=False, help_text="0 to 1."
    ),
    "p_guess": forms.FloatField(
        label="Chance of a lucky guess, P(G)", required=False, help_text="Between 0 and 1."
    ),
    "p_slip": forms.FloatField(
        label="Chance of a slip, P(S)", required=False, help_text="Between 0 and 1."
    ),
    "mastery_probability": forms.FloatField(
        label="Mastered from this probability",
        required=False,
        help_text="Default 0.95.",
    ),
}


def _when(name: str, values: Iterable[str]) -> str:
    """A field shown only while the form's ``name`` has one of ``values`` (static/js/when.js)."""
    return f"{name}={' '.join(sorted(values))}"


class PolicyForm(forms.Form):
    """The calculation policy: the method and only its parameters, the minimum evidence, and
    how groupings roll up (points by standard code, checked against the framework's tree)."""

    method = forms.ChoiceField(label="Method", choices=CalculationMethod.choices)
    min_evidence = forms.IntegerField(
        label="Ratings needed before a level is given",
        min_value=1,
        initial=1,
    )
    rollup_rule = forms.ChoiceField(choices=RollupRule.choices, label="Roll-up for groupings")
    share = forms.DecimalField(
        label="Share of children mastered",
        required=False,
        max_digits=4,
        decimal_places=3,
        help_text="e.g. 0.75 for three quarters.",
    )
    points_required = forms.IntegerField(label="Points needed", required=False)
    points = forms.CharField(
        label="Points of each child standard",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One standard per line: its code, then its points (e.g. 5.NF.A.1 2).",
    )
    required = forms.CharField(
        label="Children that must be mastered",
        required=False,
        help_text="Their codes, separated by spaces or commas.",
    )
    overrides_end_with_new_evidence = forms.BooleanField(
        required=False,
        label="A teacher's override ends when newer evidence is rated",
        help_text="Otherwise an override stands until the teacher clears it.",
    )

    def __init__(self, *args: Any, framework: Framework | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.framework = framework
        order = ["method"]
        for name, field in PARAM_FIELDS.items():
            self.fields[name] = field.__class__(**_field_kwargs(field))
            methods = [m for m, takes in METHOD_PARAMS.items() if name in takes]
            self.fields[name].widget.attrs["data-when"] = _when("method", methods)
            order.append(name)
        for name in ("share", "points_required", "points", "required"):
            rules = [r for r, takes in ROLLUP_PARAMS.items() if name in takes]
            self.fields[name].widget.attrs["data-when"] = _when("rollup_rule", rules)
        self.order_fields([*order, "min_evidence", "rollup_rule"])

    def method_params(self) -> dict[str, Any]:
        """The filled parameters the chosen method takes (the others are ignored: the page
        hides them, and a value left in one never refuses the policy)."""
        takes = METHOD_PARAMS.get(self.cleaned_data.get("method") or "", frozenset())
        return {
            name: value
            for name in sorted(takes)
            if (value := self.cleaned_data.get(name)) not in (None, "")
        }

    def rollup_params(self) -> dict[str, Any]:
        """The chosen roll-up rule's parameters, standards by id (as the service keeps them)."""
        rule = self.cleaned_data.get("rollup_rule") or ""
        takes = ROLLUP_PARAMS.get(rule, frozenset())
        params: dict[str, Any] = {}
        for name in ("share", "points_required", "points", "required"):
            value = self.cleaned_data.get(name)
            if name in takes and value not in (None, "", {}, []):
                params[name] = value
        return params

    def _resolve(self, codes: list[str], field: str) -> dict[str, int]:
        resolved = resolve_standard_codes(codes, framework=self.framework, assessable=False)
        for problem in resolved.problems:
            self.add_error(field, problem)
        return {code: standard.pk for code, standard in resolved.by_reference.items()}

    def clean_points(self) -> dict[str, int] | None:
        if (self.data.get("rollup_rule") or "") != "points":
            return None
        text = (self.cleaned_data.get("points") or "").strip()
        if not text:
            return None
        pairs: list[tuple[str, int]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            parts = line.replace(",", " ").replace("=", " ").replace(":", " ").split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].isdigit():
                raise forms.ValidationError(
                    f"Line {number}: write a standard's code, then its points (e.g. 5.NF.A.1 2)."
                )
            pairs.append((parts[0], int(parts[1])))
        ids = self._resolve([code for code, _points in pairs], "points")
        return {str(ids[code]): points for code, points in pairs if code in ids}

    def clean_required(self) -> list[int]:
        if (self.data.get("rollup_rule") or "") != "points":
            return []
        codes = split_codes(self.cleaned_data.get("required") or "")
        ids = self._resolve(codes, "required")
        return [ids[code] for code in codes if code in ids]


def rollup_initial(rollup: Mapping[str, Any]) -> dict[str, str]:
    """The stored roll-up points and required children (by id) as the form shows them: by
    code."""
    ids = {int(key) for key in rollup.get("points", {})} | {
        int(pk) for pk in rollup.get("required", [])
    }
    codes = {
        standard.pk: standard.human_code or standard.identifier
        for standard in Standard.objects.filter(pk__in=ids)
    }
    points = "\n".join(
        f"{codes.get(int(key), key)} {value}" for key, value in rollup.get("points", {}).items()
    )
    required = " ".join(codes.get(int(pk), str(pk)) for pk in rollup.get("required", []))
    return {"points": points, "required": required}


def _field_kwargs(field: forms.Field) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "required": False,
        "help_text": field.help_text,
        "label": field.label,
    }
    if isinstance(field, forms.ChoiceField):
        kwargs["choices"] = field.choices
    if isinstance(field, forms.DecimalField):
        kwargs["max_digits"] = field.max_digits
        kwargs["decimal_places"] = field.decimal_places
    return kwargs


class RequirementScopeForm(forms.Form):
    term = forms.ModelChoiceField(queryset=Term.objects.none())
    grade_level = forms.ChoiceField(choices=GRADE_CHOICES, label="Grade level")
    framework = forms.ModelChoiceField(
        queryset=Framework.objects.order_by("title", "pk"),
        required=False,
        label="Pick from the framework",
        empty_label="Type codes instead",
        help_text="Shows its standards for the grade, to tick.",
    )

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
        label="Standards (codes)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Full or short codes, separated by spaces or commas; or tick them above.",
    )
    priority = forms.ChoiceField(choices=Priority.choices)


class ElectiveGroupForm(forms.Form):
    title = forms.CharField(max_length=200)
    framework = forms.ModelChoiceField(queryset=Framework.objects.order_by("title"))
    codes = StandardCodesField(
        label="Standards offered (codes)",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Full or short codes, separated by spaces or commas.",
    )
    choose = forms.IntegerField(min_value=1, help_text="How many a learner chooses.")
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.SUPPORTING)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("decline", "Decline")])
    note = forms.CharField(max_length=500, required=False)
