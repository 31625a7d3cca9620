"""The form of the reports page: what to generate, for which scope, as of which day."""

from __future__ import annotations

from typing import Any

from django import forms

from learners.models import Organisation, Term
from learners.selectors import AnyUser, administered_organisations, today, visible_terms
from reports.models import ReportFormat, ReportKind


class ReportRequestForm(forms.Form):
    kind = forms.ChoiceField(label="Report", choices=ReportKind.choices)
    file_format = forms.ChoiceField(
        label="Format",
        choices=ReportFormat.choices,
        help_text="State export: CSV or JSON. School report and equity audit: XLSX or CSV. "
        "Transcript: PDF. "
        "Gradebook: CSV or XLSX.",
    )
    as_of = forms.DateField(
        label="As of",
        help_text="The report shows mastery as it stood at the end of this day.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    organisation = forms.ModelChoiceField(
        label="Organisation",
        queryset=Organisation.objects.none(),
        required=False,
        help_text="For the state export and the equity audit (your organisation or one below) "
        "and the school report.",
    )
    term = forms.ModelChoiceField(
        label="Term",
        queryset=Term.objects.none(),
        required=False,
        help_text="For the state export, the school report and the equity audit; optional for "
        "a transcript.",
    )
    section = forms.IntegerField(
        label="Section id", required=False, min_value=1, help_text="For the gradebook export."
    )
    learner = forms.IntegerField(
        label="Learner id", required=False, min_value=1, help_text="For a transcript."
    )

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        organisations = self.fields["organisation"]
        terms = self.fields["term"]
        assert isinstance(organisations, forms.ModelChoiceField)
        assert isinstance(terms, forms.ModelChoiceField)
        organisations.queryset = administered_organisations(user).order_by("kind", "name", "pk")
        terms.queryset = visible_terms(user).order_by("-start_date", "title", "pk")
        self.fields["as_of"].initial = today()
