"""Input that cannot be used is refused at the door with a 400 in plain words (R11).

- :class:`BadInputMiddleware`: a NUL character in the path, the query string or a form field
  (PostgreSQL text cannot hold one; a search for ``%00`` used to be a 500). It runs before the
  session is read, so the refusal costs no database query.
- :class:`JSONParser` (the API's JSON parser): JSON nested deeper than :data:`MAX_JSON_DEPTH`
  (Python's parser gives up at about 1,000 levels with a ``RecursionError``: a 500) or holding
  NUL in any key or string is a ``ParseError`` (400) before any view sees it.
- :func:`load_json`: the same checks for JSON that pages read from a form field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from django.http import HttpRequest, HttpResponse
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from common.failures import NUL_IN_TEXT, refuse

MAX_JSON_DEPTH: Final = 64
TOO_DEEP: Final = f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels."
_FORMS: Final = ("application/x-www-form-urlencoded", "multipart/form-data")


class InputRefused(ValueError):
    """Input that cannot be used; the message says why in plain words."""


def json_problem(value: Any) -> str | None:
    """Why a decoded JSON value cannot be used (too deep, NUL in a key or string), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_IN_TEXT
            continue
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return TOO_DEEP
            if isinstance(item, dict):
                if any("\x00" in key for key in item):
                    return NUL_IN_TEXT
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def load_json(text: str) -> Any:
    """Decodes JSON text; raises :class:`InputRefused` for invalid, too deep or NUL-bearing."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputRefused(f"Not valid JSON: {error.msg}.") from error
    except RecursionError as error:
        raise InputRefused(TOO_DEEP) from error
    problem = json_problem(value)
    if problem:
        raise InputRefused(problem)
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing JSON too deep or holding NUL (400, not 500)."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            value = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError(TOO_DEEP) from error
        problem = json_problem(value)
        if problem:
            raise ParseError(problem)
        return value


def _has_nul(pairs: Any) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in pairs)


class BadInputMiddleware:
    """400 for a NUL character in the path, the query string or a posted form's fields."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or _has_nul(request.GET.lists()):
            return refuse(request, NUL_IN_TEXT)
        # Form bodies only (JSON is the parser's): Django reads them once, here or in the view.
        if (
            request.method == "POST"
            and request.content_type in _FORMS
            and _has_nul(request.POST.lists())
        ):
            return refuse(request, NUL_IN_TEXT)
        return self.get_response(request)
