"""The equity audit of the measurement: is every learner measured on enough evidence, alike?

For an organisation (a school, a district, a state) and a term, as of the end of a day: counts
of individual learners (never a name, never an average of scores), broken down by the whole
organisation, school, section, teacher and, where the roster carries them (OneRoster
``demographics.csv``, kept only where an administrator turned it on), subgroup:

- **Learners** (one row per group): learners with a requirement; by the fewest counted ratings
  they have on any required standard (none, 1, 2, 3 or more); with insufficient evidence on a
  required standard; with an override on one; who mastered at least one.
- **By standard** (one row per group and required standard): learners required; by counted
  ratings (none, 1, 2, 3 to 4, 5 or more); with insufficient evidence; overridden; mastered; by
  weeks from the start of the term to the day first mastered (before the term, weeks 1-4, 5-8,
  9-12, week 13 or later, not yet mastered).

Figures are computed as the other reports compute them (``mastery.core``: the ratings counted
as of the day, the rules in force, required standards and electives of the learner's school and
grade), so they agree with the school report and the state export. For a past day the roster
(learners' school, grade and active flag), their enrollments, the requirements and the rules are
read as they stood at its end (ADR 8); teachers' assignments and demographics have no history
and are read as they are.

**Suppression**: a count under 10 (0 included) is written as "fewer than 10". Where a row's
shown total is split into parts (the bands of ratings, the weeks to mastery) and exactly one
part is hidden, the smallest other part is hidden too, so no hidden cell is recovered by
subtraction within the row (complementary suppression). Totals across rows (a district and its
schools) are not protected against differencing: the file is for administrators who may see
every learner counted in it.

For a whole state, sections and teachers get their learner rows only (not one row per standard:
tens of thousands of groups times every standard); a district's audit has them per standard.

Membership: a section counts the learners enrolled in it on the day (sections of the term at
the organisation's schools), a teacher the distinct learners of the sections they taught on the
day, a subgroup the learners whose stored demographics put them in it (a learner may be in
several race groups, as OneRoster flags them).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from django.contrib.auth.models import User
from django.db.models import Q

from evidence.models import RatingSource
from learners.models import (
    LearnerDemographics,
    Organisation,
    RoleAssignment,
    RoleKind,
    Section,
    Term,
)
from learners.selectors import (
    descendant_ids_as_of,
    enrollments_as_of,
    placement_counts_as_of,
)
from mastery import core
from mastery.core import Mastery, RulesBook, counted_ratings
from mastery.models import MasteryOverride
from reports import outputs
from reports.plan import LearnerRow, Required, RequirementPlan, active_learner_pages

MIN_CELL: Final = 10
SUPPRESSED: Final = "fewer than 10"

LEARNER_COLUMNS: Final = (
    "group_type",
    "group",
    "learners",
    "fewest_ratings_none",
    "fewest_ratings_1",
    "fewest_ratings_2",
    "fewest_ratings_3_or_more",
    "with_insufficient_evidence",
    "with_an_override",
    "mastered_at_least_one",
)
STANDARD_COLUMNS: Final = (
    "group_type",
    "group",
    "standard",
    "priority",
    "learners_required",
    "ratings_none",
    "ratings_1",
    "ratings_2",
    "ratings_3_to_4",
    "ratings_5_or_more",
    "insufficient_evidence",
    "overridden",
    "mastered",
    "mastered_before_the_term",
    "mastered_weeks_1_to_4",
    "mastered_weeks_5_to_8",
    "mastered_weeks_9_to_12",
    "mastered_week_13_or_later",
    "not_yet_mastered",
)
# Positions (within the counts, after the text columns) of each row's totals and their parts.
LEARNER_PARTITIONS: Final = ((0, (1, 2, 3, 4)),)
STANDARD_PARTITIONS: Final = ((0, (1, 2, 3, 4, 5)), (0, (9, 10, 11, 12, 13, 14)))

SUBGROUPS: Final = (
    ("sex", "female", "Female"),
    ("sex", "male", "Male"),
    ("sex", "other", "Sex: other"),
    ("sex", "unspecified", "Sex: unspecified"),
    ("american_indian_or_alaska_native", True, "American Indian or Alaska Native"),
    ("asian", True, "Asian"),
    ("black_or_african_american", True, "Black or African American"),
    (
        "native_hawaiian_or_other_pacific_islander",
        True,
        "Native Hawaiian or Other Pacific Islander",
    ),
    ("white", True, "White"),
    ("two_or_more_races", True, "Two or more races"),
    ("hispanic_or_latino", True, "Hispanic or Latino"),
)
KIND_ORDER: Final = ("Organisation", "School", "Section", "Teacher", "Subgroup")

type Progress = Callable[[int, int], None]


@dataclass(frozen=True, order=True)
class Group:
    """One breakdown: its kind (in ``KIND_ORDER``), a sort key and the label shown."""

    rank: int
    sort: str
    key: object
    kind: str = field(compare=False)
    label: str = field(compare=False)


def rating_band(count: int) -> int:
    """none, 1, 2, 3 to 4, 5 or more (by standard)."""
    return 0 if count == 0 else 1 if count == 1 else 2 if count == 2 else 3 if count <= 4 else 4


def fewest_band(count: int) -> int:
    """none, 1, 2, 3 or more (a learner's fewest on any required standard)."""
    return min(count, 3)


def weeks_band(first: datetime.date | None, start: datetime.date) -> int:
    """Before the term (0), weeks 1-4, 5-8, 9-12, 13 or later (1..4); 5: not yet mastered."""
    if first is None:
        return 5
    days = (first - start).days
    if days < 0:
        return 0
    return 1 + min(days // 28, 3)


@dataclass
class LearnerTally:
    learners: int = 0
    fewest: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    insufficient: int = 0
    overridden: int = 0
    mastered_any: int = 0

    def counts(self) -> list[int]:
        return [
            self.learners,
            *self.fewest,
            self.insufficient,
            self.overridden,
            self.mastered_any,
        ]


@dataclass
class StandardTally:
    required: int = 0
    ratings: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    insufficient: int = 0
    overridden: int = 0
    mastered: int = 0
    weeks: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0, 0])

    def counts(self) -> list[int]:
        return [
            self.required,
            *self.ratings,
            self.insufficient,
            self.overridden,
            self.mastered,
            *self.weeks,
        ]


