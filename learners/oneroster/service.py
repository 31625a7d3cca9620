"""The whole import: read, parse, validate, then write in one transaction or refuse."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction

from common.importing import Problem
from learners.models import (
    RosterImport,
    RosterImportStatus,
)
from learners.oneroster.base import (
    MAX_ERRORS,
    OPTIONAL_FILES,
    REQUIRED_FILES,
    ImportResult,
    RosterInvalid,
    RosterSource,
    RowError,
)
from learners.oneroster.files import BULK, read_files, read_manifest
from learners.oneroster.records import Roster, parse
from learners.oneroster.validate import validate
from learners.oneroster.write import apply

logger = logging.getLogger(__name__)


# --- the whole import ---------------------------------------------------------------------------


def import_roster(
    *,
    actor: User | None,
    source: RosterSource,
    source_name: str = "",
    dry_run: bool = False,
    safety_share: float | None = None,
) -> ImportResult:
    """Validate a whole OneRoster 1.1 CSV roster, then write it in one transaction.

    - ``actor`` None is the system (command line): any organisation. Otherwise every org the
      roster touches must be administered by the actor (a new org must sit below one).
    - Raises :class:`RosterInvalid` listing every problem (file, row, column, reason) when
      anything is wrong; then no roster row is written (only the audit row of the attempt).
      Rows left out on purpose (orgs of other types, rows contradicting their user, deletions
      of unknown rows, and what depends on them) are warnings in the result, not refusals...
    - ...unless they, or the learners a bulk ``users.csv`` no longer lists (deactivated), exceed
      ``safety_share`` (default ``settings.ROSTER_SAFETY_SHARE``, 5 %) of the roster's rows or
      of those learners: then the whole roster is refused, so a truncated export cannot empty
      a district.
    - Idempotent by ``sourcedId``: re-importing the same roster writes nothing and reports
      every row unchanged. ``dry_run`` checks and counts everything, then writes nothing.
    Concurrent imports are serialised by a transaction-level advisory lock.
    """
    share = settings.ROSTER_SAFETY_SHARE if safety_share is None else safety_share
    errors: list[Problem] = []
    try:
        files = read_files(source)
    except RosterInvalid as exc:
        _record(actor, source_name, RosterImportStatus.REJECTED, {}, len(exc.errors), exc)
        raise
    manifest = read_manifest(files)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('learners.oneroster'))")
            roster = parse(files, errors)
            roster.bulk_users = "users.csv" in files and manifest.mode("users.csv") == BULK
            # Cross-file checks need every file readable; row-level problems do not stop them,
            # so one pass reports every bad row.
            if roster.complete:
                validate(roster, actor=actor, errors=errors)
            if any(problem.is_error for problem in errors):
                raise RosterInvalid(_sorted(errors))
            safety = _safety(roster, share)
            if safety["refused"]:
                raise RosterInvalid(_sorted([*errors, _safety_problem(safety)]))
            counts = apply(roster)
            if dry_run:
                transaction.set_rollback(True)
    except RosterInvalid as exc:
        _record(actor, source_name, RosterImportStatus.REJECTED, {}, len(exc.errors), exc)
        raise
    except IntegrityError as exc:
        invalid = RosterInvalid(
            [RowError("", None, "", "A concurrent change conflicted with this roster; retry.")]
        )
        _record(actor, source_name, RosterImportStatus.REJECTED, {}, 1, invalid)
        raise invalid from exc
    record = RosterImport.objects.create(
        imported_by=actor,
        source_name=source_name[:255],
        status=RosterImportStatus.CHECKED if dry_run else RosterImportStatus.APPLIED,
        counts={name: c.as_dict() for name, c in counts.items()},
    )
    logger.info(
        "roster imported",
        extra={"roster_import_id": record.pk, "counts": record.counts, "dry_run": dry_run},
    )
    return ImportResult(
        counts=counts,
        warnings=_sorted([problem for problem in errors if not problem.is_error]),
        dry_run=dry_run,
        import_id=record.pk,
        safety=safety,
    )


def _safety(roster: Roster, share: float) -> dict[str, Any]:
    """How much of the roster would be left out or deactivated, against the safety share."""
    skipped = sum(roster.skipped.values())
    deactivated = len(roster.missing_learners)
    listed = sum(1 for user in roster.users.values() if user.role == "student")
    known = deactivated + listed
    skipped_share = skipped / roster.rows if roster.rows else 0.0
    deactivated_share = deactivated / known if known else 0.0
    return {
        "share_limit": share,
        "rows": roster.rows,
        "skipped": skipped,
        "skipped_share": round(skipped_share, 4),
        "deactivated": deactivated,
        "deactivated_share": round(deactivated_share, 4),
        "refused": skipped_share > share or deactivated_share > share,
    }


def _safety_problem(safety: dict[str, Any]) -> Problem:
    limit = f"{safety['share_limit']:.0%}"
    parts = []
    if safety["skipped_share"] > safety["share_limit"]:
        parts.append(
            f"{safety['skipped']} of its {safety['rows']} rows would be skipped "
            f"({safety['skipped_share']:.1%})"
        )
    if safety["deactivated_share"] > safety["share_limit"]:
        parts.append(
            f"{safety['deactivated']} learners it no longer lists would be deactivated "
            f"({safety['deactivated_share']:.1%})"
        )
    return RowError(
        "",
        None,
        "",
        f"The roster was refused whole: {' and '.join(parts)}, more than the safety limit of "
        f"{limit}. A roster cut short could otherwise empty classes and schools. Check that the "
        "export is complete (the warnings say which rows), or import it with a higher limit.",
    )


def _sorted(errors: list[Problem]) -> list[Problem]:
    order = {name: i for i, name in enumerate(("", *REQUIRED_FILES, *OPTIONAL_FILES))}
    unique = list(dict.fromkeys(errors))
    unique.sort(key=lambda e: (order.get(e.file, 99), e.row or 0, e.column))
    return unique[:MAX_ERRORS]


def _record(
    actor: User | None,
    source_name: str,
    status: str,
    counts: dict[str, object],
    error_count: int,
    exc: RosterInvalid,
) -> None:
    record = RosterImport.objects.create(
        imported_by=actor,
        source_name=source_name[:255],
        status=status,
        counts=counts,
        error_count=error_count,
    )
    exc.import_id = record.pk
    logger.info("roster refused", extra={"roster_import_id": record.pk, "error_count": error_count})
