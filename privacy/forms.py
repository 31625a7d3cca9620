"""Forms of the privacy pages: every input validated, every field labelled."""

from __future__ import annotations

from typing import Any

from django import forms

from audit.models import Outcome

_ACTIONS = [
    ("", "Any action"),
    ("record.read", "Read"),
    ("record.change", "Change"),
    ("record.export", "Export (download)"),
    ("report.request", "Report requested"),
    ("report.download", "Report downloaded"),
    ("privacy.export", "Learner data exported"),
    ("privacy.erase", "Learner erased"),
]


class FindLearnerForm(forms.Form):
    learner = forms.IntegerField(
        label="Learner id", min_value=1, max_value=2**63 - 1, help_text="The platform's id."
    )


class EraseForm(forms.Form):
    """The administrator types the learner's id again: an erasure cannot be undone."""

    confirm = forms.IntegerField(
        label="Type the learner id again to confirm",
        min_value=1,
        max_value=2**63 - 1,
    )

    def __init__(self, *args: Any, learner_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.learner_id = learner_id

    def clean_confirm(self) -> int:
        value: int = self.cleaned_data["confirm"]
        if value != self.learner_id:
            raise forms.ValidationError("The id does not match the learner on this page.")
        return value


class AccessLogForm(forms.Form):
    learner = forms.IntegerField(
        label="Learner id", required=False, min_value=1, max_value=2**63 - 1
    )
    actor = forms.IntegerField(label="User id", required=False, min_value=1, max_value=2**63 - 1)
    action = forms.ChoiceField(label="Action", required=False, choices=_ACTIONS)
    outcome = forms.ChoiceField(
        label="Outcome", required=False, choices=[("", "Any outcome"), *Outcome.choices]
    )
    since = forms.DateField(label="From (YYYY-MM-DD)", required=False)
    until = forms.DateField(label="To (YYYY-MM-DD)", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data
