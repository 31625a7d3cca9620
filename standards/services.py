"""Writes of the standards app. Every function validates all of its input before writing."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from standards.importers.base import ImportRefused, ParsedFramework, Problem, default_uri
from standards.importers.tree import TreePlace, check_and_build_tree, graph_problems
from standards.models import Association, Framework, Standard, StandardStatus

logger = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What an import did. Counts are of items (standards) unless prefixed ``associations_``."""

    framework: str
    title: str
    framework_id: int
    framework_created: bool
    framework_updated: bool
    items: int
    associations: int
    created: int
    updated: int
    unchanged: int
    retired: int
    associations_created: int
    associations_updated: int
    associations_unchanged: int
    associations_removed: int
    dry_run: bool
    seconds: float
    warnings: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["warnings"] = [warning.as_dict() for warning in self.warnings]
        return data


_DOCUMENT_FIELDS = (
    "uri",
    "title",
    "creator",
    "publisher",
    "description",
    "subjects",
    "language",
    "version",
    "adoption_status",
    "official_source_url",
    "notes",
    "last_change_at",
    "extra",
)
_STANDARD_FIELDS = (
    "uri",
    "parent_id",
    "position",
    "depth",
    "item_type",
    "human_code",
    "list_enumeration",
    "statement",
    "grade_levels",
    "is_grouping",
    "status",
    "last_change_at",
    "extra",
)
_ASSOCIATION_FIELDS = (
    "uri",
    "association_type",
    "origin_id",
    "origin_identifier",
    "origin_uri",
    "origin_title",
    "destination_id",
    "destination_identifier",
    "destination_uri",
    "destination_title",
    "sequence_number",
    "last_change_at",
    "extra",
)


@transaction.atomic
def import_framework(
    *,
    parsed: ParsedFramework,
    actor: AbstractBaseUser | None,
    dry_run: bool = False,
) -> ImportReport:
    """Creates or updates the framework whose document identifier ``parsed`` carries.

    All or nothing: the whole graph is validated first and :class:`ImportRefused` lists every
    problem with nothing written. Idempotent: items and associations are matched by
    identifier, so importing the same file again changes nothing and reports every item
    unchanged. Items missing from the file are retired (never deleted: ratings may point at
    them); associations missing from it are removed. The framework row is locked for the
    duration, so two imports of one framework run one after the other. ``dry_run`` reports
    what would change and rolls back.
    """
    started = time.perf_counter()
    problems = graph_problems(parsed)
    if problems:
        raise ImportRefused(problems)
    tree = check_and_build_tree(parsed)
    now = timezone.now()

    document = parsed.document
    document_values: dict[str, Any] = {name: getattr(document, name) for name in _DOCUMENT_FIELDS}
    document_values["uri"] = document.uri or default_uri(document.identifier)
    framework = Framework.objects.select_for_update().filter(identifier=document.identifier).first()
    framework_created = framework is None
    framework_updated = False
    if framework is None:
        document_values["last_change_at"] = document.last_change_at or now
        framework = Framework.objects.create(
            identifier=document.identifier,
            source_format=parsed.source_format,
            imported_by=_user_or_none(actor),
            **document_values,
        )
    else:
        changed = [
            name
            for name, value in document_values.items()
            if getattr(framework, name) != value
            and not (name == "last_change_at" and value is None)
        ]
        if changed:
            if document.last_change_at is None:
                document_values["last_change_at"] = now
            for name in changed:
                setattr(framework, name, document_values[name])
            framework_updated = True
        framework.source_format = parsed.source_format
        framework.imported_by = _user_or_none(actor)
        framework.save()

    standard_counts, pk_by_identifier = _write_standards(framework, parsed, tree.places, now)
    association_counts = _write_associations(framework, parsed, pk_by_identifier, now)

    report = ImportReport(
        framework=framework.identifier,
        title=framework.title,
        framework_id=framework.pk,
        framework_created=framework_created,
        framework_updated=framework_updated,
        items=len(parsed.items),
        associations=len(parsed.associations),
        created=standard_counts["created"],
        updated=standard_counts["updated"],
        unchanged=standard_counts["unchanged"],
        retired=standard_counts["retired"],
        associations_created=association_counts["created"],
        associations_updated=association_counts["updated"],
        associations_unchanged=association_counts["unchanged"],
        associations_removed=association_counts["removed"],
        dry_run=dry_run,
        seconds=round(time.perf_counter() - started, 3),
        warnings=[*parsed.warnings, *tree.warnings],
    )
    if dry_run:
        transaction.set_rollback(True)
    logger.info(
        "framework import",
        extra={
            "framework_id": framework.pk,
            "dry_run": dry_run,
            "items_created": report.created,
            "items_updated": report.updated,
            "items_unchanged": report.unchanged,
            "items_retired": report.retired,
        },
    )
    return report


