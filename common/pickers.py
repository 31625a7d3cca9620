"""Pickers: people, sections and standards chosen by name or code, never by a database id.

A :class:`PickerField` is a text box with suggestions: as the user types, ``static/js/picker.js``
asks the field's search URL (a JSON list of labels, scoped like the page) and offers them in a
``<datalist>``; without the script the user types a name. On submit the form's resolver turns
the text into one object of the user's scope, or a plain-word problem (none matches, several
match: which ones) shown on the field, with everything typed kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString

from learners.selectors import Picked

type Resolver = Callable[[str], Picked[Any]]


class PickerInput(forms.TextInput):
    """A search box with a list of suggestions filled as the user types."""

    input_type = "search"

    def __init__(self, search_url: str | Promise = "", attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.search_url = search_url

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        widget_attrs.setdefault("autocomplete", "off")
        if self.search_url:
            widget_attrs["data-picker"] = str(self.search_url)
            widget_attrs["list"] = f"{widget_attrs.get('id', name)}-options"
        return context

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        html = super().render(name, value, attrs, renderer)
        if not self.search_url:
            return html
        list_id = f"{(attrs or {}).get('id') or self.attrs.get('id') or name}-options"
        return html + format_html('<datalist id="{}"></datalist>', list_id)


class PickerField(forms.CharField):
    """Typed text resolved to one object by ``resolver`` (set by the form for its user)."""

    def __init__(self, *, search_url: str | Promise = "", **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 300)
        kwargs.setdefault("widget", PickerInput(search_url))
        super().__init__(**kwargs)
        self.resolver: Resolver | None = None

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        if not text:
            return None
        assert self.resolver is not None, "the form sets the picker's resolver"
        picked = self.resolver(text)
        if picked.found is None:
            raise forms.ValidationError(picked.problem)
        return picked.found
