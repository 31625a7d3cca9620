"""The one API error format of refused input (imports and request bodies), for every app.

``{"problems": [{"file", "row", "column", "reason", "severity", "record"}], "error_count"}``
with status 400: see :mod:`common.importing`. ``ProblemsSerializer`` documents it in the
OpenAPI schema; :func:`refused` builds the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import serializers, status
from rest_framework.exceptions import ErrorDetail, ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from common.api_fields import TextField
from common.importing import SEVERITIES, ImportRefused, Problem, problems_payload
from common.messages import without_field_name


class ProblemSerializer(serializers.Serializer[Any]):
    file = TextField(allow_blank=True)
    row = serializers.IntegerField(allow_null=True)
    column = TextField(allow_blank=True)
    reason = TextField()
    severity = serializers.ChoiceField(choices=SEVERITIES)
    record = TextField(allow_blank=True)


class ProblemsSerializer(serializers.Serializer[Any]):
    problems = ProblemSerializer(many=True)
    error_count = serializers.IntegerField()


class CountsSerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    skipped = serializers.IntegerField()
    deleted = serializers.IntegerField()


def refused(problems: ImportRefused | Iterable[Problem]) -> Response:
    """400 with every problem of a refused file or request."""
    return Response(problems_payload(problems), status=status.HTTP_400_BAD_REQUEST)


def request_problems(errors: Any, path: str = "") -> list[Problem]:
    """A serializer's field errors (nested dicts and lists of messages) as problems of the
    ``request`` naming the field."""
    if isinstance(errors, dict):
        return [
            problem
            for key, value in errors.items()
            for problem in request_problems(value, _join(path, key))
        ]
    if isinstance(errors, list):
        if all(not isinstance(value, (dict, list)) for value in errors):
            return [Problem("request", path, without_field_name(value)) for value in errors]
        return [
            problem
            for index, value in enumerate(errors)
            for problem in request_problems(value, f"{path}[{index}]")
        ]
    return [Problem("request", path, without_field_name(errors))]


def _join(path: str, key: Any) -> str:
    if key == api_settings.NON_FIELD_ERRORS_KEY:
        return path
    return f"{path}.{key}" if path else str(key)


def request_data(request: Any) -> Any:
    """The request's parsed body, or :class:`common.importing.ImportRefused` when it cannot be
    parsed (malformed JSON or multipart), so the answer keeps the one error format."""
    try:
        return request.data
    except ParseError as error:
        raise ImportRefused([Problem("request", "", str(error.detail))]) from error


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's answers, with every message of a refused request in plain words: the field is
    the key it is listed under, never repeated in front of the message (``{"as_of": ["Give a
    date (YYYY-MM-DD)."]}``, not ``["as_of: give a date"]``)."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ValidationError):
        response.data = _without_field_names(response.data)
    return response


def _without_field_names(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _without_field_names(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_without_field_names(value) for value in data]
    if isinstance(data, str):
        return ErrorDetail(without_field_name(data), code=getattr(data, "code", None))
    return data
