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
    """The section grid's filters (GET): a domain, power standards only, a state."""

    domain = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Domain", choices=[("", "All")]
    )
    power = forms.BooleanField(required=False, label="Power standards only")
    state = forms.ChoiceField(required=False, label="State", choices=[("", "Any state")])

    def __init__(self, *args: Any, domains: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        domain = self.fields["domain"]
        assert isinstance(domain, forms.TypedChoiceField)
        domain.choices = [("", "All domains"), *[(str(pk), label) for pk, label in domains]]
        state = self.fields["state"]
        assert isinstance(state, forms.ChoiceField)
        state.choices = [("", "Any state"), *STATE_FILTERS]
