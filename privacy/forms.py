"""Forms of the privacy pages: every input validated, every field labelled."""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.urls import reverse_lazy

from audit.models import Outcome
from common.pickers import PickerField
from learners.models import Learner
from learners.selectors import pick_learner

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
    """The learner, chosen by name or local id among the learners the user administers."""

    learner = PickerField(
        label="Learner",
        search_url=reverse_lazy("learners:learner_search"),
        help_text="Type the learner's name or local id and choose from the list.",
    )

    def __init__(self, *args: Any, learners: QuerySet[Learner], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["learner"]
        assert isinstance(field, PickerField)
        field.resolver = partial(pick_learner, learners.select_related("school"))


class EraseForm(forms.Form):
    """The administrator types the learner's full name again: an erasure cannot be undone."""

    confirm = forms.CharField(label="Type the learner's full name to confirm", max_length=300)

    def __init__(self, *args: Any, learner: Learner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.learner = learner
        self.fields["confirm"].help_text = f"Type: {self.expected}"

    @property
    def expected(self) -> str:
        return f"{self.learner.given_name} {self.learner.family_name}"

    def clean_confirm(self) -> str:
        value: str = self.cleaned_data["confirm"]
        if " ".join(value.split()).casefold() != " ".join(self.expected.split()).casefold():
            raise forms.ValidationError(
                "The name does not match the learner on this page: nothing was erased."
            )
        return value


class AccessLogForm(forms.Form):
    learner = PickerField(
        label="Learner",
        required=False,
        search_url=reverse_lazy("learners:learner_search"),
        help_text="Name or local id.",
    )
    actor = forms.CharField(
        label="User", required=False, max_length=150, help_text="The username of who acted."
    )
    action = forms.ChoiceField(label="Action", required=False, choices=_ACTIONS)
    outcome = forms.ChoiceField(
        label="Outcome", required=False, choices=[("", "Any outcome"), *Outcome.choices]
    )
    since = forms.DateField(label="From (YYYY-MM-DD)", required=False)
    until = forms.DateField(label="To (YYYY-MM-DD)", required=False)

    def __init__(self, *args: Any, learners: QuerySet[Learner], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["learner"]
        assert isinstance(field, PickerField)
        field.resolver = partial(pick_learner, learners.select_related("school"))

    def clean_actor(self) -> int | None:
        username = (self.cleaned_data.get("actor") or "").strip()
        if not username:
            return None
        user = User.objects.filter(username__iexact=username).only("pk").first()
        # An unknown username matches no entry (whether a login exists is not told).
        return int(user.pk) if user is not None else 0

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data
