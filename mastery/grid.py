# Table names in the SQL below are the models' own constants; every value is a parameter.
# ruff: noqa: S608
"""Reads of the section grid: learners x standards with their mastery, in a fixed number of
queries whatever the number of learners or standards.

The columns of a section's grid are the assessable standards its current learners must master
(the requirements of the section's school and term for each grade level on the roster) plus
every assessable standard those learners already have a mastery record or a pending recompute
on. Each column knows its domain (the nearest ancestor whose CASE item type is "Domain", else its
top-level grouping) and whether it is a power standard. A cell is one learner's record on one
standard: level (with the scale's label and colour), state, mastered, how fresh it is and whether
a recompute is pending.

Scoping goes through ``learners.selectors`` only: the roster is the section's current learners
the user may see. The caller checks that the section is visible (``get_visible_section_or_404``).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, NamedTuple

from django.db import connection
from django.db.models import Max, Min, Q
from django.http import Http404
from django.urls import reverse

from evidence.models import Rating, RatingSource
from evidence.selectors import current_ratings
from learners.models import Learner, Section
from learners.selectors import AnyUser, section_roster
from mastery.models import MasteryRecord, MasteryState, StaleMastery
from mastery.selectors import explain_record
from standards.models import Standard, StandardStatus
from standards.selectors import EffectiveScale, requirements_for, scale_for

STANDARD_TABLE: Final = Standard._meta.db_table

# The states a grid cell can be filtered by (PRODUCT.md "Reports": mastered / not yet /
# insufficient evidence / not assessed), plus cells waiting for a recompute.
MASTERED: Final = "mastered"
NOT_YET: Final = "not_yet"
INSUFFICIENT: Final = "insufficient_evidence"
NOT_ASSESSED: Final = "not_assessed"
PENDING: Final = "pending"
STATE_FILTERS: Final = (
    (MASTERED, "Mastered"),
    (NOT_YET, "Not yet mastered"),
    (INSUFFICIENT, "Insufficient evidence"),
    (NOT_ASSESSED, "Not assessed"),
    (PENDING, "Recompute pending"),
)
STATE_LABELS: Final = dict(STATE_FILTERS)


@dataclass(frozen=True)
class GridFilters:
    """What the teacher narrowed the grid to. ``domain_id`` None: every domain; ``state`` "":
    every state."""

    domain_id: int | None = None
    power_only: bool = False
    state: str = ""


@dataclass(frozen=True)
class GridLevel:
    """A level of the scale in force, with a text colour that contrasts with its colour."""

    index: int
    points: Decimal
    label: str
    colour: str
    text_colour: str
    mastered: bool

    @property
    def css(self) -> str:
        return f"lv-{self.index}"


@dataclass(frozen=True)
class Domain:
    pk: int | None
    label: str


@dataclass(frozen=True)
class GridColumn:
    standard_id: int
    code: str
    statement: str
    framework_id: int
    domain: Domain
    power: bool
    required: bool
    sort_key: tuple[object, ...] = ()


class GridCell(NamedTuple):
    """One learner's mastery of one standard, as the grid shows it: the level (label and
    colour class) or the state in words, a pending marker, the link to its evidence.

    A named tuple: a grid builds thousands of them per page, and a tuple is the cheapest to
    make."""

    state: str  # one of MASTERED, NOT_YET, INSUFFICIENT, NOT_ASSESSED
    level: GridLevel | None
    pending: bool
    href: str
    text: str
    css: str
    dimmed: bool = False

    def matches(self, state: str) -> bool:
        return self.pending if state == PENDING else self.state == state


type _Stored = tuple[str, Decimal | None, str, bool]


@dataclass(frozen=True)
class GridRow:
    learner: Learner
    cells: list[GridCell]
    href: str = ""  # the learner's mastery page


@dataclass(frozen=True)
class SectionGrid:
    section: Section
    filters: GridFilters
    columns: list[GridColumn]
    rows: list[GridRow]
    domains: list[Domain]
    levels: list[GridLevel]
    scale: EffectiveScale
    roster_size: int
    column_count: int
    pending: int
    oldest_computed_at: datetime.datetime | None
    newest_computed_at: datetime.datetime | None
    counts: dict[str, int] = field(default_factory=dict)


# --- colours ------------------------------------------------------------------------------------


def _luminance(colour: str) -> float:
    channels = []
    for start in (1, 3, 5):
        value = int(colour[start : start + 2], 16) / 255
        channels.append(value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """The WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


