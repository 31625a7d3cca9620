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
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache
from html import escape
from typing import Any, Final, NamedTuple

from django.db import connection
from django.http import Http404
from django.urls import reverse

from evidence.models import Rating, RatingSource
from evidence.selectors import current_ratings
from learners.models import KIND_RANK, Learner, Organisation, OrganisationKind, Section
from learners.selectors import AnyUser, section_roster
from mastery import core
from mastery.core import EstimatorComparison, RulesKeys
from mastery.models import MasteryOverride, MasteryRecord, MasteryState, StaleMastery
from mastery.selectors import estimators_of, explain_record
from standards.models import Requirement, Standard, StandardStatus
from standards.selectors import EffectiveScale

STANDARD_TABLE: Final = Standard._meta.db_table
REQUIREMENT_TABLE: Final = Requirement._meta.db_table
ORGANISATION_TABLE: Final = Organisation._meta.db_table
RECORD_TABLE: Final = MasteryRecord._meta.db_table
STALE_TABLE: Final = StaleMastery._meta.db_table
OVERRIDE_TABLE: Final = MasteryOverride._meta.db_table
RATING_TABLE: Final = Rating._meta.db_table

# The states a grid cell can be filtered by (PRODUCT.md "Reports": mastered / not yet /
# insufficient evidence / not assessed), plus cells waiting for a recompute and cells whose
# estimators disagree (``MasteryRecord.inconsistent``).
MASTERED: Final = "mastered"
NOT_YET: Final = "not_yet"
INSUFFICIENT: Final = "insufficient_evidence"
NOT_ASSESSED: Final = "not_assessed"
PENDING: Final = "pending"
INCONSISTENT: Final = "inconsistent"
STATE_FILTERS: Final = (
    (MASTERED, "Mastered"),
    (NOT_YET, "Not yet mastered"),
    (INSUFFICIENT, "Insufficient evidence"),
    (NOT_ASSESSED, "Not assessed"),
    (PENDING, "Recompute pending"),
    (INCONSISTENT, "Evidence inconsistent"),
)
INCONSISTENT_TITLE: Final = "The estimators disagree: the evidence is inconsistent, look again"
_INCONSISTENT_HTML: Final = (
    '<span class="flag" aria-hidden="true">!</span>'
    '<span class="visually-hidden"> (evidence inconsistent)</span>'
)
OVERRIDE_TITLE: Final = "Override: a teacher set this level (the cell says who and why)"
_OVERRIDE_HTML: Final = (
    '<span class="override-mark" aria-hidden="true">✎</span>'
    '<span class="visually-hidden"> (override)</span>'
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
    label: str = ""  # the distinguishing part of the code (:func:`distinct_labels`)


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
    inconsistent: bool = False

    def matches(self, state: str) -> bool:
        return _matches(self, state)


# state, level points as text, label, mastered, inconsistent
type _Stored = tuple[str, str | None, str, bool, bool]


def _matches(cell: GridCell | CellLook, state: str) -> bool:
    if state == PENDING:
        return cell.pending
    if state == INCONSISTENT:
        return cell.inconsistent
    return cell.state == state


class CellLook(NamedTuple):
    """How a cell looks, whoever's and whichever standard's it is (a grid has a handful of
    distinct looks), with its HTML around the cell's link: ``opening + href + closing``."""

    state: str
    level: GridLevel | None
    pending: bool
    text: str
    css: str
    dimmed: bool
    opening: str
    closing: str
    inconsistent: bool = False
    overridden: bool = False

    def matches(self, state: str) -> bool:
        return _matches(self, state)


@dataclass(frozen=True)
class GridRow:
    """One learner's row: a look per column; a cell's link is ``cell_start`` (the learner's
    part) + the column's end in ``cell_ends``. ``cells`` spells the cells out."""

    learner: Learner
    looks: Sequence[CellLook]
    href: str = ""  # the learner's mastery page
    cell_start: str = ""
    cell_ends: Sequence[str] = ()

    @cached_property
    def cells(self) -> list[GridCell]:
        start = self.cell_start
        return [
            GridCell(look.state, look.level, look.pending, start + end, look.text, look.css,
                     look.dimmed, look.inconsistent)
            for look, end in zip(self.looks, self.cell_ends, strict=True)
        ]  # fmt: skip

    def html(self) -> str:
        """The row's cells as HTML (``<td>`` elements), in one pass."""
        start = self.cell_start
        return "".join(
            [
                look.opening + start + end + look.closing
                for look, end in zip(self.looks, self.cell_ends, strict=True)
            ]
        )


# The grid's table as HTML, built here rather than tag by tag in the template: 2,100 cells and
# their headers cost most of the page's server time through the template engine (bench/grid.py).
# Every free text (names, codes, statements, labels) is escaped; the rest is fixed words and ids.
_POWER_HTML: Final = (
    ' <span class="power" aria-hidden="true">★</span>'
    '<span class="visually-hidden">(power standard)</span>'
)


def header_html(columns: Iterable[GridColumn]) -> str:
    """The column headers (``<th scope="col">`` elements): the column's short label as a button
    that shows the full code and the statement (on focus, hover and tap), and the power mark."""
    return "\n".join(
        f'<th scope="col"><button type="button" class="col" tabindex="-1"'
        f' aria-describedby="col-{index}">{escape(column.label or column.code)}</button>'
        f"{_POWER_HTML if column.power else ''}"
        f'<span class="col-tip" id="col-{index}" role="tooltip">'
        f"<strong>{escape(column.code)}</strong> {escape(column.statement)}</span></th>"
        for index, column in enumerate(columns)
    )


def rows_html(rows: Iterable[GridRow]) -> str:
    """The body rows (``<tr>`` elements): the learner's name linking to their page, the cells."""
    return "\n".join(
        f'<tr>\n<th scope="row"><a href="{row.href}">{escape(row.learner.display_name)}</a></th>'
        f"\n{row.html()}\n</tr>"
        for row in rows
    )


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
    """The scale's levels (highest first) with their CSS class and a readable text colour (made
    once per process for each scale: a scale is a frozen value, an edited one is another key)."""
    return list(_grid_levels(scale))


@lru_cache(maxsize=1024)
def _grid_levels(scale: EffectiveScale) -> tuple[GridLevel, ...]:
    return tuple(
        GridLevel(
            index=index,
            points=level.points,
            label=level.label,
            colour=level.colour if _HEX.match(level.colour) else "#ffffff",
            text_colour=text_colour_for(level.colour),
            mastered=core.is_mastered(scale, level.cut_point),
        )
        for index, level in enumerate(scale.levels)
    )


def level_keys(levels: Sequence[GridLevel]) -> list[tuple[str, GridLevel]]:
    """The key a teacher types in the grid for each level (highest first): the level's points
    when every level's points are distinct whole numbers from 0 to 9 (4 Advanced ... 1
    Beginning), else 1, 2, ... from the lowest level."""
    points = [level.points for level in levels]
    if len(set(points)) == len(points) and all(
        value == value.to_integral_value() and 0 <= value <= 9 for value in points
    ):
        return [(str(int(level.points)), level) for level in levels]
    if len(levels) > 9:
        return []
    count = len(levels)
    return [(str(count - index), level) for index, level in enumerate(levels)]


def level_keys_json(levels: Sequence[GridLevel]) -> str:
    """:func:`level_keys` as JSON for the grid's script: key, points, label, colour class."""
    return json.dumps(
        [
            {"key": key, "points": f"{level.points:g}", "label": level.label, "css": level.css}
            for key, level in level_keys(levels)
        ]
    )


@lru_cache(maxsize=1024)
def scale_stylesheet(scale: EffectiveScale) -> str:
    """CSS giving each level's cells its colour (served from our origin: no inline styles)."""
    return "".join(
        f".lv-{level.index}{{background:{level.colour};color:{level.text_colour}}}\n"
        for level in grid_levels(scale)
    )


# --- the columns --------------------------------------------------------------------------------


def distinct_labels(codes: Sequence[str]) -> list[str]:
    """Short column labels that tell the codes apart: each code from its first dotted part with
    a digit (``CCSS.Math.Content.3.OA.A.1`` -> ``3.OA.A.1``, ``CCSS.Math.Practice.MP1`` ->
    ``MP1``), extended to the left while two codes would read the same
    (``CCSS.ELA-Literacy.RL.3.1`` and ``...RI.3.1`` -> ``RL.3.1`` and ``RI.3.1``). The same
    codes give the same labels: worked out once per process for each set of columns."""
    return list(_distinct_labels(tuple(codes)))


@lru_cache(maxsize=1024)
def _distinct_labels(codes: tuple[str, ...]) -> tuple[str, ...]:
    parts = [code.split(".") for code in codes]
    starts = []
    for split in parts:
        digits = [index for index, part in enumerate(split) if any(c.isdigit() for c in part)]
        starts.append(digits[0] if digits else len(split) - 1)
    while True:
        labels = [".".join(split[start:]) for split, start in zip(parts, starts, strict=True)]
        seen: dict[str, list[int]] = {}
        for index, label in enumerate(labels):
            seen.setdefault(label, []).append(index)
        moved = False
        for indexes in seen.values():
            if len(indexes) > 1:
                for index in indexes:
                    if starts[index] > 0:
                        starts[index] -= 1
                        moved = True
        if not moved:
            return tuple(labels)


@lru_cache(maxsize=8192)
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
    framework_id: int = 0


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
    user: AnyUser | None, section: Section, roster: list[Learner] | None = None
) -> tuple[list[Learner], list[GridColumn]]:
    """The section's current roster (visible to the user) and its grid columns, in tree order.

    ``roster``: the roster already read through ``learners.selectors`` (``roster_of``), else it
    is read here. Queries: the roster, and the standards with their ancestry and the
    requirements of every grade level on the roster (one plain statement: composing them
    through the ORM cost more CPU than PostgreSQL spends answering them, bench/grid.py).
    """
    if roster is None:
        roster = list(section_roster(user, section).order_by("family_name", "given_name", "pk"))
    learner_ids = [learner.pk for learner in roster]
    if not learner_ids:
        return roster, []
    grades_of = {section: sorted({learner.grade_level for learner in roster})}
    chains, requirements = _standards_in_grid(grades_of, learner_ids)
    priority = _nearest_priorities(requirements, grades_of).get(section.pk, {})
    # (sort key, standard id, chain) in tree order, then the columns with their labels.
    ordered = sorted(
        (
            (
                chain[0].framework_id,
                tuple(item.position for item in reversed(chain)),
                _natural(chain[0].code),
                pk,
            ),
            pk,
            chain,
        )
        for pk, chain in chains.items()
    )
    codes = [chain[0].code or chain[0].statement[:24] for _key, _pk, chain in ordered]
    columns = [
        GridColumn(
            standard_id=pk,
            code=code,
            statement=chain[0].statement,
            framework_id=chain[0].framework_id,
            domain=domain_of(chain),
            power=priority.get(pk) == "power",
            required=pk in priority,
            sort_key=sort_key,
            label=label,
        )
        for (sort_key, pk, chain), code, label in zip(
            ordered, codes, distinct_labels(codes), strict=True
        )
    ]
    return roster, columns


