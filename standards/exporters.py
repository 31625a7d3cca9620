"""CASE 1.1 export: a framework as a ``CFPackage`` (three queries, whatever its size).

Identifiers are exported as stored, so a framework imported from a pre-1.0 package keeps its URL
identifiers; importing the export reproduces the same items, tree and associations. Retired
items are left out: they are no longer part of the framework.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from standards.importers.base import default_uri
from standards.models import Association, Framework, Standard, StandardStatus

CASE_VERSION = "1.1"


def _timestamp(moment: datetime | None, fallback: datetime) -> str:
    return (moment or fallback).isoformat()


def _link(title: str, identifier: str, uri: str) -> dict[str, str]:
    return {"title": title, "identifier": identifier, "uri": uri or default_uri(identifier)}


def build_case_package(framework: Framework) -> dict[str, Any]:
    """The framework as a CASE 1.1 ``CFPackage`` dict, items in tree order (depth first)."""
    document_link = _link(framework.title, framework.identifier, framework.uri)
    document: dict[str, Any] = {
        "identifier": framework.identifier,
        "uri": document_link["uri"],
        "creator": framework.creator,
        "title": framework.title,
        "lastChangeDateTime": _timestamp(framework.last_change_at, framework.updated_at),
        "caseVersion": CASE_VERSION,
        "CFPackageURI": document_link,
    }
    optional = {
        "officialSourceURL": framework.official_source_url,
        "publisher": framework.publisher,
        "description": framework.description,
        "subject": framework.subjects,
        "language": framework.language,
        "version": framework.version,
        "adoptionStatus": framework.adoption_status,
        "notes": framework.notes,
    }
    document.update({key: value for key, value in optional.items() if value})
    document.update(framework.extra)

    standards = list(
        Standard.objects.filter(framework=framework, status=StandardStatus.ACTIVE).order_by(
            "depth", "position", "id"
        )
    )
    children: dict[int | None, list[Standard]] = {}
    for standard in standards:
        children.setdefault(standard.parent_id, []).append(standard)
    ordered: list[Standard] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        standard = stack.pop()
        ordered.append(standard)
        stack.extend(reversed(children.get(standard.pk, [])))

    items: list[dict[str, Any]] = []
    item_types: dict[str, dict[str, Any]] = {}
    for standard in ordered:
        item: dict[str, Any] = {
            "identifier": standard.identifier,
            "uri": standard.uri or default_uri(standard.identifier),
            "fullStatement": standard.statement,
            "lastChangeDateTime": _timestamp(standard.last_change_at, standard.updated_at),
            "CFDocumentURI": document_link,
        }
        if standard.human_code:
            item["humanCodingScheme"] = standard.human_code
        if standard.list_enumeration:
            item["listEnumeration"] = standard.list_enumeration
        if standard.item_type:
            item["CFItemType"] = standard.item_type
        if standard.grade_levels:
            item["educationLevel"] = list(standard.grade_levels)
        item.update(standard.extra)
        type_link = standard.extra.get("CFItemTypeURI")
        if isinstance(type_link, dict) and type_link.get("identifier") not in item_types:
            item_types[type_link["identifier"]] = {
                "identifier": type_link["identifier"],
                "uri": type_link["uri"],
                "title": type_link["title"],
                "description": type_link["title"],
                "hierarchyCode": "1",
                "typeCode": standard.item_type or type_link["title"],
                "lastChangeDateTime": item["lastChangeDateTime"],
            }
        items.append(item)

    associations: list[dict[str, Any]] = []
    for association in Association.objects.filter(framework=framework).order_by("id"):
        link: dict[str, Any] = {
            "identifier": association.identifier,
            "uri": association.uri or default_uri(association.identifier),
            "associationType": association.association_type,
            "originNodeURI": _link(
                association.origin_title or "Origin",
                association.origin_identifier,
                association.origin_uri,
            ),
            "destinationNodeURI": _link(
                association.destination_title or "Destination",
                association.destination_identifier,
                association.destination_uri,
            ),
            "CFDocumentURI": document_link,
            "lastChangeDateTime": _timestamp(association.last_change_at, framework.updated_at),
        }
        if association.sequence_number is not None:
            link["sequenceNumber"] = association.sequence_number
        link.update(association.extra)
        associations.append(link)

    return {
        "CFDocument": document,
        "CFItems": items,
        "CFAssociations": associations,
        "CFDefinitions": {
            "CFConcepts": [],
            "CFSubjects": [],
            "CFLicenses": [],
            "CFItemTypes": list(item_types.values()),
            "CFAssociationGroupings": [],
        },
    }