_HEX: Final = re.compile(r"^#[0-9a-fA-F]{6}$")
DARK_TEXT: Final = "#000000"
LIGHT_TEXT: Final = "#ffffff"


def text_colour_for(background: str) -> str:
    """Black or white, whichever contrasts more with ``background`` (at least 4.5:1 for any
    colour: one of the two always reaches it)."""
    if not _HEX.match(background):
        return DARK_TEXT
    dark = contrast_ratio(background, DARK_TEXT)
    light = contrast_ratio(background, LIGHT_TEXT)
    return DARK_TEXT if dark >= light else LIGHT_TEXT


def grid_levels(scale: EffectiveScale) -> list[GridLevel]:
    """The scale's levels (highest first) with their CSS class and a readable text colour."""
    return [
        GridLevel(
            index=index,
            points=level.points,
            label=level.label,
            colour=level.colour if _HEX.match(level.colour) else "#ffffff",
            text_colour=text_colour_for(level.colour),
            mastered=scale.is_mastered(level.cut_point),
        )
        for index, level in enumerate(scale.levels)
    ]


def scale_stylesheet(scale: EffectiveScale) -> str:
    """CSS giving each level's cells its colour (served from our origin: no inline styles)."""
    return "".join(
        f".lv-{level.index}{{background:{level.colour};color:{level.text_colour}}}\n"
        for level in grid_levels(scale)
    )


# --- the columns --------------------------------------------------------------------------------


def _natural(code: str) -> tuple[object, ...]:
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", code))


@dataclass(frozen=True)
class Ancestor:
    hops: int
    pk: int
    position: int
    is_grouping: bool
    item_type: str
    code: str
    statement: str


def ancestry(standard_ids: Sequence[int]) -> dict[int, list[Ancestor]]:
    """Each standard with its ancestors, nearest first (the standard itself at hops 0). One
    recursive query whatever the number of standards or the depth of the tree."""
    if not standard_ids:
        return {}
    placeholders = ", ".join(["%s"] * len(standard_ids))
    query = (
        f"WITH RECURSIVE up(start_id, id, parent_id, hops) AS ("
        f" SELECT id, id, parent_id, 0 FROM {STANDARD_TABLE} WHERE id IN ({placeholders})"
        f" UNION ALL SELECT up.start_id, s.id, s.parent_id, up.hops + 1"
        f" FROM {STANDARD_TABLE} s JOIN up ON s.id = up.parent_id WHERE up.hops < 50)"
        f" SELECT up.start_id, up.hops, s.id, s.position, s.is_grouping, s.item_type,"
        f" s.human_code, s.statement FROM up JOIN {STANDARD_TABLE} s ON s.id = up.id"
    )
    out: dict[int, list[Ancestor]] = {pk: [] for pk in standard_ids}
    with connection.cursor() as cursor:
        cursor.execute(query, list(standard_ids))
        for start, hops, pk, position, grouping, item_type, code, statement in cursor.fetchall():
            out[int(start)].append(
                Ancestor(
                    int(hops),
                    int(pk),
                    int(position),
                    bool(grouping),
                    item_type or "",
                    code or "",
                    statement or "",
                )
            )
    for chain in out.values():
        chain.sort(key=lambda item: item.hops)
    return out


NO_DOMAIN: Final = Domain(None, "Other standards")