def required_priorities(section: Section, grade_levels: Iterable[str]) -> dict[int, str]:
    """Standard id -> priority of what the section's learners must master: the requirements of
    each grade level on the roster in the section's term, set at its school or above (the
    nearest organisation wins per grade, as ``standards.selectors.requirements_for``); a
    standard that is a power standard for any of the grades is one for the section. Retired
    standards are left out. One query for every grade."""
    return sections_priorities({section: grade_levels}).get(section.pk, {})


# The requirements of some schools' terms and grades (parameters: school ids, term ids, grade
# levels, the active status), each with the kind of organisation that set it.
_REQUIREMENTS_SQL: Final = (
    f"SELECT sc.id, r.term_id, r.grade_level, r.standard_id, r.priority, o.kind, r.id"
    f" FROM {ORGANISATION_TABLE} sc"
    f" LEFT JOIN {ORGANISATION_TABLE} up ON up.id = sc.parent_id"
    f" JOIN {REQUIREMENT_TABLE} r"
    f"  ON r.organisation_id IN (sc.id, sc.parent_id, up.parent_id)"
    f" JOIN {STANDARD_TABLE} s ON s.id = r.standard_id"
    f" JOIN {ORGANISATION_TABLE} o ON o.id = r.organisation_id"
    f" WHERE sc.id = ANY(%s::bigint[]) AND r.term_id = ANY(%s::bigint[])"
    f" AND r.grade_level = ANY(%s)"
    f" AND s.status = %s"
)


