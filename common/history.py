"""Reading row versions: tables as they stood at a moment (ADR 8, "as of" means as it stood).

The ``common_version_row`` trigger (migration ``common.0001``; installed per table by
``common.versioning``) appends a ``RowVersion`` for every insert, every update of a tracked
column and every delete of a versioned table, valid from the writing transaction's time. A row
as it stood at T is its latest version valid from T or before, unless that version is its
deletion. Versioned tables and their tracked columns are listed in the migrations that version
them (``learners.0002``, ``standards.0003``); ``VERSIONED`` names them for the readers.

Values come back as JSON: ids and whole numbers as ``int``, decimals as ``Decimal`` (never a
float), dates and times as ISO text (``as_date`` / ``as_datetime`` read them).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from django.db import connection
from django.utils.dateparse import parse_date, parse_datetime

from common.models import RowVersion

TABLE: Final = RowVersion._meta.db_table
VERSIONED: Final = frozenset(
    {
        "learners_organisation",
        "learners_learner",
        "learners_enrollment",
        "standards_requirement",
        "standards_electivegroup",
        "standards_electivegroup_standards",
        "standards_electivechoice",
        "standards_calculationpolicy",
        "standards_proficiencyscale",
        "standards_scalelevel",
        "standards_standard",
    }
)

type Row = dict[str, Any]


def _check(table: str) -> str:
    if table not in VERSIONED:
        raise ValueError(f"{table} is not a versioned table")
    return table


def _load(text: str) -> Row:
    value = json.loads(text, parse_float=Decimal)
    return value if isinstance(value, dict) else {}


def latest_versions_sql(*, row_filter: str = "") -> str:
    """The latest version of every row of ``%(table)s`` valid at ``%(at)s`` (deleted rows
    included, as ``deleted``): ``row_id, deleted, data``. ``row_filter`` narrows the rows
    (SQL on ``v``) before picking, e.g. ``AND v.row_id > %(after)s``."""
    return (
        f"SELECT DISTINCT ON (v.row_id) v.row_id, v.deleted, v.data FROM {TABLE} v"  # noqa: S608
        f" WHERE v.table_name = %(table)s AND v.valid_from <= %(at)s {row_filter}"
        " ORDER BY v.row_id, v.valid_from DESC, v.id DESC"
    )


def rows_as_of(
    table: str,
    at: datetime.datetime,
    *,
    row_ids: Iterable[int] | None = None,
    learner_ids: Iterable[int] | None = None,
) -> dict[int, Row]:
    """Row id -> the tracked columns of every row of ``table`` as it stood at ``at``: rows
    created later, or deleted by then, are absent. One query (``row_ids`` narrows it, and
    ``learner_ids`` to the rows about those learners, through the versions' learner index)."""
    params: dict[str, Any] = {"table": _check(table), "at": at}
    row_filter = ""
    if row_ids is not None:
        params["ids"] = sorted(set(row_ids))
        row_filter = "AND v.row_id = ANY(%(ids)s)"
    if learner_ids is not None:
        params["learners"] = sorted(set(learner_ids))
        row_filter += " AND v.learner_id = ANY(%(learners)s)"
    latest = latest_versions_sql(row_filter=row_filter)
    sql = (
        f"SELECT latest.row_id, latest.data::text FROM ({latest}) AS latest"  # noqa: S608
        " WHERE NOT latest.deleted"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(row_id): _load(data) for row_id, data in cursor.fetchall()}


def live_rows(table: str) -> dict[int, Row]:
    """Row id -> every column of every row of ``table`` as it is now, in the form of its
    versions (``to_jsonb`` of the row, as the trigger writes them): readers of versions read the
    live table the same way. One query."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t.id, to_jsonb(t)::text FROM {_check(table)} t")  # noqa: S608
        return {int(row_id): _load(data) for row_id, data in cursor.fetchall()}


def changed_after(tables: Iterable[str], at: datetime.datetime) -> bool:
    """Whether any row of ``tables`` changed after ``at`` (then the live tables are not what
    stood at ``at``; when nothing changed they are, and are cheaper to read)."""
    names = sorted({_check(table) for table in tables})
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {TABLE} WHERE table_name = ANY(%s)"  # noqa: S608
            " AND valid_from > %s)",
            [names, at],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def backdate_versions(since: datetime.datetime) -> int:
    """Seeded data (the demo's term, loaded today) as having stood since ``since``: every row
    standing now whose first version is later than ``since`` gets its current version again,
    valid from ``since``. Appends only (the versions stay append-only); rows with a version at
    or before ``since`` are left alone, so a second call adds nothing. Returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (table_name, row_id, learner_id, valid_from, deleted, data)"  # noqa: S608
            " SELECT v.table_name, v.row_id, v.learner_id, %(since)s, false, v.data FROM"
            " (SELECT DISTINCT ON (table_name, row_id) table_name, row_id, learner_id, deleted,"
            f" data FROM {TABLE} ORDER BY table_name, row_id, valid_from DESC, id DESC) v"
            " WHERE NOT v.deleted AND NOT EXISTS (SELECT 1 FROM"
            f" {TABLE} o WHERE o.table_name = v.table_name AND o.row_id = v.row_id"
            " AND o.valid_from <= %(since)s)",
            {"since": since},
        )
        return int(cursor.rowcount)


def as_date(value: object) -> datetime.date | None:
    return None if value is None else parse_date(str(value))


def as_datetime(value: object) -> datetime.datetime | None:
    return None if value is None else parse_datetime(str(value))