def domain_of(chain: Sequence[Ancestor]) -> Domain:
    """The nearest ancestor typed "Domain", else the top-level grouping, else none."""
    ancestors = [item for item in chain if item.hops > 0 and item.is_grouping]
    for item in ancestors:
        if item.item_type.strip().lower() == "domain":
            return Domain(item.pk, _label(item))
    if ancestors:
        return Domain(ancestors[-1].pk, _label(ancestors[-1]))
    return NO_DOMAIN


def _label(item: Ancestor) -> str:
    statement = item.statement if len(item.statement) <= 80 else f"{item.statement[:79]}…"
    if item.code and item.code != item.statement:
        return f"{statement} ({item.code})"
    return statement


def section_columns(
    user: AnyUser | None, section: Section
) -> tuple[list[Learner], list[GridColumn]]:
    """The section's current roster (visible to the user) and its grid columns, in tree order.

    Queries: one for the roster, two or three per grade level on it (``requirements_for``),
    one for the standards and one for their ancestry.
    """
    roster = list(section_roster(user, section).order_by("family_name", "given_name", "pk"))
    learner_ids = [learner.pk for learner in roster]
    priority: dict[int, str] = {}
    for grade in sorted({learner.grade_level for learner in roster}):
        for item in requirements_for(section.school_id, grade, section.term_id).required:
            # A power standard for any grade on the roster is a power standard of the section.
            if priority.get(item.standard_id) != "power":
                priority[item.standard_id] = item.priority
    recorded = MasteryRecord.objects.filter(learner_id__in=learner_ids).values("standard_id")
    pending = StaleMastery.objects.filter(learner_id__in=learner_ids).values("standard_id")
    standards = list(
        Standard.objects.filter(status=StandardStatus.ACTIVE, is_grouping=False)
        .filter(Q(pk__in=list(priority)) | Q(pk__in=recorded) | Q(pk__in=pending))
        .order_by()  # sorted below, in tree order
        .values_list("pk", "human_code", "statement", "framework_id")
    )
    chains = ancestry([pk for pk, *_ in standards])
    columns = []
    for pk, code, statement, framework_id in standards:
        chain = chains.get(pk, [])
        path = tuple(item.position for item in reversed(chain))
        columns.append(
            GridColumn(
                standard_id=pk,
                code=code or statement[:24],
                statement=statement,
                framework_id=framework_id,
                domain=domain_of(chain),
                power=priority.get(pk) == "power",
                required=pk in priority,
                sort_key=(framework_id, path, _natural(code or ""), pk),
            )
        )
    columns.sort(key=lambda column: column.sort_key)
    return roster, columns


# --- the grid -----------------------------------------------------------------------------------


def cell_url_pattern() -> str:
    """The cell detail URL with ``{learner}`` and ``{standard}`` placeholders (one ``reverse``
    for the whole grid instead of one per cell)."""
    url = reverse("mastery:cell_detail", args=[1111111111, 2222222222])
    return url.replace("1111111111", "{learner}").replace("2222222222", "{standard}")


def _state_of(state: str, mastered: bool, level_label: str) -> str:
    if mastered:
        return MASTERED
    if state == MasteryState.INSUFFICIENT_EVIDENCE:
        return INSUFFICIENT
    if state == MasteryState.SCORED or level_label:
        return NOT_YET
    return NOT_ASSESSED