def _requirements_params(grades_of: Mapping[Section, Sequence[str]]) -> list[Any]:
    schools = sorted({section.school_id for section in grades_of})
    terms = sorted({section.term_id for section in grades_of})
    grades = sorted({grade for values in grades_of.values() for grade in values})
    return [_int_array(schools), _int_array(terms), grades, StandardStatus.ACTIVE]


def sections_priorities(
    wanted: Mapping[Section, Iterable[str]],
) -> dict[int, dict[int, str]]:
    """:func:`required_priorities` of many sections at once (section id -> standard id ->
    priority), in one query whatever the number of sections (the teacher's home page)."""
    grades_of = {section: sorted(set(grades)) for section, grades in wanted.items()}
    if not any(grades_of.values()):
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_REQUIREMENTS_SQL, _requirements_params(grades_of))
        rows = cursor.fetchall()
    return _nearest_priorities(rows, grades_of)


def _nearest_priorities(
    rows: Iterable[Sequence[Any]], grades_of: Mapping[Section, Sequence[str]]
) -> dict[int, dict[int, str]]:
    """Section id -> standard id -> priority from the rows of ``_REQUIREMENTS_SQL``: per school,
    term, grade and standard the nearest organisation's requirement wins; a standard that is a
    power standard for any of a section's grades is one for the section."""
    # (school, term, grade, standard) -> (rank of the organisation, -requirement id, priority)
    nearest: dict[tuple[int, int, str, int], tuple[int, int, str]] = {}
    for school, term, grade, standard_id, priority, kind, pk in rows:
        rank = (KIND_RANK[OrganisationKind(kind)], -pk)
        key = (school, term, grade, standard_id)
        if key not in nearest or rank > nearest[key][:2]:
            nearest[key] = (*rank, priority)
    out: dict[int, dict[int, str]] = {}
    for section, section_grades in grades_of.items():
        own = out.setdefault(section.pk, {})
        chosen = set(section_grades)
        for (school, term, grade, standard_id), (*_rank, priority) in sorted(nearest.items()):
            if school != section.school_id or term != section.term_id or grade not in chosen:
                continue
            if own.get(standard_id) != "power":
                own[standard_id] = priority
    return out


