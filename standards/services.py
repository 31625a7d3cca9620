"""Writes of the standards app. Every function validates all of its input before writing."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, User
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from common.importing import Counts
from learners.models import Learner, Organisation, Term
from learners.selectors import changeable_learners, descendants_of, learner_of, lineage_of
from notifications.services import notify_elective_decided
from standards import selectors
from standards.importers.base import (
    ImportRefused,
    ParsedFramework,
    Problem,
    default_uri,
    normalise_grade_level,
)
from standards.importers.tree import TreePlace, check_and_build_tree, graph_problems
from standards.models import (
    Association,
    CalculationPolicy,
    ChoiceStatus,
    ElectiveChoice,
    ElectiveGroup,
    Framework,
    Priority,
    ProficiencyScale,
    Requirement,
    ScaleLevel,
    Standard,
    StandardStatus,
)
from standards.validation import GRADE_LEVELS, LevelInput, validate_policy, validate_scale

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
        data["counts"] = {kind: counts.as_dict() for kind, counts in self.counts.items()}
        return data

    @property
    def counts(self) -> dict[str, Counts]:
        """The import framework's counts: retired standards and removed associations are
        counted as deleted (retired standards stay, for the ratings that point at them)."""
        return {
            "standards": Counts(
                created=self.created,
                updated=self.updated,
                unchanged=self.unchanged,
                deleted=self.retired,
            ),
            "associations": Counts(
                created=self.associations_created,
                updated=self.associations_updated,
                unchanged=self.associations_unchanged,
                deleted=self.associations_removed,
            ),
        }


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
    organisation: Organisation | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Creates or updates the framework whose document identifier ``parsed`` carries.

    ``actor`` None is the platform itself (the management commands). A user may create a
    framework owned by a state or district they administer (superusers: also unowned), and
    re-import one only when :func:`standards.selectors.can_manage_framework` allows it;
    otherwise ``PermissionDenied`` and nothing is written. ``organisation`` is the owner of a
    new framework; a re-import keeps the existing owner.

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
    _lock_identifier(document.identifier)
    document_values: dict[str, Any] = {name: getattr(document, name) for name in _DOCUMENT_FIELDS}
    document_values["uri"] = document.uri or default_uri(document.identifier)
    document_values["package_parts"] = parsed.package_parts
    framework = Framework.objects.select_for_update().filter(identifier=document.identifier).first()
    framework_created = framework is None
    framework_updated = False
    if framework is None:
        _check_owner(actor, organisation)
        document_values["last_change_at"] = document.last_change_at or now
        framework = Framework.objects.create(
            identifier=document.identifier,
            source_format=parsed.source_format,
            imported_by=_user_or_none(actor),
            organisation=organisation,
            **document_values,
        )
    else:
        if actor is not None and not selectors.can_manage_framework(actor, framework):
            raise PermissionDenied(reimport_refusal(framework))
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
        importer = _user_or_none(actor)
        if (
            changed
            or framework.source_format != parsed.source_format
            or framework.imported_by_id != getattr(importer, "pk", None)
        ):
            framework.source_format = parsed.source_format
            framework.imported_by = importer
            framework.save()

    # A new framework has no records to make stale; a re-import compares its tree before and
    # after only when standards were added, changed or retired.
    tree_before = {} if framework_created else _tree_of(framework)
    standard_counts, pk_by_identifier = _write_standards(framework, parsed, tree.places, now)
    if not framework_created and any(
        standard_counts[kind] for kind in ("created", "updated", "retired")
    ):
        _mark_changed_groupings(tree_before, _tree_of(framework))
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


def _tree_of(framework: Framework) -> dict[int, tuple[int | None, str, bool]]:
    """Standard id -> (parent id, status, grouping) of the framework's standards."""
    return {
        pk: (parent_id, status, grouping)
        for pk, parent_id, status, grouping in Standard.objects.filter(
            framework=framework
        ).values_list("pk", "parent_id", "status", "is_grouping")
    }


