"""Who a report covers: learners read in id-ordered pages (``CHUNK_LEARNERS`` at a time).

A report of a past day reads the roster as it stood at the end of that day (``at``: the
learners' school, grade and active flag from their row versions, through ``learners.
selectors``; their names and ids as they are now, since those name a person); a report of
today (``at`` None) reads the live table. What each must master is the mastery core's
(``mastery.core.RequirementPlan``, re-exported here for the reports).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Final, NamedTuple

from django.db.models import QuerySet

from learners.models import Learner
from learners.selectors import (
    Placement,
    active_learner_page_as_of,
    active_learners,
    placements_as_of,
    roster_changed_after,
)
from mastery.core import POWER, Required, RequirementPlan, StandardInfo

__all__ = [
    "CHUNK_LEARNERS",
    "POWER",
    "LearnerRow",
    "Required",
    "RequirementPlan",
    "StandardInfo",
    "active_learner_pages",
    "learner_pages",
    "learner_rows",
]

CHUNK_LEARNERS: Final = 2000


class LearnerRow(NamedTuple):
    """A learner as a report lists them (a named tuple: a report reads 100,000 of them, and a
    frozen dataclass took four times as long to make)."""

    id: int
    school_id: int
    grade_level: str
    state_student_id: str
    local_id: str
    name: str
    family_name: str = ""


_COLUMNS: Final = (
    "pk",
    "school_id",
    "grade_level",
    "state_student_id",
    "local_id",
    "given_name",
    "preferred_name",
    "family_name",
)


def _row(
    pk: int, school: int, grade: str, ssid: str, local: str, given: str, preferred: str, family: str
) -> LearnerRow:
    return LearnerRow(pk, school, grade, ssid, local, f"{preferred or given} {family}", family)


def learner_pages(
    learners: QuerySet[Learner], size: int = CHUNK_LEARNERS
) -> Iterator[list[LearnerRow]]:
    """``learners`` in id order, ``size`` at a time (keyset pages: no OFFSET, no id list, and
    no server-side cursor, which a pooler in transaction mode would lose between pages)."""
    after = 0
    base = learners.order_by("pk").values_list(*_COLUMNS)
    while True:
        page = [_row(*values) for values in base.filter(pk__gt=after)[:size]]
        if not page:
            return
        yield page
        after = page[-1].id


def _placed(placements: list[Placement]) -> list[LearnerRow]:
    """Rows of placed learners: their school and grade as placed, their names and ids as they
    are now (one query)."""
    now = {
        values[0]: _row(*values)
        for values in Learner.objects.filter(pk__in=[p.learner_id for p in placements]).values_list(
            *_COLUMNS
        )
    }
    return [
        now[p.learner_id]._replace(school_id=p.school_id, grade_level=p.grade_level)
        for p in placements
        if p.learner_id in now
    ]


def active_learner_pages(
    school_ids: list[int], at: datetime.datetime | None, size: int = CHUNK_LEARNERS
) -> Iterator[list[LearnerRow]]:
    """The learners active at one of ``school_ids`` at ``at`` (None: now), in id order, ``size``
    at a time, with their school and grade then. When no learner row changed since ``at`` the
    live table is read, one query per page; else two (placements then, names now)."""
    if at is None or not roster_changed_after(at):
        yield from learner_pages(active_learners(school_ids), size)
        return
    after = 0
    while placements := active_learner_page_as_of(school_ids, at, after=after, size=size):
        yield _placed(placements)
        after = placements[-1].learner_id


def learner_rows(learner_ids: list[int], at: datetime.datetime | None) -> list[LearnerRow]:
    """The learners of ``learner_ids`` (id order) with their school and grade at ``at`` (None:
    now); a learner not yet on the roster then is left out. Two queries at most."""
    if at is None:
        learners = Learner.objects.filter(pk__in=learner_ids)
        return [row for page in learner_pages(learners) for row in page]
    placed = placements_as_of(learner_ids, at)
    return _placed([placed[pk] for pk in sorted(placed)])