def _standards_in_grid(
    grades_of: Mapping[Section, Sequence[str]], learner_ids: list[int]
) -> tuple[dict[int, list[Ancestor]], list[tuple[Any, ...]]]:
    """The grid's standards (active leaves: the required ones and every one the learners have a
    counted rating on: an assessed record, or a pending recompute of a teacher's or an imported
    rating), each with its ancestry, nearest first (the standard itself at hops 0), and the rows
    of the requirements behind them (``_REQUIREMENTS_SQL``, for :func:`_nearest_priorities`).
    One recursive statement."""
    # A record that is not assessed (a learner's self-rating alone makes one) and a pending
    # recompute with no teacher or imported rating behind it add no column: self-ratings are
    # shown beside, never counted, and never widen the teacher's grid. A required standard is
    # a column whichever organisation's requirement wins (that decides its priority only).
    query = (
        f"WITH RECURSIVE req(school, term, grade, standard, priority, kind, pk) AS"
        f" ({_REQUIREMENTS_SQL}),"
        f" wanted(id) AS ("
        f"SELECT m.standard_id FROM {RECORD_TABLE} m WHERE m.learner_id = ANY(%s::bigint[])"
        f" AND m.state <> %s"
        f" UNION SELECT p.standard_id FROM {STALE_TABLE} p WHERE p.learner_id = ANY(%s::bigint[])"
        f" AND EXISTS (SELECT 1 FROM {RATING_TABLE} r WHERE r.learner_id = p.learner_id"
        f" AND r.standard_id = p.standard_id AND r.source <> %s)"
        f" UNION SELECT standard FROM req),"
        f" up(start_id, id, parent_id, hops) AS ("
        f"  SELECT s.id, s.id, s.parent_id, 0 FROM {STANDARD_TABLE} s"
        f"  WHERE s.id IN (SELECT id FROM wanted) AND s.status = %s AND s.is_grouping = %s"
        f"  UNION ALL SELECT up.start_id, s.id, s.parent_id, up.hops + 1"
        f"  FROM {STANDARD_TABLE} s JOIN up ON s.id = up.parent_id WHERE up.hops < 50)"
        f" SELECT up.start_id, up.hops, s.id, s.position, s.is_grouping, s.item_type,"
        f" s.human_code, s.statement, s.framework_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        f" FROM up JOIN {STANDARD_TABLE} s ON s.id = up.id"
        f" UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
        f" school, term, grade, standard, priority, kind, pk FROM req"
    )
    learners = _int_array(learner_ids)
    params = [
        *_requirements_params(grades_of),
        learners,
        MasteryState.NOT_ASSESSED,
        learners,
        RatingSource.SELF,
        StandardStatus.ACTIVE,
        False,
    ]
    out: dict[int, list[Ancestor]] = {}
    requirements: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    for row in rows:
        start, hops, pk, position, grouping, item_type, code, statement, framework = row[:9]
        if start is None:
            requirements.append(row[9:])
            continue
        out.setdefault(int(start), []).append(
            Ancestor(
                int(hops),
                int(pk),
                int(position),
                bool(grouping),
                item_type or "",
                code or "",
                statement or "",
                int(framework),
            )
        )
    for chain in out.values():
        chain.sort(key=lambda item: item.hops)
    return out, requirements


