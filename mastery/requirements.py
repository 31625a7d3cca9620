"""A learner's required standards (ADR 8): one implementation, behind ``mastery.core``.

"What a learner must master in a term": the requirements of their school and grade (set there
and at every organisation above it, the nearest priority winning; ``standards.selectors.
requirements_for``) plus their approved elective choices in groups offered to them, of active
standards; as they stood at ``at`` when given (row versions; an approval decided after it does
not count yet). Required groupings (a domain) are kept: their records roll up from their active
children. The learner page, its chart, the grid, the school report, the state export and the
transcript all read it here, and count it with :func:`requirement_counts`, so their "1 of 8"
agree.

Reads are bounded per page of learners: a report over a million learners holds the requirement
sets of the (school, grade) pairs seen so far (read once per pair) and one page's electives.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from learners.models import Term
from standards.selectors import (
    RequirementSet,
    SettingsAsOf,
    active_children_of,
    approved_choices,
    requirements_for,
    settings_as_of,
    standard_rows,
)

POWER: Final = "power"


class LearnerRef(Protocol):
    """What the requirements of a learner depend on (a ``Learner`` or a report's row)."""

    @property
    def id(self) -> int: ...

    @property
    def school_id(self) -> int: ...

    @property
    def grade_level(self) -> str: ...


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
    # Elective choices decided by ``at`` count (None: every approved choice).
    at: datetime.datetime | None = None
    # The requirement sets, elective choices and the standards' tree as they stood at this
    # moment (row versions, or the live tables when nothing changed since; None: the live
    # tables): a report of a past day.
    sets_at: datetime.datetime | None = None
    _sets: dict[tuple[int, str], RequirementSet] = field(default_factory=dict)
    _lists: dict[tuple[int, str], tuple[Required, ...]] = field(default_factory=dict)
    standards: dict[int, StandardInfo] = field(default_factory=dict)
    children_of: dict[int, tuple[int, ...]] = field(default_factory=dict)
    _then: SettingsAsOf | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # One reader of the versions for every call: each table is read once per plan.
        self._then = None if self.sets_at is None else settings_as_of(self.sets_at)

    def requirement_set(self, school_id: int, grade: str) -> RequirementSet:
        key = (school_id, grade)
        if key not in self._sets:
            self._sets[key] = requirements_for(school_id, grade, self.term_id, at=self._then)
        return self._sets[key]

    def required(self, school_id: int, grade: str) -> tuple[Required, ...]:
        """The requirements of a (school, grade), power standards first, then by human code."""
        key = (school_id, grade)
        if key not in self._lists:
            items = self.requirement_set(school_id, grade).required
            self._lists[key] = tuple(Required(i.standard_id, i.priority) for i in items)
            self.load_standards([i.standard_id for i in items])
        return self._lists[key]

    def electives(self, learners: Sequence[LearnerRef]) -> dict[int, list[Required]]:
        """Approved elective choices (decided by ``at``) of a page of learners, of active
        standards in groups offered to their school and grade, that are not already required.
        One query (``standards.selectors.approved_choices``)."""
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
        chosen = approved_choices(list(by_learner), every_group, decided_by=self.at, at=self._then)
        out: dict[int, list[Required]] = {}
        for learner_id, items in chosen.items():
            learner = by_learner[learner_id]
            offered = groups[(learner.school_id, learner.grade_level)]
            required = {
                r.standard_id for r in self.required(learner.school_id, learner.grade_level)
            }
            for group_id, standard_id in items:
                if group_id not in offered or standard_id in required:
                    continue
                picked = out.setdefault(learner_id, [])
                if all(item.standard_id != standard_id for item in picked):
                    picked.append(Required(standard_id, offered[group_id]))
        self.load_standards([r.standard_id for items in out.values() for r in items])
        return out

    def learner_requirements(
        self, learner: LearnerRef, electives: dict[int, list[Required]]
    ) -> tuple[Required, ...]:
        """The learner's required standards: their school and grade's, then their electives."""
        return self.required(learner.school_id, learner.grade_level) + tuple(
            electives.get(learner.id, ())
        )

    def load_standards(self, ids: Sequence[int]) -> None:
        """Reads the standards not yet known, and for groupings their active descendants (as
        they stood at ``sets_at``)."""
        wanted = {i for i in ids if i not in self.standards}
        while wanted:
            groupings = []
            for pk, row in standard_rows(wanted, at=self._then).items():
                self.standards[pk] = StandardInfo(
                    pk,
                    row.identifier,
                    row.human_code,
                    row.statement,
                    row.framework_id,
                    row.parent_id,
                    row.is_grouping,
                )
                if row.is_grouping:
                    groupings.append(pk)
            wanted = set[int]()
            if groupings:
                for parent_id, kids in active_children_of(groupings, at=self._then).items():
                    self.children_of[parent_id] = tuple(sorted(kids))
                    wanted.update(k for k in kids if k not in self.standards)

    def active(self, ids: Iterable[int]) -> set[int]:
        """Those of ``ids`` that are active standards (as they stood at ``sets_at``)."""
        return {pk for pk, row in standard_rows(ids, at=self._then).items() if row.active}

    def leaves_under(self, standard_id: int) -> list[int]:
        """The standard itself, or for a grouping every assessable standard below it."""
        if standard_id not in self.children_of:
            return [standard_id]
        out: list[int] = []
        for child in self.children_of[standard_id]:
            out.extend(self.leaves_under(child))
        return out


def required_standards(
    learners: Sequence[LearnerRef],
    term: Term | int,
    at: datetime.datetime | None = None,
    *,
    plan: RequirementPlan | None = None,
) -> dict[int, tuple[Required, ...]]:
    """Learner id -> the standards that learner must master in ``term`` (power standards
    first, then by human code; electives after), as they stood at ``at`` when given. A
    ``plan`` already used for other learners of the same term and moment saves reads."""
    term_id = term if isinstance(term, int) else term.pk
    plan = plan or RequirementPlan(term_id=term_id, at=at, sets_at=at)
    electives = plan.electives(learners)
    return {learner.id: plan.learner_requirements(learner, electives) for learner in learners}


@dataclass(frozen=True)
class RequirementCounts:
    """How many of a learner's required (and power) standards are mastered."""

    required: int
    mastered: int
    power_required: int
    power_mastered: int

    @property
    def percent(self) -> int:
        """The share mastered as a whole percentage, rounded (1 of 6: 17), never truncated."""
        return percent(self.mastered, self.required)


def requirement_counts(
    items: Iterable[Required], mastered: Callable[[int], bool]
) -> RequirementCounts:
    """The counts of one learner's ``items`` (from :func:`required_standards`), ``mastered``
    telling whether the learner has mastered a standard id. The one count every page and
    report shows."""
    required = done = power = power_done = 0
    for item in items:
        hit = bool(mastered(item.standard_id))
        required += 1
        done += hit
        power += item.power
        power_done += item.power and hit
    return RequirementCounts(required, done, power, power_done)


def percent(part: int, whole: int) -> int:
    """``part`` of ``whole`` as a whole percentage, halves rounded up (0 when ``whole`` is 0)."""
    if whole <= 0:
        return 0
    return (200 * part + whole) // (2 * whole)
