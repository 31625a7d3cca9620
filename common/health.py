"""Health checks for ``/healthz``: each returns ``None`` when healthy, or what failed."""

from __future__ import annotations

import os

from django.conf import settings
from django.db import connection


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means the database is not usable
        return f"database unreachable ({type(exc).__name__})"
    return None


def check_broker() -> str | None:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # Embedded default: the messages are files in a folder; it must take new ones.
        folder = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        if not os.access(folder, os.W_OK):
            return "broker folder not writable"
        return None
    import redis

    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
        )
        client.ping()
    except Exception as exc:  # any client error means the broker is not usable
        return f"broker unreachable ({type(exc).__name__})"
    return None


CHECKS = {"database": check_database, "broker": check_broker}


def run_checks() -> dict[str, str]:
    """Runs every check; returns ``{name: "ok" or the failure}``."""
    return {name: (check() or "ok") for name, check in CHECKS.items()}
