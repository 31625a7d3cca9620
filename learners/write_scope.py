# Table names are the models' own constants; every value is a parameter.
# ruff: noqa: S608
"""Staff write checks of a few ids in one plain SQL statement, for hot write paths.

The same rules as :func:`learners.selectors.changeable_learners` and
:func:`learners.selectors.changeable_sections` (current rows only, active users, the operator
changes everything, the union of roles), written as SQL so that a request checking the few
learners and the section of a quick entry does not build the role querysets, which cost more
CPU to compose than the request's own writes (``bench/latency.py``, docs/performance.md).
``tests/evidence/test_scope_checks.py`` holds them equal to the selectors for every persona.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection

from learners.models import (
    ADMIN_ROLES,
    Enrollment,
    Learner,
    Organisation,
    RoleAssignment,
    RoleKind,
    Section,
)
from learners.selectors import AnyUser, today

# Table names are the models' own; every value is a parameter.
_LEARNER = Learner._meta.db_table
_SECTION = Section._meta.db_table
_ENROLLMENT = Enrollment._meta.db_table
_ASSIGNMENT = RoleAssignment._meta.db_table
_ORGANISATION = Organisation._meta.db_table


def _current(alias: str) -> str:
    """``learners.selectors.current_q`` on table ``alias`` (parameter ``today``)."""
    return (
        f"({alias}.begin_date IS NULL OR {alias}.begin_date <= %(today)s)"
        f" AND ({alias}.end_date IS NULL OR {alias}.end_date >= %(today)s)"
    )


def _administers(school: str) -> str:
    """EXISTS: a current admin assignment of the user at ``school`` (an SQL expression) or one
    of its two ancestors (``selectors._self_or_below`` read upwards)."""
    return (
        f"EXISTS (SELECT 1 FROM {_ORGANISATION} o LEFT JOIN {_ORGANISATION} p ON p.id = o.parent_id"
        f" JOIN {_ASSIGNMENT} ra ON ra.organisation_id IN (o.id, o.parent_id, p.parent_id)"
        f" WHERE o.id = {school} AND ra.user_id = %(user)s AND ra.kind = ANY(%(admin)s)"
        f" AND {_current('ra')})"
    )


def _teaches(section: str) -> str:
    """A current teacher assignment of the user on ``section`` (an SQL expression)."""
    return (
        f"ra.section_id = {section} AND ra.user_id = %(user)s AND ra.kind = %(teacher)s"
        f" AND {_current('ra')}"
    )


def _active(user: AnyUser | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def _params(user: AnyUser) -> dict[str, Any]:
    return {
        "user": int(str(user.pk)),
        "today": today(),
        "admin": sorted(str(kind) for kind in ADMIN_ROLES),
        "teacher": RoleKind.TEACHER.value,
    }


def changeable_learner_condition(user: AnyUser | None, alias: str) -> tuple[str, dict[str, Any]]:
    """``changeable_learners(user)`` as an SQL condition on learners ``alias`` with its named
    parameters, for a statement that joins many learners at once (the ratings import)."""
    if user is None or not _active(user):
        return "false", {}
    if getattr(user, "is_superuser", False):
        return "true", {}
    return (
        f"(EXISTS (SELECT 1 FROM {_ENROLLMENT} e JOIN {_ASSIGNMENT} ra"
        f" ON {_teaches('e.section_id')} WHERE e.learner_id = {alias}.id AND {_current('e')})"
        f" OR {_administers(f'{alias}.school_id')})",
        _params(user),
    )


def changeable_learner_schools(user: AnyUser | None, learner_ids: Iterable[int]) -> dict[int, int]:
    """The learners among ``learner_ids`` that ``changeable_learners(user)`` holds, with their
    school id."""
    ids = sorted({int(pk) for pk in learner_ids})
    if not ids:
        return {}
    condition, params = changeable_learner_condition(user, "l")
    if condition == "false":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.id, l.school_id FROM {_LEARNER} l WHERE l.id = ANY(%(ids)s) AND {condition}",
            {**params, "ids": ids},
        )
        return {int(row[0]): int(row[1]) for row in cursor.fetchall()}


def changeable_section_enrolled(
    user: AnyUser | None, section_id: int, learner_ids: Iterable[int]
) -> set[int] | None:
    """None unless ``changeable_sections(user)`` holds the section; else which of
    ``learner_ids`` are currently enrolled in it."""
    if user is None or not _active(user):
        return None
    allowed = "true"
    if not getattr(user, "is_superuser", False):
        allowed = (
            f"(EXISTS (SELECT 1 FROM {_ASSIGNMENT} ra WHERE {_teaches('s.id')})"
            f" OR {_administers('s.school_id')})"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {allowed}, ARRAY(SELECT DISTINCT e.learner_id FROM {_ENROLLMENT} e"
            f" WHERE e.section_id = s.id AND e.learner_id = ANY(%(ids)s) AND {_current('e')})"
            f" FROM {_SECTION} s WHERE s.id = %(section)s",
            {
                **_params(user),
                "ids": sorted({int(pk) for pk in learner_ids}),
                "section": int(section_id),
            },
        )
        row = cursor.fetchone()
    if row is None or not row[0]:
        return None
    return {int(pk) for pk in row[1]}
