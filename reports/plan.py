"""Who and what a report covers: learners read in id-ordered pages, what each must master.

Reads only, bounded per page of learners: a report over a million learners holds one page of
learners (``CHUNK_LEARNERS``) and the requirement sets of the (school, grade) pairs seen so far
(``standards.selectors.requirements_for``, read once per pair).

"What a learner must master in a term" is ``standards.selectors.learner_requirement_ids``'s
rule: the requirements of their school and grade plus their approved elective choices, here
counted as of the report's day (an approval decided after it does not count yet). Required
groupings (a domain) are rolled up from their active children, so the children's ratings are
read too.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from django.db.models import Q, QuerySet

from learners.models import Learner
from standards.models import ChoiceStatus, ElectiveChoice, Standard, StandardStatus
from standards.selectors import RequirementSet, requirements_for

CHUNK_LEARNERS: Final = 2000
POWER: Final = "power"


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


@dataclass(frozen=True)
class StandardInfo:
    id: int
    identifier: str
    human_code: str
    statement: str
    framework_id: int
    parent_id: int | None
    is_grouping: bool


@dataclass(frozen=True)
class Required:
    """One standard a learner must master: its id and priority (``power`` / ``supporting``)."""

    standard_id: int
    priority: str

    @property
    def power(self) -> bool:
        return self.priority == POWER


@dataclass
class RequirementPlan:
    """Requirement sets per (school, grade), electives per learner, standards by id."""

    term_id: int
    at: datetime.datetime
    _sets: dict[tuple[int, str], RequirementSet] = field(default_factory=dict)
    _lists: dict[tuple[int, str], tuple[Required, ...]] = field(default_factory=dict)
    standards: dict[int, StandardInfo] = field(default_factory=dict)
    children_of: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def requirement_set(self, school_id: int, grade: str) -> RequirementSet:
        key = (school_id, grade)
        if key not in self._sets:
            self._sets[key] = requirements_for(school_id, grade, self.term_id)
        return self._sets[key]

    def required(self, school_id: int, grade: str) -> tuple[Required, ...]:
        """The requirements of a (school, grade), power standards first, then by human code."""
        key = (school_id, grade)
        if key not in self._lists:
            items = self.requirement_set(school_id, grade).required
            self._lists[key] = tuple(Required(i.standard_id, i.priority) for i in items)
            self.load_standards([i.standard_id for i in items])
        return self._lists[key]

    def electives(self, learners: Sequence[LearnerRow]) -> dict[int, list[Required]]:
        """Approved elective choices (decided by the end of the day) of a page of learners, in
        groups offered to their school and grade, that are not already required. One query."""
        groups: dict[tuple[int, str], dict[int, str]] = {}
        for learner in learners:
            key = (learner.school_id, learner.grade_level)
            if key not in groups:
                groups[key] = {
                    group.group_id: group.priority for group in self.requirement_set(*key).electives
                }
        every_group = {gid for offered in groups.values() for gid in offered}
        if not every_group:
            return {}
        by_learner = {learner.id: learner for learner in learners}
        choices = (
            ElectiveChoice.objects.filter(
                learner_id__in=list(by_learner),
                group_id__in=every_group,
                status=ChoiceStatus.APPROVED,
            )
            .filter(Q(decided_at__lte=self.at) | Q(decided_at__isnull=True, chosen_at__lte=self.at))
            .order_by("learner_id", "standard__human_code", "standard_id")
            .values_list("learner_id", "group_id", "standard_id")
        )
        out: dict[int, list[Required]] = {}
        for learner_id, group_id, standard_id in choices:
            learner = by_learner[learner_id]
            offered = groups[(learner.school_id, learner.grade_level)]
            required = {
                r.standard_id for r in self.required(learner.school_id, learner.grade_level)
            }
            if group_id not in offered or standard_id in required:
                continue
            picked = out.setdefault(learner_id, [])
            if all(item.standard_id != standard_id for item in picked):
                picked.append(Required(standard_id, offered[group_id]))
        self.load_standards([r.standard_id for items in out.values() for r in items])
        return out

    def learner_requirements(
        self, learner: LearnerRow, electives: dict[int, list[Required]]
    ) -> tuple[Required, ...]:
        return self.required(learner.school_id, learner.grade_level) + tuple(
            electives.get(learner.id, ())
        )

    def load_standards(self, ids: Sequence[int]) -> None:
        """Reads the standards not yet known, and for groupings their active descendants."""
        wanted = {i for i in ids if i not in self.standards}
        while wanted:
            rows = Standard.objects.filter(pk__in=wanted).values_list(
                "pk",
                "identifier",
                "human_code",
                "statement",
                "framework_id",
                "parent_id",
                "is_grouping",
            )
            groupings = []
            for pk, identifier, code, statement, framework_id, parent_id, grouping in rows:
                self.standards[pk] = StandardInfo(
                    pk, identifier, code, statement, framework_id, parent_id, grouping
                )
                if grouping:
                    groupings.append(pk)
            wanted = set[int]()
            if groupings:
                children = Standard.objects.filter(
                    parent_id__in=groupings, status=StandardStatus.ACTIVE
                ).values_list("parent_id", "pk")
                found: dict[int, list[int]] = {g: [] for g in groupings}
                for parent, child in children:
                    found[parent].append(child)
                for parent_id, kids in found.items():
                    self.children_of[parent_id] = tuple(sorted(kids))
                    wanted.update(k for k in kids if k not in self.standards)

    def leaves_under(self, standard_id: int) -> list[int]:
        """The standard itself, or for a grouping every assessable standard below it."""
        if standard_id not in self.children_of:
            return [standard_id]
        out: list[int] = []
        for child in self.children_of[standard_id]:
            out.extend(self.leaves_under(child))
        return out