def _mark_changed_groupings(
    before: dict[int, tuple[int | None, str, bool]],
    after: dict[int, tuple[int | None, str, bool]],
) -> None:
    """The consequence of a re-import that adds, retires or moves standards (ADR 8): the
    groupings whose active children changed roll up differently, so every learner's record on
    them is marked stale in this transaction (recomputed after it commits, with the groupings
    above them)."""
    changed: set[int] = set()
    for pk, now in after.items():
        old = before.get(pk)
        if old == now:
            continue
        for place in (old, now):
            if place is not None and place[0] is not None:
                changed.add(place[0])
        if now[2] or (old is not None and old[2]):
            changed.add(pk)
    groupings = {pk for pk in changed if pk in after and after[pk][2]}
    if groupings:
        from mastery.services import mark_groupings_stale  # mastery reads the standards app

        mark_groupings_stale(grouping_ids=groupings)


def _lock_identifier(identifier: str) -> None:
    """Serialises imports of one framework, including its first (a row lock needs the row)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"standards:{identifier}"])


def reimport_refusal(framework: Framework) -> str:
    """Why this user may not re-import ``framework``, in plain words."""
    if framework.organisation_id is None:
        return (
            f"{framework.title} is shared by every school on the platform: only the platform's"
            " operator updates it. To adapt it for your organisation, import your version as a"
            " new framework (its own identifier)."
        )
    owner = framework.organisation.name if framework.organisation else "another organisation"
    return (
        f"{framework.title} belongs to {owner}: only its administrators re-import it. To adapt"
        " it, import your version as a new framework (its own identifier)."
    )


def _check_owner(actor: AbstractBaseUser | None, organisation: Organisation | None) -> None:
    if actor is None:
        return
    if not actor.is_authenticated or not actor.is_active:
        raise PermissionDenied("Sign in to import frameworks.")
    if organisation is None:
        if not getattr(actor, "is_superuser", False):
            raise PermissionDenied("Choose the organisation that owns the framework.")
        return
    if not selectors.framework_owner_choices(actor).filter(pk=organisation.pk).exists():
        raise PermissionDenied("You may not import frameworks for this organisation.")


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


# --- Organisation settings -------------------------------------------------------------------


class InvalidSettings(Exception):
    """The settings were refused and nothing was written; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


def _require_admin(actor: User, organisation: Organisation) -> None:
    if not selectors.can_administer(actor, organisation):
        raise PermissionDenied("Only administrators of this organisation may change it.")


@transaction.atomic
def update_scale(
    *,
    actor: User,
    organisation: Organisation,
    levels: Sequence[LevelInput],
    mastery_threshold: Any,
    name: str = "",
) -> ProficiencyScale:
    """Sets ``organisation``'s own proficiency scale, replacing its levels (organisations below
    inherit it unless they have their own). Validated whole by
    :func:`standards.validation.validate_scale`; :class:`InvalidSettings` lists every problem
    and nothing is written. Only administrators of the organisation (or above) may call it."""
    _require_admin(actor, organisation)
    clean, threshold, problems = validate_scale(levels, mastery_threshold)
    if len(name.strip()) > 100:
        problems.append(Problem("scale", "name", "is at most 100 characters"))
    if problems or threshold is None:
        raise InvalidSettings(problems)
    scale, _ = ProficiencyScale.objects.select_for_update().update_or_create(
        organisation=organisation,
        defaults={"mastery_threshold": threshold, "name": name.strip(), "updated_by": actor},
    )
    scale.levels.all().delete()
    ScaleLevel.objects.bulk_create(
        ScaleLevel(
            scale=scale,
            points=level.points,
            label=level.label,
            colour=level.colour,
            cut_point=level.cut_point,
            description=level.description,
        )
        for level in clean
    )
    _recompute(actor, organisation, "scale")
    logger.info("scale updated", extra={"organisation_id": organisation.pk, "actor_id": actor.pk})
    return scale


@transaction.atomic
def remove_scale(*, actor: User, organisation: Organisation) -> bool:
    """Removes ``organisation``'s own scale so it inherits again. True when one was removed
    (and then its records are recomputed, as for :func:`update_scale`)."""
    _require_admin(actor, organisation)
    deleted, _ = ProficiencyScale.objects.filter(organisation=organisation).delete()
    if deleted:
        _recompute(actor, organisation, "scale")
    logger.info("scale removed", extra={"organisation_id": organisation.pk, "actor_id": actor.pk})
    return deleted > 0