def suppress(
    counts: Sequence[int], partitions: Iterable[tuple[int, Sequence[int]]]
) -> list[int | str]:
    """The counts with every one under ``MIN_CELL`` hidden, and complementary cells hidden
    where a shown total's parts would otherwise give a hidden part away."""
    hidden = {i for i, value in enumerate(counts) if value < MIN_CELL}
    rules = list(partitions)
    changed = True
    while changed:
        changed = False
        for total, parts in rules:
            if total in hidden:
                continue
            if sum(1 for i in parts if i in hidden) == 1:
                shown = [i for i in parts if i not in hidden]
                if shown:
                    hidden.add(min(shown, key=lambda i: (counts[i], i)))
                    changed = True
    return [SUPPRESSED if i in hidden else value for i, value in enumerate(counts)]


@dataclass
class Audit:
    """The tallies of one audit, before suppression (tests compare them with SQL counts)."""

    organisation: Organisation
    term: Term
    as_of: datetime.date
    learners: dict[Group, LearnerTally] = field(default_factory=lambda: defaultdict(LearnerTally))
    standards: dict[tuple[Group, int], StandardTally] = field(
        default_factory=lambda: defaultdict(StandardTally)
    )
    codes: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (code, priority)
    learner_count: int = 0

    def by_standard(self, group: Group) -> bool:
        """Whether the group gets rows per standard: always, but for the sections and teachers
        of a whole state (tens of thousands of groups times every standard; their learner rows
        stay, and each district's own audit has them per standard)."""
        return self.organisation.kind != "state" or group.kind not in ("Section", "Teacher")


