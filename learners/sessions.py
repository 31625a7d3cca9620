"""Ending the stored sessions of users whose login was deactivated (RELIABILITY.md S4).

A deactivated user is already refused on their next request (Django's auth backends reject
inactive users, and every selector returns nothing for them); deleting their sessions as well
leaves no live session key behind that a later reactivation would revive.

Sessions are Django's (``SESSION_ENGINE``): the database backends keep the user id inside the
signed session data, so the rows are decoded one by one (tens of microseconds each) in one pass
for however many users are deactivated together.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session

logger = logging.getLogger(__name__)


def stored_in_database() -> bool:
    """Whether the session engine keeps its sessions in the database (Django's ``db`` and
    ``cached_db`` stores, ``identity.sessions``): rows that can be found and deleted."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return issubclass(store, db.SessionStore)


def end_sessions(user_ids: Collection[int]) -> int:
    """Deletes every stored session of these users; returns how many were deleted."""
    wanted = {str(pk) for pk in user_ids}
    if not wanted:
        return 0
    if not stored_in_database():
        # Signed-cookie (or cache-only) sessions keep nothing searchable on the server; the
        # auth backend's refusal of inactive users is then what ends them.
        return 0
    store = import_module(settings.SESSION_ENGINE).SessionStore
    decoder = store()
    keys = [
        key
        for key, data in Session.objects.values_list("session_key", "session_data").iterator(
            chunk_size=2000
        )
        if str(decoder.decode(data).get(SESSION_KEY, "")) in wanted
    ]
    for key in keys:
        store(session_key=key).delete()  # the row, and the cache entry for cached_db
    if keys:
        logger.info("sessions ended", extra={"sessions": len(keys), "users": len(wanted)})
    return len(keys)
