"""Forms of the identity app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms
from django.db.models import QuerySet

from identity import selectors
from learners.models import Section


class CourseLinkForm(forms.Form):
    section = forms.ModelChoiceField(
        queryset=Section.objects.none(),
        widget=forms.RadioSelect,
        label="Which of your classes is this course?",
        error_messages={"required": "Choose one of your classes.",
                        "invalid_choice": "Choose one of your classes."},
    )  # fmt: skip

    def __init__(self, *args: Any, sections: QuerySet[Section], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["section"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = sections
        field.label_from_instance = lambda section: f"{section.title} ({section.term.title})"  # type: ignore[method-assign,assignment]


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form, sending nothing to people whose organisation signs in only through
    single sign-on (a new password would be refused anyway). The page answers the same either
    way, so it tells nobody who belongs where."""

    def get_users(self, email: str) -> Iterator[Any]:
        return (user for user in super().get_users(email) if selectors.passwords_allowed(user))
