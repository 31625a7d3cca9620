"""Reads a CASE ``CFPackage`` (1.0 / 1.1 JSON, and the older draft-era exports).

Tolerated deviations, all seen in real exports (see ../shared/data/standards/*/README.md):
URL identifiers instead of UUIDs; ``educationalLevel`` as one string instead of an
``educationLevel`` array; ``CFDocumentURI`` / ``CFPackageURI`` as plain strings; ``subjectURL``
for ``subjectURI``; associations with flat ``originNodeIdentifier`` strings as well as (or
instead of) ``originNodeURI`` objects; items without ``CFItemType``.
"""

from __future__ import annotations

from typing import Any

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

# Optional CASE 1.1 fields kept verbatim (in ``extra``) so an export carries them again.
DOCUMENT_EXTRA_FIELDS = ("subjectURI", "licenseURI", "statusStartDate", "statusEndDate")
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
)
ASSOCIATION_EXTRA_FIELDS = ("CFAssociationGroupingURI", "notes")
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
        where: str,
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
                self.problems.append(Problem(where, key, "must be a string"))
                return ""
            value = value.strip()
            if max_length is not None and len(value) > max_length:
                self.problems.append(
                    Problem(where, key, f"is {len(value)} characters, at most {max_length}")
                )
                return ""
            if value:
                return value
        if required:
            self.problems.append(Problem(where, keys[0], "is required and missing or empty"))
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
    items = _parse_items(package.get("CFItems"), problems)
    associations = _parse_associations(package.get("CFAssociations"), problems)
    if problems:
        raise ImportRefused(problems)
    return ParsedFramework(
        source_format="case", document=document, items=items, associations=associations
    )


def _parse_document(raw: dict[str, Any], problems: list[Problem]) -> ParsedDocument:
    read = _Reader(problems)
    where = "CFDocument"
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
    for index, raw in enumerate(raw_items):
        where = f"CFItems[{index}]"
        if not isinstance(raw, dict):
            problems.append(Problem(where, "", "must be an object"))
            continue
        identifier = read.text(raw, ("identifier",), where, max_length=255, required=True)
        if identifier:
            where = f"{where} {identifier}"
        levels_raw = raw.get("educationLevel", raw.get("educationalLevel"))
        if levels_raw is not None and not isinstance(levels_raw, (list, str)):
            problems.append(Problem(where, "educationLevel", "must be a list of strings"))
            levels_raw = None
        item_type = read.text(raw, ("CFItemType",), where, max_length=100)
        if not item_type and isinstance(raw.get("CFItemTypeURI"), dict):
            title = raw["CFItemTypeURI"].get("title")
            item_type = title.strip()[:100] if isinstance(title, str) else ""
        items.append(
            ParsedItem(
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
        )
    return items


def _node(
    raw: dict[str, Any], link_key: str, flat_key: str, where: str, problems: list[Problem]
) -> tuple[str, str, str]:
    """(identifier, uri, title) of one end of an association, from either spelling."""
    link = raw.get(link_key)
    identifier = _link_identifier(link) or _link_identifier(raw.get(flat_key))
    uri = title = ""
    if isinstance(link, dict):
        uri = link["uri"] if isinstance(link.get("uri"), str) else ""
        title = link["title"] if isinstance(link.get("title"), str) else ""
    if not identifier:
        problems.append(Problem(where, link_key, "is required: it must name the node it points to"))
    elif len(identifier) > 255:
        problems.append(Problem(where, link_key, "identifier is longer than 255 characters"))
    return identifier, (uri or "")[:1000], (title or "")[:500]


def _parse_associations(raw_links: Any, problems: list[Problem]) -> list[ParsedAssociation]:
    if raw_links is None:
        return []
    if not isinstance(raw_links, list):
        problems.append(Problem("package", "CFAssociations", "must be a list"))
        return []
    read = _Reader(problems)
    associations: list[ParsedAssociation] = []
    for index, raw in enumerate(raw_links):
        where = f"CFAssociations[{index}]"
        if not isinstance(raw, dict):
            problems.append(Problem(where, "", "must be an object"))
            continue
        identifier = read.text(raw, ("identifier",), where, max_length=255, required=True)
        if identifier:
            where = f"{where} {identifier}"
        association_type = read.text(raw, ("associationType",), where, max_length=50, required=True)
        origin = _node(raw, "originNodeURI", "originNodeIdentifier", where, problems)
        destination = _node(raw, "destinationNodeURI", "destinationNodeIdentifier", where, problems)
        sequence = raw.get("sequenceNumber")
        if sequence is not None and (isinstance(sequence, bool) or not isinstance(sequence, int)):
            problems.append(Problem(where, "sequenceNumber", "must be an integer"))
            sequence = None
        associations.append(
            ParsedAssociation(
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
        )
    return associations