@transaction.atomic
def set_policy(
    *,
    actor: User,
    organisation: Organisation,
    framework: Framework | None = None,
    method: Any,
    params: Any,
    min_evidence: Any,
    rollup_rule: Any = "all_mastered",
    rollup_params: Any = None,
    overrides_end_with_new_evidence: bool = False,
) -> CalculationPolicy:
    """Sets ``organisation``'s calculation policy, organisation-wide (``framework`` None) or as
    an override for one framework. Validated by :func:`standards.validation.validate_policy`
    (and, for ``points`` roll-ups, the standard ids must exist); :class:`InvalidSettings` lists
    every problem and nothing is written. Only administrators of the organisation may call it."""
    _require_admin(actor, organisation)
    clean, problems = validate_policy(
        method=method,
        params=params,
        min_evidence=min_evidence,
        rollup_rule=rollup_rule,
        rollup_params=rollup_params,
    )
    if clean is not None:
        problems.extend(_unknown_rollup_standards(clean.rollup_params, framework))
    if clean is not None and not problems:
        problems.extend(_unreachable_points(clean.rollup_rule, clean.rollup_params, framework))
    if problems or clean is None:
        raise InvalidSettings(problems)
    policy, _ = CalculationPolicy.objects.update_or_create(
        organisation=organisation,
        framework=framework,
        defaults={
            "method": clean.method,
            "params": clean.params,
            "min_evidence": clean.min_evidence,
            "rollup_rule": clean.rollup_rule,
            "rollup_params": clean.rollup_params,
            "overrides_end_with_new_evidence": bool(overrides_end_with_new_evidence),
            "updated_by": actor,
        },
    )
    _recompute(actor, organisation, "policy", framework)
    logger.info(
        "policy set",
        extra={
            "organisation_id": organisation.pk,
            "framework_id": framework.pk if framework else None,
            "actor_id": actor.pk,
        },
    )
    return policy


def _recompute(
    actor: User, organisation: Organisation, reason: str, framework: Framework | None = None
) -> None:
    """The consequence of a rules change (ADR 8): every record the organisation's rules govern
    (one framework's, for an override) is rebuilt by a bulk recompute, started in this
    transaction and queued when it commits. Until then those records are stale: their
    ``rules_key`` is not the key of the rules in force."""
    from mastery.services import start_bulk_recompute  # mastery reads the standards app

    start_bulk_recompute(actor=actor, organisation=organisation, reason=reason, framework=framework)


MAX_POINTS_PROBLEMS = 20


def _unreachable_points(
    rollup_rule: str, rollup_params: dict[str, Any], framework: Framework | None
) -> list[Problem]:
    """A ``points`` roll-up gives points to standards of one framework, and must let every
    grouping of that framework reach ``points_required`` with its active children's points
    (else no learner could ever master it, and the engine refuses the roll-up): refused here,
    when it is saved, naming the groupings."""
    if rollup_rule != "points":
        return []
    if framework is None:
        return [
            Problem(
                "rollup_params",
                "framework",
                "a points roll-up gives points to the standards of one framework: set it as "
                "that framework's override, not as the organisation-wide policy",
            )
        ]
    points = {int(key): int(value) for key, value in rollup_params.get("points", {}).items()}
    needed = int(rollup_params.get("points_required", 1))
    children: dict[int, list[int]] = {}
    for pk, parent_id in Standard.objects.filter(
        framework=framework, status=StandardStatus.ACTIVE, parent__isnull=False
    ).values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    problems: list[Problem] = []
    for pk, code, statement in (
        Standard.objects.filter(framework=framework, status=StandardStatus.ACTIVE, is_grouping=True)
        .order_by("depth", "position", "pk")
        .values_list("pk", "human_code", "statement")
    ):
        kids = children.get(pk, [])
        total = sum(points.get(kid, 0) for kid in kids)
        if kids and total < needed:
            problems.append(
                Problem(
                    f"grouping {code or statement[:40]}",
                    "points",
                    f"its standards give {total} point{'s' if total != 1 else ''} at most, "
                    f"fewer than the {needed} needed: give its standards points or lower the "
                    "points needed",
                )
            )
    if len(problems) > MAX_POINTS_PROBLEMS:
        more = len(problems) - MAX_POINTS_PROBLEMS
        problems = [
            *problems[:MAX_POINTS_PROBLEMS],
            Problem("rollup_params", "points", f"and {more} more groupings like these"),
        ]
    return problems