class _Memberships:
    """Which sections, teachers and subgroups each learner of a page belongs to on the day."""

    def __init__(
        self,
        organisation: Organisation,
        term: Term,
        day: datetime.date,
        then: datetime.datetime | None = None,
    ) -> None:
        self.day = day
        self.then = then  # a past day: the enrollments as they stood at its end
        self.sections = {
            section.pk: section
            for section in Section.objects.filter(
                term=term, school_id__in=descendant_ids_as_of(organisation, then)
            ).select_related("school")
        }
        taught: dict[int, set[int]] = defaultdict(set)
        on_day = (Q(begin_date__isnull=True) | Q(begin_date__lte=day)) & (
            Q(end_date__isnull=True) | Q(end_date__gte=day)
        )
        for section_id, user_id in RoleAssignment.objects.filter(
            on_day, kind=RoleKind.TEACHER, section_id__in=list(self.sections)
        ).values_list("section_id", "user_id"):
            taught[section_id].add(user_id)
        self.taught = taught
        self.teachers = {
            user.pk: user.get_full_name() or user.username
            for user in User.objects.filter(
                pk__in={u for users in taught.values() for u in users}
            ).only("first_name", "last_name", "username")
        }

    def of_page(self, learner_ids: list[int]) -> dict[int, tuple[list[Group], list[Group]]]:
        """learner -> (section and teacher groups, subgroup groups)."""
        enrolled: dict[int, list[int]] = defaultdict(list)
        for learner_id, section_id in enrollments_as_of(learner_ids, self.day, self.then):
            if section_id in self.sections:
                enrolled[learner_id].append(section_id)
        demographics = {
            row.learner_id: row
            for row in LearnerDemographics.objects.filter(learner_id__in=learner_ids)
        }
        out: dict[int, tuple[list[Group], list[Group]]] = {}
        for learner_id in learner_ids:
            groups: list[Group] = []
            teachers: set[int] = set()
            for section_id in sorted(set(enrolled.get(learner_id, []))):
                section = self.sections[section_id]
                label = f"{section.title} ({section.school.name})"
                groups.append(Group(2, label.casefold(), section_id, "Section", label))
                teachers |= self.taught.get(section_id, set())
            for user_id in sorted(teachers):
                name = self.teachers.get(user_id, str(user_id))
                groups.append(Group(3, name.casefold(), user_id, "Teacher", name))
            subgroups = []
            found = demographics.get(learner_id)
            if found is not None:
                for order, (name, value, label) in enumerate(SUBGROUPS):
                    if getattr(found, name) == value:
                        subgroups.append(Group(4, f"{order:02d}", label, "Subgroup", label))
            out[learner_id] = (groups, subgroups)
        return out


def _overridden(
    learner_ids: list[int], standard_ids: Iterable[int], at: datetime.datetime
) -> set[tuple[int, int]]:
    """(learner, standard) pairs with a teacher's override in force at ``at`` (set by then, not
    cleared by then: ``mastery.MasteryOverride``), or, from before overrides were kept apart, a
    counted rating of professional judgement."""
    wanted = set(standard_ids)
    in_force = MasteryOverride.objects.filter(
        Q(cleared_at__isnull=True) | Q(cleared_at__gt=at),
        learner_id__in=learner_ids,
        standard_id__in=wanted,
        set_at__lte=at,
    ).values_list("learner_id", "standard_id")
    legacy = (
        counted_ratings(as_of=at, learner_ids=learner_ids, standard_ids=wanted)
        .filter(source=RatingSource.OVERRIDE)
        .values_list("learner_id", "standard_id")
    )
    return set(in_force) | set(legacy)


def equity_audit(
    *,
    organisation: Organisation,
    term: Term,
    as_of: datetime.date,
    progress: Progress | None = None,
) -> Audit:
    """The audit's tallies for the active learners at schools at or below ``organisation``."""
    at = core.end_of_day(as_of)
    # A past day: the roster, requirements and rules as they stood at its end (ADR 8).
    then = core.stood_at(as_of)
    plan = RequirementPlan(term_id=term.pk, at=at, sets_at=then)
    book = RulesBook(at=then)
    audit = Audit(organisation=organisation, term=term, as_of=as_of)
    whole = Group(0, "", organisation.pk, "Organisation", organisation.name)
    schools = {
        school.pk: Group(1, school.name.casefold(), school.pk, "School", school.name)
        for school in Organisation.objects.filter(
            pk__in=descendant_ids_as_of(organisation, then), kind="school"
        )
    }
    memberships = _Memberships(organisation, term, as_of, then)
    total = sum(placement_counts_as_of(list(schools), then).values())
    done = 0
    for page in active_learner_pages(list(schools), then):
        electives = plan.electives(page)
        needs = {row.id: plan.learner_requirements(row, electives) for row in page}
        results = core.mastery_of(
            {lid: [r.standard_id for r in items] for lid, items in needs.items() if items},
            school_of={row.id: row.school_id for row in page},
            framework_of={sid: info.framework_id for sid, info in plan.standards.items()},
            children_of=plan.children_of,
            at=at,
            book=book,
        )
        overridden = _overridden(
            [row.id for row in page], {r.standard_id for items in needs.values() for r in items}, at
        )
        groups_of = memberships.of_page([row.id for row in page])
        for row in page:
            items = needs[row.id]
            if not items:
                continue
            extra, subgroups = groups_of[row.id]
            groups = [whole, schools[row.school_id], *extra, *subgroups]
            _count_learner(audit, row, items, results, overridden, groups, term.start_date)
            for item in items:
                info = plan.standards[item.standard_id]
                audit.codes[item.standard_id] = (info.human_code or info.identifier, item.priority)
        done += len(page)
        if progress is not None:
            progress(done, total)
    return audit


