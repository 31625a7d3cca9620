"""Forms of the identity app."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

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
