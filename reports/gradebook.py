"""The section gradebook export: the section's learners x standards grid, as of a day.

Rows: the learners enrolled in the section on the day (enrollment dates include it), by name.
Columns: local id, name, then one per standard: every standard the roster must master in the
section's term (power standards first, then by human code) and any other standard rated on
this section's evidence by the day; last, how many of those the learner has mastered. A cell
shows the score and the level (``3.25 Proficient``), ``insufficient evidence``, or nothing when
not assessed; the state is spelled out so colour is never the only signal. CSV or XLSX (a
second sheet lists the standards with their identifiers and statements). A past day's
gradebook reads the enrollments, the learners' school and grade, the requirements and the rules
as they stood at its end (ADR 8).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from evidence.models import Evidence, Rating
from learners.models import Section
from learners.selectors import enrolled_learner_ids_as_of
from mastery import core
from mastery.core import Mastery, RulesBook
from reports import outputs
from reports.plan import POWER, LearnerRow, RequirementPlan, StandardInfo, learner_rows

FIXED_COLUMNS: Final = ("local_id", "name")
LEGEND_COLUMNS: Final = ("human_code", "standard_identifier", "priority", "statement")

type Progress = Callable[[int, int], None]


def cell_text(result: Mastery) -> str:
    if result.state in ("mastered", "not_yet"):
        return f"{result.score} {result.level}".strip()
    if result.state == "insufficient_evidence":
        return "insufficient evidence"
    return ""


def roster_on(
    section: Section, day: datetime.date, at: datetime.datetime | None = None
) -> list[LearnerRow]:
    """The learners enrolled in ``section`` on ``day``, in name order, as the enrollments and
    the learners' school and grade stood at ``at`` (None: now)."""
    enrolled = enrolled_learner_ids_as_of(section.pk, day, at)
    rows = learner_rows(enrolled, at)
    return sorted(rows, key=lambda row: (row.family_name, row.name, row.id))


@dataclass(frozen=True)
class Grid:
    roster: list[LearnerRow]
    columns: list[int]  # standard ids
    priority: dict[int, str]  # "" for a standard rated here but not required
    results: dict[tuple[int, int], Mastery]
    standards: dict[int, StandardInfo]
    # Read from the records (today): how many cells wait for a recompute; None when computed.
    pending: int | None = None


def gradebook(
    *,
    section: Section,
    as_of: datetime.date,
    progress: Progress | None = None,
    recorded: bool | None = None,
) -> Grid:
    """The roster on the day, the standard columns and every cell's mastery: as of today (a
    day not over yet) read from the records the workers keep (``Grid.pending``: how many cells
    wait for a recompute), else computed as they stood; ``recorded`` chooses instead."""
    at = core.end_of_day(as_of)
    # A past day: the roster, requirements and rules as they stood at its end (ADR 8).
    then = core.stood_at(as_of)
    plan = RequirementPlan(term_id=section.term_id, at=at, sets_at=then)
    roster = roster_on(section, as_of, then)
    electives = plan.electives(roster)
    needs = {row.id: plan.learner_requirements(row, electives) for row in roster}
    priority: dict[int, str] = {}
    for items in needs.values():
        for item in items:
            if item.priority == POWER or item.standard_id not in priority:
                priority[item.standard_id] = item.priority
    rated = (
        Rating.objects.filter(
            evidence__in=Evidence.objects.filter(section_id=section.pk),
            learner_id__in=[row.id for row in roster],
            recorded_at__lte=at,
        )
        .exclude(source="self")
        .exclude(standard_id__in=list(priority))
        .values_list("standard_id", flat=True)
        .distinct()
    )
    for standard_id in plan.active(rated):
        priority.setdefault(standard_id, "")
    plan.load_standards(list(priority))
    columns = sorted(
        priority,
        key=lambda sid: (priority[sid] != POWER, plan.standards[sid].human_code, sid),
    )
    wanted = {row.id: columns for row in roster}
    school_of = {row.id: row.school_id for row in roster}
    framework_of = {sid: info.framework_id for sid, info in plan.standards.items()}
    results, pending = core.report_mastery(
        wanted,
        school_of=school_of,
        framework_of=framework_of,
        children_of=plan.children_of,
        at=at,
        book=RulesBook(at=then),
        recorded=then is None if recorded is None else recorded,
    )
    if progress is not None:
        progress(len(roster), len(roster))
    return Grid(roster, columns, priority, results, plan.standards, pending)


def write_gradebook(
    *,
    section: Section,
    as_of: datetime.date,
    file_format: str,
    path: Path,
    progress: Progress | None = None,
    summary: dict[str, int] | None = None,
    recorded: bool | None = None,
) -> int:
    """Write the grid to ``path``; return the number of learner rows. ``summary`` gets
    ``pending_recomputes`` for a gradebook of today (see :func:`gradebook`)."""
    grid = gradebook(section=section, as_of=as_of, progress=progress, recorded=recorded)
    if summary is not None and grid.pending is not None:
        summary["pending_recomputes"] = grid.pending
    roster, columns, results, standards = grid.roster, grid.columns, grid.results, grid.standards
    codes = [standards[sid].human_code or standards[sid].identifier for sid in columns]
    header = (*FIXED_COLUMNS, *codes, "standards_mastered")
    rows = [
        (
            row.local_id,
            row.name,
            *(cell_text(results[(row.id, sid)]) for sid in columns),
            sum(1 for sid in columns if results[(row.id, sid)].mastered),
        )
        for row in roster
    ]
    legend = [
        (
            standards[sid].human_code,
            standards[sid].identifier,
            grid.priority[sid] or "not required",
            standards[sid].statement,
        )
        for sid in columns
    ]
    if file_format == "csv":
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write(outputs.csv_line(header))
            for values in rows:
                out.write(outputs.csv_line(values))
    elif file_format == "xlsx":
        outputs.write_xlsx(
            path, [("Gradebook", header, rows), ("Standards", LEGEND_COLUMNS, legend)]
        )
    else:
        raise ValueError(f"format: csv or xlsx, got {file_format!r}")
    return len(rows)