def _unknown_rollup_standards(
    rollup_params: dict[str, Any], framework: Framework | None
) -> list[Problem]:
    ids = {int(key) for key in rollup_params.get("points", {})} | set(
        rollup_params.get("required", [])
    )
    if not ids:
        return []
    found = Standard.objects.filter(pk__in=ids)
    if framework is not None:
        found = found.filter(framework=framework)
    missing = sorted(ids - set(found.values_list("pk", flat=True)))
    where = "in this framework" if framework is not None else "anywhere"
    return [
        Problem("rollup_params", "points", f"standard {pk} does not exist {where}")
        for pk in missing
    ]


@transaction.atomic
def remove_policy(
    *, actor: User, organisation: Organisation, framework: Framework | None = None
) -> bool:
    """Removes ``organisation``'s policy (or its override for ``framework``) so it inherits; its
    records are recomputed under the rules in force then (as for :func:`set_policy`)."""
    _require_admin(actor, organisation)
    deleted, _ = CalculationPolicy.objects.filter(
        organisation=organisation, framework=framework
    ).delete()
    if deleted:
        _recompute(actor, organisation, "policy", framework)
    logger.info("policy removed", extra={"organisation_id": organisation.pk, "actor_id": actor.pk})
    return deleted > 0


def _clean_grade_level(grade_level: str, problems: list[Problem]) -> str:
    level = normalise_grade_level(grade_level or "")
    if level not in GRADE_LEVELS:
        problems.append(
            Problem("requirement", "grade_level", f"{grade_level!r} is not a CEDS grade level code")
        )
    return level


def _check_term(term: Term, organisation: Organisation, problems: list[Problem]) -> None:
    if term.organisation_id is None:
        return
    related = {org.pk for org in lineage_of(organisation)} | set(
        descendants_of(organisation).values_list("pk", flat=True)
    )
    if term.organisation_id not in related:
        problems.append(
            Problem("requirement", "term", "belongs to another organisation's calendar")
        )


@transaction.atomic
def add_requirements(
    *,
    actor: User,
    organisation: Organisation,
    term: Term,
    grade_level: str,
    standards: Sequence[Standard],
    priority: str,
) -> list[Requirement]:
    """Requires ``standards`` of learners of ``grade_level`` in ``organisation`` (and below) for
    ``term`` with ``priority`` (power or supporting). Idempotent: a standard already required
    there keeps one row and takes the new priority. Every problem is listed
    (:class:`InvalidSettings`) and nothing is written. Administrators only."""
    _require_admin(actor, organisation)
    problems: list[Problem] = []
    level = _clean_grade_level(grade_level, problems)
    _check_term(term, organisation, problems)
    if priority not in Priority.values:
        problems.append(Problem("requirement", "priority", "must be 'power' or 'supporting'"))
    if not standards:
        problems.append(Problem("requirement", "standards", "choose at least one standard"))
    for standard in standards:
        if standard.status != StandardStatus.ACTIVE:
            problems.append(
                Problem(
                    f"standard {standard.human_code or standard.identifier}",
                    "status",
                    "is retired from its framework",
                )
            )
    if problems:
        raise InvalidSettings(problems)
    existing = {
        row.standard_id: row
        for row in Requirement.objects.select_for_update().filter(
            organisation=organisation,
            term=term,
            grade_level=level,
            standard__in=[standard.pk for standard in standards],
        )
    }
    result: list[Requirement] = []
    for standard in {standard.pk: standard for standard in standards}.values():
        row = existing.get(standard.pk)
        if row is None:
            row = Requirement(
                organisation=organisation,
                term=term,
                grade_level=level,
                standard=standard,
                priority=priority,
                created_by=actor,
            )
            row.save()
        elif row.priority != priority:
            row.priority = priority
            row.save(update_fields=["priority", "updated_at"])
        result.append(row)
    logger.info(
        "requirements added",
        extra={"organisation_id": organisation.pk, "count": len(result), "actor_id": actor.pk},
    )
    return result


