"""Reads a CSV of local standards: one row per item.

Columns (header names are matched without case, spaces or punctuation, with common aliases,
so OpenSALT's spreadsheet layout is read as is):

- ``identifier`` (or ``id``): the item's identifier. When blank, one is derived from the
  framework identifier and the human code (a UUID 5), so re-imports still match.
- ``parent_identifier``: the parent's identifier, or ``parent`` / ``parent_code``: the parent's
  human code. Blank: the item is at the top level.
- ``human_code`` (``humanCodingScheme``, ``code``), ``statement`` (``fullStatement``; when blank,
  ``label`` is used), ``item_type`` (``CFItemType``, ``Statement Type``), ``grade_levels``
  (``educationLevel``; separated by ``;``, ``,``, ``|`` or spaces), optional
  ``list_enumeration`` and ``order`` (sibling order; file order otherwise).

Rows are numbered as a spreadsheet shows them: the header is row 1. Blank rows are skipped.
"""

from __future__ import annotations

import csv
import io
import re
import uuid

from common.importing import Location, warning
from standards.importers.base import (
    IS_CHILD_OF,
    ImportRefused,
    ParsedAssociation,
    ParsedDocument,
    ParsedFramework,
    ParsedItem,
    Problem,
    split_grade_levels,
)
from standards.importers.tree import graph_problems

MAX_ROWS = 50_000
MAX_BYTES = 20 * 1024 * 1024
# Deterministic identifiers for rows and links that the file does not name.
NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4c55-9a7e-2b8f1d4e6a90")

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "identifier": ("identifier", "id", "caseidentifier", "itemidentifier"),
    "parent_identifier": ("parentidentifier", "parentid"),
    "parent_code": ("parentcode", "parent", "parenthumancode", "parenthumancodingscheme"),
    "human_code": ("humancode", "humancodingscheme", "statementcode", "code"),
    "statement": ("statement", "fullstatement"),
    "label": ("label", "abbreviatedstatement"),
    "item_type": ("itemtype", "cfitemtype", "statementtype", "type"),
    "grade_levels": ("gradelevels", "gradelevel", "educationlevel", "educationallevel", "grades"),
    "list_enumeration": ("listenumeration",),
    "order": ("order", "sequence", "sequencenumber", "position"),
}
LIMITS = {"identifier": 255, "human_code": 100, "item_type": 100, "list_enumeration": 50}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _columns(header: list[str]) -> dict[str, int]:
    """Our field name -> column index, taking the first alias present in alias order."""
    positions: dict[str, int] = {}
    for position, name in enumerate(header):
        positions.setdefault(_key(name), position)
    found: dict[str, int] = {}
    for field_name, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in positions and positions[alias] not in found.values():
                found[field_name] = positions[alias]
                break
    return found


def derived_identifier(framework_identifier: str, *parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join([framework_identifier, *parts])))


