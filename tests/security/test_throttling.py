"""The API throttles users and anonymous callers, from settings, and fails open without Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from common import throttling
from tests.personas import Cast, cast

__all__ = ["cast"]


@pytest.fixture
def rates(settings: Any) -> Iterator[dict[str, str]]:
    cache.clear()
    throttling.forget_cache_failures()
    settings.API_THROTTLE_RATES = {"anon": "2/minute", "user": "3/minute"}
    yield settings.API_THROTTLE_RATES
    throttling.forget_cache_failures()


def test_a_user_beyond_the_rate_gets_429_with_retry_after(cast: Cast, rates: object) -> None:
    client = APIClient()
    client.force_authenticate(cast.teacher)
    answers = [client.get("/api/v1/learners/").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    refused = client.get("/api/v1/learners/")
    assert int(refused["Retry-After"]) > 0
    # Another user has their own allowance.
    other = APIClient()
    other.force_authenticate(cast.co_teacher)
    assert other.get("/api/v1/learners/").status_code == 200


def test_anonymous_callers_are_throttled_by_address(db: None, rates: object) -> None:
    # Anonymous calls to data endpoints are refused before any throttle (403); the public
    # endpoints (schema, docs) are throttled per address.
    answers = [APIClient().get("/api/docs/").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    elsewhere = APIClient(REMOTE_ADDR="10.9.9.9")
    assert elsewhere.get("/api/docs/").status_code == 200


def test_the_throttle_fails_open_when_the_cache_is_down(
    cast: Cast, rates: object, settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2},
        }
    }
    client = APIClient()
    client.force_authenticate(cast.teacher)
    assert not throttling.cache_recently_down()
    assert [client.get("/api/v1/learners/").status_code for _ in range(5)] == [200] * 5
    # After the first failure the throttles leave the cache alone for a while: a Redis that
    # hangs instead of refusing costs one request its timeout, not every request.
    assert throttling.cache_recently_down()
