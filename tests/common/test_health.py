from __future__ import annotations

import pytest
from django.test import Client

from common import health


@pytest.mark.django_db
def test_healthz_answers_ok_when_database_and_broker_answer(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_broker_when_it_is_down(
    client: Client, settings: object
) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("broker unreachable")


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_database_when_it_fails(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenCursor:
        def __enter__(self) -> BrokenCursor:
            raise ConnectionError("gone")

        def __exit__(self, *args: object) -> None:
            return None

    monkeypatch.setattr(health.connection, "cursor", lambda: BrokenCursor())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "database unreachable (ConnectionError)"
