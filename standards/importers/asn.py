"""Reads an Achievement Standards Network (ASN) RDF/JSON export into a framework.

The file maps each resource URI to ``{predicate URI: [{"value", "type"}]}``. The
``asn:StandardDocument`` becomes the framework, every ``asn:Statement`` an item (identifier: its
resource URI), and the hierarchy comes from ``gemq:hasChild`` on the parent (in list order) or
``gemq:isChildOf`` on the child. Cross-links are kept as CASE associations: ``asn:comprisedOf``
as ``isPartOf`` (the part points at the whole), ``asn:alignTo`` and ``asn:derivedFrom`` as
``isRelatedTo``, ``skos:exactMatch`` / ``asn:exactMatch`` as ``exactMatchOf``.
"""

from __future__ import annotations

from typing import Any

from common.importing import Location
from standards.importers.base import (
    IS_CHILD_OF,
    ImportRefused,
    ParsedAssociation,
    ParsedDocument,
    ParsedFramework,
    ParsedItem,
    Problem,
    normalise_grade_level,
    parse_json_safely,
    parse_timestamp,
)
from standards.importers.csv import derived_identifier

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
ASN = "http://purl.org/ASN/schema/core/"
DCTERMS = "http://purl.org/dc/terms/"
DC = "http://purl.org/dc/elements/1.1/"
GEMQ = "http://purl.org/gem/qualifiers/"
SKOS = "http://www.w3.org/2004/02/skos/core#"

CROSS_LINKS = {
    ASN + "comprisedOf": ("isPartOf", True),
    ASN + "alignTo": ("isRelatedTo", False),
    ASN + "derivedFrom": ("isRelatedTo", False),
    ASN + "exactMatch": ("exactMatchOf", False),
    SKOS + "exactMatch": ("exactMatchOf", False),
}
MAX_BYTES = 50 * 1024 * 1024


def _values(resource: dict[str, Any], predicate: str) -> list[str]:
    raw = resource.get(predicate)
    if not isinstance(raw, list):
        return []
    values: list[str] = []
    for entry in raw:
        if isinstance(entry, dict) and isinstance(entry.get("value"), str):
            values.append(entry["value"].strip())
    return [value for value in values if value]


def _first(resource: dict[str, Any], *predicates: str) -> str:
    for predicate in predicates:
        values = _values(resource, predicate)
        if values:
            return values[0]
    return ""


def _last_segment(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def parse_asn_bytes(data: bytes) -> ParsedFramework:
    """Parses ASN RDF/JSON; raises :class:`ImportRefused` listing every problem."""
    if len(data) > MAX_BYTES:
        raise ImportRefused([Problem("file", "", f"is larger than {MAX_BYTES // 1048576} MB")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRefused([Problem("file", "", "is not UTF-8 text")]) from error
    graph = parse_json_safely(text, "file")
    if not isinstance(graph, dict) or not all(isinstance(v, dict) for v in graph.values()):
        raise ImportRefused([Problem("file", "", "is not ASN RDF/JSON (an object of resources)")])

    documents = [
        uri for uri, res in graph.items() if ASN + "StandardDocument" in _values(res, RDF_TYPE)
    ]
    if len(documents) != 1:
        raise ImportRefused(
            [
                Problem(
                    "file", RDF_TYPE, f"needs exactly one StandardDocument, found {len(documents)}"
                )
            ]
        )
    document_uri = documents[0]
    resource = graph[document_uri]
    problems: list[Problem] = []
    title = _first(resource, DC + "title", DCTERMS + "title")
    if not title:
        problems.append(Problem(document_uri, "title", "is required and missing"))
    document = ParsedDocument(
        identifier=document_uri,
        title=title[:500],
        uri=document_uri,
        creator=_first(resource, DC + "creator", DCTERMS + "creator")[:500],
        publisher=_first(resource, DCTERMS + "publisher", DC + "publisher")[:500],
        description=_first(resource, DCTERMS + "description"),
        subjects=[_last_segment(value) for value in _values(resource, DCTERMS + "subject")],
        language=_last_segment(_first(resource, DCTERMS + "language"))[:20],
        version=_first(resource, DCTERMS + "valid")[:100],
        adoption_status=_last_segment(_first(resource, ASN + "publicationStatus"))[:50],
        official_source_url=_first(resource, DCTERMS + "source")[:1000],
        last_change_at=parse_timestamp(_first(resource, DCTERMS + "modified")),
    )

    statements = [uri for uri, res in graph.items() if ASN + "Statement" in _values(res, RDF_TYPE)]
    statement_set = set(statements)
    items: list[ParsedItem] = []
    for uri in statements:
        res = graph[uri]
        where = Location("", record=uri)
        text = _first(res, DCTERMS + "description")
        if not text:
            problems.append(where.error("description", "is required and missing"))
        if len(uri) > 255:
            problems.append(where.error("identifier", "is longer than 255 characters"))
        comments = _values(res, ASN + "comment")
        levels: list[str] = []
        for level_uri in _values(res, DCTERMS + "educationLevel"):
            level = normalise_grade_level(_last_segment(level_uri))
            if level not in levels:
                levels.append(level)
        items.append(
            ParsedItem(
                identifier=uri,
                statement=text,
                where=where,
                uri=_first(res, ASN + "identifier")[:1000] or uri,
                human_code=_first(res, ASN + "statementNotation")[:100],
                list_enumeration=_first(res, ASN + "listID")[:50],
                item_type=_first(res, ASN + "statementLabel")[:100],
                grade_levels=levels,
                extra={"notes": "\n".join(comments)} if comments else {},
            )
        )

    associations: list[ParsedAssociation] = []
    placed: set[str] = set()

    def link(origin: str, kind: str, destination: str, sequence: int | None) -> None:
        associations.append(
            ParsedAssociation(
                identifier=derived_identifier(document_uri, origin, kind, destination),
                association_type=kind,
                origin_identifier=origin,
                destination_identifier=destination,
                where=Location("", record=origin),
                sequence_number=sequence,
            )
        )

    for parent_uri in [document_uri, *statements]:
        for position, child in enumerate(_values(graph[parent_uri], GEMQ + "hasChild"), start=1):
            if child in statement_set and child not in placed:
                placed.add(child)
                link(child, IS_CHILD_OF, parent_uri, position)
    for uri in statements:
        res = graph[uri]
        for parent_uri in _values(res, GEMQ + "isChildOf"):
            if uri not in placed:
                placed.add(uri)
                link(uri, IS_CHILD_OF, parent_uri, None)
        for predicate, (kind, reverse) in CROSS_LINKS.items():
            for other in _values(res, predicate):
                if reverse:
                    link(other, kind, uri, None)
                else:
                    link(uri, kind, other, None)
    if problems:
        raise ImportRefused(problems)
    unique: dict[str, ParsedAssociation] = {}
    for association in associations:
        unique.setdefault(association.identifier, association)
    return ParsedFramework(
        source_format="asn",
        document=document,
        items=items,
        associations=list(unique.values()),
    )
