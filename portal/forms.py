"""Forms of the learners' pages: goals, settings. They check shapes; services check the rest."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from portal.models import GoalStatus


class DateInput(forms.DateInput):
    input_type = "date"


class GoalForm(forms.Form):
    title = forms.CharField(label=_("My goal"), max_length=200)
    standards = forms.CharField(
        label=_("Standards it is about (codes, optional)"),
        required=False,
        max_length=2000,
        help_text=_("For example 5.NF.A.1, 5.NF.A.2"),
    )
    target_date = forms.DateField(label=_("By when"), required=False, widget=DateInput)
    status = forms.ChoiceField(label=_("How it is going"), choices=GoalStatus.choices)
    reflection = forms.CharField(
        label=_("My reflection on my progress"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class SettingsForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("My browser's language")), *settings.LANGUAGES],
    )
    in_app_work = forms.BooleanField(label=_("Work scored or returned: in the app"), required=False)
    email_work = forms.BooleanField(label=_("Work scored or returned: by e-mail"), required=False)
    in_app_electives = forms.BooleanField(
        label=_("Elective approved or refused: in the app"), required=False
    )
    email_electives = forms.BooleanField(
        label=_("Elective approved or refused: by e-mail"), required=False
    )
    in_app_mastered = forms.BooleanField(label=_("Standard mastered: in the app"), required=False)
    email_mastered = forms.BooleanField(label=_("Standard mastered: by e-mail"), required=False)
    digests = forms.TypedMultipleChoiceField(
        label=_("A weekly e-mail digest about"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )

    RECEIVE = (
        "in_app_work",
        "email_work",
        "in_app_electives",
        "email_electives",
        "in_app_mastered",
        "email_mastered",
    )

    def __init__(self, *args: Any, children: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        digests = self.fields["digests"]
        assert isinstance(digests, forms.TypedMultipleChoiceField)
        digests.choices = children
        if not children:
            del self.fields["digests"]
