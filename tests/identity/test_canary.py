"""Nothing of a token or a claim reaches the logs (RELIABILITY.md S13, the canary approach).

A person with claim values found nowhere else signs in through the real provider (and is
refused once), and launches from a test LTI platform (once signed in, once unknown, once with
a bad signature), with every logger at DEBUG (ours, Django's, Authlib's, requests' and urllib3's).
The authorization code, the ID and access tokens (their full text and their signatures) and
every claim value are then searched for in the log records, in what was written to stdout and
stderr, in django-axes' records of attempts and in every key and value of the test Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.integrations.requests_client import OAuth2Session
from axes.models import AccessAttempt
from django.test import Client
from joserfc.jwk import RSAKey

from audit.models import AuditEntry
from identity.models import IdentityProvider, LtiDeployment, LtiPlatform
from identity.sealing import seal
from learners.models import RosterIdentity
from tests.identity.platform import CLIENT_ID, DEPLOYMENT, ISSUER, MEMBERSHIP, running_platform
from tests.identity.provider import LoopbackProvider, running_provider, sign_in_at_provider
from tests.personas import Cast, build_cast
from tests.privacy.test_canary import _redis_dump

pytestmark = pytest.mark.django_db

CALLBACK = "http://testserver/identity/sso/callback/"
CLAIMS = {
    "email": "zqxcanary.signin@example.org",
    "email_verified": True,
    "name": "Zqxcanary Claimname",
    "preferred_username": "zqxcanary-preferred",
}
SUBJECT = "zqxcanary-subject-7"


@pytest.fixture
def idp() -> Iterator[LoopbackProvider]:
    accounts = {SUBJECT: CLAIMS, "zqxcanary-stranger": {"email": "zqxcanary.nobody@example.org"}}
    with running_provider([CALLBACK], accounts) as provider:
        yield provider


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every token the provider hands us (Authlib's own fetch, recorded, not replaced)."""
    seen: list[dict[str, Any]] = []
    original = OAuth2Session.fetch_token

    def recording(self: OAuth2Session, *args: Any, **kwargs: Any) -> Any:
        token = original(self, *args, **kwargs)
        seen.append(dict(token))
        return token

    monkeypatch.setattr(OAuth2Session, "fetch_token", recording)
    return seen


def _sign_in(client: Client, provider: IdentityProvider, login: str) -> tuple[str, Any]:
    start = client.get(f"/identity/sso/{provider.pk}/")
    back = sign_in_at_provider(start["Location"], login, back_to=CALLBACK)
    code = parse_qs(urlsplit(back).query)["code"][0]
    return code, client.get(back.removeprefix("http://testserver"), follow=True)


def test_no_token_code_or_claim_reaches_the_logs_axes_or_redis(
    idp: LoopbackProvider,
    tokens: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    cast: Cast = build_cast()
    cast.teacher.email = CLAIMS["email"]
    cast.teacher.save(update_fields=["email"])
    provider = IdentityProvider.objects.create(
        organisation=cast.district, name="Canary accounts", issuer=idp.issuer,
        client_id=idp.client_id, client_secret_sealed=seal(idp.client_secret),
    )  # fmt: skip
    client = Client()
    code, page = _sign_in(client, provider, SUBJECT)
    assert page.status_code == 200
    assert client.session["_auth_user_id"] == str(cast.teacher.pk)
    refused_code, refused = _sign_in(Client(), provider, "zqxcanary-stranger")
    assert refused.status_code == 403

    needles = {code, refused_code, SUBJECT, *(str(v) for v in CLAIMS.values() if v is not True)}
    needles.add("zqxcanary.nobody@example.org")
    assert len(tokens) == 2
    for token in tokens:
        for name in ("id_token", "access_token"):
            needles.add(token[name])
            needles.add(token[name].rsplit(".", 1)[-1])  # a JWT's signature alone
    needles = {needle.lower() for needle in needles if len(needle) >= 8}

    def leaks(text: str) -> list[str]:
        lowered = text.lower()
        return sorted(needle for needle in needles if needle in lowered)

    assert leaks(f"control {CLAIMS['email'].upper()}")  # the detector detects
    assert caplog.records
    places = {
        "log records": "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records),
        "stdout/stderr": "".join(capfd.readouterr()),
        "axes attempts": repr(list(AccessAttempt.objects.values())),
        "redis": "\n".join(f"{key!r} {value!r}" for key, value in _redis_dump()),
    }
    found = {where: leaks(text) for where, text in places.items() if leaks(text)}
    assert found == {}


def test_no_lti_launch_token_or_claim_reaches_the_logs_axes_or_redis(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    cast: Cast = build_cast()
    RosterIdentity.objects.create(user=cast.teacher, sourced_id="zqxcanary-lis-person")
    tokens: list[str] = []
    with running_platform() as lms:
        platform = LtiPlatform.objects.create(
            organisation=cast.district, name="Canary LMS", issuer=ISSUER, client_id=CLIENT_ID,
            auth_login_url=lms.auth_url, key_set_url=lms.key_set_url,
        )  # fmt: skip
        LtiDeployment.objects.create(platform=platform, deployment_id=DEPLOYMENT)
        for person, key in (
            ("zqxcanary-lis-person", None),  # signed in
            ("zqxcanary-lis-stranger", None),  # not in the roster
            ("zqxcanary-lis-person", RSAKey.generate_key(2048)),  # a bad signature
        ):
            client = Client()
            start = client.get("/identity/lti/login/", {
                "iss": ISSUER, "login_hint": "zqxcanary-hint", "client_id": CLIENT_ID,
                "target_link_uri": "https://tool.test/", "lti_deployment_id": DEPLOYMENT,
            })  # fmt: skip
            query = {k: v[0] for k, v in parse_qs(urlsplit(start["Location"]).query).items()}
            claims = lms.claims(
                nonce=query["nonce"], roles=[MEMBERSHIP + "Instructor"], person=person,
                sub="zqxcanary-lti-subject", email="zqxcanary.lti@example.org",
                name="Zqxcanary Ltiname", context_id="zqxcanary-context",
            )  # fmt: skip
            token = lms.sign(claims, key=key)
            tokens.append(token)
            client.post("/identity/lti/launch/", {"id_token": token, "state": query["state"]})
    assert AuditEntry.objects.filter(action="signin.lti", outcome="allowed").count() == 1

    needles = {"zqxcanary-lis-person", "zqxcanary-lis-stranger", "zqxcanary-lti-subject",
               "zqxcanary.lti@example.org", "zqxcanary ltiname", "zqxcanary-context",
               "zqxcanary-hint"}  # fmt: skip
    for token in tokens:
        needles |= {token, token.rsplit(".", 1)[-1]}
    needles = {needle.lower() for needle in needles}

    def leaks(text: str) -> list[str]:
        lowered = text.lower()
        return sorted(needle for needle in needles if needle in lowered)

    places = {
        "log records": "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records),
        "stdout/stderr": "".join(capfd.readouterr()),
        "axes attempts": repr(list(AccessAttempt.objects.values())),
        "redis": "\n".join(f"{key!r} {value!r}" for key, value in _redis_dump()),
    }
    found = {where: leaks(text) for where, text in places.items() if leaks(text)}
    assert found == {}
