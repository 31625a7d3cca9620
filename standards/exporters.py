"""CASE export: a framework as a ``CFPackage`` (three queries, whatever its size).

The package validates against 1EdTech's official CASE 1.1 CFPackage JSON Schema (tests hold it
against ``../shared/data/specs/case-1.1``):

- identifiers that are not UUIDs (pre-1.0 packages used URLs, CSV and ASN files give none of
  their own) are exported as a UUID 5 minted from the stored identifier, the same every time,
  with the stored identifier as the record's ``uri``, so the original stays findable (the
  ratings import and the standard-code resolver match a standard by its ``uri`` too);
- ``CFDefinitions``, ``CFRubrics`` and ``extensions`` imported with the package are given back,
  shaped to the schema: a field the schema does not know moves into the object's
  ``extensions``, a missing required field gets a neutral value (the document's time, the
  title as description);
- ``version="1.0"`` writes the CASE 1.0 shape instead: ``CFPackageURI`` on the document,
  ``CFDocumentURI`` on every item and association, no 1.1-only fields.

Retired items are left out: they are no longer part of the framework.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Final

from standards.importers.base import default_uri
from standards.models import Association, Framework, Standard, StandardStatus

CASE_VERSION: Final = "1.1"
VERSIONS: Final = ("1.1", "1.0")
# The namespace of the UUIDs minted for identifiers that are not UUIDs (never change it: the
# minted identifiers are what other systems store).
MINT_NAMESPACE: Final = uuid.UUID("3b1f7c0e-5a8d-5c52-9a43-6f1e2d7b9c01")
_UUID: Final = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# What the CASE 1.1 schema allows on each object of CFDefinitions and CFRubrics (everything
# else moves into ``extensions``), and the required fields a stored object may lack.
_DEFINITION_FIELDS: Final = {
    "CFConcepts": ("identifier", "uri", "title", "keywords", "hierarchyCode", "description"),
    "CFSubjects": ("identifier", "uri", "title", "hierarchyCode", "description"),
    "CFLicenses": ("identifier", "uri", "title", "description", "licenseText"),
    "CFItemTypes": ("identifier", "uri", "title", "description", "hierarchyCode", "typeCode"),
    "CFAssociationGroupings": ("identifier", "uri", "title", "description"),
}
_DEFINITION_REQUIRED: Final = {
    "CFConcepts": ("title", "hierarchyCode"),
    "CFSubjects": ("title", "hierarchyCode"),
    "CFLicenses": ("title", "licenseText"),
    "CFItemTypes": ("title", "description", "hierarchyCode"),
    "CFAssociationGroupings": ("title",),
}
_RUBRIC_FIELDS: Final = ("identifier", "uri", "title", "description")
_CRITERION_FIELDS: Final = (
    "identifier",
    "uri",
    "category",
    "description",
    "CFItemURI",
    "weight",
    "position",
    "rubricId",
)
_LEVEL_FIELDS: Final = (
    "identifier",
    "uri",
    "description",
    "quality",
    "score",
    "feedback",
    "position",
    "rubricCriterionId",
)
_LINK_FIELDS: Final = (
    "CFItemTypeURI",
    "conceptKeywordsURI",
    "licenseURI",
    "CFAssociationGroupingURI",
)
_ONLY_1_1: Final = {
    "document": ("caseVersion", "frameworkType"),
    "item": ("subject", "subjectURI"),
    "association": ("notes",),
}


def mint_identifier(identifier: str) -> str:
    """A CASE identifier as the schema wants it: a lower-case UUID; anything else becomes the
    UUID 5 of the stored identifier (deterministic: every export gives the same)."""
    text = identifier.strip()
    lowered = text.lower()
    if _UUID.match(lowered):
        return lowered
    return str(uuid.uuid5(MINT_NAMESPACE, text))


def _timestamp(moment: datetime | None, fallback: datetime) -> str:
    return (moment or fallback).isoformat()


class _Exporter:
    def __init__(self, framework: Framework, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"CASE version: one of {', '.join(VERSIONS)}, got {version!r}")
        self.framework = framework
        self.version = version
        self.changed = _timestamp(framework.last_change_at, framework.updated_at)

    def node(self, identifier: str, stored_uri: str) -> tuple[str, str]:
        """(exported identifier, uri) of the document, an item or an association."""
        minted = mint_identifier(identifier)
        if minted != identifier:
            return minted, identifier
        return minted, stored_uri or default_uri(identifier)

    def link(self, value: Any) -> dict[str, Any] | None:
        """A LinkURI with its identifier as a UUID; None when it is not a usable link."""
        if not isinstance(value, dict):
            return None
        title, identifier, uri = value.get("title"), value.get("identifier"), value.get("uri")
        if not (isinstance(title, str) and isinstance(identifier, str) and isinstance(uri, str)):
            return None
        if not (title and identifier and uri):
            return None
        return {"title": title, "identifier": mint_identifier(identifier), "uri": uri}

    def extras(self, extra: dict[str, Any], kind: str) -> dict[str, Any]:
        """Stored optional fields, shaped to the schema (and to 1.0 when asked)."""
        shaped: dict[str, Any] = {}
        for key, value in extra.items():
            if self.version == "1.0" and key in _ONLY_1_1[kind]:
                continue
            if key in _LINK_FIELDS:
                link = self.link(value)
                if link is not None:
                    shaped[key] = link
            elif key == "subjectURI":
                links = [self.link(entry) for entry in value] if isinstance(value, list) else []
                if any(links):
                    shaped[key] = [link for link in links if link is not None]
            elif key in ("subject", "conceptKeywords"):
                listed = value if isinstance(value, list) else [value]
                strings = [str(entry) for entry in listed if isinstance(entry, (str, int))]
                if strings:
                    shaped[key] = strings
            elif key in ("statusStartDate", "statusEndDate"):
                if isinstance(value, str) and _DATE.match(value[:10]):
                    shaped[key] = value[:10]
            elif key == "extensions":
                if isinstance(value, dict):
                    shaped[key] = value
            elif isinstance(value, str):
                shaped[key] = value
        return shaped

    def shaped(
        self, value: Any, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        """A definition or rubric object with a UUID identifier, the required fields, and
        whatever the schema does not allow moved into ``extensions``."""
        if not isinstance(value, dict) or not isinstance(value.get("identifier"), str):
            return None
        original = value["identifier"]
        result: dict[str, Any] = {}
        moved: dict[str, Any] = {}
        for key, entry in value.items():
            if key in ("lastChangeDateTime", "extensions"):
                continue
            if key in allowed:
                result[key] = entry
            else:
                moved[key] = entry
        result["identifier"] = mint_identifier(original)
        if not isinstance(result.get("uri"), str) or not result["uri"]:
            result["uri"] = default_uri(original)
        title = result.get("title") if isinstance(result.get("title"), str) else ""
        for key in required:
            if not isinstance(result.get(key), str):
                result[key] = title or original if key in ("title", "description") else "1"
        for key in ("rubricId", "rubricCriterionId"):
            if isinstance(result.get(key), str):
                result[key] = mint_identifier(result[key])
        changed = value.get("lastChangeDateTime")
        result["lastChangeDateTime"] = changed if _is_date_time(changed) else self.changed
        extensions = value.get("extensions")
        if isinstance(extensions, dict) or moved:
            result["extensions"] = {**(extensions if isinstance(extensions, dict) else {}), **moved}
        return result


def _is_date_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return moment.tzinfo is not None and "T" in value


def build_case_package(framework: Framework, *, version: str = CASE_VERSION) -> dict[str, Any]:
    """The framework as a CASE ``CFPackage`` dict (1.1 unless ``version="1.0"``), items in
    tree order (depth first)."""
    export = _Exporter(framework, version)
    document_id, document_uri = export.node(framework.identifier, framework.uri)
    document_link = {"title": framework.title, "identifier": document_id, "uri": document_uri}
    document: dict[str, Any] = {
        "identifier": document_id,
        "uri": document_uri,
        "creator": framework.creator,
        "title": framework.title,
        "lastChangeDateTime": export.changed,
    }
    if version == CASE_VERSION:
        document["caseVersion"] = CASE_VERSION
    else:
        document["CFPackageURI"] = document_link
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
    document.update(export.extras(framework.extra, "document"))

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

    nodes = {framework.identifier: (document_id, document_uri)}
    items: list[dict[str, Any]] = []
    item_types: dict[str, dict[str, Any]] = {}
    for standard in ordered:
        identifier, uri = export.node(standard.identifier, standard.uri)
        nodes[standard.identifier] = (identifier, uri)
        item: dict[str, Any] = {
            "identifier": identifier,
            "uri": uri,
            "fullStatement": standard.statement,
            "lastChangeDateTime": _timestamp(standard.last_change_at, standard.updated_at),
        }
        if version != CASE_VERSION:
            item["CFDocumentURI"] = document_link
        if standard.human_code:
            item["humanCodingScheme"] = standard.human_code
        if standard.list_enumeration:
            item["listEnumeration"] = standard.list_enumeration
        if standard.item_type:
            item["CFItemType"] = standard.item_type
        if standard.grade_levels:
            item["educationLevel"] = list(standard.grade_levels)
        item.update(export.extras(standard.extra, "item"))
        type_link = item.get("CFItemTypeURI")
        if type_link is not None and type_link["identifier"] not in item_types:
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

    def end(identifier: str, uri: str, title: str, fallback: str) -> dict[str, Any]:
        exported, exported_uri = nodes.get(identifier, (identifier, uri or default_uri(identifier)))
        return {"title": title or fallback, "identifier": exported, "uri": exported_uri}

    associations: list[dict[str, Any]] = []
    for association in Association.objects.filter(framework=framework).order_by("id"):
        identifier, uri = export.node(association.identifier, association.uri)
        link: dict[str, Any] = {
            "identifier": identifier,
            "uri": uri,
            "associationType": association.association_type,
            "originNodeURI": end(
                association.origin_identifier,
                association.origin_uri,
                association.origin_title,
                "Origin",
            ),
            "destinationNodeURI": end(
                association.destination_identifier,
                association.destination_uri,
                association.destination_title,
                "Destination",
            ),
            "lastChangeDateTime": _timestamp(association.last_change_at, framework.updated_at),
        }
        if version != CASE_VERSION:
            link["CFDocumentURI"] = document_link
        if association.sequence_number is not None:
            link["sequenceNumber"] = association.sequence_number
        link.update(export.extras(association.extra, "association"))
        associations.append(link)

    package: dict[str, Any] = {
        "CFDocument": document,
        "CFItems": items,
        "CFAssociations": associations,
        "CFDefinitions": _definitions(export, framework.package_parts, item_types),
    }
    rubrics = _rubrics(export, framework.package_parts.get("CFRubrics"))
    if rubrics:
        package["CFRubrics"] = rubrics
    extensions = framework.package_parts.get("extensions")
    if isinstance(extensions, dict) and extensions:
        package["extensions"] = extensions
    return package


def _definitions(
    export: _Exporter, parts: dict[str, Any], item_types: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    stored = parts.get("CFDefinitions")
    stored = stored if isinstance(stored, dict) else {}
    definitions: dict[str, Any] = {}
    for name, allowed in _DEFINITION_FIELDS.items():
        kept: dict[str, dict[str, Any]] = {}
        for entry in stored.get(name) or []:
            shaped = export.shaped(entry, allowed, _DEFINITION_REQUIRED[name])
            if shaped is not None:
                kept.setdefault(shaped["identifier"], shaped)
        if name == "CFItemTypes":
            for identifier, derived in item_types.items():
                kept.setdefault(identifier, derived)
        definitions[name] = list(kept.values())
    if isinstance(stored.get("extensions"), dict):
        definitions["extensions"] = stored["extensions"]
    return definitions


def _rubrics(export: _Exporter, stored: Any) -> list[dict[str, Any]]:
    rubrics: list[dict[str, Any]] = []
    for entry in stored if isinstance(stored, list) else []:
        rubric = export.shaped(entry, (*_RUBRIC_FIELDS, "CFRubricCriteria"))
        if rubric is None:
            continue
        criteria = []
        for raw in rubric.pop("CFRubricCriteria", None) or []:
            criterion = export.shaped(raw, (*_CRITERION_FIELDS, "CFRubricCriterionLevels"))
            if criterion is None:
                continue
            item_link = export.link(criterion.get("CFItemURI"))
            if item_link is None:
                criterion.pop("CFItemURI", None)
            else:
                criterion["CFItemURI"] = item_link
            levels = [
                level
                for level in (
                    export.shaped(raw_level, _LEVEL_FIELDS)
                    for raw_level in criterion.pop("CFRubricCriterionLevels", None) or []
                )
                if level is not None
            ]
            if levels:
                criterion["CFRubricCriterionLevels"] = levels
            criteria.append(criterion)
        if criteria:
            rubric["CFRubricCriteria"] = criteria
        rubrics.append(rubric)
    return rubrics