# --- the grid -----------------------------------------------------------------------------------


def cell_url_parts() -> tuple[str, str, str]:
    """The cell detail URL cut around its learner and standard ids: ``head + learner + middle +
    standard + tail`` (one ``reverse`` for the whole grid instead of one per cell)."""
    head, rest = cell_url_pattern().split("{learner}")
    middle, tail = rest.split("{standard}")
    return head, middle, tail


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
    user: AnyUser | None,
    section: Section,
    filters: GridFilters | None = None,
    roster: list[Learner] | None = None,
) -> SectionGrid:
    """The section grid: one row per current learner the user may see, one column per
    standard of the section (see the module docstring), narrowed by ``filters``. ``roster``:
    as :func:`section_columns`.

    A fixed number of queries whatever the number of learners or standards: the roster, the
    requirements, the standards with their ancestry, the scale, the pending markers with the
    freshness, and the cells (``tests/journeys/test_grid.py`` proves it). A state filter keeps
    the learners and standards with at least one cell in that state and dims the other cells.
    """
    filters = filters or GridFilters()
    roster, all_columns = section_columns(user, section, roster)
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
    width = len(standard_ids)
    # The scale and the freshness keys' rules from the pages' cache, checked against the version
    # the cells' statement reads (no statement of its own on a hit).
    page_rules = core.PageRules()
    read = None
    if learner_ids and standard_ids:
        read = _read_cells(roster, columns, section.school_id)
        page_rules.use_version(section.school_id, read.version)
    scale = page_rules.scale(section.school_id)
    levels = grid_levels(scale)
    looks = _Looks(levels)
    blank = looks.get(None, False)
    # Every cell's look, row after row (a learner's row is a slice of ``width`` looks).
    flat = [blank] * (len(learner_ids) * width)
    oldest = newest = None
    if read is not None:
        oldest, newest = read.oldest, read.newest
        _place_cells(flat, read, roster, columns, RulesKeys(page_rules), looks)
    counts = dict.fromkeys((name for name, _ in STATE_FILTERS), 0)
    pending = 0
    looks_by_id = {id(look): look for look in looks.made.values()}
    for look_id, cells in Counter(map(id, flat)).items():
        look = looks_by_id[look_id]
        counts[look.state] += cells
        if look.pending:
            pending += cells
        if look.inconsistent:
            counts[INCONSISTENT] += cells
    counts[PENDING] = pending
    head, middle, tail = cell_url_parts()
    learner_page = reverse("mastery:learner_page", args=[1111111111]).replace(
        "1111111111", "{learner}"
    )
    ends = [f"{middle}{standard_id}{tail}" for standard_id in standard_ids]
    rows = [
        GridRow(
            learner,
            flat[index * width : (index + 1) * width],
            learner_page.format(learner=learner.pk),
            f"{head}{learner.pk}",
            ends,
        )
        for index, learner in enumerate(roster)
    ]
    if filters.state:
        rows, columns = _narrow(rows, columns, filters.state, looks)
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
        pending=pending,
        oldest_computed_at=oldest,
        newest_computed_at=newest,
        counts=counts,
    )


