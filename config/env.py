"""Reading settings from the environment, failing at start-up with the variable's name.

django-environ parses the values; this module adds the strictness it lacks (a boolean such as
``DEBUG=maybe`` or a database URL with an unknown scheme stops start-up with a clear message).
"""

from __future__ import annotations

import os
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Settings:
    """Typed accessors over ``os.environ`` that name the variable in every error."""

    def __init__(self) -> None:
        self._env = environ.Env()
        self.names_read: set[str] = set()  # every variable the settings asked for

    def _raw(self, name: str) -> str:
        self.names_read.add(name)
        return os.environ.get(name, "").strip()

    def is_set(self, name: str) -> bool:
        return bool(self._raw(name))

    def string(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._raw(name).lower()
        if not raw:
            return default
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false")

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        raw = self._raw(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
        if value < minimum:
            raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
        return value

    def strings(self, name: str, default: list[str]) -> list[str]:
        raw = self._raw(name)
        if not raw:
            return default
        return [item.strip() for item in raw.split(",") if item.strip()]

    def database(self, name: str) -> dict[str, Any]:
        """A PostgreSQL database URL (the only engine: ADR 0001)."""
        raw = self._raw(name)
        scheme = raw.split("://", 1)[0] if "://" in raw else ""
        if scheme not in {"postgres", "postgresql", "pgsql"}:
            raise ImproperlyConfigured(
                f"{name} must be a postgres:// URL, got scheme {scheme or 'none'!r}"
            )
        try:
            config: dict[str, Any] = self._env.db_url_config(raw)
        except Exception as exc:  # django-environ raises several types for malformed URLs
            raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
        if not config.get("NAME"):
            raise ImproperlyConfigured(f"{name} names no database (add /dbname to the URL)")
        return config

    def redis_url(self, name: str) -> str:
        raw = self._raw(name)
        if raw and not raw.startswith(("redis://", "rediss://")):
            raise ImproperlyConfigured(f"{name} must start with redis:// or rediss://")
        return raw


env = Settings()