def parse_standards_csv(
    data: bytes,
    *,
    framework_identifier: str,
    title: str,
    creator: str = "",
    allow_missing_parents: bool = False,
    file_name: str = "",
) -> ParsedFramework:
    """Parses the CSV into a framework; raises :class:`ImportRefused` listing every problem.

    ``allow_missing_parents`` places rows whose parent is not in the file at the top level
    (with a warning each) instead of refusing the file.
    """
    problems: list[Problem] = []
    framework_identifier = framework_identifier.strip()
    title = title.strip()
    if not framework_identifier:
        problems.append(Problem("framework", "identifier", "is required"))
    elif len(framework_identifier) > 255:
        problems.append(Problem("framework", "identifier", "is longer than 255 characters"))
    if not title:
        problems.append(Problem("framework", "title", "is required"))
    elif len(title) > 500:
        problems.append(Problem("framework", "title", "is longer than 500 characters"))
    file = file_name or "file"
    if len(data) > MAX_BYTES:
        problems.append(Problem(file, "", f"is larger than {MAX_BYTES // (1024 * 1024)} MB"))
    if problems:
        raise ImportRefused(problems)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRefused(
            [Problem(file, "", f"is not UTF-8 text (byte {error.start})")]
        ) from error
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise ImportRefused([Problem(file, "", f"is not valid CSV: {error}")]) from error
    header = Location(file_name, 1)
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ImportRefused([header.error("", "the header row is missing")])
    columns = _columns(rows[0])
    if "statement" not in columns and "label" not in columns:
        problems.append(header.error("statement", "the header has no statement column"))
    if "identifier" not in columns and "human_code" not in columns:
        problems.append(
            header.error("identifier", "the header needs an identifier or human code column")
        )
    if len(rows) - 1 > MAX_ROWS:
        problems.append(Problem(file, "", f"has more than {MAX_ROWS} rows"))
    if problems:
        raise ImportRefused(problems)

    warnings: list[Problem] = []
    parsed_rows: list[tuple[ParsedItem, dict[str, str], int | None]] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        parsed = _parse_row(file_name, number, row, columns, framework_identifier, problems)
        if parsed is not None:
            parsed_rows.append(parsed)

    by_identifier = {item.identifier: item for item, _, _ in parsed_rows}
    by_code: dict[str, list[ParsedItem]] = {}
    for item, _, _ in parsed_rows:
        if item.human_code:
            by_code.setdefault(item.human_code, []).append(item)

    associations: list[ParsedAssociation] = []
    for item, cells, order in parsed_rows:
        parent, problem, missing = _resolve_parent(item, cells, by_identifier, by_code)
        if problem is not None:
            if not (missing and allow_missing_parents):
                problems.append(problem)
                continue
            warnings.append(
                warning(
                    problem.file,
                    problem.column,
                    f"{problem.reason}: placed at the top level",
                    row=problem.row,
                    record=problem.record,
                )
            )
        destination = framework_identifier if parent is None else parent
        associations.append(
            ParsedAssociation(
                identifier=derived_identifier(framework_identifier, IS_CHILD_OF, item.identifier),
                association_type=IS_CHILD_OF,
                origin_identifier=item.identifier,
                destination_identifier=destination,
                where=item.where,
                sequence_number=order,
            )
        )
    framework = ParsedFramework(
        source_format="csv",
        document=ParsedDocument(identifier=framework_identifier, title=title, creator=creator),
        items=[item for item, _, _ in parsed_rows],
        associations=associations,
        warnings=warnings,
    )
    # The graph checks run on what read well, so the file's every problem is reported at once.
    problems.extend(graph_problems(framework))
    if problems:
        raise ImportRefused([*problems, *warnings])
    return framework


def _cell(row: list[str], columns: dict[str, int], name: str) -> str:
    position = columns.get(name)
    if position is None or position >= len(row):
        return ""
    return row[position].strip()


def _parse_row(
    file_name: str,
    number: int,
    row: list[str],
    columns: dict[str, int],
    framework_identifier: str,
    problems: list[Problem],
) -> tuple[ParsedItem, dict[str, str], int | None] | None:
    cells = {name: _cell(row, columns, name) for name in COLUMN_ALIASES}
    where = Location(file_name, number)
    before = len(problems)
    for name, limit in LIMITS.items():
        if len(cells[name]) > limit:
            problems.append(where.error(name, f"is {len(cells[name])} characters, at most {limit}"))
    identifier = cells["identifier"]
    if not identifier:
        if cells["human_code"]:
            identifier = derived_identifier(framework_identifier, "item", cells["human_code"])
        else:
            problems.append(where.error("identifier", "is required when human_code is blank"))
    if identifier:
        where = Location(file_name, number, identifier)
    statement = cells["statement"] or cells["label"]
    if not statement:
        problems.append(where.error("statement", "is required and empty"))
    order: int | None = None
    if cells["order"]:
        try:
            order = int(cells["order"])
        except ValueError:
            problems.append(where.error("order", f"{cells['order']!r} is not a whole number"))
    if len(problems) > before:
        return None
    item = ParsedItem(
        identifier=identifier,
        statement=statement,
        where=where,
        human_code=cells["human_code"],
        list_enumeration=cells["list_enumeration"],
        item_type=cells["item_type"],
        grade_levels=split_grade_levels(cells["grade_levels"]),
    )
    return item, cells, order


def _resolve_parent(
    item: ParsedItem,
    cells: dict[str, str],
    by_identifier: dict[str, ParsedItem],
    by_code: dict[str, list[ParsedItem]],
) -> tuple[str | None, Problem | None, bool]:
    """(parent identifier or ``None`` for the top level, the problem if any, parent missing)."""
    if cells["parent_identifier"]:
        if cells["parent_identifier"] in by_identifier:
            return cells["parent_identifier"], None, False
        message = f"{cells['parent_identifier']!r} is not the identifier of any row"
        return None, item.where.error("parent_identifier", message), True
    code = cells["parent_code"]
    if not code:
        return None, None, False
    matches = by_code.get(code, [])
    if len(matches) > 1:
        message = f"human code {code!r} is used by {len(matches)} rows"
        return None, item.where.error("parent", message), False
    if matches:
        return matches[0].identifier, None, False
    return None, item.where.error("parent", f"human code {code!r} is not in this file"), True