def list_section_grid(
    user: AnyUser | None, section: Section, filters: GridFilters | None = None
) -> SectionGrid:
    """The section grid: one row per current learner the user may see, one column per
    standard of the section (see the module docstring), narrowed by ``filters``.

    A fixed number of queries whatever the number of learners or standards: the roster, the
    requirements per grade level on the roster, the standards, their ancestry, the records,
    the pending markers and the scale (``tests/journeys/test_grid.py`` proves it). A state
    filter keeps the learners and standards with at least one cell in that state and dims
    the other cells.
    """
    filters = filters or GridFilters()
    roster, all_columns = section_columns(user, section)
    domains = sorted(
        {column.domain for column in all_columns},
        key=lambda domain: (domain.pk is None, domain.label.lower()),
    )
    columns = [
        column
        for column in all_columns
        if (filters.domain_id is None or column.domain.pk == filters.domain_id)
        and (not filters.power_only or column.power)
    ]
    learner_ids = [learner.pk for learner in roster]
    standard_ids = [column.standard_id for column in columns]
    scale = scale_for(section.school_id)
    levels = grid_levels(scale)
    level_by_key = {(level.points, level.label): level for level in levels}
    records: dict[tuple[int, int], _Stored] = {}
    pending: set[tuple[int, int]] = set()
    freshness: dict[str, datetime.datetime | None] = {"oldest": None, "newest": None}
    if learner_ids and standard_ids:
        in_grid = MasteryRecord.objects.filter(
            learner_id__in=learner_ids, standard_id__in=standard_ids
        ).order_by()
        # Only what a cell shows: converting a score and a timestamp per row would cost more
        # than every other read of the page (bench/grid.py); freshness is one aggregate.
        for rec in in_grid.values_list(
            "learner_id", "standard_id", "state", "level_points", "level_label", "mastered"
        ):
            records[(rec[0], rec[1])] = (rec[2], rec[3], rec[4], rec[5])
        freshness = in_grid.aggregate(oldest=Min("computed_at"), newest=Max("computed_at"))
        pending = set(
            StaleMastery.objects.filter(learner_id__in=learner_ids, standard_id__in=standard_ids)
            .order_by()
            .values_list("learner_id", "standard_id")
        )
    pattern = cell_url_pattern()
    learner_page = reverse("mastery:learner_page", args=[1111111111]).replace(
        "1111111111", "{learner}"
    )
    looks: dict[tuple[_Stored | None, bool], tuple[str, GridLevel | None, str, str]] = {}
    rows = []
    for learner in roster:
        learner_id = learner.pk
        cells = []
        for column in columns:
            key = (learner_id, column.standard_id)
            look_key = (records.get(key), key in pending)
            look = looks.get(look_key)
            if look is None:
                look = looks[look_key] = _look(*look_key, levels, level_by_key)
            cells.append(
                GridCell(
                    state=look[0],
                    level=look[1],
                    pending=look_key[1],
                    href=pattern.format(learner=learner_id, standard=column.standard_id),
                    text=look[2],
                    css=look[3],
                )
            )
        rows.append(GridRow(learner, cells, learner_page.format(learner=learner_id)))
    counts = dict.fromkeys((name for name, _ in STATE_FILTERS), 0)
    for row in rows:
        for cell in row.cells:
            counts[cell.state] += 1
            counts[PENDING] += cell.pending
    if filters.state:
        rows, columns = _narrow(rows, columns, filters.state)
    return SectionGrid(
        section=section,
        filters=filters,
        columns=columns,
        rows=rows,
        domains=domains,
        levels=levels,
        scale=scale,
        roster_size=len(roster),
        column_count=len(all_columns),
        pending=len(pending),
        oldest_computed_at=freshness["oldest"],
        newest_computed_at=freshness["newest"],
        counts=counts,
    )


def _look(
    stored: _Stored | None,
    pending: bool,
    levels: Sequence[GridLevel],
    level_by_key: dict[tuple[Decimal, str], GridLevel],
) -> tuple[str, GridLevel | None, str, str]:
    """(state, level, text, css) of a cell: a handful of distinct values per grid."""
    if stored is None:
        state, level = NOT_ASSESSED, None
    else:
        raw_state, points, label, mastered = stored
        state = _state_of(raw_state, mastered, label)
        level = _level(level_by_key, levels, points, label)
    if level is not None:
        text = level.label
    elif state == INSUFFICIENT:
        text = "Insufficient"
    elif state != NOT_ASSESSED:
        text = "Scored"  # a score without a level: the cell's page shows it
    else:
        text = "—"
    classes = [level.css if level is not None else f"st-{state}"]
    if state == MASTERED:
        classes.append("m")
    if pending:
        classes.append("pending")
    return state, level, text, " ".join(classes)


