"""Deployment settings are safe (S8): check --deploy, security headers, CSP, no-store."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.personas import Cast, cast

__all__ = ["cast"]

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DATABASE_URL": "postgres://mastery:secret@db.internal:5432/mastery",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "mastery.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://mastery.example.org",
    "DATA_DIR": "/tmp/mastery-deploy-check",
}


def _production(*args: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**keep, **PRODUCTION},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = _production("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_turn_every_protection_on() -> None:
    code = (
        "from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS,"
        " s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SESSION_COOKIE_HTTPONLY, s.X_FRAME_OPTIONS)"
    )
    result = _production("shell", "--no-imports", "-c", code)
    assert result.returncode == 0, result.stderr
    expected = ["False", "True", "True", "True", "31536000", "True", "True", "DENY"]
    assert result.stdout.strip().splitlines()[-1].split() == expected


def _csp(response: object) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]  # type: ignore[index]
    policy = {}
    for part in header.split(";"):
        name, *values = part.split()
        policy[name] = values
    return policy


def test_pages_carry_a_csp_without_third_party_origins_and_the_security_headers(
    cast: Cast,
) -> None:
    client = Client()
    client.force_login(cast.teacher)
    response = client.get(reverse("learners:learner_detail", args=[cast.own.pk]), secure=True)
    assert response.status_code == 200
    policy = _csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert not re.search(
        r"https?:|\*|unsafe-inline|unsafe-eval", response["Content-Security-Policy"]
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_learner_pages_and_api_answers_are_never_stored(cast: Cast) -> None:
    client = Client()
    client.force_login(cast.teacher)
    for url in (
        reverse("learners:learner_detail", args=[cast.own.pk]),
        reverse("mastery:learner_page", args=[cast.own.pk]),
        f"/api/v1/learners/{cast.own.pk}/",
        "/api/v1/evidence/",
        reverse("login"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
    api = APIClient()
    api.force_authenticate(cast.teacher)
    assert "no-store" in api.get("/api/v1/ratings/")["Cache-Control"]


def test_a_versioned_private_stylesheet_keeps_its_own_cache_policy(cast: Cast) -> None:
    client = Client()
    client.force_login(cast.teacher)
    response = client.get(reverse("mastery:scale_css", args=[cast.school.pk]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, max-age=86400"


def test_there_is_no_debug_page_in_the_test_configuration(cast: Cast) -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert b"Traceback" not in response.content
    assert b"URLconf" not in response.content


@pytest.mark.parametrize("url", ["/api/docs/", "/api/docs/?script="])
def test_the_api_docs_page_runs_under_the_csp(db: None, url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 200
    body = response.content.decode()
    if "script=" in url:
        assert response["Content-Type"].startswith("application/javascript")
        return
    # Every script and style comes from our origin as a file: nothing inline for the CSP to block.
    assert "<style" not in body
    assert re.findall(r"<script(?![^>]*\bsrc=)", body) == []
    assert "http://" not in body
    assert "https://" not in body
