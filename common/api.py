"""The one API error format of refused input (imports and request bodies), for every app.

``{"problems": [{"file", "row", "column", "reason", "severity", "record"}], "error_count"}``
with status 400: see :mod:`common.importing`. ``ProblemsSerializer`` documents it in the
OpenAPI schema; :func:`refused` builds the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import serializers, status
from rest_framework.response import Response

from common.importing import SEVERITIES, ImportRefused, Problem, problems_payload


class ProblemSerializer(serializers.Serializer[Any]):
    file = serializers.CharField(allow_blank=True)
    row = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()
    severity = serializers.ChoiceField(choices=SEVERITIES)
    record = serializers.CharField(allow_blank=True)


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
