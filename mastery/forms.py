"""Forms of the mastery pages (validation only; the write is ``services.start_bulk_recompute``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from learners.models import Organisation
from mastery.grid import STATE_FILTERS
from mastery.models import BulkReason
from standards.models import Framework


class BulkRecomputeForm(forms.Form):
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.none(),
        help_text="Every learner at or below it is recomputed.",
    )
    framework = forms.ModelChoiceField(
        queryset=Framework.objects.order_by("title", "pk"),
        required=False,
        empty_label="All frameworks",
        help_text="Only this framework's standards (after a framework policy override).",
    )
    reason = forms.ChoiceField(choices=BulkReason.choices)

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = organisations.order_by("name", "pk")


class GridFilterForm(forms.Form):
    """The section grid's filters (GET): a domain, power standards only, a state.

    The domain is any id (a domain the section does not have matches no standard); the view
    offers the section's domains once the grid is built (:meth:`offer_domains`), so the grid is
    computed once per page.
    """

    domain = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, label="Domain", widget=forms.Select
    )
    power = forms.BooleanField(required=False, label="Power standards only")
    state = forms.ChoiceField(required=False, label="State", choices=[("", "Any state")])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        state = self.fields["state"]
        assert isinstance(state, forms.ChoiceField)
        state.choices = [("", "Any state"), *STATE_FILTERS]

    def offer_domains(self, domains: list[tuple[int, str]]) -> None:
        widget = self.fields["domain"].widget
        assert isinstance(widget, forms.Select)
        widget.choices = [("", "All domains"), *[(str(pk), label) for pk, label in domains]]


class OverrideForm(forms.Form):
    """Set an override (ADR 8): a level of the learner's scale (or a score) and a written
    reason. The service checks the rest (scale, standard, who may) and names the field."""

    standard = forms.TypedChoiceField(coerce=int, label="Standard")
    level = forms.ChoiceField(label="Level", required=False)
    score = forms.CharField(
        label="Score (optional)",
        required=False,
        max_length=12,
        help_text="A score on the scale within the level; blank: the level's points.",
    )
    reason = forms.CharField(
        label="Why (the learner and their family read it)",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        standards: list[tuple[int, str]],
        levels: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["standard"].choices = standards  # type: ignore[attr-defined]
        self.fields["level"].choices = [("", "Choose a level"), *levels]  # type: ignore[attr-defined]
        if len(standards) == 1:
            self.fields["standard"].widget = forms.HiddenInput()


class ClearOverrideForm(forms.Form):
    reason = forms.CharField(
        label="Why clear it (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)
