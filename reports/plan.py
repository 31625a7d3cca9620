"""Who a report covers: learners read in id-ordered pages (``CHUNK_LEARNERS`` at a time).

What each must master is the mastery core's (``mastery.core.RequirementPlan``, re-exported here
for the reports).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from django.db.models import QuerySet

from learners.models import Learner
from mastery.core import POWER, Required, RequirementPlan, StandardInfo

__all__ = [
    "CHUNK_LEARNERS",
    "POWER",
    "LearnerRow",
    "Required",
    "RequirementPlan",
    "StandardInfo",
    "learner_pages",
]

CHUNK_LEARNERS: Final = 2000


@dataclass(frozen=True)
class LearnerRow:
    id: int
    school_id: int
    grade_level: str
    state_student_id: str
    local_id: str
    name: str
    family_name: str = ""


def learner_pages(
    learners: QuerySet[Learner], size: int = CHUNK_LEARNERS
) -> Iterator[list[LearnerRow]]:
    """``learners`` in id order, ``size`` at a time (keyset pages: no OFFSET, no id list)."""
    after = 0
    base = learners.order_by("pk").values_list(
        "pk",
        "school_id",
        "grade_level",
        "state_student_id",
        "local_id",
        "given_name",
        "preferred_name",
        "family_name",
    )
    while True:
        page = [
            LearnerRow(
                id=pk,
                school_id=school_id,
                grade_level=grade,
                state_student_id=ssid,
                local_id=local_id,
                name=f"{preferred or given} {family}",
                family_name=family,
            )
            for pk, school_id, grade, ssid, local_id, given, preferred, family in base.filter(
                pk__gt=after
            )[:size]
        ]
        if not page:
            return
        yield page
        after = page[-1].id
