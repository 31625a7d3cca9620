"""API rate limits (DRF throttles) that read their rates from settings and fail open.

``AnonThrottle`` counts requests without a login per client address, ``UserThrottle`` per user
or token. Rates come from ``settings.API_THROTTLE_RATES`` when a request is throttled (so a
test or an operator's change applies without re-importing DRF). When the cache (Redis) is down
the request is served: losing Redis must never turn an API call into a 500 (RELIABILITY.md R4).
After such a failure the throttles leave the cache alone for ``CACHE_BACKOFF_SECONDS`` (every
request is served at once meanwhile): a Redis that hangs rather than refuses would otherwise cost
every API request the cache's read timeout (R11: the web tier answers in under a second).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Final

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

CACHE_BACKOFF_SECONDS: Final = 3.0
_cache_down_until = 0.0


def cache_recently_down() -> bool:
    """True while the throttles are leaving the cache alone after it failed."""
    return time.monotonic() < _cache_down_until


def forget_cache_failures() -> None:
    """Use the cache again at the next request (tests; a process that knows it is back)."""
    global _cache_down_until
    _cache_down_until = 0.0


class _SettingsRate:
    """Rates come from ``settings.API_THROTTLE_RATES`` when the request is throttled, so a test
    (or an operator's settings change) takes effect without re-importing DRF."""

    scope: str

    def get_rate(self) -> str | None:
        rates: dict[str, str] = settings.API_THROTTLE_RATES
        return rates.get(self.scope)

    def allow_request(self, request: Request, view: APIView) -> bool:
        global _cache_down_until
        if cache_recently_down():
            return True
        try:
            return bool(super().allow_request(request, view))  # type: ignore[misc]
        except Exception:  # the cache is down: serve the request rather than fail it
            _cache_down_until = time.monotonic() + CACHE_BACKOFF_SECONDS
            logger.warning("throttle.cache_unavailable", extra={"scope": self.scope})
            return True


class AnonThrottle(_SettingsRate, AnonRateThrottle):
    """Requests without a login, per client address (``API_THROTTLE_ANON``)."""

    scope = "anon"


class UserThrottle(_SettingsRate, UserRateThrottle):
    """Requests of one signed-in user or token, whatever the address (``API_THROTTLE_USER``)."""

    scope = "user"
