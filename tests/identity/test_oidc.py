"""Single sign-on through a real OpenID Connect provider (oidc-provider on loopback).

The provider is the boundary we do not own; everything on our side runs for real: discovery,
the authorization request with state, nonce and PKCE, the code exchange, the ID token's
signature and claims, the roster match, django-axes, the session and the audit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from audit.models import AuditEntry
from identity import oidc, remote
from identity.models import IdentityProvider, RosterField, SignInSettings
from identity.sealing import seal
from learners.models import RosterIdentity
from tests.identity.provider import LoopbackProvider, running_provider, sign_in_at_provider
from tests.personas import Cast, _module_cast, shared_cast

__all__ = ["_module_cast", "shared_cast"]

CALLBACK = "http://testserver/identity/sso/callback/"
ACCOUNTS = {
    "teacher-at-idp": {"email": "teacher@example.org", "email_verified": True, "name": "T"},
    # The provider's subject is the login typed at the provider: here the roster's sourcedId.
    "or-student-1": {"email": "kid@example.org", "email_verified": True},
    "stranger": {"email": "nobody@example.org", "email_verified": True},
    "gone": {"email": "deactivated_teacher@example.org", "email_verified": True},
    "elsewhere": {"email": "other_district_teacher@example.org", "email_verified": True},
    "unverified": {"email": "teacher@example.org", "email_verified": False},
}


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackProvider]:
    with running_provider([CALLBACK], ACCOUNTS) as provider:
        yield provider


@pytest.fixture
def cast(shared_cast: Cast) -> Cast:
    return shared_cast


def _provider(cast: Cast, idp: LoopbackProvider, **fields: Any) -> IdentityProvider:
    values = {
        "organisation": cast.district,
        "name": "Northside accounts",
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret_sealed": seal(idp.client_secret),
        **fields,
    }
    return IdentityProvider.objects.create(**values)


def _sign_in(client: Client, provider: IdentityProvider, login: str, next_url: str = "") -> Any:
    start = client.get(f"/identity/sso/{provider.pk}/", {"next": next_url} if next_url else {})
    assert start.status_code == 302
    query = parse_qs(urlsplit(start["Location"]).query)
    # What Authlib sent: state, nonce and an S256 PKCE challenge.
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) == len(query["nonce"][0]) == 43
    back = sign_in_at_provider(start["Location"], login, back_to=CALLBACK)
    answer = client.get(back.removeprefix("http://testserver"))
    if answer.status_code == 302 and answer["Location"].startswith("/identity/refused/"):
        return client.get(answer["Location"])  # the refusal page, at an address of its own
    return answer


def _signed_in_as(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value else None


def test_the_sign_in_page_offers_each_enabled_provider(cast: Cast, idp: LoopbackProvider) -> None:
    _provider(cast, idp)
    _provider(cast, idp, name="Switched off", client_id="other", enabled=False)
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Northside accounts" in page
    assert "Switched off" not in page


def test_a_teacher_signs_in_by_email_and_lands_where_they_were_going(
    cast: Cast, idp: LoopbackProvider
) -> None:
    provider = _provider(cast, idp)
    client = Client()
    answer = _sign_in(client, provider, "teacher-at-idp", next_url="/learners/")
    assert answer.status_code == 302
    assert answer["Location"] == "/learners/"
    assert _signed_in_as(client) == cast.teacher.pk
    entry = AuditEntry.objects.get(action="signin.sso")
    assert (entry.actor_id, entry.outcome, entry.detail) == (
        cast.teacher.pk, "allowed", {"outcome": "ok"}
    )  # fmt: skip
    # An address elsewhere is not a place to be sent to.
    other = Client()
    assert _sign_in(other, provider, "teacher-at-idp", "https://evil.example/")["Location"] == "/"


def test_a_student_signs_in_by_their_roster_sourced_id(cast: Cast, idp: LoopbackProvider) -> None:
    RosterIdentity.objects.create(user=cast.student, sourced_id="or-student-1")
    provider = _provider(cast, idp, claim="sub", match_on=RosterField.SOURCED_ID)
    client = Client()
    assert _sign_in(client, provider, "or-student-1")["Location"] == "/"
    assert _signed_in_as(client) == cast.student.pk


@pytest.mark.parametrize(
    ("login", "title"),
    [
        ("stranger", "We could not find you"),
        ("gone", "This account is turned off"),
        # The provider is the district's: another district's teacher is not in its roster.
        ("elsewhere", "We could not find you"),
        # An address the provider has not verified identifies nobody.
        ("unverified", "We could not find you"),
    ],
)
def test_people_the_roster_does_not_have_or_turned_off_are_refused_plainly(
    cast: Cast, idp: LoopbackProvider, login: str, title: str
) -> None:
    users_before = User.objects.count()
    provider = _provider(cast, idp)
    client = Client()
    answer = _sign_in(client, provider, login)
    assert answer.status_code == 403
    assert title in answer.content.decode()
    assert _signed_in_as(client) is None
    assert User.objects.count() == users_before  # nobody is created from a claim
    entry = AuditEntry.objects.get(action="signin.sso")
    assert entry.outcome == "denied"
    # django-axes counted a failure, under a hash: the address itself is stored nowhere.
    attempt = AccessAttempt.objects.get()
    assert attempt.username.startswith(f"sso:{provider.pk}:")
    assert "@" not in attempt.username
    assert "code=" not in attempt.get_data or "code=********" in attempt.get_data


def test_a_state_is_used_once_and_a_stale_one_is_refused(cast: Cast, idp: LoopbackProvider) -> None:
    provider = _provider(cast, idp)
    client = Client()
    start = client.get(f"/identity/sso/{provider.pk}/")
    back = sign_in_at_provider(start["Location"], "teacher-at-idp", back_to=CALLBACK)
    path = back.removeprefix("http://testserver")
    # Another browser (no pending sign-in in its session) cannot use it.
    assert Client().get(path)["Location"] == "/identity/refused/expired/"
    assert client.get(path)["Location"] == "/"
    client.logout()
    replay = client.get(path, follow=True)
    assert replay.status_code == 400
    assert "This sign-in expired" in replay.content.decode()
    assert _signed_in_as(client) is None


def test_repeated_refusals_lock_sign_in_for_that_identity_and_address(
    cast: Cast, idp: LoopbackProvider, settings: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    provider = _provider(cast, idp)
    assert _sign_in(Client(), provider, "gone").status_code == 403
    assert _sign_in(Client(), provider, "gone").status_code == 429  # the second failure locks
    # Locked: even after the login is turned back on, this address waits out the cool-off.
    User.objects.filter(pk=cast.deactivated_teacher.pk).update(is_active=True)
    locked = _sign_in(Client(), provider, "gone")
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    # Someone else from the same address is not locked out.
    assert _sign_in(Client(), provider, "teacher-at-idp").status_code == 302


def test_a_secret_from_the_environment_is_used(
    cast: Cast, idp: LoopbackProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSO_TEST_SECRET", idp.client_secret)
    provider = _provider(cast, idp, client_secret_sealed="", client_secret_env="SSO_TEST_SECRET")
    assert _sign_in(Client(), provider, "teacher-at-idp").status_code == 302
    monkeypatch.setenv("SSO_TEST_SECRET", "wrong")
    answer = _sign_in(Client(), provider, "teacher-at-idp")
    assert answer.status_code == 400
    assert "did not confirm who you are" in answer.content.decode()


def test_local_passwords_can_be_turned_off_for_an_organisation(cast: Cast, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for user in (cast.teacher, cast.other_district_teacher):
        user.set_password("a-long-test-password-1")
        user.save()
    SignInSettings.objects.create(organisation=cast.district, passwords_allowed=False)

    def password_login(username: str) -> int:
        answer = Client().post(
            "/accounts/login/", {"username": username, "password": "a-long-test-password-1"}
        )
        return int(answer.status_code)

    assert password_login("teacher") == 200  # the form again, with the usual message
    # No reset link is sent to them either (the page answers the same).
    for email in ("teacher@example.org", "other_district_teacher@example.org"):
        assert Client().post("/accounts/password/reset/", {"email": email}).status_code == 302
    assert [message.to for message in mail.outbox] == [["other_district_teacher@example.org"]]
    assert password_login("other_district_teacher") == 302  # another district: unchanged
    cast.teacher.is_superuser = True  # the operator keeps a password
    cast.teacher.save()
    assert password_login("teacher") == 302


# --- the ID token's checks, on tokens we make ourselves ----------------------------------------


@pytest.fixture
def forged(cast: Cast, idp: LoopbackProvider) -> tuple[IdentityProvider, dict[str, Any]]:
    provider = _provider(cast, idp)
    return provider, oidc.metadata(provider)


def _claims(document: dict[str, Any], provider: IdentityProvider, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": document["issuer"], "aud": provider.client_id, "sub": "x", "iat": now,
              "exp": now + 300, "nonce": "n-1", "email": "teacher@example.org"}  # fmt: skip
    claims.update(changes)
    return claims


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "someone-else"},
        {"iss": "http://127.0.0.1:1"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"nonce": "another"},
        {"sub": None},
    ],
)
def test_an_id_token_with_a_wrong_claim_is_refused(
    forged: tuple[IdentityProvider, dict[str, Any]],
    change: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider's key set is swapped for one of ours, so tokens we sign pass the signature
    check and only the claim under test is wrong."""
    provider, document = forged
    key = RSAKey.generate_key(2048)
    original = remote.fetch_json

    def serve_own_keys(url: str, *, what: str, fresh: bool = False) -> dict[str, Any]:
        if url == document["jwks_uri"]:
            return {"keys": [{**key.as_dict(private=False), "kid": "k1"}]}
        return original(url, what=what, fresh=fresh)

    monkeypatch.setattr(remote, "fetch_json", serve_own_keys)
    header = {"alg": "RS256", "kid": "k1"}
    good = jwt.encode(header, _claims(document, provider), key)
    assert oidc.verify_id_token(provider, document, good, nonce="n-1")["sub"] == "x"
    claims = {k: v for k, v in _claims(document, provider, **change).items() if v is not None}
    with pytest.raises(oidc.SignInFailed):
        oidc.verify_id_token(provider, document, jwt.encode(header, claims, key), nonce="n-1")


def test_an_id_token_signed_by_another_key_is_refused(
    forged: tuple[IdentityProvider, dict[str, Any]],
) -> None:
    provider, document = forged
    key = RSAKey.generate_key(2048)
    token = jwt.encode({"alg": "RS256", "kid": "not-theirs"}, _claims(document, provider), key)
    with pytest.raises(oidc.SignInFailed, match="could not be verified"):
        oidc.verify_id_token(provider, document, token, nonce="n-1")
    # A token "signed" with a shared secret (e.g. the client secret) is not accepted either.
    unsigned = jwt.encode(
        {"alg": "HS256"}, _claims(document, provider), OctKey.import_key("x" * 32)
    )
    with pytest.raises(oidc.SignInFailed):
        oidc.verify_id_token(provider, document, unsigned, nonce="n-1")
