"""LTI 1.3 Core launches as a tool: the OIDC third-party login and the signed launch message.

A careful implementation on joserfc (the JOSE library under Authlib) of the IMS Security
Framework and LTI Core 1.3 rules a tool must check:

1. Login initiation (``iss``, ``login_hint``, ``target_link_uri``, optional ``client_id``,
   ``lti_deployment_id``, ``lti_message_hint``): find the registered platform, make a state and
   a nonce, bind them to this browser in a signed, short-lived ``SameSite=None; Secure`` cookie
   (the launch comes back as a cross-site form post), send the browser to the platform's
   authentication endpoint (``response_type=id_token``, ``response_mode=form_post``,
   ``prompt=none``).
2. Launch (``id_token``, ``state``): the state must equal the cookie's; the ID token must be
   signed RS256 by a key in the platform's key set (cached, refetched once on an unknown key
   id); ``iss`` the platform's, ``aud`` our client id (with ``azp`` when there are several),
   ``exp``/``iat`` current (60 s leeway), the ``nonce`` the cookie's and never seen before (kept
   in ``LtiNonce``), the deployment registered, the message type and version LTI 1.3's.

3. Deep Linking (``LtiDeepLinkingRequest``, a teacher adding the tool to a course): the same
   checks, a return URL and ``ltiResourceLink`` among the accepted types; the answer is a
   ``LtiDeepLinkingResponse`` signed with our LTI key (:func:`deep_linking_response`).

Nothing here logs a token or a claim.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from identity import keys, remote, services
from identity.models import LtiNonce, LtiPersonClaim, LtiPlatform

CLAIM: Final = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE: Final = CLAIM + "message_type"
VERSION: Final = CLAIM + "version"
DEPLOYMENT_ID: Final = CLAIM + "deployment_id"
ROLES: Final = CLAIM + "roles"
CONTEXT: Final = CLAIM + "context"
RESOURCE_LINK: Final = CLAIM + "resource_link"
LIS: Final = CLAIM + "lis"
RESOURCE_LINK_REQUEST: Final = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST: Final = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE: Final = "LtiDeepLinkingResponse"
DL_CLAIM: Final = "https://purl.imsglobal.org/spec/lti-dl/claim/"
DL_SETTINGS: Final = DL_CLAIM + "deep_linking_settings"
STATE_COOKIE: Final = "lti1p3_state"
STATE_SALT: Final = "identity.lti.state"
STATE_SECONDS: Final = 600
LEEWAY_SECONDS: Final = 60
NONCE_KEPT: Final = datetime.timedelta(days=1)  # far longer than any token's lifetime

_MEMBERSHIP: Final = "http://purl.imsglobal.org/vocab/lis/v2/membership"
_INSTITUTION: Final = "http://purl.imsglobal.org/vocab/lis/v2/institution/person"
INSTRUCTOR_ROLES: Final = frozenset(
    {f"{_MEMBERSHIP}#Instructor", f"{_MEMBERSHIP}/Instructor#TeachingAssistant",
     f"{_MEMBERSHIP}#ContentDeveloper", f"{_INSTITUTION}#Instructor", f"{_INSTITUTION}#Faculty",
     "Instructor"}
)  # fmt: skip
ADMIN_ROLES: Final = frozenset(
    {f"{_MEMBERSHIP}#Administrator", f"{_INSTITUTION}#Administrator",
     "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"}
)  # fmt: skip
LEARNER_ROLES: Final = frozenset(
    {f"{_MEMBERSHIP}#Learner", f"{_INSTITUTION}#Student", f"{_INSTITUTION}#Learner", "Learner"}
)
MENTOR_ROLES: Final = frozenset({f"{_MEMBERSHIP}#Mentor", f"{_INSTITUTION}#Mentor"})


class LaunchRefused(Exception):
    """A launch or login initiation that is refused; ``reason`` is a short code for the audit
    and the log (never a claim or a token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Launch:
    """What a verified launch says, in our terms."""

    platform: LtiPlatform
    claims: dict[str, Any]

    @property
    def roles(self) -> set[str]:
        value = self.claims.get(ROLES, [])
        return {str(role) for role in value} if isinstance(value, list) else set()

    @property
    def kind(self) -> str:
        """``teacher``, ``admin``, ``learner``, ``mentor`` (a parent) or ``none``."""
        roles = self.roles
        if roles & INSTRUCTOR_ROLES:
            return "teacher"
        if roles & ADMIN_ROLES:
            return "admin"
        if roles & LEARNER_ROLES:
            return "learner"
        if roles & MENTOR_ROLES:
            return "mentor"
        return "none"

    @property
    def person(self) -> object:
        """The value that names the person, as the platform's ``person_claim`` says."""
        if self.platform.person_claim == LtiPersonClaim.LIS_SOURCED_ID:
            lis = self.claims.get(LIS)
            return lis.get("person_sourcedid") if isinstance(lis, dict) else None
        return self.claims.get(self.platform.person_claim)

    @property
    def is_deep_linking(self) -> bool:
        return self.claims.get(MESSAGE_TYPE) == DEEP_LINKING_REQUEST

    @property
    def context_id(self) -> str:
        context = self.claims.get(CONTEXT)
        value = context.get("id") if isinstance(context, dict) else None
        return str(value) if value else ""

    @property
    def context_title(self) -> str:
        context = self.claims.get(CONTEXT)
        if not isinstance(context, dict):
            return ""
        return str(context.get("title") or context.get("label") or "")[:200]

    @property
    def course_section_sourced_id(self) -> str:
        lis = self.claims.get(LIS)
        value = lis.get("course_section_sourcedid") if isinstance(lis, dict) else None
        return str(value) if value else ""


def find_platform(issuer: str, client_id: str) -> LtiPlatform:
    platforms = LtiPlatform.objects.filter(issuer=issuer, enabled=True).select_related(
        "organisation"
    )
    if client_id:
        platforms = platforms.filter(client_id=client_id)
    found = list(platforms[:2])
    if len(found) != 1:
        raise LaunchRefused("unknown_platform")
    return found[0]


def start_login(params: dict[str, str], *, launch_url: str) -> tuple[str, str]:
    """The platform's authentication URL to send the browser to, and the signed state cookie
    value that binds the state and nonce to this browser."""
    issuer, login_hint = params.get("iss", ""), params.get("login_hint", "")
    if not issuer or not login_hint or not params.get("target_link_uri"):
        raise LaunchRefused("bad_login_request")
    platform = find_platform(issuer, params.get("client_id", ""))
    deployment = params.get("lti_deployment_id", "")
    if deployment and not platform.deployments.filter(deployment_id=deployment).exists():
        raise LaunchRefused("unknown_deployment")
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": launch_url,
        "login_hint": login_hint,
        "state": state,
        "nonce": nonce,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in platform.auth_login_url else "?"
    cookie = signing.dumps(
        {"state": state, "nonce": nonce, "platform": platform.pk}, salt=STATE_SALT
    )
    return f"{platform.auth_login_url}{separator}{urlencode(query)}", cookie


def _key_set(platform: LtiPlatform, *, fresh: bool) -> KeySet:
    try:
        return KeySet.import_key_set(
            remote.fetch_json(platform.key_set_url, what="platform's key set", fresh=fresh)  # type: ignore[arg-type]
        )
    except remote.RemoteError as error:
        raise LaunchRefused("platform_keys_unavailable") from error
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise LaunchRefused("platform_keys_unusable") from error


def verify_launch(*, id_token: str, state: str, cookie: str | None) -> Launch:
    """The launch, once every check of the module docstring holds; ``LaunchRefused`` else."""
    if not cookie or not state or not id_token:
        raise LaunchRefused("no_state")
    try:
        bound = signing.loads(cookie, salt=STATE_SALT, max_age=STATE_SECONDS)
    except signing.BadSignature as error:  # expired too
        raise LaunchRefused("no_state") from error
    if not secrets.compare_digest(str(bound.get("state", "")), state):
        raise LaunchRefused("state_mismatch")
    platform = (
        LtiPlatform.objects.filter(pk=bound.get("platform"), enabled=True)
        .select_related("organisation")
        .first()
    )
    if platform is None:
        raise LaunchRefused("unknown_platform")
    try:
        try:
            token = jwt.decode(id_token, _key_set(platform, fresh=False), algorithms=["RS256"])
        except InvalidKeyIdError:
            token = jwt.decode(id_token, _key_set(platform, fresh=True), algorithms=["RS256"])
        JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": platform.issuer},
            aud={"essential": True, "value": platform.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": str(bound.get("nonce", ""))},
        ).validate(token.claims)
    except JoseError as error:
        raise LaunchRefused("token_invalid") from error
    claims = dict(token.claims)
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != platform.client_id:
        raise LaunchRefused("token_invalid")
    if claims.get(VERSION) != "1.3.0":
        raise LaunchRefused("unsupported_message")
    if claims.get(MESSAGE_TYPE) == RESOURCE_LINK_REQUEST:
        if not isinstance(claims.get(RESOURCE_LINK), dict) or not claims[RESOURCE_LINK].get("id"):
            raise LaunchRefused("unsupported_message")
    elif claims.get(MESSAGE_TYPE) == DEEP_LINKING_REQUEST:
        settings = claims.get(DL_SETTINGS)
        if (
            not isinstance(settings, dict)
            or not remote.allowed_url(str(settings.get("deep_link_return_url", "")))
            or "ltiResourceLink" not in (settings.get("accept_types") or [])
        ):
            raise LaunchRefused("unsupported_message")
    else:
        raise LaunchRefused("unsupported_message")
    deployment = claims.get(DEPLOYMENT_ID)
    if not isinstance(deployment, str) or not (
        platform.deployments.filter(deployment_id=deployment).exists()
    ):
        raise LaunchRefused("unknown_deployment")
    _use_nonce(str(claims["nonce"]))
    return Launch(platform=platform, claims=claims)


def _use_nonce(nonce: str) -> None:
    """Records the nonce; one seen before (a replay) is refused. Old ones are let go."""
    try:
        with transaction.atomic():
            LtiNonce.objects.create(nonce=nonce)
    except IntegrityError as error:
        raise LaunchRefused("replayed") from error
    LtiNonce.objects.filter(used_at__lt=timezone.now() - NONCE_KEPT).delete()


def deep_linking_response(
    *, platform: LtiPlatform, deployment_id: str, data: object, title: str, text: str
) -> str:
    """The signed ``LtiDeepLinkingResponse`` carrying one resource link to this tool, signed
    with our LTI key (published at ``/.well-known/jwks.json``)."""
    now = int(timezone.now().timestamp())
    claims: dict[str, Any] = {
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": now,
        "exp": now + 600,
        "nonce": secrets.token_urlsafe(24),
        MESSAGE_TYPE: DEEP_LINKING_RESPONSE,
        VERSION: "1.3.0",
        DEPLOYMENT_ID: deployment_id,
        DL_CLAIM + "content_items": [{"type": "ltiResourceLink", "title": title, "text": text}],
    }
    if data:
        claims[DL_CLAIM + "data"] = data
    key = services.signing_key_for(purpose="lti")
    return keys.sign_jwt(key, claims)
