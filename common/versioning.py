"""SQL that puts a table under row versioning (used by the migrations that version a table).

``versioned_table_sql(table, columns, learner_column)`` installs the ``common_version_row``
trigger on ``table`` (an AFTER row trigger: every insert, every update that changes one of
``columns``, every delete appends a ``common.RowVersion``) and writes a first version of every
row already there, valid from its ``created_at`` when the table has one (else 2000-01-01): what
was there before versioning is taken as having been so since it was created.
"""

from __future__ import annotations

from collections.abc import Sequence

# ruff: noqa: S608 (table and column names are the migrations' own constants)


def versioned_table_sql(
    table: str, columns: Sequence[str], learner_column: str = "", *, created_at: bool = True
) -> tuple[str, str]:
    """(forward SQL, reverse SQL) for a migration's ``RunSQL``."""
    tracked = ",".join(columns)
    trigger = f"{table}_versions"
    since = "t.created_at" if created_at else "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
    learner = f"t.{learner_column}" if learner_column else "NULL"
    forward = (
        f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION common_version_row('{tracked}', '{learner_column}');"
        f" INSERT INTO common_rowversion (table_name, row_id, learner_id, valid_from, deleted,"
        f" data) SELECT '{table}', t.id, {learner}, {since}, false,"
        f" (SELECT COALESCE(jsonb_object_agg(key, value), '{{}}'::jsonb)"
        f" FROM jsonb_each(to_jsonb(t)) WHERE key = ANY(string_to_array('{tracked}', ',')))"
        f" FROM {table} t;"
    )
    reverse = f"DROP TRIGGER IF EXISTS {trigger} ON {table};"
    return forward, reverse
