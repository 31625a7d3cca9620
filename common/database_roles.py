"""Least privilege in PostgreSQL (RELIABILITY.md S14): who may do what to the database.

Two roles, created by the set-up (:func:`create_roles`, as a superuser: the embedded server's
``set_up``, ``manage.py database_roles``, docker-compose's ``db-setup``):

- the **owner** (``mastery_owner`` by default) owns the database and every table, function and
  sequence in it; migrations run as it (``manage.py migrate`` uses the ``owner`` connection when
  there is one: ``MIGRATION_DATABASE_URL``, or the embedded server);
- the **application** (``mastery_app``): the web tier, the workers and the commands. Not a
  superuser, owns nothing (so no ``ALTER TABLE``, no ``DISABLE TRIGGER``, no DDL), may not create
  in the schema, has no ``TRUNCATE`` anywhere, may not set ``session_replication_role``.

:func:`grant` (run as the owner after every migration, and by the set-up) gives the application
``SELECT, INSERT, UPDATE, DELETE`` on the ordinary tables and only ``SELECT, INSERT`` on the
append-only ones (:data:`APPEND_ONLY`): ratings, evidence and its history, the audit log, the
record of disclosures, mastery events, row versions. Their triggers (``mastery_refuse_change``,
common/migrations/0002) refuse UPDATE and DELETE to everyone, the owner included; the one way
past them is an erasure: ``mastery_begin_erasure(learner, login)``, a ``SECURITY DEFINER``
function owned by the owner, lets the transaction that called it delete that learner's rows and
no other (a setting any session can set, ``mastery.erasure``, did it before). For that the
application has ``DELETE`` on those tables, which the triggers refuse outside an erasure, and
``UPDATE`` of ``id`` on the two whose rows the services lock (``SELECT ... FOR UPDATE`` needs
it; the triggers refuse any update).
"""

from __future__ import annotations

from typing import Any, Final

# psycopg's sql module is imported where it is used: the settings import this module's names.

OWNER_ROLE: Final = "mastery_owner"
APP_ROLE: Final = "mastery_app"

# Append-only table -> how a row leads to its learner for an erasure: ("learner_id",) for a
# column of the row, (column, parent table) through the parent's learner_id. The audit log also
# goes by its actor (a student's own login). Kept in step with the registry by a test.
APPEND_ONLY: Final[dict[str, tuple[str, ...]]] = {
    "evidence_evidence": ("learner_id",),
    "evidence_evidencestatuschange": ("evidence_id", "evidence_evidence"),
    "evidence_evidenceremoval": ("evidence_id", "evidence_evidence"),
    "evidence_artifact": ("evidence_id", "evidence_evidence"),
    "evidence_reflection": ("evidence_id", "evidence_evidence"),
    "evidence_rating": ("learner_id",),
    "evidence_ratingremoval": ("rating_id", "evidence_rating"),
    "audit_auditentry": ("learner_id", "", "actor_id"),
    "audit_disclosure": ("learner_id",),
    "mastery_masteryevent": ("learner_id",),
    "common_rowversion": ("learner_id",),
}
# Append-only tables whose rows the services lock (SELECT ... FOR UPDATE needs UPDATE on a column).
LOCKED_ROWS: Final = ("evidence_evidence", "evidence_rating")
ERASURE_FUNCTIONS: Final = (
    "mastery_begin_erasure(bigint, bigint)",
    "mastery_end_erasure()",
    "mastery_erasing()",
    "mastery_may_erase(bigint, bigint)",
)


def role_exists(cursor: Any, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def create_roles(
    cursor: Any,
    *,
    database: str,
    owner: str = OWNER_ROLE,
    app: str = APP_ROLE,
    owner_password: str | None = None,
    app_password: str | None = None,
) -> None:
    """Create both login roles (or correct them) and make ``owner`` the database's owner.

    Run as a superuser, outside the database or in it. Idempotent; roles are cluster-wide and
    are never dropped here. The application role gets no superuser, database or role creation,
    replication or bypass of row security, and inherits nothing.
    """
    from psycopg import sql

    for role, password, extra in (
        (owner, owner_password, sql.SQL("")),
        (app, app_password, sql.SQL(" NOINHERIT")),
    ):
        attributes = sql.SQL(
            "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS{}"
        ).format(extra)
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found and found[0]:
            raise ValueError(f"{role} is a superuser: choose other role names for the platform")
        if found:
            cursor.execute(sql.SQL("ALTER ROLE {} ").format(sql.Identifier(role)) + attributes)
        else:
            cursor.execute(sql.SQL("CREATE ROLE {} ").format(sql.Identifier(role)) + attributes)
        if password:
            cursor.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
    cursor.execute(
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(database), sql.Identifier(owner)
        )
    )


def adopt_objects(cursor: Any, *, owner: str = OWNER_ROLE) -> int:
    """Give ``owner`` every table, sequence, view and function of the public schema that
    another role owns (a database made before the roles existed); returns how many. Run as a
    superuser in the database."""
    cursor.execute(
        """
        SELECT format('ALTER %%s %%s OWNER TO %%I',
                      CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                     WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                      c.oid::regclass, %s::text)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> %s::text
          AND NOT (c.relkind = 'S' AND EXISTS (
              SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
        UNION ALL
        SELECT format('ALTER ROUTINE %%s OWNER TO %%I', p.oid::regprocedure, %s::text)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s::text
        """,
        [owner, owner, owner, owner],
    )
    statements = [row[0] for row in cursor.fetchall()]
    for statement in statements:
        cursor.execute(statement)
    return len(statements)


def grant(cursor: Any, *, database: str, app: str = APP_ROLE) -> None:
    """The application's privileges on every object of the database (see the module's
    docstring). Run by the owner (or a superuser) in the database, after each migration."""
    from psycopg import sql

    app_id = sql.Identifier(app)
    statements = [
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), app_id
        ),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(app_id),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(app_id),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            app_id
        ),
        sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}").format(
            app_id
        ),
    ]
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relname = ANY(%s)",
        [list(APPEND_ONLY)],
    )
    present = {row[0] for row in cursor.fetchall()}
    for table in sorted(present):
        statements.append(
            sql.SQL("REVOKE UPDATE ON {} FROM {}").format(sql.Identifier(table), app_id)
        )
        if table in LOCKED_ROWS:
            statements.append(
                sql.SQL("GRANT UPDATE (id) ON {} TO {}").format(sql.Identifier(table), app_id)
            )
    cursor.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.proname LIKE 'mastery\\_%%eras%%'"
    )
    for (function,) in cursor.fetchall():
        statements.append(
            sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(sql.SQL(function))
        )
        statements.append(
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), app_id)
        )
    cursor.execute(
        "SELECT current_setting('server_version_num')::int >= 170000"
        " AND to_regclass('public.mastery_masteryrecord') IS NOT NULL"
    )
    row = cursor.fetchone()
    if row and row[0]:
        # The last batch of a bulk recompute refreshes the records' statistics (ANALYZE).
        statements.append(sql.SQL("GRANT MAINTAIN ON mastery_masteryrecord TO {}").format(app_id))
    for statement in statements:
        cursor.execute(statement)
