"""OpenID Connect sign-in as a relying party (authorization code flow with PKCE), by Authlib.

Authlib builds the authorization request (state, nonce, PKCE S256 challenge), exchanges the
code at the token endpoint (client authentication as the provider's discovery document offers)
and validates the ID token's claims (``CodeIDToken``: issuer, audience, expiry, issued-at,
nonce, authorized party, access-token hash); joserfc, Authlib's JOSE library, verifies its
signature with the provider's published keys. Nothing here logs a token, a code or a claim.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any, Final

from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from identity import remote
from identity.models import IdentityProvider
from identity.sealing import SealError, unseal

# Signature algorithms accepted on an ID token: asymmetric only (no "none", no HMAC with the
# client secret), intersected with what the provider announces.
ASYMMETRIC: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
LEEWAY_SECONDS: Final = 60


class SignInFailed(Exception):
    """The sign-in could not be completed; ``reason`` is a short code for the audit, the
    message plain words for the person (never a claim or a token)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Pending:
    """What the browser's session keeps between leaving for the provider and coming back."""

    provider_id: int
    state: str
    nonce: str
    code_verifier: str
    next_url: str
    started_at: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def metadata(provider: IdentityProvider, *, fresh: bool = False) -> dict[str, Any]:
    """The provider's discovery document (cached), checked against the configured issuer."""
    issuer = provider.issuer.rstrip("/")
    try:
        document = remote.fetch_json(
            f"{issuer}/.well-known/openid-configuration", what="discovery document", fresh=fresh
        )
    except remote.RemoteError as error:
        raise SignInFailed("provider_unavailable", str(error)) from error
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise SignInFailed("provider_misconfigured", "The provider names another issuer.")
    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(field), str) or not remote.allowed_url(document[field]):
            raise SignInFailed("provider_misconfigured", f"The provider gives no usable {field}.")
    return document


def client_secret(provider: IdentityProvider) -> str:
    if provider.client_secret_env:
        return os.environ.get(provider.client_secret_env, "")
    if provider.client_secret_sealed:
        try:
            return unseal(provider.client_secret_sealed)
        except SealError as error:
            raise SignInFailed(
                "provider_misconfigured", "The client secret cannot be read."
            ) from error
    return ""


def _session(
    provider: IdentityProvider, document: dict[str, Any], redirect_uri: str
) -> OAuth2Session:
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    secret = client_secret(provider)
    if not secret:
        auth_method = "none"
    elif "client_secret_basic" in methods:
        auth_method = "client_secret_basic"
    else:
        auth_method = "client_secret_post"
    return OAuth2Session(
        client_id=provider.client_id,
        client_secret=secret or None,
        scope=provider.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
    )


def start(
    provider: IdentityProvider, *, redirect_uri: str, next_url: str, now: int
) -> tuple[str, Pending]:
    """The provider's authorization URL to send the browser to, and what to keep until it
    comes back (fresh state, nonce and PKCE verifier)."""
    document = metadata(provider)
    pending = Pending(
        provider_id=provider.pk,
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=generate_token(64),
        next_url=next_url,
        started_at=now,
    )
    url, _ = _session(provider, document, redirect_uri).create_authorization_url(
        document["authorization_endpoint"],
        state=pending.state,
        nonce=pending.nonce,
        code_verifier=pending.code_verifier,
    )
    return url, pending


def finish(
    provider: IdentityProvider, pending: Pending, *, code: str, redirect_uri: str
) -> dict[str, Any]:
    """Exchanges the code (with the PKCE verifier) and returns the ID token's verified claims."""
    document = metadata(provider)
    try:
        token = _session(provider, document, redirect_uri).fetch_token(
            document["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=pending.code_verifier,
            redirect_uri=redirect_uri,
            timeout=remote.TIMEOUT,
        )
    except (AuthlibBaseError, OSError, ValueError) as error:
        raise SignInFailed("token_refused", "The provider did not confirm the sign-in.") from error
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SignInFailed("token_refused", "The provider sent no identity token.")
    claims = verify_id_token(
        provider, document, id_token, nonce=pending.nonce, access_token=token.get("access_token")
    )
    if provider.claim not in claims and document.get("userinfo_endpoint"):
        # Some providers send the identifying claim only from their user info endpoint.
        info = _user_info(provider, document, token, redirect_uri)
        if info.get("sub") == claims.get("sub"):
            claims = {**info, **claims}
    return claims


def _user_info(
    provider: IdentityProvider, document: dict[str, Any], token: Any, redirect_uri: str
) -> dict[str, Any]:
    """The user info claims, for the same subject as the ID token (else nothing)."""
    endpoint = str(document["userinfo_endpoint"])
    if not remote.allowed_url(endpoint):
        return {}
    session = _session(provider, document, redirect_uri)
    session.token = token
    try:
        response = session.get(endpoint, timeout=remote.TIMEOUT)
        response.raise_for_status()
        info = response.json()
    except (AuthlibBaseError, OSError, ValueError):
        return {}
    if not isinstance(info, dict):
        return {}
    return info


def _key_set(document: dict[str, Any], *, fresh: bool) -> KeySet:
    try:
        return KeySet.import_key_set(
            remote.fetch_json(document["jwks_uri"], what="provider's key set", fresh=fresh)  # type: ignore[arg-type]
        )
    except remote.RemoteError as error:
        raise SignInFailed("provider_unavailable", str(error)) from error
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise SignInFailed(
            "provider_misconfigured", "The provider's key set is unusable."
        ) from error


def verify_id_token(
    provider: IdentityProvider,
    document: dict[str, Any],
    id_token: str,
    *,
    nonce: str,
    access_token: str | None = None,
) -> dict[str, Any]:
    """The claims of an ID token whose signature, issuer, audience, times and nonce hold."""
    announced = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [alg for alg in announced if alg in ASYMMETRIC]
    try:
        try:
            token = jwt.decode(id_token, _key_set(document, fresh=False), algorithms=algorithms)
        except InvalidKeyIdError:
            # The provider rotated its keys since we cached them.
            token = jwt.decode(id_token, _key_set(document, fresh=True), algorithms=algorithms)
        params: dict[str, Any] = {"nonce": nonce, "client_id": provider.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": str(document["issuer"])},
                "aud": {"essential": True, "value": provider.client_id},
                "nonce": {"essential": True},
            },
            params,
        )
        claims.validate(leeway=LEEWAY_SECONDS)
    except JoseError as error:
        raise SignInFailed("token_invalid", "The identity token could not be verified.") from error
    return dict(claims)