def _level(
    by_key: dict[tuple[Decimal, str], GridLevel],
    levels: Sequence[GridLevel],
    points: Decimal | None,
    label: str,
) -> GridLevel | None:
    if points is None and not label:
        return None
    found = by_key.get((points, label)) if points is not None else None
    if found is not None:
        return found
    # A record computed under an earlier scale: match by label, else by points.
    for level in levels:
        if level.label == label or (points is not None and level.points == points):
            return level
    return None


def _narrow(
    rows: list[GridRow], columns: list[GridColumn], state: str
) -> tuple[list[GridRow], list[GridColumn]]:
    keep_columns = [
        index
        for index in range(len(columns))
        if any(row.cells[index].matches(state) for row in rows)
    ]
    narrowed: list[GridRow] = []
    for row in rows:
        cells = [row.cells[index] for index in keep_columns]
        if any(cell.matches(state) for cell in cells):
            narrowed.append(
                GridRow(
                    learner=row.learner,
                    href=row.href,
                    cells=[
                        cell
                        if cell.matches(state)
                        else cell._replace(dimmed=True, css=cell.css + " dim")
                        for cell in cells
                    ],
                )
            )
    return narrowed, [columns[index] for index in keep_columns]


def standards_for_quick_entry(
    user: AnyUser | None, section: Section, limit: int = 200
) -> list[GridColumn]:
    """The section's standards (the grid's columns), to tick in quick entry."""
    _roster, columns = section_columns(user, section)
    return columns[:limit]


def ids_from(values: Iterable[str]) -> list[int]:
    """Positive integer ids from query values; anything else is dropped."""
    out = []
    for value in values:
        text = value.strip()
        if text.isascii() and text.isdigit() and 0 < len(text) < 19:
            out.append(int(text))
    return out


# --- one cell -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellDetail:
    """One learner's mastery of one standard, the evidence behind it and how it was computed."""

    learner: Learner
    standard: Standard
    record: MasteryRecord | None
    state: str
    level: GridLevel | None
    pending: bool
    explanation: dict[str, Any] | None
    ratings: list[Rating]
    self_ratings: list[Rating]
    scale: EffectiveScale


def get_standard_or_404(pk: object) -> Standard:
    """A standard by id with its framework (standards are public); 404 for anything else."""
    ids = ids_from([str(pk)])
    standard = (
        Standard.objects.select_related("framework").filter(pk=ids[0]).first() if ids else None
    )
    if standard is None:
        raise Http404("Not found.")
    return standard


def cell_detail(learner: Learner, standard: Standard) -> CellDetail:
    """The cell of ``learner`` x ``standard``: the record (None when never computed), whether a
    recompute is pending, its full explanation, and the current ratings on the standard (counted
    ones and the learner's self-ratings apart), newest first. Check that the user may see the
    learner first."""
    record = (
        MasteryRecord.objects.select_related("learner", "standard")
        .filter(learner_id=learner.pk, standard_id=standard.pk)
        .first()
    )
    pending = StaleMastery.objects.filter(learner_id=learner.pk, standard_id=standard.pk).exists()
    ratings = list(
        current_ratings()
        .filter(learner_id=learner.pk, standard_id=standard.pk)
        .select_related("evidence")
        .order_by("-demonstrated_at", "-recorded_at", "-id")
    )
    scale = scale_for(learner.school_id)
    levels = grid_levels(scale)
    by_key = {(level.points, level.label): level for level in levels}
    state = NOT_ASSESSED
    level = None
    if record is not None:
        state = _state_of(record.state, record.mastered, record.level_label)
        level = _level(by_key, levels, record.level_points, record.level_label)
    return CellDetail(
        learner=learner,
        standard=standard,
        record=record,
        state=state,
        level=level,
        pending=pending,
        explanation=explain_record(record) if record is not None else None,
        ratings=[rating for rating in ratings if rating.source != RatingSource.SELF],
        self_ratings=[rating for rating in ratings if rating.source == RatingSource.SELF],
        scale=scale,
    )