def _user_or_none(actor: AbstractBaseUser | None) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def _write_standards(
    framework: Framework,
    parsed: ParsedFramework,
    places: dict[str, TreePlace],
    now: datetime,
) -> tuple[dict[str, int], dict[str, int]]:
    """Upserts the items with bulk queries only; returns the counts and identifier -> pk."""
    existing_rows = list(
        Standard.objects.filter(framework=framework).values("id", "identifier", *_STANDARD_FIELDS)
    )
    identifier_by_pk = {row["id"]: row["identifier"] for row in existing_rows}
    existing = {row["identifier"]: row for row in existing_rows}
    pk_by_identifier = {row["identifier"]: row["id"] for row in existing_rows}

    desired: dict[str, dict[str, Any]] = {}
    for item in parsed.items:
        place = places[item.identifier]
        desired[item.identifier] = {
            "uri": item.uri or default_uri(item.identifier),
            "parent_identifier": place.parent_identifier,
            "position": place.position,
            "depth": place.depth,
            "item_type": item.item_type,
            "human_code": item.human_code,
            "list_enumeration": item.list_enumeration,
            "statement": item.statement,
            "grade_levels": item.grade_levels,
            "is_grouping": place.is_grouping,
            "status": StandardStatus.ACTIVE.value,
            "last_change_at": item.last_change_at,
            "extra": item.extra,
        }

    new_identifiers = [identifier for identifier in desired if identifier not in existing]
    new_identifiers.sort(key=lambda identifier: desired[identifier]["depth"])
    # Created level by level so every parent already has its primary key.
    for identifier in new_identifiers:
        # Files without timestamps (CSV, ASN): the item changed when it arrived.
        if desired[identifier]["last_change_at"] is None:
            desired[identifier]["last_change_at"] = now
    for depth in sorted({desired[identifier]["depth"] for identifier in new_identifiers}):
        batch = [
            _standard_from(framework, identifier, desired[identifier], pk_by_identifier)
            for identifier in new_identifiers
            if desired[identifier]["depth"] == depth
        ]
        for standard in Standard.objects.bulk_create(batch, batch_size=1000):
            pk_by_identifier[standard.identifier] = standard.pk

    to_update: list[Standard] = []
    unchanged = 0
    for identifier, values in desired.items():
        row = existing.get(identifier)
        if row is None:
            continue
        current = dict(row)
        current["parent_identifier"] = identifier_by_pk.get(row["parent_id"])
        stamped = values["last_change_at"] is not None
        if all(
            current[name] == values[name] for name in values if stamped or name != "last_change_at"
        ):
            unchanged += 1
            continue
        if not stamped:
            values["last_change_at"] = now
        standard = _standard_from(framework, identifier, values, pk_by_identifier)
        standard.pk = row["id"]
        standard.updated_at = now
        to_update.append(standard)
    if to_update:
        Standard.objects.bulk_update(to_update, [*_STANDARD_FIELDS, "updated_at"], batch_size=500)

    retired_pks = [
        row["id"]
        for identifier, row in existing.items()
        if identifier not in desired and row["status"] == StandardStatus.ACTIVE
    ]
    if retired_pks:
        Standard.objects.filter(pk__in=retired_pks).update(
            status=StandardStatus.RETIRED, updated_at=now
        )
    counts = {
        "created": len(new_identifiers),
        "updated": len(to_update),
        "unchanged": unchanged,
        "retired": len(retired_pks),
    }
    return counts, {identifier: pk_by_identifier[identifier] for identifier in desired}


def _standard_from(
    framework: Framework,
    identifier: str,
    values: dict[str, Any],
    pk_by_identifier: dict[str, int],
) -> Standard:
    parent_identifier = values["parent_identifier"]
    return Standard(
        framework=framework,
        identifier=identifier,
        parent_id=pk_by_identifier[parent_identifier] if parent_identifier else None,
        **{name: value for name, value in values.items() if name != "parent_identifier"},
    )


def _write_associations(
    framework: Framework,
    parsed: ParsedFramework,
    pk_by_identifier: dict[str, int],
    now: datetime,
) -> dict[str, int]:
    """Upserts the associations by identifier and removes those no longer in the file."""
    existing = {
        row["identifier"]: row
        for row in Association.objects.filter(framework=framework).values(
            "id", "identifier", *_ASSOCIATION_FIELDS
        )
    }
    to_create: list[Association] = []
    to_update: list[Association] = []
    unchanged = 0
    for link in parsed.associations:
        values: dict[str, Any] = {
            "uri": link.uri or default_uri(link.identifier),
            "association_type": link.association_type,
            "origin_id": pk_by_identifier.get(link.origin_identifier),
            "origin_identifier": link.origin_identifier,
            "origin_uri": link.origin_uri,
            "origin_title": link.origin_title,
            "destination_id": pk_by_identifier.get(link.destination_identifier),
            "destination_identifier": link.destination_identifier,
            "destination_uri": link.destination_uri,
            "destination_title": link.destination_title,
            "sequence_number": link.sequence_number,
            "last_change_at": link.last_change_at,
            "extra": link.extra,
        }
        row = existing.get(link.identifier)
        stamped = link.last_change_at is not None
        if row is None:
            values["last_change_at"] = link.last_change_at or now
            to_create.append(Association(framework=framework, identifier=link.identifier, **values))
        elif any(
            row[name] != value
            for name, value in values.items()
            if stamped or name != "last_change_at"
        ):
            values["last_change_at"] = link.last_change_at or now
            to_update.append(
                Association(pk=row["id"], framework=framework, identifier=link.identifier, **values)
            )
        else:
            unchanged += 1
    if to_create:
        Association.objects.bulk_create(to_create, batch_size=1000)
    if to_update:
        Association.objects.bulk_update(to_update, list(_ASSOCIATION_FIELDS), batch_size=500)
    wanted = {link.identifier for link in parsed.associations}
    removed = [row["id"] for identifier, row in existing.items() if identifier not in wanted]
    if removed:
        Association.objects.filter(pk__in=removed).delete()
    return {
        "created": len(to_create),
        "updated": len(to_update),
        "unchanged": unchanged,
        "removed": len(removed),
    }
