"""S14: the application's database role cannot rewrite history; erasure still works as it.

The test suite connects as a superuser (it creates and empties test databases); these tests
create the platform's two roles (``common.database_roles``, idempotent: roles are cluster-wide
and never dropped) with their privileges on the test database, then act as the application:
through a login of its own (psycopg) for the refusals, and through ``SET ROLE`` on Django's
connection for the services (every write of a learner's whole record, then the erasure).
"""

from __future__ import annotations

# ruff: noqa: S608 (statements built from the tables' names, our own constants)
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from psycopg import errors

from common import database_roles
from common.database_roles import APP_ROLE, APPEND_ONLY, LOCKED_ROWS
from evidence.models import Rating
from privacy import selectors, services
from tests.evidence.conftest import Standards
from tests.personas import Cast
from tests.privacy.world import fill

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def roles() -> str:
    """Both roles exist and the application's privileges are granted on the test database."""
    name = str(connection.settings_dict["NAME"])
    with connection.cursor() as wrapper:
        database_roles.create_roles(wrapper.cursor, database=name)
        database_roles.grant(wrapper.cursor, database=name)
    return name


@contextmanager
def as_application() -> Iterator[None]:
    """Django's connection acts with the application role's privileges only."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {APP_ROLE}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def _application_login(database: str) -> psycopg.Connection[Any]:
    params = connection.get_connection_params()
    return psycopg.connect(
        host=params.get("host") or "127.0.0.1",
        port=params.get("port") or 5432,
        dbname=database,
        user=APP_ROLE,
        autocommit=False,
    )


def _counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in APPEND_ONLY:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = int(cursor.fetchone()[0])
    return counts


def _refused(app: psycopg.Connection[Any], *statements: str) -> type[Exception]:
    """Run the statements in one transaction; the last must fail. Returns the error's type."""
    try:
        for statement in statements:
            app.execute(statement)  # type: ignore[arg-type]
    except psycopg.Error as error:
        app.rollback()
        return type(error)
    app.rollback()
    raise AssertionError(f"not refused: {statements}")


def test_the_application_writes_history_but_cannot_rewrite_or_wipe_it(
    cast: Cast, standards: Standards, roots: tuple[Path, Path], roles: str
) -> None:
    with as_application():  # every service that writes a learner's record, as the application
        fill(cast, cast.own, standards, roots[1])
    before = _counts()
    assert all(before.values()), before
    own_rating = Rating.objects.filter(learner=cast.own).values_list("pk", flat=True)[0]
    denied, restricted = errors.InsufficientPrivilege, errors.RestrictViolation
    with _application_login(roles) as app:
        for table in APPEND_ONLY:
            update = restricted if table in LOCKED_ROWS else denied
            assert _refused(app, f"UPDATE {table} SET id = id") is update, table
            assert _refused(app, f"DELETE FROM {table}") is restricted, table
            assert _refused(app, f"TRUNCATE {table}") is denied, table
            assert _refused(app, f"ALTER TABLE {table} DISABLE TRIGGER ALL") is denied, table
        assert _refused(app, "SET session_replication_role = replica") is denied
        # The old way past the triggers, a setting any session may set, no longer opens them.
        assert (
            _refused(app, "SET LOCAL mastery.erasure = 'on'", "DELETE FROM evidence_rating")
            is restricted
        )
        # An erasure opens only the erased learner's rows.
        assert (
            _refused(
                app,
                f"SELECT mastery_begin_erasure({cast.same_section.pk}, NULL)",
                f"DELETE FROM evidence_rating WHERE id = {own_rating}",
            )
            is restricted
        )
        assert _refused(app, "CREATE TABLE rewritten (id int)") is denied
        assert _refused(app, "ALTER TABLE learners_learner ADD COLUMN x int") is denied
        assert (
            _refused(app, "DROP TRIGGER evidence_rating_append_only ON evidence_rating") is denied
        )
    assert _counts() == before


def test_erasure_as_the_application_still_removes_a_learner_completely(
    cast: Cast, standards: Standards, roots: tuple[Path, Path], roles: str
) -> None:
    fill(cast, cast.own, standards, roots[1])
    fill(cast, cast.same_section, standards, roots[1], tag="b")
    user_id = cast.own.user_id
    others = {
        entry: count for entry, count in selectors.remaining_rows(cast.same_section.pk).items()
    }
    with as_application():
        report = services.erase_learner(actor=None, learner_id=cast.own.pk)
    assert report.rows_removed > 0
    assert set(selectors.remaining_rows(cast.own.pk, user_id).values()) == {0}
    assert selectors.remaining_rows(cast.same_section.pk) == others
    with connection.cursor() as cursor:  # the erasure's note went with it
        cursor.execute("SELECT count(*) FROM mastery_erasure")
        assert cursor.fetchone() == (0,)


@pytest.mark.django_db
def test_every_append_only_table_and_only_those_have_the_guard() -> None:
    """The tables the roles treat as append-only are exactly those with the guard trigger, and
    every table of the evidence app (all history) is one of them."""
    from django.apps import apps

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = 'mastery_refuse_change'"
        )
        guarded = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*) FROM pg_proc WHERE prosrc LIKE %s"
            " AND proname <> 'mastery_refuse_change' AND proname NOT LIKE %s",
            ["%current_setting('mastery.erasure', true) = 'on'%", "mastery\\_%eras%"],
        )
        still_reading_the_setting = cursor.fetchone()[0]
    assert guarded == set(APPEND_ONLY)
    evidence_tables = {m._meta.db_table for m in apps.get_app_config("evidence").get_models()}
    assert evidence_tables <= guarded
    assert still_reading_the_setting == 0
