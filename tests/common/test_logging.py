from __future__ import annotations

import json
import logging

import pytest
from django.contrib.auth.models import User
from django.test import Client

from common.logging import RequestIdFilter


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client: Client) -> None:
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert len(first) == 32
    assert first != second


@pytest.mark.django_db
def test_a_safe_incoming_request_id_is_kept_and_an_unsafe_one_replaced(client: Client) -> None:
    assert (
        client.get("/healthz", HTTP_X_REQUEST_ID="abc-12345678")["X-Request-ID"] == "abc-12345678"
    )
    assert client.get("/healthz", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"] != "<script>"


@pytest.mark.django_db
def test_request_log_line_is_json_with_request_id_and_no_personal_data(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    user = User.objects.create_user("canary", first_name="Zanzibar", last_name="Quokka")
    client.force_login(user)
    with caplog.at_level(logging.INFO, logger="request"):
        response = client.get("/?name=Zanzibar")
    record = next(r for r in caplog.records if r.name == "request")
    RequestIdFilter().filter(record)
    formatter = logging.getHandlerByName("console").formatter  # type: ignore[union-attr]
    line = formatter.format(record)  # type: ignore[union-attr]
    payload = json.loads(line)
    assert payload["message"] == "request"
    assert payload["status"] == response.status_code
    assert payload["route"] == "home"
    assert payload["user_id"] == user.pk
    assert "Zanzibar" not in line
    assert "canary" not in line
