"""Signing a person in from a verified identity (single sign-on or an LTI launch): one path.

The identifier is matched against the roster of the organisation the provider or platform
belongs to (``identity.selectors.match_roster_user``); nobody is created from a claim. The
match goes through Django's ``authenticate`` so django-axes applies its lockout (keyed by a
hash of the identifier and the client address, so the identifier itself is never stored or
logged) and counts refusals as failures; Django's ``login`` rotates the session. Every attempt
leaves an audit entry (``signin.sso`` / ``signin.lti``, allowed or denied, with the outcome).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from django.contrib.auth import authenticate, login
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from audit.services import record_access
from identity import selectors
from learners.models import Organisation

logger = logging.getLogger(__name__)

BACKEND: Final = "identity.backends.SingleSignOnBackend"
LOCKED: Final = "locked"


@dataclass(frozen=True)
class SignIn:
    outcome: str  # ok, unknown, deactivated, ambiguous, locked
    user: User | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == selectors.OK


def lock_key(via: str, source_id: int, identifier: str) -> str:
    """What django-axes counts failures under: the identifier never leaves this process."""
    digest = salted_hmac(
        "identity.signin.lock", identifier.strip().lower(), algorithm="sha256"
    ).hexdigest()[:24]
    return f"{via}:{source_id}:{digest}"


def sign_in(
    request: HttpRequest,
    *,
    organisation: Organisation,
    match_on: str,
    identifier: object,
    via: str,
    object_type: str,
    source_id: int,
) -> SignIn:
    """Signs the matched login in on this request, or says why not."""
    text = identifier if isinstance(identifier, str) else ""
    match = selectors.match_roster_user(organisation=organisation, match_on=match_on, value=text)
    candidate = match.user if match.outcome == selectors.OK else None
    user = authenticate(request, username=lock_key(via, source_id, text), sso_user=candidate)
    if getattr(request, "axes_locked_out", False):
        outcome = LOCKED
    elif isinstance(user, User):
        outcome = selectors.OK
    elif match.outcome == selectors.OK:
        outcome = selectors.DEACTIVATED  # the backend refused it (inactive since the match)
    else:
        outcome = match.outcome
    allowed = outcome == selectors.OK and isinstance(user, User)
    if allowed:
        login(request, user, backend=BACKEND)
    record_access(
        actor=user if allowed else match.user,
        action=f"signin.{via}",
        allowed=allowed,
        object_type=object_type,
        object_id=source_id,
        detail={"outcome": outcome},
    )
    logger.info("sign-in", extra={"via": via, "source": source_id, "outcome": outcome})
    return SignIn(outcome, user if allowed else None)
