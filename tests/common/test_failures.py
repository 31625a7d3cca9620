"""Failures are answered, not crashed (R5, R11): 503 + Retry-After, 400 in plain words.

A database connection PostgreSQL terminated under a signed-in user gives a 503 with
``Retry-After`` (JSON on the API, a page otherwise) and the next request works again. A NUL
character anywhere in the path, query or form, JSON nested too deep or holding NUL, and a
malformed form body are 400s that say what was wrong, on pages and the API alike. Every answer,
these included, carries ``Permissions-Policy``.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.test import Client, RequestFactory

from common import failures
from common.input import MAX_JSON_DEPTH, InputRefused, load_json
from tests.personas import Cast, cast

__all__ = ["cast"]

MULTIPART_BROKEN = (
    b'--xyz\r\nContent-Disposition: form-data; name="q"\r\n\r\nvalue\r\n--xy'  # never closed
)


def _client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _terminate_own_backend() -> None:
    """Terminate the PostgreSQL backend of this test's own connection (its database only)."""
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    other = psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        user=params.get("user") or "postgres",
        host=params.get("host") or "127.0.0.1",
        port=params.get("port") or 5432,
        password=params.get("password") or None,
        autocommit=True,
    )
    with other:
        terminated = other.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid = %s AND datname = current_database()",
            [pid],
        ).fetchone()
    assert terminated == (True,)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "json_answer"), [("/api/v1/learners/", True), ("/learners/", False)]
)
def test_a_terminated_database_connection_is_a_503_with_retry_after(
    cast: Cast, path: str, json_answer: bool
) -> None:
    client = _client(cast.teacher)
    assert client.get(path).status_code == 200
    _terminate_own_backend()
    response = client.get(path)
    assert response.status_code == 503
    assert response["Retry-After"] == str(failures.RETRY_AFTER_SECONDS)
    assert "no-store" in response["Cache-Control"]
    assert "Permissions-Policy" in response
    if json_answer:
        assert response.json() == {"detail": failures.UNAVAILABLE}
    else:
        assert response["Content-Type"].startswith("text/html")
        assert "try again shortly" in response.content.decode()
    # After each request Django closes a connection that failed and no longer answers (the test
    # client leaves that to the test): the next request opens a new one and works.
    close_old_connections()
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("error", [OperationalError("server closed"), InterfaceError("closed")])
def test_every_database_unavailability_is_answered_503(error: Exception) -> None:
    request = RequestFactory().get("/api/v1/learners/")
    try:
        raise error
    except Exception:
        response = failures.server_error(request)
    assert (response.status_code, response["Retry-After"]) == (503, "30")


def test_any_other_error_stays_a_500_without_retry_after() -> None:
    request = RequestFactory().get("/learners/", HTTP_ACCEPT="text/html")
    try:
        raise KeyError("bug")
    except KeyError:
        response = failures.server_error(request)
    assert response.status_code == 500
    assert "Retry-After" not in response


@pytest.mark.parametrize(
    "path",
    [
        "/learners/?q=%00",
        "/learners/?q=ok&page=1%002",
        "/learners/%00/",
        "/api/v1/learners/?search=%00",
        "/api/v1/learners/?%00=1",
        "/reports/?as_of=2026%00",
    ],
)
def test_a_nul_character_in_the_url_is_a_400_in_plain_words(cast: Cast, path: str) -> None:
    response = _client(cast.school_admin).get(path)
    assert response.status_code == 400
    assert "null character" in response.content.decode()


def test_a_nul_character_in_a_posted_form_is_a_400(cast: Cast) -> None:
    client = _client(cast.school_admin)
    response = client.post("/reports/", {"kind": "state\x00export"})
    assert response.status_code == 400
    assert "null character" in response.content.decode()
    response = client.post("/reports/", MULTIPART_BROKEN, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "form data could not be read" in response.content.decode()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_nested(1500), "nested deeper than 64 levels"),
        (_nested(MAX_JSON_DEPTH + 1), "nested deeper than 64 levels"),
        ('{"title": "a\\u0000b"}', "null character"),
        ('{"a\\u0000": 1}', "null character"),
        ('{"title": ', "JSON parse error"),
    ],
)
def test_unusable_json_is_a_400_on_the_api(cast: Cast, body: str, message: str) -> None:
    client = _client(cast.teacher)
    for path in ("/api/v1/ratings/", "/api/v1/evidence/", "/api/v1/reports/"):
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 400, path
        assert message in response.json()["detail"]


def test_load_json_refuses_too_deep_and_nul_and_keeps_the_rest() -> None:
    assert load_json(json.dumps({"a": [[1, 2], {"b": "c"}]})) == {"a": [[1, 2], {"b": "c"}]}
    for text in (_nested(1500), _nested(MAX_JSON_DEPTH + 1), '["\\u0000"]', "{"):
        with pytest.raises(InputRefused):
            load_json(text)
