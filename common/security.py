"""Request-level security: idle sessions end, learner data is never cached, API throttles.

- :class:`IdleTimeoutMiddleware` signs a session out after ``SESSION_IDLE_TIMEOUT`` seconds
  without a request (the absolute limit stays ``SESSION_COOKIE_AGE``). The last activity is
  written to the session at most once a minute, so a busy page costs no extra write.
- :class:`NoStoreMiddleware` marks every response a view produced ``no-store`` unless the view
  chose a private cache policy itself; a ``public`` policy is never allowed for a signed-in user.
  Static files are served before it (WhiteNoise) and keep their long cache.
- API rate limits live in :mod:`common.throttling`.
- :class:`PermissionsPolicyMiddleware`: ``Permissions-Policy`` on every response.
- :func:`client_ip`: the address django-axes counts failed logins by; it trusts
  ``X-Forwarded-For`` only for the number of proxies ``TRUSTED_PROXY_COUNT`` says exist.

Logins themselves are throttled by django-axes (settings ``AXES_*``) through
:class:`LoginThrottle`: per account and address, and per account across all addresses; Django's
``login`` rotates the session key.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any, Final

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout, user_logged_in
from django.db.models import Sum
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


# No page needs a device or a powerful feature: every one is switched off for the page and any
# frame (a student's photo is chosen with the file input, which needs no permission).
PERMISSIONS_POLICY: Final = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "autoplay", "bluetooth", "browsing-topics", "camera",
        "display-capture", "encrypted-media", "geolocation", "gyroscope", "hid", "idle-detection",
        "magnetometer", "microphone", "midi", "payment", "publickey-credentials-get",
        "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
)  # fmt: skip


class PermissionsPolicyMiddleware:
    """Every response carries ``Permissions-Policy`` switching off the features no page uses."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
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


class LoginThrottle(AxesDatabaseHandler):  # type: ignore[misc]
    """django-axes' database handler, limiting each account across every address too.

    Axes locks a username from one address after ``AXES_FAILURE_LIMIT`` failures (locking a
    username everywhere at that count would let anyone lock a teacher out). Guessing one
    account from many addresses is bounded here as well: once the failures for the username
    from all addresses within the cool-off reach ``LOGIN_ACCOUNT_FAILURE_LIMIT`` (a higher
    number), the account is locked from every address until the cool-off has passed (an
    administrator can lift it: ``manage.py axes_reset_username``).
    """

    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        if super().is_locked(request, credentials):
            return True
        return _account_locked(request, credentials)

    def user_login_failed(
        self,
        sender: object,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        if (
            request is not None
            and not getattr(request, "axes_locked_out", False)
            and _account_locked(request, credentials)
        ):
            request.axes_locked_out = True  # type: ignore[attr-defined]
            request.axes_credentials = credentials  # type: ignore[attr-defined]
            logger.warning("login.account_locked")


def _account_locked(request: HttpRequest, credentials: dict[str, Any] | None) -> bool:
    username = get_client_username(request, credentials)
    if not username:
        return False
    failures = AccessAttempt.objects.filter(
        username=username, attempt_time__gte=get_cool_off_threshold(request)
    ).aggregate(total=Sum("failures_since_start"))["total"]
    return int(failures or 0) >= int(settings.LOGIN_ACCOUNT_FAILURE_LIMIT)