@transaction.atomic
def remove_requirement(*, actor: User, requirement: Requirement) -> None:
    """Removes one requirement. Administrators of its organisation only."""
    _require_admin(actor, requirement.organisation)
    requirement.delete()
    logger.info(
        "requirement removed",
        extra={"organisation_id": requirement.organisation_id, "actor_id": actor.pk},
    )


@transaction.atomic
def create_elective_group(
    *,
    actor: User,
    organisation: Organisation,
    term: Term,
    grade_level: str,
    title: str,
    choose: Any,
    standards: Sequence[Standard],
    priority: str = Priority.SUPPORTING,
) -> ElectiveGroup:
    """Creates "choose ``choose`` of these ``standards``" for learners of ``grade_level`` in
    ``organisation`` (and below) in ``term``: 1 <= choose <= number of standards, all active.
    Every problem is listed (:class:`InvalidSettings`), nothing written. Administrators only."""
    _require_admin(actor, organisation)
    problems: list[Problem] = []
    level = _clean_grade_level(grade_level, problems)
    _check_term(term, organisation, problems)
    title = (title or "").strip()
    if not title or len(title) > 200:
        problems.append(Problem("elective group", "title", "is required, at most 200 characters"))
    unique = list({standard.pk: standard for standard in standards}.values())
    if len(unique) < 2:
        problems.append(Problem("elective group", "standards", "offer at least two standards"))
    count = _whole_number(choose)
    if count is None or not 1 <= count <= max(len(unique) - 1, 1):
        problems.append(
            Problem(
                "elective group",
                "choose",
                f"must be a whole number from 1 to {max(len(unique) - 1, 1)} "
                "(fewer than the standards offered)",
            )
        )
    if priority not in Priority.values:
        problems.append(Problem("elective group", "priority", "must be 'power' or 'supporting'"))
    for standard in unique:
        if standard.status != StandardStatus.ACTIVE:
            problems.append(
                Problem(
                    f"standard {standard.human_code or standard.identifier}",
                    "status",
                    "is retired from its framework",
                )
            )
    if problems or count is None:
        raise InvalidSettings(problems)
    group = ElectiveGroup.objects.create(
        organisation=organisation,
        term=term,
        grade_level=level,
        title=title,
        choose=count,
        priority=priority,
        created_by=actor,
    )
    group.standards.set(unique)
    logger.info(
        "elective group created",
        extra={"organisation_id": organisation.pk, "group_id": group.pk, "actor_id": actor.pk},
    )
    return group


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


@transaction.atomic
def delete_elective_group(*, actor: User, group: ElectiveGroup) -> None:
    """Deletes a group and its learners' choices. Administrators of its organisation only."""
    _require_admin(actor, group.organisation)
    group.delete()
    logger.info("elective group deleted", extra={"group_id": group.pk, "actor_id": actor.pk})


def _group_applies_to(group: ElectiveGroup, learner: Learner) -> bool:
    lineage = {org.pk for org in lineage_of(learner.school)}
    return group.organisation_id in lineage and group.grade_level == learner.grade_level


_ACTIVE_CHOICES = (ChoiceStatus.PENDING, ChoiceStatus.APPROVED)


