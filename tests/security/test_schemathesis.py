"""The API survives fuzzing (S9): schemathesis over our OpenAPI schema, in process.

Every operation of ``/api/schema/`` gets a bounded number of generated requests (valid and
invalid bodies, parameters and ids), each sent as a teacher and as a district administrator
(token auth), and once without credentials and once with a forged token. Checks: no 5xx; every
answer's status code is one the operation declares and its body conforms to the declared
response (common/api_schema.py adds the answers every operation may give); no operation
answers 2xx to the anonymous or forged caller (no auth bypass).

Not fuzzed: the learner erasure (a generated request could erase a world learner and its
files; its answers are covered by the matrix and tests/privacy).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.world import World, world

__all__ = ["world"]

MAX_EXAMPLES = 8
PERSONAS = ("teacher", "district_admin")
NOT_FUZZED = {("POST", "/api/v1/privacy/learners/{id}/erase/")}
# Schema defects this fuzzing found in other apps' declarations, reported to their owners: the
# answers are right, the OpenAPI description of them is not. These operations are still
# checked for 5xx and for strangers; only the response-schema check is left out until fixed.
KNOWN_SCHEMA_DEFECTS: dict[tuple[str, str], str] = {
    # (method, path template): the app whose declared schema is wrong. Empty: every answer of
    # every operation is checked against its declared schema.
}

# Only the fuzzing phase, bounded: the coverage phase alone would send thousands of requests.
CONFIG = schemathesis.Config.from_dict(
    {
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
            "fuzzing": {"enabled": True},
        },
        "generation": {"max-examples": MAX_EXAMPLES},
    }
)
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json", get_wsgi_application(), config=CONFIG
)
RUN: dict[str, int] = {"cases": 0, "requests": 0}


@pytest.fixture(scope="module")
def tokens(world: World, django_db_blocker: Any) -> dict[str, str]:
    with django_db_blocker.unblock():
        return {
            persona: Token.objects.create(user=world.cast.persona(persona)).key
            for persona in PERSONAS
        }


@pytest.fixture(scope="module", autouse=True)
def _fuzz_settings() -> Iterator[None]:
    # Requests go through the real WSGI handler, which closes the database connection when a
    # request ends; the test's transaction lives on that connection, so (as Django's own test
    # client does) keep it open during the run.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        with override_settings(API_THROTTLE_RATES={}):
            yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_fails_leaks_or_answers_a_stranger(
    case: schemathesis.Case, tokens: dict[str, str], db: None
) -> None:
    if (case.method.upper(), case.path) in NOT_FUZZED:
        pytest.skip("covered by the matrix and tests/privacy (see the module docstring)")
    RUN["cases"] += 1
    for persona in PERSONAS:
        response = case.call(headers={"Authorization": f"Token {tokens[persona]}"})
        RUN["requests"] += 1
        checks = [not_a_server_error]
        if (case.method.upper(), case.path) not in KNOWN_SCHEMA_DEFECTS:
            checks += [response_schema_conformance, status_code_conformance]
        case.validate_response(response, checks=checks)
    for headers in ({}, {"Authorization": f"Token {secrets.token_hex(20)}"}):
        response = case.call(headers=headers)
        RUN["requests"] += 1
        assert response.status_code in {400, 401, 403, 404, 405, 415}, (
            case.method,
            case.path,
            response.status_code,
        )


def test_zz_report_the_number_of_fuzzed_requests() -> None:
    print(f"\nschemathesis: {RUN['cases']} cases, {RUN['requests']} requests")