def _count_learner(
    audit: Audit,
    row: LearnerRow,
    items: Sequence[Required],
    results: dict[tuple[int, int], Mastery],
    overridden: set[tuple[int, int]],
    groups: list[Group],
    start: datetime.date,
) -> None:
    audit.learner_count += 1
    fewest = min(results[(row.id, item.standard_id)].evidence_count for item in items)
    insufficient = over = mastered_any = False
    per_standard = []
    for item in items:
        sid = item.standard_id
        result = results[(row.id, sid)]
        is_over = (row.id, sid) in overridden
        insufficient |= result.state == "insufficient_evidence"
        over |= is_over
        mastered_any |= result.mastered
        per_standard.append((sid, result, is_over))
    for group in groups:
        tally = audit.learners[group]
        tally.learners += 1
        tally.fewest[fewest_band(fewest)] += 1
        tally.insufficient += insufficient
        tally.overridden += over
        tally.mastered_any += mastered_any
        if not audit.by_standard(group):
            continue
        for sid, result, is_over in per_standard:
            counted = audit.standards[(group, sid)]
            counted.required += 1
            counted.ratings[rating_band(result.evidence_count)] += 1
            counted.insufficient += result.state == "insufficient_evidence"
            counted.overridden += is_over
            counted.mastered += result.mastered
            first = result.first_mastered if result.mastered else None
            counted.weeks[weeks_band(first, start)] += 1


def audit_tables(audit: Audit) -> list[tuple[str, tuple[str, ...], list[tuple[object, ...]]]]:
    """The audit as sheets of rows, every count suppressed as the module says."""
    learner_rows: list[tuple[object, ...]] = [
        (group.kind, group.label, *suppress(tally.counts(), LEARNER_PARTITIONS))
        for group, tally in sorted(audit.learners.items())
    ]

    def standard_key(item: tuple[tuple[Group, int], StandardTally]) -> tuple[object, ...]:
        (group, sid), _ = item
        code, priority = audit.codes[sid]
        return (group, priority != "power", code, sid)

    standard_rows: list[tuple[object, ...]] = [
        (
            group.kind,
            group.label,
            audit.codes[sid][0],
            audit.codes[sid][1],
            *suppress(tally.counts(), STANDARD_PARTITIONS),
        )
        for (group, sid), tally in sorted(audit.standards.items(), key=standard_key)
    ]
    about: list[tuple[object, ...]] = [
        ("organisation", audit.organisation.name),
        ("term", audit.term.title),
        ("as_of", audit.as_of.isoformat()),
        ("learners", audit.learner_count if audit.learner_count >= MIN_CELL else SUPPRESSED),
        ("counts", "individual learners; no learner is named and no score is averaged"),
        ("suppression", f"a count under {MIN_CELL} is shown as '{SUPPRESSED}'"),
    ]
    return [
        ("About", ("item", "value"), about),
        ("Learners", LEARNER_COLUMNS, learner_rows),
        ("By standard", STANDARD_COLUMNS, standard_rows),
    ]


def write_equity_audit(
    *,
    organisation: Organisation,
    term: Term,
    as_of: datetime.date,
    file_format: str,
    path: Path,
    progress: Progress | None = None,
) -> int:
    """Write the audit to ``path`` (XLSX sheets, or CSV blocks separated by a blank line);
    return the number of rows (groups and group x standard rows)."""
    audit = equity_audit(organisation=organisation, term=term, as_of=as_of, progress=progress)
    tables = audit_tables(audit)
    outputs.write_tables(path, tables, file_format)
    return len(tables[1][2]) + len(tables[2][2])
