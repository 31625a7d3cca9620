"""Logins resist guessing, sessions are safe (S12): lockout, rotation, idle timeout, CSRF."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from learners import services
from learners.models import RoleAssignment
from tests.personas import Cast, cast
from tests.security.routes import all_routes

__all__ = ["cast"]

PASSWORD = "a-long-test-password-1"
CROSS_SITE_BY_DESIGN = ("identity:lti_login", "identity:lti_launch")


@pytest.fixture
def login_user(db: None, settings: Any) -> User:
    # A fast hasher: these tests make many login attempts, the hashing cost is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_user("lockme", password=PASSWORD)


def _login(client: Client, password: str, ip: str = "10.0.0.1") -> Any:
    return client.post(
        reverse("login"), {"username": "lockme", "password": password}, REMOTE_ADDR=ip
    )


def test_five_failures_lock_the_account_from_that_address_even_for_the_right_password(
    login_user: User, settings: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    for _ in range(4):
        assert _login(client, "wrong").status_code == 200
    assert _login(client, "wrong").status_code == 429  # the fifth failure locks
    locked = _login(client, PASSWORD)
    assert locked.status_code == 429
    assert b"Sign-in paused" in locked.content
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by someone else's guessing.
    other = Client()
    assert _login(other, PASSWORD, ip="10.0.0.2").status_code == 302


def test_the_lockout_ends_after_the_cool_off_and_a_success_resets_the_count(
    login_user: User, settings: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        _login(client, "wrong")
    assert _login(client, PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + datetime.timedelta(1)):
        assert _login(Client(), PASSWORD).status_code == 302
        for _ in range(2):
            assert _login(Client(), "wrong").status_code == 200
        assert _login(Client(), PASSWORD).status_code == 302  # a success resets the count
        for _ in range(2):
            assert _login(Client(), "wrong").status_code == 200
        assert _login(Client(), PASSWORD).status_code == 302


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    login_user: User, settings: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    # No trusted proxy: a client rotating X-Forwarded-For is still one address.
    for n in range(2):
        Client().post(
            reverse("login"),
            {"username": "lockme", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    assert _login(Client(), PASSWORD, ip="127.0.0.1").status_code == 429


def test_login_rotates_the_session_key(login_user: User) -> None:
    client = Client()
    client.get(reverse("login"))
    client.session["probe"] = 1  # an anonymous session exists before the login
    before = client.session.session_key
    assert _login(client, PASSWORD).status_code == 302
    assert client.session.session_key not in {before, None}


def test_common_and_short_passwords_are_refused(cast: Cast, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client = Client()
    client.force_login(cast.teacher)
    for weak in ("password123", "12345678", "teacher1"):
        response = client.post(
            reverse("password_change"),
            {"old_password": "x", "new_password1": weak, "new_password2": weak},
        )
        assert response.status_code == 200
        assert response.context["form"].errors.get("new_password2"), weak


def test_an_idle_session_is_signed_out(cast: Cast, settings: Any) -> None:
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    url = reverse("learners:learner_detail", args=[cast.own.pk])
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = Client()
        client.force_login(cast.teacher)
        assert client.get(url).status_code == 200
        clock.shift(datetime.timedelta(minutes=25))
        assert client.get(url).status_code == 200  # activity keeps it alive
        clock.shift(datetime.timedelta(minutes=25))
        assert client.get(url).status_code == 200
        clock.shift(datetime.timedelta(minutes=31))
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        assert "_auth_user_id" not in client.session


def test_an_idle_timeout_does_not_touch_token_authenticated_calls(
    cast: Cast, settings: Any
) -> None:
    token = Token.objects.create(user=cast.teacher)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=2)):
        response = Client().get("/api/v1/learners/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def _sample_path(pattern: str) -> str:
    """A concrete path for a route pattern (ids of 1, a token of letters)."""
    path = re.sub(r"\(\?P<[^>]+>[^)]+\)", "1", pattern)
    path = re.sub(r"<int:[^>]+>", "1", path)
    path = re.sub(r"<(str:)?[^>]+>", "abc", path)
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path


def test_every_unsafe_request_without_a_csrf_token_is_refused(cast: Cast) -> None:
    """POST, PUT, PATCH and DELETE on every route with a signed-in session and no CSRF token:
    403 everywhere, before any view logic runs."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.state_admin)
    answered = {}
    for route in all_routes():
        if route.name.startswith("admin:") and route.name not in {"admin:index", "admin:login"}:
            continue  # the admin's views share one CSRF decorator; two of them are checked
        if route.name in CROSS_SITE_BY_DESIGN:
            continue  # checked below
        path = _sample_path(route.pattern)
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(path, data={}, content_type="application/json")
            if response.status_code != 403:
                answered[(route.name, method)] = response.status_code
    assert answered == {}
    # The LTI login and launch are cross-site posts from the learning platform by design (the
    # platform's signed ID token and our state cookie protect them, tests/identity/test_lti.py):
    # without them nothing happens but the refusal page, and nobody is signed in.
    anonymous = Client(enforce_csrf_checks=True)
    for name in CROSS_SITE_BY_DESIGN:
        for method in ("post", "put", "patch", "delete"):
            response = getattr(anonymous, method)(reverse(name), data={})
            assert response.status_code in {302, 405}, (name, method)
            if response.status_code == 302:
                assert response["Location"] == "/identity/refused/launch/"
        assert "_auth_user_id" not in anonymous.session


