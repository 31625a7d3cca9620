"""Reads a CASE ``CFPackage`` (1.0 / 1.1 JSON, and the older draft-era exports).

Tolerated deviations, all seen in real exports (see ../shared/data/standards/*/README.md and
docs/decisions/0004-standards-import.md): URL identifiers instead of UUIDs; ``educationalLevel``
as one string instead of an ``educationLevel`` array; ``CFDocumentURI`` / ``CFPackageURI`` as
plain strings; ``subjectURL`` for ``subjectURI``; associations with flat
``originNodeIdentifier`` strings as well as (or instead of) ``originNodeURI`` objects; items
without ``CFItemType``; an item or association given twice byte for byte (collapsed, with a
warning; two different records under one identifier are refused); ``sequenceNumber`` as a
numeric string (read as the number, with a warning).

Kept for the export: every optional CASE 1.1 field of the document, items and associations
(``extensions`` included), and the package's ``CFDefinitions``, ``CFRubrics`` and
``extensions`` as given.
"""

from __future__ import annotations

import json
from typing import Any

from common.importing import Location
from standards.importers.base import (
    ImportRefused,
    ParsedAssociation,
    ParsedDocument,
    ParsedFramework,
    ParsedItem,
    Problem,
    normalise_association_type,
    parse_json_safely,
    parse_timestamp,
    split_grade_levels,
)
from standards.importers.tree import graph_problems

# Optional CASE 1.1 fields kept verbatim (in ``extra``) so an export carries them again.
DOCUMENT_EXTRA_FIELDS = (
    "subjectURI",
    "licenseURI",
    "statusStartDate",
    "statusEndDate",
    "frameworkType",
    "extensions",
)
ITEM_EXTRA_FIELDS = (
    "alternativeLabel",
    "CFItemTypeURI",
    "abbreviatedStatement",
    "conceptKeywords",
    "conceptKeywordsURI",
    "notes",
    "subject",
    "subjectURI",
    "language",
    "licenseURI",
    "statusStartDate",
    "statusEndDate",
    "extensions",
)
ASSOCIATION_EXTRA_FIELDS = ("CFAssociationGroupingURI", "notes", "extensions")
PACKAGE_PARTS = ("CFDefinitions", "CFRubrics", "extensions")
LINK_FIELDS = {"CFItemTypeURI", "conceptKeywordsURI", "licenseURI", "CFAssociationGroupingURI"}
LINK_LIST_FIELDS = {"subjectURI"}

MAX_PACKAGE_BYTES = 50 * 1024 * 1024


class _Reader:
    """Collects every problem while reading fields of one JSON object."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def text(
        self,
        obj: dict[str, Any],
        keys: tuple[str, ...],
        where: Location,
        *,
        max_length: int | None = None,
        required: bool = False,
    ) -> str:
        for key in keys:
            value = obj.get(key)
            if value is None:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                self.problems.append(where.error(key, "must be a string"))
                return ""
            value = value.strip()
            if max_length is not None and len(value) > max_length:
                self.problems.append(
                    where.error(key, f"is {len(value)} characters, at most {max_length}")
                )
                return ""
            if value:
                return value
        if required:
            self.problems.append(where.error(keys[0], "is required and missing or empty"))
        return ""


def _link_identifier(value: Any) -> str:
    """The identifier of a LinkURI object, or the string itself (pre-1.0 exports)."""
    if isinstance(value, dict):
        identifier = value.get("identifier")
        return identifier.strip() if isinstance(identifier, str) else ""
    if isinstance(value, str):
        return value.strip()
    return ""


def _is_link(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(value.get(key), str) and value.get(key) for key in ("title", "identifier", "uri")
    )


def _keep_extra(obj: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The optional fields worth exporting again; malformed link objects are dropped."""
    kept: dict[str, Any] = {}
    for key in fields:
        if key not in obj or obj[key] in (None, "", [], {}):
            continue
        value = obj[key]
        if key in LINK_FIELDS and not _is_link(value):
            continue
        if key in LINK_LIST_FIELDS:
            if not isinstance(value, list):
                continue
            value = [link for link in value if _is_link(link)]
            if not value:
                continue
        kept[key] = value
    return kept