@transaction.atomic
def choose_elective(*, actor: User, group: ElectiveGroup, standard: Standard) -> ElectiveChoice:
    """The signed-in student picks ``standard`` in ``group``; the choice waits for a teacher.

    Only a student whose school is in the group's organisation and whose grade is the group's
    may choose, at most ``group.choose`` pending or approved picks (the learner row is locked,
    so two quick submits cannot exceed it). Choosing again a withdrawn or declined standard
    reopens it. ``PermissionDenied`` / :class:`InvalidSettings` otherwise, nothing written."""
    learner = learner_of(actor)
    if learner is None or not _group_applies_to(group, learner):
        raise PermissionDenied("This elective group is not offered to you.")
    # Serialises this learner's choices; NO KEY: a recompute's lock on the learner row (FOR KEY
    # SHARE, the key of its records) must not wait for us while we wait for its marker.
    Learner.objects.select_for_update(no_key=True).filter(pk=learner.pk).first()
    problems: list[Problem] = []
    if not group.standards.filter(pk=standard.pk).exists():
        problems.append(Problem("choice", "standard", "is not one of this group's standards"))
    choices = list(ElectiveChoice.objects.filter(group=group, learner=learner))
    active = [choice for choice in choices if choice.status in _ACTIVE_CHOICES]
    if any(choice.standard_id == standard.pk for choice in active):
        problems.append(Problem("choice", "standard", "is already chosen"))
    elif len(active) >= group.choose:
        problems.append(
            Problem("choice", "standard", f"you have already chosen {group.choose} of this group")
        )
    if problems:
        raise InvalidSettings(problems)
    previous = next((choice for choice in choices if choice.standard_id == standard.pk), None)
    if previous is not None:
        previous.status = ChoiceStatus.PENDING
        previous.chosen_by = actor
        previous.decided_by = None
        previous.decided_at = None
        previous.note = ""
        previous.save()
        choice = previous
    else:
        choice = ElectiveChoice.objects.create(
            group=group, learner=learner, standard=standard, chosen_by=actor
        )
    logger.info("elective chosen", extra={"choice_id": choice.pk, "learner_id": learner.pk})
    return choice


@transaction.atomic
def withdraw_elective_choice(*, actor: User, choice: ElectiveChoice) -> None:
    """The student withdraws a choice still waiting for approval."""
    learner = learner_of(actor)
    if learner is None or learner.pk != choice.learner_id:
        raise PermissionDenied("Only the learner may withdraw their choice.")
    if choice.status != ChoiceStatus.PENDING:
        raise InvalidSettings(
            [Problem("choice", "status", "only a waiting choice can be withdrawn")]
        )
    choice.status = ChoiceStatus.WITHDRAWN
    choice.save(update_fields=["status"])
    logger.info("elective withdrawn", extra={"choice_id": choice.pk})


@transaction.atomic
def decide_elective_choice(
    *, actor: User, choice: ElectiveChoice, approve: bool, note: str = ""
) -> ElectiveChoice:
    """A teacher of the learner (or an administrator of their school) approves or declines a
    waiting choice. Approving never exceeds the group's ``choose``. ``PermissionDenied`` for
    anyone else (callers look the choice up through a scoped selector first, so others get 404).
    """
    if not changeable_learners(actor).filter(pk=choice.learner_id).exists():
        raise PermissionDenied("Only the learner's teachers may decide this choice.")
    locked = ElectiveChoice.objects.select_for_update().get(pk=choice.pk)
    problems: list[Problem] = []
    if locked.status != ChoiceStatus.PENDING:
        problems.append(Problem("choice", "status", "has already been decided or withdrawn"))
    if len(note) > 500:
        problems.append(Problem("choice", "note", "is at most 500 characters"))
    if approve:
        approved = ElectiveChoice.objects.filter(
            group_id=locked.group_id, learner_id=locked.learner_id, status=ChoiceStatus.APPROVED
        ).count()
        if approved >= locked.group.choose:
            problems.append(Problem("choice", "status", "the group's choices are already approved"))
    if problems:
        raise InvalidSettings(problems)
    locked.status = ChoiceStatus.APPROVED if approve else ChoiceStatus.DECLINED
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.note = note.strip()
    locked.save(update_fields=["status", "decided_by", "decided_at", "note"])
    notify_elective_decided(
        learner=locked.learner,
        choice_id=locked.pk,
        standard_code=locked.standard.human_code or locked.standard.statement[:40],
        approved=approve,
    )
    logger.info("elective decided", extra={"choice_id": locked.pk, "status": locked.status})
    return locked
