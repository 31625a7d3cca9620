"""Documents we fetch from other parties (discovery documents, key sets), cached.

Only ``https`` addresses are fetched (no redirects, at most 512 KiB), or ``http`` on the
loopback interface (a provider run on
the same machine, as the tests do). Answers are cached in the Django cache (Redis in
production) for ``REMOTE_CACHE_SECONDS``; a key set is fetched again at once when a message
names a key id it does not hold (the other side rotated). When the cache is down the document
is fetched directly (RELIABILITY.md R4: losing Redis must not break sign-in).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from django.core.cache import cache

logger = logging.getLogger(__name__)

REMOTE_CACHE_SECONDS: Final = 3600
TIMEOUT: Final = (3.05, 10)  # connect, read (seconds)
MAX_BYTES: Final = 512 * 1024


class RemoteError(Exception):
    """A document could not be fetched or read; the message names what, never its content."""


def allowed_url(url: str) -> bool:
    """``https``, or ``http`` on a loopback address."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _cache_key(url: str) -> str:
    return "identity:remote:" + hashlib.sha256(url.encode()).hexdigest()


def fetch_json(url: str, *, what: str, fresh: bool = False) -> dict[str, Any]:
    """The JSON object at ``url`` (from the cache unless ``fresh``); ``RemoteError`` otherwise."""
    if not allowed_url(url):
        raise RemoteError(f"The {what} address must use https.")
    key = _cache_key(url)
    if not fresh:
        try:
            cached = cache.get(key)
        except Exception:
            cached = None
        if isinstance(cached, dict):
            return cached
    try:
        # No redirects (a document must be where its issuer says), read at most MAX_BYTES.
        with requests.get(
            url, timeout=TIMEOUT, headers={"Accept": "application/json"},
            allow_redirects=False, stream=True,
        ) as response:  # fmt: skip
            if response.status_code != 200:
                raise ValueError(f"status {response.status_code}")
            body = response.raw.read(MAX_BYTES + 1, decode_content=True)
        if len(body) > MAX_BYTES:
            raise RemoteError(f"The {what} is larger than {MAX_BYTES} bytes.")
        document = json.loads(body)
    except (requests.RequestException, ValueError, OSError) as error:
        logger.warning(
            "remote document unavailable", extra={"what": what, "error": type(error).__name__}
        )
        raise RemoteError(f"The {what} could not be fetched.") from error
    if not isinstance(document, dict):
        raise RemoteError(f"The {what} is not a JSON object.")
    with contextlib.suppress(Exception):  # the cache is an optimisation only
        cache.set(key, document, REMOTE_CACHE_SECONDS)
    return document