class _Looks:
    """The distinct looks of a grid's cells, each made once."""

    def __init__(self, levels: Sequence[GridLevel]) -> None:
        self.levels = levels
        self.level_by_key = {(level.points, level.label): level for level in levels}
        self.made: dict[tuple[_Stored | None, bool, bool], CellLook] = {}
        self.dimmed: dict[CellLook, CellLook] = {}

    def get(self, stored: _Stored | None, pending: bool, overridden: bool = False) -> CellLook:
        look = self.made.get((stored, pending, overridden))
        if look is None:
            look = self.made[(stored, pending, overridden)] = self._make(
                stored, pending, overridden
            )
        return look

    def dim(self, look: CellLook) -> CellLook:
        dimmed = self.dimmed.get(look)
        if dimmed is None:
            css = look.css + " dim"
            dimmed = self.dimmed[look] = look._replace(
                dimmed=True, css=css, opening=f'<td class="{css}"><a href="'
            )
        return dimmed

    def _make(self, stored: _Stored | None, pending: bool, overridden: bool = False) -> CellLook:
        inconsistent = False
        if stored is None:
            state, level = NOT_ASSESSED, None
        else:
            raw_state, points, label, mastered, inconsistent = stored
            state = _state_of(raw_state, mastered, label)
            level = _level(
                self.level_by_key, self.levels, None if points is None else Decimal(points), label
            )
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
        if inconsistent:
            classes.append("flagged")
        if overridden:
            classes.append("overridden")
        css = " ".join(classes)
        # The class names are fixed words and the link is made of integer ids; the text (a
        # level label an administrator set) is escaped.
        titles = ["A recompute is pending"] if pending else []
        if inconsistent:
            titles.append(INCONSISTENT_TITLE)
        if overridden:
            titles.append(OVERRIDE_TITLE)
        title = f' title="{". ".join(titles)}"' if titles else ""
        mark = (_INCONSISTENT_HTML if inconsistent else "") + (_OVERRIDE_HTML if overridden else "")
        return CellLook(
            state=state,
            level=level,
            pending=pending,
            text=text,
            css=css,
            dimmed=False,
            opening=f'<td class="{css}"><a href="',
            closing=f'"{title}>{escape(text)}{mark}</a></td>',
            inconsistent=inconsistent,
            overridden=overridden,
        )


class _Cells(NamedTuple):
    """What ``_read_cells`` read: the records grouped by what they store (stored values, the key
    of the rules that computed them, their positions in the grid: row * width + column), the
    positions of the dirty markers and of the overrides in force, the oldest and newest
    computation, and the version of the rules of the section's school."""

    groups: list[tuple[_Stored, int | None, list[int]]]
    marked: set[int]
    overridden: set[int]
    oldest: datetime.datetime | None
    newest: datetime.datetime | None
    version: str | None


