"""The second hardening pass's small items: private files, encoded links, an account's logins
limited across addresses, Permissions-Policy, and text that must be text."""

from __future__ import annotations

import datetime
import stat
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from common.api_fields import TextField
from common.files import create_private
from common.security import PERMISSIONS_POLICY
from evidence import services as evidence_services
from evidence.models import Artifact, Evidence, Rating
from tests.conftest import ROOT
from tests.evidence import files
from tests.evidence.conftest import make_standards
from tests.personas import Cast, cast

__all__ = ["cast"]

PASSWORD = "a-long-test-password-1"


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def evidence(cast: Cast, settings: Any, tmp_path: Path) -> Evidence:
    settings.MEDIA_ROOT = tmp_path / "media"
    return evidence_services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind="observation",
        title="Hardening",
        description="Files and links follow.",
        demonstrated_at=timezone.now() - datetime.timedelta(hours=1),
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_uploaded_files_and_their_folders_are_private(
    cast: Cast, evidence: Evidence, settings: Any
) -> None:
    upload = SimpleUploadedFile("photo.png", files.png(), content_type="image/png")
    response = _api(cast.teacher).post(
        f"/api/v1/evidence/{evidence.pk}/artifacts/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 201
    [stored] = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert _mode(stored) == 0o600
    assert _mode(stored.parent) == 0o700


def test_files_we_write_ourselves_are_private(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text("old")
    path.chmod(0o644)
    assert _mode(create_private(path)) == 0o600
    assert path.read_text() == ""


def test_links_are_validated_and_stored_encoded(cast: Cast, evidence: Evidence) -> None:
    client = _api(cast.teacher)
    url = f"/api/v1/evidence/{evidence.pk}/artifacts/"
    response = client.post(url, {"url": 'https://example.org/a"<b>?q=<x>'}, format="json")
    assert response.status_code == 201, response.content
    [created] = response.json()
    assert created["url"] == "https://example.org/a%22%3Cb%3E?q=%3Cx%3E"
    assert Artifact.objects.get(pk=created["id"]).url == created["url"]
    for hostile in (
        "javascript:alert(1)",
        "https://user:secret@example.org/",
        "https://exa mple.org/",
        "data:text/html,<script>x</script>",
    ):
        refused = client.post(url, {"url": hostile}, format="json")
        assert refused.status_code == 400, hostile


def _login(password: str, ip: str) -> int:
    response = Client().post(
        reverse("login"), {"username": "lockme", "password": password}, REMOTE_ADDR=ip
    )
    return int(response.status_code)


def test_an_account_is_locked_after_failures_from_many_addresses(db: None, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 12
    User.objects.create_user("lockme", password=PASSWORD)
    # Eleven failures from three addresses (each under its own limit): the owner still signs in.
    for n, count in enumerate((4, 4, 3)):
        for _ in range(count):
            assert _login("wrong", f"198.51.100.{n}") == 200
    assert _login(PASSWORD, "203.0.113.9") == 302
    # The twelfth, from a fourth address, locks the account on every address.
    assert _login("wrong", "198.51.100.3") == 429
    assert _login(PASSWORD, "203.0.113.10") == 429
    with_cool_off = timezone.now() + settings.AXES_COOLOFF_TIME + datetime.timedelta(minutes=1)
    with time_machine.travel(with_cool_off):
        assert _login(PASSWORD, "203.0.113.10") == 302


def test_every_answer_carries_permissions_policy(cast: Cast) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(cast.teacher)
    for path in ("/", "/api/v1/learners/", "/accounts/login/", "/learners/?q=%00", "/nowhere/"):
        response = client.get(path)
        assert response["Permissions-Policy"] == PERMISSIONS_POLICY, path
    assert "camera=()" in PERMISSIONS_POLICY
    assert "geolocation=()" in PERMISSIONS_POLICY


def test_a_removal_reason_must_be_text(cast: Cast, evidence: Evidence) -> None:
    client = _api(cast.teacher)
    created = client.post(
        "/api/v1/ratings/",
        {
            "title": "Check",
            "demonstrated_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(),
            "entries": [
                {"learner": cast.own.pk, "standard": make_standards().adding.pk, "score": 2}
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    rating = Rating.objects.latest("pk")
    for reason in (1.4e-303, 7, ["a"], {"a": 1}, True):
        response = client.post(
            f"/api/v1/ratings/{rating.pk}/remove/", {"reason": reason}, format="json"
        )
        assert response.status_code == 400, reason
        assert response.json()["reason"] == ["Must be text (a string), not a number or a list."]
    response = client.post(
        f"/api/v1/ratings/{rating.pk}/remove/", {"reason": "recorded twice"}, format="json"
    )
    assert response.status_code == 204, response.content


def _serializer_classes() -> list[type[serializers.BaseSerializer[Any]]]:
    """Every serializer class of the platform's apps (the URLconf imports every API)."""
    import_module(django_settings.ROOT_URLCONF)
    found: set[type[serializers.BaseSerializer[Any]]] = set()
    stack: list[type[serializers.BaseSerializer[Any]]] = [serializers.BaseSerializer]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    ours = {  # the project's own apps: not those installed in a virtualenv inside the checkout
        app.name
        for app in apps.get_app_configs()
        if Path(app.path).is_relative_to(ROOT) and "site-packages" not in Path(app.path).parts
    }
    return sorted(
        (c for c in found if c.__module__.split(".")[0] in ours and c.__module__ != __name__),
        key=lambda c: f"{c.__module__}.{c.__qualname__}",
    )


def _plain_char_fields(name: str, field: Any) -> Iterator[str]:
    if type(field) is serializers.CharField:
        yield name
    child = getattr(field, "child", None)
    if child is not None and not isinstance(child, serializers.BaseSerializer):
        yield from _plain_char_fields(f"{name}[]", child)  # a nested serializer is walked itself


def test_every_api_text_field_refuses_numbers() -> None:
    """One rule for every API (common.api_fields.TextField): DRF's own CharField turns a number
    into text (the removal reason 1.4e-303 was stored), so no serializer of ours declares one,
    in or out, alone or in a list. (The fields ModelSerializers derive from models are DRF's;
    every ModelSerializer here is an answer, never read from a request.)"""
    classes = _serializer_classes()
    assert len(classes) > 50
    plain = [
        name
        for cls in classes
        for key, field in getattr(cls, "_declared_fields", {}).items()
        for name in _plain_char_fields(f"{cls.__module__}.{cls.__qualname__}.{key}", field)
    ]
    assert plain == [], "use common.api_fields.TextField for: " + ", ".join(plain)
    with pytest.raises(serializers.ValidationError):
        TextField().run_validation(1.4e-303)