def parse_case_bytes(data: bytes) -> ParsedFramework:
    """Parses a CFPackage from raw bytes; raises :class:`ImportRefused` listing every problem."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise ImportRefused(
            [Problem("package", "", f"is larger than {MAX_PACKAGE_BYTES // (1024 * 1024)} MB")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRefused(
            [Problem("package", "", f"is not UTF-8 text (byte {error.start})")]
        ) from error
    package = parse_json_safely(text, "package")
    return parse_case_package(package)


def parse_case_package(package: Any) -> ParsedFramework:
    """Parses a decoded CFPackage; raises :class:`ImportRefused` listing every problem."""
    problems: list[Problem] = []
    if not isinstance(package, dict):
        raise ImportRefused([Problem("package", "", "must be a JSON object (a CFPackage)")])
    raw_document = package.get("CFDocument")
    if not isinstance(raw_document, dict):
        raise ImportRefused([Problem("package", "CFDocument", "is required and must be an object")])
    document = _parse_document(raw_document, problems)
    items = _parse_items(_unique(package, "CFItems", problems), problems)
    associations = _parse_associations(_unique(package, "CFAssociations", problems), problems)
    parts = {key: package[key] for key in PACKAGE_PARTS if package.get(key) not in (None, [], {})}
    parts.update(_checked_parts(parts, problems))
    parsed = ParsedFramework(
        source_format="case",
        document=document,
        items=items,
        associations=associations,
        warnings=[problem for problem in problems if not problem.is_error],
        package_parts=parts,
        order_by_code=True,
    )
    # The graph checks run on what read well, so the file's every problem is reported at once.
    problems.extend(graph_problems(parsed))
    if _error_count(problems):
        raise ImportRefused(problems)
    return parsed


def _unique(package: dict[str, Any], key: str, problems: list[Problem]) -> Any:
    """The list under ``key`` with records given twice byte for byte collapsed (a warning each,
    as published packages do repeat associations); two *different* records under one identifier
    are refused. Entries are ``(position from 1, raw record)``; anything not a list is returned
    as is for the parser to refuse."""
    raw = package.get(key)
    if not isinstance(raw, list):
        return raw
    kept: list[tuple[int, Any]] = []
    first: dict[str, tuple[int, str]] = {}
    for position, record in enumerate(raw, start=1):
        identifier = record.get("identifier") if isinstance(record, dict) else None
        if not isinstance(identifier, str) or not identifier.strip():
            kept.append((position, record))
            continue
        identifier = identifier.strip()
        canonical = json.dumps(record, sort_keys=True, ensure_ascii=False)
        seen = first.get(identifier)
        if seen is None:
            first[identifier] = (position, canonical)
            kept.append((position, record))
            continue
        where = Location(key, position, identifier)
        if seen[1] == canonical:
            problems.append(
                where.warning(
                    "identifier",
                    f"repeats item {seen[0]} exactly: the copy is left out",
                )
            )
        else:
            problems.append(
                where.error(
                    "identifier",
                    f"is also used by item {seen[0]}, with different content: keep one of them",
                )
            )
    return kept


_NUMBER_FIELDS = {"weight", "position", "score"}


def _checked_parts(parts: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """The package parts kept verbatim, with numbers given as text read as numbers (rubric
    weights, positions and scores) and anything that is not the right shape refused."""
    checked: dict[str, Any] = {}
    definitions = parts.get("CFDefinitions")
    if definitions is not None:
        if not isinstance(definitions, dict):
            problems.append(Location("CFDefinitions").error("", "must be an object"))
        else:
            for name, value in definitions.items():
                if name != "extensions" and not isinstance(value, list):
                    problems.append(Location("CFDefinitions").error(name, "must be a list"))
    rubrics = parts.get("CFRubrics")
    if rubrics is not None:
        if not isinstance(rubrics, list):
            problems.append(Location("CFRubrics").error("", "must be a list"))
        else:
            checked["CFRubrics"] = [
                _numbers(rubric, Location("CFRubrics", position), problems)
                for position, rubric in enumerate(rubrics, start=1)
            ]
    extensions = parts.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        problems.append(Location("package").error("extensions", "must be an object"))
    return checked


def _numbers(value: Any, where: Location, problems: list[Problem]) -> Any:
    """A copy of a rubric with numeric strings in number fields read as numbers."""
    if isinstance(value, list):
        return [_numbers(entry, where, problems) for entry in value]
    if not isinstance(value, dict):
        return value
    copy: dict[str, Any] = {}
    for key, entry in value.items():
        if key in _NUMBER_FIELDS and isinstance(entry, str):
            number = _number_from_text(entry)
            if number is None:
                problems.append(where.error(key, f"{entry!r} is not a number"))
            else:
                problems.append(where.warning(key, f"{entry!r} is text: read as the number"))
                entry = number
        copy[key] = _numbers(entry, where, problems)
    return copy


def _number_from_text(text: str) -> int | float | None:
    try:
        return int(text.strip())
    except ValueError:
        pass
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _parse_document(raw: dict[str, Any], problems: list[Problem]) -> ParsedDocument:
    read = _Reader(problems)
    where = Location("CFDocument")
    subjects_raw = raw.get("subject")
    subjects: list[str] = []
    if isinstance(subjects_raw, str) and subjects_raw.strip():
        subjects = [subjects_raw.strip()]
    elif isinstance(subjects_raw, list):
        subjects = [str(subject).strip() for subject in subjects_raw if str(subject).strip()]
    extra = _keep_extra(raw, DOCUMENT_EXTRA_FIELDS)
    if "subjectURI" not in extra and isinstance(raw.get("subjectURL"), list):
        links = [link for link in raw["subjectURL"] if _is_link(link)]
        if links:
            extra["subjectURI"] = links
    return ParsedDocument(
        identifier=read.text(raw, ("identifier",), where, max_length=255, required=True),
        title=read.text(raw, ("title",), where, max_length=500, required=True),
        uri=read.text(raw, ("uri",), where, max_length=1000),
        creator=read.text(raw, ("creator",), where, max_length=500),
        publisher=read.text(raw, ("publisher",), where, max_length=500),
        description=read.text(raw, ("description",), where),
        subjects=subjects,
        language=read.text(raw, ("language",), where, max_length=20),
        version=read.text(raw, ("version",), where, max_length=100),
        adoption_status=read.text(raw, ("adoptionStatus",), where, max_length=50),
        official_source_url=read.text(raw, ("officialSourceURL",), where, max_length=1000),
        notes=read.text(raw, ("notes",), where),
        last_change_at=parse_timestamp(raw.get("lastChangeDateTime")),
        extra=extra,
    )


def _parse_items(raw_items: Any, problems: list[Problem]) -> list[ParsedItem]:
    if raw_items is None:
        return []
    if not isinstance(raw_items, list):
        problems.append(Problem("package", "CFItems", "must be a list"))
        return []
    read = _Reader(problems)
    items: list[ParsedItem] = []
    for position, raw in raw_items:
        errors_before = _error_count(problems)
        where = Location("CFItems", position)
        if not isinstance(raw, dict):
            problems.append(where.error("", "must be an object"))
            continue
        identifier = read.text(raw, ("identifier",), where, max_length=255, required=True)
        if identifier:
            where = Location("CFItems", position, identifier)
        levels_raw = raw.get("educationLevel", raw.get("educationalLevel"))
        if levels_raw is not None and not isinstance(levels_raw, (list, str)):
            problems.append(where.error("educationLevel", "must be a list of strings"))
            levels_raw = None
        item_type = read.text(raw, ("CFItemType",), where, max_length=100)
        if not item_type and isinstance(raw.get("CFItemTypeURI"), dict):
            title = raw["CFItemTypeURI"].get("title")
            item_type = title.strip()[:100] if isinstance(title, str) else ""
        item = ParsedItem(
            identifier=identifier,
            statement=read.text(raw, ("fullStatement",), where, required=True),
            where=where,
            uri=read.text(raw, ("uri",), where, max_length=1000),
            human_code=read.text(raw, ("humanCodingScheme",), where, max_length=100),
            list_enumeration=read.text(raw, ("listEnumeration",), where, max_length=50),
            item_type=item_type,
            grade_levels=split_grade_levels(levels_raw),
            last_change_at=parse_timestamp(raw.get("lastChangeDateTime")),
            extra=_keep_extra(raw, ITEM_EXTRA_FIELDS),
        )
        # An item with an error is left out of the graph checks: one problem, not a cascade.
        if _error_count(problems) == errors_before:
            items.append(item)
    return items


def _error_count(problems: list[Problem]) -> int:
    return sum(1 for problem in problems if problem.is_error)


def _node(
    raw: dict[str, Any], link_key: str, flat_key: str, where: Location, problems: list[Problem]
) -> tuple[str, str, str]:
    """(identifier, uri, title) of one end of an association, from either spelling."""
    link = raw.get(link_key)
    identifier = _link_identifier(link) or _link_identifier(raw.get(flat_key))
    uri = title = ""
    if isinstance(link, dict):
        uri = link["uri"] if isinstance(link.get("uri"), str) else ""
        title = link["title"] if isinstance(link.get("title"), str) else ""
    if not identifier:
        problems.append(where.error(link_key, "is required: it must name the node it points to"))
    elif len(identifier) > 255:
        problems.append(where.error(link_key, "identifier is longer than 255 characters"))
    return identifier, (uri or "")[:1000], (title or "")[:500]


def _parse_associations(raw_links: Any, problems: list[Problem]) -> list[ParsedAssociation]:
    if raw_links is None:
        return []
    if not isinstance(raw_links, list):
        problems.append(Problem("package", "CFAssociations", "must be a list"))
        return []
    read = _Reader(problems)
    associations: list[ParsedAssociation] = []
    for position, raw in raw_links:
        errors_before = _error_count(problems)
        where = Location("CFAssociations", position)
        if not isinstance(raw, dict):
            problems.append(where.error("", "must be an object"))
            continue
        identifier = read.text(raw, ("identifier",), where, max_length=255, required=True)
        if identifier:
            where = Location("CFAssociations", position, identifier)
        association_type = read.text(raw, ("associationType",), where, max_length=50, required=True)
        origin = _node(raw, "originNodeURI", "originNodeIdentifier", where, problems)
        destination = _node(raw, "destinationNodeURI", "destinationNodeIdentifier", where, problems)
        sequence = _sequence(raw.get("sequenceNumber"), where, problems)
        association = ParsedAssociation(
            identifier=identifier,
            association_type=normalise_association_type(association_type),
            origin_identifier=origin[0],
            origin_uri=origin[1],
            origin_title=origin[2],
            destination_identifier=destination[0],
            destination_uri=destination[1],
            destination_title=destination[2],
            where=where,
            uri=read.text(raw, ("uri",), where, max_length=1000),
            sequence_number=sequence,
            last_change_at=parse_timestamp(raw.get("lastChangeDateTime")),
            extra=_keep_extra(raw, ASSOCIATION_EXTRA_FIELDS),
        )
        if _error_count(problems) == errors_before:
            associations.append(association)
    return associations


def _sequence(value: Any, where: Location, problems: list[Problem]) -> int | None:
    """A ``sequenceNumber``: an integer, or (as 2017 OpenSALT exports wrote it) an integer
    given as text, read with a warning."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        problems.append(where.warning("sequenceNumber", f"{value!r} is text: read as the number"))
        return int(value.strip())
    problems.append(where.error("sequenceNumber", f"{value!r} is not a whole number"))
    return None