def test_a_token_call_needs_no_csrf_token_but_a_session_call_does(cast: Cast) -> None:
    token = Token.objects.create(user=cast.teacher)
    client = Client(enforce_csrf_checks=True)
    body = {"title": "x", "demonstrated_at": "2026-01-01T00:00:00Z", "entries": []}
    by_token = client.post(
        "/api/v1/ratings/", body, content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )  # fmt: skip
    assert by_token.status_code == 400  # validated, not refused for CSRF
    client.force_login(cast.teacher)
    by_session = client.post("/api/v1/ratings/", body, content_type="application/json")
    assert by_session.status_code == 403
    assert "CSRF" in by_session.json()["detail"]


def test_an_integration_token_acts_as_its_user_and_rotates(cast: Cast) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("api_token", "teacher", stdout=out)
    key = out.getvalue().strip()
    api = Client()
    learners = api.get("/api/v1/learners/", HTTP_AUTHORIZATION=f"Token {key}").json()["results"]
    assert {item["id"] for item in learners} == {cast.own.pk, cast.same_section.pk}
    rotated = StringIO()
    call_command("api_token", "teacher", "--rotate", stdout=rotated)
    assert rotated.getvalue().strip() != key
    # The old key is refused (403: session auth, listed first, sends no challenge).
    assert api.get("/api/v1/learners/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 403
    with pytest.raises(CommandError, match="deactivated"):
        call_command("api_token", "deactivated_teacher")


# --- S4: ended assignments and deactivated users lose access at once ------------------------------


def _signed_in(user: User) -> tuple[Client, str]:
    client = Client()
    client.force_login(user)
    key = client.session.session_key
    assert key is not None
    return client, key


def _refused_everywhere(client: Client, page: str, api: str) -> None:
    response = client.get(page)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert client.get(api).status_code in {401, 403}


@pytest.mark.parametrize("how", ["service", "save"])
def test_a_deactivated_user_is_refused_at_once_and_their_sessions_are_deleted(
    cast: Cast, how: str
) -> None:
    page = reverse("learners:learner_detail", args=[cast.own.pk])
    api = f"/api/v1/learners/{cast.own.pk}/"
    laptop, laptop_key = _signed_in(cast.teacher)
    phone, phone_key = _signed_in(cast.teacher)
    colleague, colleague_key = _signed_in(cast.co_teacher)
    for client in (laptop, phone, colleague):
        assert client.get(page).status_code == 200
        assert client.get(api).status_code == 200

    if how == "service":
        assert services.deactivate_users(actor=None, users=[cast.teacher]) == 1
    else:  # the Django admin's change form, a shell
        cast.teacher.is_active = False
        cast.teacher.save()

    assert not Session.objects.filter(session_key__in=[laptop_key, phone_key]).exists()
    _refused_everywhere(laptop, page, api)
    _refused_everywhere(phone, page, api)
    # Someone else's session is untouched.
    assert Session.objects.filter(session_key=colleague_key).exists()
    assert colleague.get(page).status_code == 200


def test_the_session_and_the_user_are_read_from_the_database_on_every_request(
    cast: Cast, settings: Any
) -> None:
    """The session store and the user read are plain statements (identity.sessions,
    identity.backends): the database stays the one copy, so whatever another process changes
    there (a deleted or expired session, a login switched off without its signals, a changed
    password) decides the very next request."""
    assert settings.SESSION_ENGINE == "identity.sessions"
    page = reverse("learners:learner_detail", args=[cast.own.pk])
    api = f"/api/v1/learners/{cast.own.pk}/"
    deleted, deleted_key = _signed_in(cast.teacher)
    expired, expired_key = _signed_in(cast.teacher)
    kept, _ = _signed_in(cast.co_teacher)
    for client, user in ((deleted, cast.teacher), (expired, cast.teacher), (kept, cast.co_teacher)):
        response = client.get(page)
        assert (response.status_code, response.wsgi_request.user.pk) == (200, user.pk)
    Session.objects.filter(session_key=deleted_key).delete()
    Session.objects.filter(session_key=expired_key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )
    _refused_everywhere(deleted, page, api)
    _refused_everywhere(expired, page, api)
    assert kept.get(page).wsgi_request.user.pk == cast.co_teacher.pk

    User.objects.filter(pk=cast.co_teacher.pk).update(is_active=False)  # no signal, no clean-up
    _refused_everywhere(kept, page, api)
    User.objects.filter(pk=cast.co_teacher.pk).update(is_active=True)
    again, _ = _signed_in(cast.co_teacher)
    assert again.get(page).status_code == 200
    user = User.objects.get(pk=cast.co_teacher.pk)
    user.set_password("another-long-password-2")  # elsewhere: the session's hash no longer holds
    User.objects.filter(pk=user.pk).update(password=user.password)
    _refused_everywhere(again, page, api)


def test_an_ended_assignment_grants_nothing_on_the_next_request(cast: Cast) -> None:
    page = reverse("learners:learner_detail", args=[cast.own.pk])
    api = f"/api/v1/learners/{cast.own.pk}/"
    client, _ = _signed_in(cast.teacher)
    assert client.get(page).status_code == 200
    assert client.get(api).status_code == 200
    assignment = RoleAssignment.objects.get(user=cast.teacher, section=cast.section)
    assignment.end_date = timezone.localdate() - datetime.timedelta(days=1)
    assignment.save(update_fields=["end_date"])
    # Still signed in, but the learner is out of scope: the same 404 as any stranger's learner.
    assert client.get(page).status_code == 404
    assert client.get(api).status_code == 404
    listed = client.get("/api/v1/learners/").json()["results"]
    assert cast.own.pk not in {row["id"] for row in listed}
