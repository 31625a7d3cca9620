"""The shape every standards importer produces.

A parser (CASE, CSV, ASN) reads a file into a :class:`ParsedFramework` without touching the
database, collecting every problem it finds instead of stopping at the first (the import
framework's :class:`common.importing.Problem`). The import service then validates the whole
graph (duplicates, cycles) and writes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from common.importing import ImportRefused, Location, Problem

__all__ = ["ImportRefused", "Location", "Problem"]


@dataclass
class ParsedDocument:
    identifier: str
    title: str
    uri: str = ""
    creator: str = ""
    publisher: str = ""
    description: str = ""
    subjects: list[str] = field(default_factory=list)
    language: str = ""
    version: str = ""
    adoption_status: str = ""
    official_source_url: str = ""
    notes: str = ""
    last_change_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedItem:
    identifier: str
    statement: str
    where: Location
    uri: str = ""
    human_code: str = ""
    list_enumeration: str = ""
    item_type: str = ""
    grade_levels: list[str] = field(default_factory=list)
    last_change_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedAssociation:
    identifier: str
    association_type: str
    origin_identifier: str
    destination_identifier: str
    where: Location
    uri: str = ""
    origin_uri: str = ""
    origin_title: str = ""
    destination_uri: str = ""
    destination_title: str = ""
    sequence_number: int | None = None
    last_change_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedFramework:
    """A whole file, read: the document, its items in file order, and every association."""

    source_format: str
    document: ParsedDocument
    items: list[ParsedItem]
    associations: list[ParsedAssociation]
    warnings: list[Problem] = field(default_factory=list)
    # CASE ``CFDefinitions``, ``CFRubrics`` and the package's ``extensions``, kept as read so
    # an export gives them back.
    package_parts: dict[str, Any] = field(default_factory=dict)
    # Siblings without a sequence number in the natural order of their human codes (CASE
    # packages list items in any order) rather than in file order (a spreadsheet's rows are
    # the author's order).
    order_by_code: bool = False


IS_CHILD_OF = "isChildOf"

# CASE 1.1 association types, and the spellings older exports use for them.
ASSOCIATION_TYPES = (
    "isChildOf",
    "isPeerOf",
    "isPartOf",
    "exactMatchOf",
    "precedes",
    "isRelatedTo",
    "replacedBy",
    "exemplar",
    "hasSkillLevel",
    "isTranslationOf",
)
_TYPE_BY_KEY = {re.sub(r"[^a-z]", "", name.lower()): name for name in ASSOCIATION_TYPES}
_TYPE_BY_KEY["childof"] = "isChildOf"
_TYPE_BY_KEY["exactmatch"] = "exactMatchOf"
_TYPE_BY_KEY["relatedto"] = "isRelatedTo"


def normalise_association_type(value: str) -> str:
    """The CASE spelling of an association type; unknown types are kept as given."""
    return _TYPE_BY_KEY.get(re.sub(r"[^a-z]", "", value.lower()), value.strip())


# Grade levels are stored as CEDS codes (the CASE vocabulary): PK, KG, 01..13, ...
_GRADE_ALIASES = {
    "K": "KG",
    "KG": "KG",
    "KINDERGARTEN": "KG",
    "PREK": "PK",
    "PK": "PK",
    "PREKINDERGARTEN": "PK",
    "TK": "TK",
    "IT": "IT",
    "PR": "PR",
    "PS": "PS",
    "UG": "UG",
    "OTHER": "Other",
}


def normalise_grade_level(value: str) -> str:
    """A grade level as a CEDS code: ``K`` -> ``KG``, ``1`` / ``Grade 1`` -> ``01``.

    Values outside the vocabulary are kept as given (trimmed): frameworks carry local levels.
    """
    text = value.strip()
    key = re.sub(r"[^A-Za-z0-9]", "", text).upper()
    key = re.sub(r"^GRADE", "", key)
    if key in _GRADE_ALIASES:
        return _GRADE_ALIASES[key]
    if key.isdigit() and 1 <= int(key) <= 13:
        return f"{int(key):02d}"
    return text


# CEDS grade level codes in school order (what learners.Learner.grade_level holds too).
CEDS_GRADE_LEVELS = (
    "IT",
    "PR",
    "PK",
    "TK",
    "KG",
    *(f"{grade:02d}" for grade in range(1, 14)),
    "PS",
    "UG",
    "Other",
)


def split_grade_levels(value: Any) -> list[str]:
    """Grade levels from a list, or a string separated by commas, semicolons, bars or spaces
    (``Grade 1`` stays one level)."""
    if value is None:
        return []
    raw: list[str]
    if isinstance(value, list):
        raw = [str(part) for part in value if part is not None]
    else:
        raw = re.split(r"[,;|]+", str(value))
    levels: list[str] = []
    for part in raw:
        if not part.strip():
            continue
        level = normalise_grade_level(part)
        pieces = [level] if level in CEDS_GRADE_LEVELS else part.split()
        for piece in pieces:
            normalised = normalise_grade_level(piece)
            if normalised not in levels:
                levels.append(normalised)
    return levels


def parse_timestamp(value: Any) -> datetime | None:
    """A CASE ``lastChangeDateTime`` (or a bare date); naive values are taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        try:
            day = parse_date(text)
        except ValueError:
            day = None
        if day is None:
            return None
        moment = datetime(day.year, day.month, day.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


def default_uri(identifier: str) -> str:
    """A URI for a node whose file gave none (CASE requires one): the identifier as a URN."""
    if identifier.startswith(("http://", "https://", "urn:")):
        return identifier
    if _UUID.match(identifier):
        return f"urn:uuid:{identifier.lower()}"
    return f"urn:case:{identifier}"


# JSON packages nest a few levels (package, list, item, link object); anything far deeper is
# hostile or broken, and Python's parser and the database's JSON handling both recurse.
MAX_JSON_DEPTH = 64


def parse_json_safely(text: str, where: str) -> Any:
    """Decodes JSON text for an importer; refuses what the database or Python cannot hold.

    Raises :class:`ImportRefused` for invalid JSON, nesting deeper than ``MAX_JSON_DEPTH``
    (including nesting so deep the parser itself gives up) and NUL characters in any key or
    string (PostgreSQL text cannot store them), naming the JSON path of the first few.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportRefused(
            [
                Problem(
                    where,
                    "",
                    f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
                )
            ]
        ) from error
    except RecursionError as error:
        raise ImportRefused(
            [Problem(where, "", f"nests deeper than {MAX_JSON_DEPTH} levels")]
        ) from error
    problems = _json_problems(value, where)
    if problems:
        raise ImportRefused(problems)
    return value


def _json_problems(value: Any, where: str, limit: int = 20) -> list[Problem]:
    """Depth and NUL problems of a decoded JSON value, walked without recursion."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(value, "$", 1)]
    while stack and len(problems) < limit:
        node, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return [Problem(where, path, f"nests deeper than {MAX_JSON_DEPTH} levels")]
        if isinstance(node, str):
            if "\x00" in node:
                problems.append(Problem(where, path, "contains a NUL character"))
        elif isinstance(node, dict):
            for key, child in node.items():
                if "\x00" in key:
                    problems.append(Problem(where, path, "has a key with a NUL character"))
                    continue
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(node))
    return problems
