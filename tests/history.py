"""Test helper for "as of" tests: move the row versions written so far back in time.

Row versions are written by a PostgreSQL trigger with the writing transaction's time, and a test
runs in one transaction: everything a test sets up is versioned at the same instant. A test of
"as of D" sets up the world, calls :func:`settle_versions` (the world has stood like this since
``since``), then makes its later changes, which are versioned at the test's own time.
"""

from __future__ import annotations

import datetime

from django.db import connection, transaction

from common.history import TABLE


def settle_versions(since: datetime.datetime) -> int:
    """Every row version written so far becomes valid from ``since``; returns how many. The
    versions are append-only to the application: the test suite, connected as a superuser,
    switches triggers off for this one statement (``session_replication_role``, which the
    application's role may not set)."""
    # In a transaction of its own when none is open (a test with committed data): SET LOCAL
    # lasts until the end of the transaction it runs in.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        try:
            cursor.execute(
                f"UPDATE {TABLE} SET valid_from = %s WHERE valid_from > %s",  # noqa: S608
                [since, since],
            )
            return int(cursor.rowcount)
        finally:
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
