"""The form of the reports page: what to generate, for which scope, as of which day.

The scope is chosen by name: organisations and terms from lists of the user's own, a section or
a learner typed and picked from suggestions (``common.pickers``); no database id is typed. The
fields a kind of report does not use are ignored (the page hides them).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.urls import reverse_lazy

from common.pickers import PickerField
from learners.models import Organisation, Term
from learners.selectors import (
    AnyUser,
    administered_organisations,
    pick_learner,
    pick_section,
    today,
    visible_learners,
    visible_sections,
    visible_terms,
)
from reports.models import FORMATS_OF, ReportFormat, ReportKind

# The scope fields each kind of report uses (the others are ignored and hidden).
FIELDS_OF: dict[str, tuple[str, ...]] = {
    ReportKind.STATE_EXPORT: ("organisation", "term"),
    ReportKind.SCHOOL_REPORT: ("organisation", "term"),
    ReportKind.SECTION_EXPORT: ("section",),
    ReportKind.TRANSCRIPT: ("learner", "term"),
    ReportKind.EQUITY_AUDIT: ("organisation", "term"),
}
SCOPE_FIELDS = ("organisation", "term", "section", "learner")


class OrganisationChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.get_kind_display().lower()})"


class ReportRequestForm(forms.Form):
    kind = forms.ChoiceField(label="Report", choices=ReportKind.choices)
    file_format = forms.ChoiceField(
        label="Format",
        choices=ReportFormat.choices,
        help_text="State export: CSV or JSON. School report and equity audit: Excel or CSV. "
        "Transcript: PDF. Gradebook: CSV or Excel.",
    )
    as_of = forms.DateField(
        label="As of",
        help_text="The report shows mastery as it stood at the end of this day.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    organisation = OrganisationChoiceField(
        label="Organisation",
        queryset=Organisation.objects.none(),
        required=False,
        empty_label="Choose an organisation",
        help_text="Your organisation or one below it.",
    )
    term = forms.ModelChoiceField(
        label="Term",
        queryset=Term.objects.none(),
        required=False,
        empty_label="Choose a term",
        help_text="Optional for a transcript.",
    )
    section = PickerField(
        label="Section",
        required=False,
        search_url=reverse_lazy("learners:section_search"),
        help_text="Type the section's name and choose it from the list.",
    )
    learner = PickerField(
        label="Learner",
        required=False,
        search_url=reverse_lazy("learners:learner_search"),
        help_text="Type the learner's name or local id and choose from the list.",
    )

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        organisations = self.fields["organisation"]
        terms = self.fields["term"]
        assert isinstance(organisations, forms.ModelChoiceField)
        assert isinstance(terms, forms.ModelChoiceField)
        organisations.queryset = administered_organisations(user).order_by("kind", "name", "pk")
        terms.queryset = visible_terms(user).order_by("-start_date", "title", "pk")
        section = self.fields["section"]
        learner = self.fields["learner"]
        assert isinstance(section, PickerField)
        assert isinstance(learner, PickerField)
        section.resolver = partial(pick_section, visible_sections(user))
        learner.resolver = partial(pick_learner, visible_learners(user).select_related("school"))
        self.fields["as_of"].initial = today()
        for name in SCOPE_FIELDS:
            kinds = " ".join(kind for kind, used in FIELDS_OF.items() if name in used)
            self.fields[name].widget.attrs["data-when"] = f"kind={kinds}"
        self.fields["file_format"].widget.attrs["data-formats"] = ";".join(
            f"{kind}:{','.join(formats)}" for kind, formats in FORMATS_OF.items()
        )

    def full_clean(self) -> None:
        # The fields the chosen kind does not use are ignored: a section typed before switching
        # to a state export must not refuse the request.
        if self.is_bound:
            kind = str(self.data.get("kind", ""))
            used = FIELDS_OF.get(kind, SCOPE_FIELDS)
            data = dict(self.data.items())  # a plain copy (a QueryDict's last values)
            for name in SCOPE_FIELDS:
                if name not in used:
                    data[name] = ""
            self.data = data
        super().full_clean()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        needed: tuple[str, ...] = {
            "state_export": ("organisation", "term"),
            "school_report": ("organisation", "term"),
            "section_export": ("section",),
            "transcript": ("learner",),
            "equity_audit": ("organisation", "term"),
        }.get(str(kind or ""), ())
        labels = {"organisation": "an organisation", "term": "a term", "section": "a section"}
        for name in needed:
            if not cleaned.get(name) and name not in self.errors:
                what = labels.get(name, "a learner")
                self.add_error(name, f"Choose {what} for this report.")
        file_format = cleaned.get("file_format")
        if kind and file_format and file_format not in FORMATS_OF[kind]:
            offered = " or ".join(ReportFormat(value).label for value in FORMATS_OF[kind])
            self.add_error("file_format", f"This report comes as {offered}.")
        as_of = cleaned.get("as_of")
        if as_of and as_of > today():
            self.add_error("as_of", "Choose today or a day in the past.")
        return cleaned
