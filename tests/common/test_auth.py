from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from learners.models import RoleAssignment, RoleKind
from tests.factories import SchoolFactory

PASSWORD = "a-long-test-password-1"


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("teacher1", email="t1@example.org", password=PASSWORD)


def test_home_sends_anonymous_users_to_the_login_page(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_login_page_has_labelled_inputs(client: Client, db: None) -> None:
    html = client.get("/accounts/login/").content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html


def test_login_with_right_password_rotates_the_session_and_opens_home(
    client: Client, user: User
) -> None:
    client.get("/accounts/login/")
    before = client.session.session_key
    response = client.post("/accounts/login/", {"username": "teacher1", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session.session_key != before
    assert client.get("/").status_code == 200


def test_login_with_wrong_password_is_refused(client: Client, user: User) -> None:
    response = client.post("/accounts/login/", {"username": "teacher1", "password": "wrong"})
    assert response.status_code == 200
    assert "did not match" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_needs_post_and_ends_the_session(client: Client, user: User) -> None:
    client.force_login(user)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_password_change_needs_the_old_password(client: Client, user: User) -> None:
    client.force_login(user)
    bad = client.post(
        "/accounts/password/change/",
        {
            "old_password": "nope",
            "new_password1": "Another-pass-42",
            "new_password2": "Another-pass-42",
        },
    )
    assert bad.status_code == 200
    good = client.post(
        "/accounts/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": "Another-pass-42",
            "new_password2": "Another-pass-42",
        },
    )
    assert good.status_code == 302
    user.refresh_from_db()
    assert user.check_password("Another-pass-42")


def test_password_reset_sends_a_working_link(client: Client, user: User) -> None:
    response = client.post("/accounts/password/reset/", {"email": "t1@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"/accounts/reset/[^/]+/[^/]+/", mail.outbox[0].body)
    assert link is not None
    form = client.get(link.group(0), follow=True)
    assert form.status_code == 200
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Reset-pass-2026x", "new_password2": "Reset-pass-2026x"},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("Reset-pass-2026x")


def test_navigation_shows_administration_only_to_staff(client: Client, user: User) -> None:
    client.force_login(user)
    assert "Administration" not in client.get("/").content.decode()
    user.is_staff = True
    user.save()
    assert "Administration" in client.get("/").content.decode()


def test_navigation_follows_the_roles_and_the_language_of_each_request(
    client: Client, user: User
) -> None:
    """The navigation's entries are made once per combination of roles, flags and language
    (common.navigation): a role granted or ended, or another language, shows on the next page."""
    client.force_login(user)
    assert "My sections" not in client.get("/").content.decode()
    assignment = RoleAssignment.objects.create(
        user=user, kind=RoleKind.SCHOOL_ADMIN, organisation=SchoolFactory()
    )
    page = client.get("/").content.decode()
    assert "My sections" in page
    assert "Settings" in page
    spanish = client.get("/", headers={"accept-language": "es"}).content.decode()
    assert ">Inicio</a>" in spanish
    assert ">Home</a>" not in spanish
    assignment.delete()
    page = client.get("/").content.decode()
    assert "My sections" not in page
    assert ">Home</a>" in page
