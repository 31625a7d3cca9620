"""Request-level security: idle sessions end, learner data is never cached, API throttles.

- :class:`IdleTimeoutMiddleware` signs a session out after ``SESSION_IDLE_TIMEOUT`` seconds
  without a request (the absolute limit stays ``SESSION_COOKIE_AGE``). The last activity is
  written to the session at most once a minute, so a busy page costs no extra write.
- :class:`NoStoreMiddleware` marks every response a view produced ``no-store`` unless the view
  chose a private cache policy itself; a ``public`` policy is never allowed for a signed-in user.
  Static files are served before it (WhiteNoise) and keep their long cache.
- API rate limits live in :mod:`common.throttling`.
- :func:`client_ip`: the address django-axes counts failed logins by; it trusts
  ``X-Forwarded-For`` only for the number of proxies ``TRUSTED_PROXY_COUNT`` says exist.

Logins themselves are throttled by django-axes (settings ``AXES_*``); Django's ``login`` rotates
the session key.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any, Final

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout, user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger(__name__)

LAST_ACTIVITY_KEY: Final = "_last_activity"
# Writing the session on every request would cost an UPDATE per page; a minute is precise enough
# for a timeout counted in minutes.
ACTIVITY_GRANULARITY: Final = 60


def _now() -> int:
    return int(timezone.now().timestamp())


@receiver(user_logged_in, dispatch_uid="common.security.mark_login_activity")
def mark_login_activity(sender: object, request: HttpRequest | None, **_: Any) -> None:
    """A new session starts active (so its first request does not need to write)."""
    if request is not None and hasattr(request, "session"):
        request.session[LAST_ACTIVITY_KEY] = _now()


class IdleTimeoutMiddleware:
    """Signs out a session that has been idle longer than ``settings.SESSION_IDLE_TIMEOUT``.

    The request then continues as anonymous: pages send it to the login page, the API answers
    401/403, exactly as for any signed-out visitor. Token-authenticated API calls carry no
    session and are not affected.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session:
            now = _now()
            last = session.get(LAST_ACTIVITY_KEY)
            if isinstance(last, int) and now - last > settings.SESSION_IDLE_TIMEOUT:
                logger.info("session.idle_timeout", extra={"idle_seconds": now - last})
                logout(request)
                request.session_idle_expired = True  # type: ignore[attr-defined]
            elif not isinstance(last, int) or now - last >= ACTIVITY_GRANULARITY:
                session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)


class NoStoreMiddleware:
    """No browser or proxy keeps a copy of a dynamic response (learner data above all).

    A response without a ``Cache-Control`` header gets Django's never-cache headers
    (``no-store``); one the view marked ``private`` (e.g. a versioned stylesheet) keeps its
    policy; any other policy on a signed-in user's response is replaced by never-cache.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = response.get("Cache-Control", "")
        if not policy:
            add_never_cache_headers(response)
        elif "no-store" not in policy and "private" not in policy and _signed_in(request):
            del response["Cache-Control"]
            add_never_cache_headers(response)
        return response


def _signed_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind ``TRUSTED_PROXY_COUNT`` proxies the
    address that many hops back in ``X-Forwarded-For`` (the part a client cannot forge)."""
    remote = request.META.get("REMOTE_ADDR")
    hops: int = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        return remote
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