def _place_cells(
    flat: list[CellLook],
    read: _Cells,
    roster: Sequence[Learner],
    columns: Sequence[GridColumn],
    keys: RulesKeys,
    looks: _Looks,
) -> None:
    """Put each read cell's look at its position in ``flat``. A record computed under other
    rules than those in force for its learner's school and its standard's framework is pending,
    as one with a dirty marker is (ADR 8); a marker without a record is a pending blank."""
    width = len(columns)
    schools = [learner.school_id for learner in roster]
    frameworks = [column.framework_id for column in columns]
    for school_id in set(schools):
        keys.cache.load_many(school_id, set(frameworks))
    current = {
        (school, framework): keys.current(school, framework, False)
        for school in set(schools)
        for framework in set(frameworks)
    }
    # Usually one key is in force over the whole grid: then a group is fresh or stale at once.
    uniform = len(set(current.values())) == 1
    special = read.marked | read.overridden
    todo: Iterable[int]
    for stored, key, positions in read.groups:
        if uniform:
            in_force = next(iter(current.values()))
            look = looks.get(stored, key is None or key != in_force)
            for position in positions:
                flat[position] = look
            todo = special.intersection(positions) if special else ()
        else:
            todo = positions
        for position in todo:
            in_force = current[(schools[position // width], frameworks[position % width])]
            flat[position] = looks.get(
                stored,
                key is None or key != in_force or position in read.marked,
                position in read.overridden,
            )
    recorded = {position for _, _, positions in read.groups for position in positions}
    for position in read.marked - recorded:
        flat[position] = looks.get(None, True)


def _int_array(values: Iterable[int]) -> str:
    """Integers as a PostgreSQL array literal (one text parameter, cast in the statement: the
    driver adapts a list of ints element by element, several times per grid)."""
    return "{" + ",".join(str(int(value)) for value in values) + "}"


# A pair's place in the grid: its learner's row (1-based ``i``) and its standard's column (``j``).
_PLACE = (
    "array_position(%(learners)s::bigint[], {table}.learner_id) AS i,"
    " array_position(%(standards)s::bigint[], {table}.standard_id) AS j"
)
_PAIRS = (
    "{table}.learner_id = ANY(%(learners)s::bigint[])"
    " AND {table}.standard_id = ANY(%(standards)s::bigint[])"
)
_CELLS_SQL: Final = (
    # The records, grouped by what they store (a grid has a handful of distinct looks). A record
    # kept without a ratings digest (before provenance) reads as never keyed: stale, as
    # RulesKeys.is_stale says.
    f"SELECT 'r', m.state, CAST(m.level_points AS TEXT), m.level_label, m.mastered,"
    f" m.inconsistent, CASE WHEN m.ratings_digest IS NULL THEN NULL ELSE m.rules_key END,"
    f" array_agg((array_position(%(learners)s::bigint[], m.learner_id) - 1) * %(width)s"
    f" + array_position(%(standards)s::bigint[], m.standard_id) - 1),"
    f" MIN(m.computed_at), MAX(m.computed_at), NULL"
    f" FROM {RECORD_TABLE} m WHERE {_PAIRS.format(table='m')}"
    f" GROUP BY 2, 3, 4, 5, 6, 7"
    # Dirty markers (a recompute pending) and overrides in force, one row each: a few.
    f" UNION ALL SELECT 'p', NULL, NULL, NULL, NULL, NULL, NULL, ARRAY[(i - 1) * %(width)s"
    f" + j - 1], NULL, NULL, NULL FROM (SELECT {_PLACE.format(table='p')} FROM {STALE_TABLE} p"
    f" WHERE {_PAIRS.format(table='p')}) p"
    f" UNION ALL SELECT 'o', NULL, NULL, NULL, NULL, NULL, NULL, ARRAY[(i - 1) * %(width)s"
    f" + j - 1], NULL, NULL, NULL FROM (SELECT {_PLACE.format(table='o')}"
    f" FROM {OVERRIDE_TABLE} o WHERE {_PAIRS.format(table='o')} AND o.cleared_at IS NULL) o"
    # The version of the rules of the section's school.
    f" UNION ALL SELECT 'v', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    f" {core.rules_version_sql('%(school)s')}"
)


def _read_cells(roster: Sequence[Learner], columns: Sequence[GridColumn], school_id: int) -> _Cells:
    """The grid's records grouped by what they store, its dirty markers and overrides in force,
    the oldest and newest computation and the version of the rules of the section's school: one
    statement, reading only what a cell shows. A row per cell (or a queryset, or a score or a
    timestamp per row) would cost more than every other read of the page (bench/grid.py); a
    grid has a handful of distinct looks."""
    params: dict[str, str | int] = {
        "learners": _int_array(learner.pk for learner in roster),
        "standards": _int_array(column.standard_id for column in columns),
        "width": len(columns),
        "school": school_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CELLS_SQL, params)
        rows = cursor.fetchall()
    groups: list[tuple[_Stored, int | None, list[int]]] = []
    marked: set[int] = set()
    overridden: set[int] = set()
    oldest = newest = None
    version = None
    for kind, state, points, label, mastered, flag, key, positions, first, last, text in rows:
        if kind == "r":
            groups.append(((state, points, label, bool(mastered), bool(flag)), key, positions))
            oldest = first if oldest is None or first < oldest else oldest
            newest = last if newest is None or last > newest else newest
        elif kind == "p":
            marked.update(positions)
        elif kind == "o":
            overridden.update(positions)
        else:
            version = text
    return _Cells(groups, marked, overridden, oldest, newest, version)


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
    rows: list[GridRow], columns: list[GridColumn], state: str, looks: _Looks
) -> tuple[list[GridRow], list[GridColumn]]:
    keep_columns = [
        index
        for index in range(len(columns))
        if any(row.looks[index].matches(state) for row in rows)
    ]
    narrowed: list[GridRow] = []
    for row in rows:
        kept = [row.looks[index] for index in keep_columns]
        if any(look.matches(state) for look in kept):
            narrowed.append(
                GridRow(
                    learner=row.learner,
                    looks=[look if look.matches(state) else looks.dim(look) for look in kept],
                    href=row.href,
                    cell_start=row.cell_start,
                    cell_ends=[row.cell_ends[index] for index in keep_columns],
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
    # The field's estimators on the same ratings beside the policy (None for a grouping).
    estimators: EstimatorComparison | None = None
    # The teacher's override in force on the pair (ADR 8), with who set it.
    override: MasteryOverride | None = None


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
    page_rules = core.PageRules()  # the scale and the freshness key's rules: one version read
    pending = StaleMastery.objects.filter(
        learner_id=learner.pk, standard_id=standard.pk
    ).exists() or (
        record is not None
        and RulesKeys(page_rules).is_stale(
            learner.school_id,
            standard.framework_id,
            standard.is_grouping,
            record.rules_key,
            record.ratings_digest,
        )
    )
    ratings = list(
        current_ratings()
        .filter(learner_id=learner.pk, standard_id=standard.pk)
        .select_related("evidence")
        .order_by("-demonstrated_at", "-recorded_at", "-id")
    )
    scale = page_rules.scale(learner.school_id)
    levels = grid_levels(scale)
    by_key = {(level.points, level.label): level for level in levels}
    state = NOT_ASSESSED
    level = None
    if record is not None:
        state = _state_of(record.state, record.mastered, record.level_label)
        level = _level(by_key, levels, record.level_points, record.level_label)
    counted = [rating for rating in ratings if rating.source != RatingSource.SELF]
    return CellDetail(
        learner=learner,
        standard=standard,
        record=record,
        state=state,
        level=level,
        pending=pending,
        explanation=explain_record(record) if record is not None else None,
        ratings=counted,
        self_ratings=[rating for rating in ratings if rating.source == RatingSource.SELF],
        scale=scale,
        estimators=estimators_of(learner, standard, counted) if counted else None,
        override=MasteryOverride.objects.select_related("set_by")
        .filter(learner_id=learner.pk, standard_id=standard.pk, cleared_at__isnull=True)
        .first(),
    )
