"""The school accountability report: every learner's progress and every standard's reach.

Three tables, as of the end of a day, for one school and term:

- **Learners**: local id, name, grade, state student id, power standards mastered of required,
  all requirements mastered of required, on pace or not, and the standards not yet mastered.
  *On pace*: the share of requirements mastered is at least the share of the term elapsed by
  the day (a learner due to master 40 standards over the term, 25% of the way in, is on pace
  with 10 mastered). A learner with nothing required in the term is listed with "-".
- **Standards**: each required standard with how many learners must master it and how many
  have (counts of individual learners; no average of scores anywhere).
- **Mastered by**: which learners mastered each standard, and when first.

XLSX (three sheets, openpyxl's write-only mode) or CSV (the three tables one after the other,
each with its header, separated by a blank line). Learners stream page by page; the per
standard tallies hold ids only (a school's learners, bounded).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from learners.models import Organisation, Term
from learners.selectors import placement_counts_as_of
from mastery import core
from mastery.core import Mastery, RulesBook
from reports import outputs
from reports.plan import LearnerRow, Required, RequirementPlan, active_learner_pages

LEARNER_COLUMNS: Final = (
    "local_id",
    "name",
    "grade",
    "state_student_id",
    "power_mastered",
    "power_required",
    "mastered",
    "required",
    "on_pace",
    "not_yet_mastered",
)
STANDARD_COLUMNS: Final = (
    "human_code",
    "standard_identifier",
    "priority",
    "learners_required",
    "learners_mastered",
)
MASTERED_BY_COLUMNS: Final = ("human_code", "local_id", "name", "date_first_mastered")

type Progress = Callable[[int, int], None]


def elapsed_share(term: Term, day: datetime.date) -> float:
    """How much of the term has passed by the end of ``day`` (0 before it, 1 after it)."""
    length = (term.end_date - term.start_date).days + 1
    passed = (day - term.start_date).days + 1
    return min(1.0, max(0.0, passed / length))


def on_pace(mastered: int, required: int, share: float) -> bool:
    """The pace rule: the share of requirements mastered is at least the share of the term
    elapsed (the school report and the learner's home both use it)."""
    return mastered >= share * required - 1e-9


@dataclass(frozen=True)
class LearnerLine:
    learner: LearnerRow
    power_mastered: int
    power_required: int
    mastered: int
    required: int
    on_pace: str  # "yes", "no", or "-" with nothing required
    not_yet: tuple[str, ...]

    def values(self) -> tuple[object, ...]:
        return (
            self.learner.local_id,
            self.learner.name,
            self.learner.grade_level,
            self.learner.state_student_id,
            self.power_mastered,
            self.power_required,
            self.mastered,
            self.required,
            self.on_pace,
            "; ".join(self.not_yet),
        )


@dataclass
class Tally:
    """Per standard: who must master it, who has (learner ids, with the first day)."""

    priority: dict[int, str] = field(default_factory=dict)
    required: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    mastered: dict[int, list[tuple[int, datetime.date | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )


def school_rows(
    *,
    school: Organisation,
    term: Term,
    as_of: datetime.date,
    progress: Progress | None = None,
    summary: dict[str, int] | None = None,
    recorded: bool | None = None,
) -> tuple[list[LearnerLine], Tally, RequirementPlan]:
    """The learner lines and the per standard tally, page by page. A report of today reads the
    records the workers keep (``summary`` gets ``pending_recomputes``: the figures of that many
    still wait for a recompute); a report of a past day computes them as they stood, for the
    learners then at the school, with the requirements and rules in force then. ``recorded``
    (default: for today) reads the records; False computes them as of the end of the day."""
    at = core.end_of_day(as_of)
    # A past day: the roster, requirements and rules as they stood at its end (ADR 8).
    then = core.stood_at(as_of)
    today = then is None if recorded is None else recorded
    pending = 0
    plan = RequirementPlan(term_id=term.pk, at=at, sets_at=then)
    book = RulesBook(at=then)
    share = elapsed_share(term, as_of)
    total = sum(placement_counts_as_of([school.pk], then).values())
    lines: list[LearnerLine] = []
    tally = Tally()
    for page in active_learner_pages([school.pk], then):
        electives = plan.electives(page)
        needs = {row.id: plan.learner_requirements(row, electives) for row in page}
        wanted = {lid: [r.standard_id for r in items] for lid, items in needs.items() if items}
        school_of = {row.id: row.school_id for row in page}
        framework_of = {sid: info.framework_id for sid, info in plan.standards.items()}
        results, waiting = core.report_mastery(
            wanted,
            school_of=school_of,
            framework_of=framework_of,
            children_of=plan.children_of,
            at=at,
            book=book,
            recorded=today,
        )
        pending += waiting or 0
        for row in page:
            lines.append(_line(row, needs[row.id], results, plan, share, tally))
        if progress is not None:
            progress(len(lines), total)
    if summary is not None and today:
        summary["pending_recomputes"] = pending
    return lines, tally, plan


def _line(
    row: LearnerRow,
    items: Sequence[Required],
    results: dict[tuple[int, int], Mastery],
    plan: RequirementPlan,
    share: float,
    tally: Tally,
) -> LearnerLine:
    not_yet: list[str] = []
    for item in items:
        result = results[(row.id, item.standard_id)]
        tally.priority.setdefault(item.standard_id, item.priority)
        tally.required[item.standard_id] += 1
        if result.mastered:
            tally.mastered[item.standard_id].append((row.id, result.first_mastered))
        else:
            not_yet.append(plan.standards[item.standard_id].human_code or str(item.standard_id))
    counts = core.requirement_counts(items, lambda sid: results[(row.id, sid)].mastered)
    share_met = on_pace(counts.mastered, counts.required, share)
    pace = "-" if not counts.required else ("yes" if share_met else "no")
    return LearnerLine(
        learner=row,
        power_mastered=counts.power_mastered,
        power_required=counts.power_required,
        mastered=counts.mastered,
        required=counts.required,
        on_pace=pace,
        not_yet=tuple(not_yet),
    )


def _tables(
    lines: list[LearnerLine], tally: Tally, plan: RequirementPlan
) -> list[tuple[str, tuple[str, ...], list[tuple[object, ...]]]]:
    names = {line.learner.id: line.learner for line in lines}
    standards = sorted(
        tally.required,
        key=lambda sid: (tally.priority[sid] != "power", plan.standards[sid].human_code, sid),
    )
    standard_rows: list[tuple[object, ...]] = [
        (
            plan.standards[sid].human_code,
            plan.standards[sid].identifier,
            tally.priority[sid],
            tally.required[sid],
            len(tally.mastered.get(sid, [])),
        )
        for sid in standards
    ]
    mastered_rows: list[tuple[object, ...]] = [
        (
            plan.standards[sid].human_code,
            names[lid].local_id,
            names[lid].name,
            "" if day is None else day.isoformat(),
        )
        for sid in standards
        for lid, day in sorted(tally.mastered.get(sid, []), key=lambda item: item[0])
    ]
    return [
        ("Learners", LEARNER_COLUMNS, [line.values() for line in lines]),
        ("Standards", STANDARD_COLUMNS, standard_rows),
        ("Mastered by", MASTERED_BY_COLUMNS, mastered_rows),
    ]


def write_school_report(
    *,
    school: Organisation,
    term: Term,
    as_of: datetime.date,
    file_format: str,
    path: Path,
    progress: Progress | None = None,
    summary: dict[str, int] | None = None,
    recorded: bool | None = None,
) -> int:
    """Write the report to ``path``; return the number of learner rows (``summary`` and
    ``recorded``: see :func:`school_rows`)."""
    lines, tally, plan = school_rows(
        school=school,
        term=term,
        as_of=as_of,
        progress=progress,
        summary=summary,
        recorded=recorded,
    )
    outputs.write_tables(path, _tables(lines, tally, plan), file_format)
    return len(lines)
