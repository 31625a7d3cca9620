"""A learner's data, exported whole or erased completely (RELIABILITY.md S6).

- :func:`export_learner_data` writes a zip: ``learner.json`` (every row of every model of the
  personal-data registry about the learner, the student's login without its password, the
  list of files) and ``files/`` (the learner's artifact files and the files of reports about
  them alone). One audit entry (``privacy.export``).
- :func:`erase_learner` removes every such row, the student's login (with its sessions, tokens
  and login attempts), the admin's change log about the learner, the artifact files and every
  generated report file that could contain the learner (reports are regenerated as of any day,
  so a removed file is re-made on request, without the learner). It runs in one transaction
  that called ``mastery_begin_erasure`` (the one way past the append-only triggers, for this
  learner's rows only); files are removed last, before the commit. A crash before the commit
  leaves every row in place, and a re-run finishes the job (missing files are fine);
  re-running after success is a no-op. It leaves
  one anonymous :class:`ErasureRecord` and one audit entry without a learner
  (``privacy.erase``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from audit import services as audit
from audit.models import AuditEntry
from evidence.models import Artifact
from evidence.uploads import storage_path
from learners.models import Enrollment, Learner, Organisation
from learners.selectors import lineage_of
from learners.sessions import stored_in_database
from privacy import registry, selectors
from privacy.models import ErasureRecord
from reports.models import ReportRequest

logger = logging.getLogger(__name__)

type Actor = AbstractBaseUser | AnonymousUser | None

EXPORT_FORMAT_VERSION = "1"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def _check_scope(actor: Actor, learner_id: int) -> None:
    """The command line (``actor=None``) acts as the operator; users must administer the
    learner's school. Outside scope: ``PermissionDenied`` (views answer 404)."""
    if actor is None:
        return
    if not selectors.administered_learners(actor).filter(pk=learner_id).exists():
        raise PermissionDenied("The learner is not in an organisation you administer.")


# --- export -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSummary:
    learner_id: int
    rows: dict[str, int]
    files: int
    bytes_written: int


def _row_values(row: models.Model, only: Iterable[str] | None = None) -> dict[str, Any]:
    names = list(only) if only is not None else [f.attname for f in row._meta.concrete_fields]
    return {name: getattr(row, name) for name in names}


def _safe_name(name: str, fallback: str) -> str:
    """A file name that stays inside its folder in any unzip tool."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = _UNSAFE_NAME.sub("_", base).strip(" .")[:120]
    return cleaned or fallback


def export_learner_data(*, actor: Actor, learner: Learner, out: IO[bytes]) -> ExportSummary:
    """Write everything held about ``learner`` to ``out`` as a zip (see the module docstring).

    The actor must administer the learner's school (``PermissionDenied`` otherwise, audited as
    denied); ``None`` is the command line. Reads only; the export is audited as
    ``privacy.export`` with the learner, the row counts and the zip's sha256.
    """
    try:
        _check_scope(actor, learner.pk)
    except PermissionDenied:
        record_denied(
            actor=actor, action="privacy.export", learner_id=learner.pk, object_id=learner.pk
        )
        raise
    tables: dict[str, list[dict[str, Any]]] = {}
    for entry in registry.entries():
        found = entry.rows_of(learner.pk).order_by("pk")
        tables[entry.model] = [_row_values(row, entry.exported_fields) for row in found]
    user = User.objects.filter(pk=learner.user_id).first() if learner.user_id else None
    files: list[tuple[str, str, dict[str, Any]]] = []
    for artifact in Artifact.objects.filter(evidence__learner_id=learner.pk).exclude(
        storage_name=""
    ):
        name = _safe_name(artifact.original_name, f"artifact-{artifact.pk}")
        files.append(
            (
                f"files/artifacts/{artifact.pk}/{name}",
                storage_path(artifact.storage_name),
                {"artifact": artifact.pk, "sha256": artifact.sha256},
            )
        )
    reports_root = Path(settings.REPORTS_ROOT)
    for report in ReportRequest.objects.filter(learner_id=learner.pk).exclude(file_name=""):
        files.append(
            (
                f"files/reports/{report.pk}/{_safe_name(report.file_name, str(report.pk))}",
                str(reports_root / report.file_name),
                {"report": report.pk, "sha256": report.sha256},
            )
        )
    listed: list[dict[str, Any]] = []
    document: dict[str, Any] = {
        "format_version": EXPORT_FORMAT_VERSION,
        "learner_id": learner.pk,
        "exported_at": timezone.now(),
        "tables": tables,
        "login": _row_values(user, registry.USER_EXPORTED_FIELDS) if user is not None else None,
        "files": listed,
    }
    counted = 0
    digest = hashlib.sha256()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, source, meta in files:
            content = _read_file(source)
            if content is None:
                meta = {**meta, "missing": True}
            else:
                archive.writestr(arcname, content)
                counted += 1
            listed.append({"path": arcname, **meta})
        body = json.dumps(document, cls=DjangoJSONEncoder, indent=2, sort_keys=True).encode()
        archive.writestr("learner.json", body)
        digest.update(body)
    rows = {model: len(items) for model, items in tables.items()}
    audit.record_access(
        actor=actor,
        action="privacy.export",
        learner_id=learner.pk,
        object_type="learners.learner",
        object_id=learner.pk,
        detail={"rows": sum(rows.values()), "files": counted, "sha256": digest.hexdigest()},
    )
    return ExportSummary(
        learner_id=learner.pk,
        rows=rows,
        files=counted,
        bytes_written=out.tell() if out.seekable() else 0,
    )


def _read_file(source: str) -> bytes | None:
    path = Path(source)
    try:
        if path.is_absolute():
            return path.read_bytes()
        with default_storage.open(source, "rb") as handle:
            data: bytes = handle.read()
            return data
    except (OSError, ValueError):
        return None


# --- erasure ------------------------------------------------------------------------------------


@dataclass
class ErasureReport:
    """What an erasure removed. ``already_erased``: there was nothing left to remove."""

    learner_id: int
    already_erased: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    record_id: int | None = None

    @property
    def rows_removed(self) -> int:
        return sum(self.rows.values())


def _delete(queryset: models.QuerySet[Any]) -> int:
    """One ``DELETE`` statement for the queryset's rows (Django's fast delete: no model signals,
    no Python-side cascade; the registry lists every table, children before their parents).
    Composite primary keys included."""
    return queryset.order_by()._raw_delete(queryset.db)


def _report_files_covering(learner: Learner) -> list[str]:
    """Generated report files that may list the learner: their own (transcripts), those of a
    section they were ever enrolled in, and those of their school and the organisations above
    it (state exports, school reports)."""
    sections = Enrollment.objects.filter(learner_id=learner.pk).values("section_id")
    organisations = [org.pk for org in lineage_of(_school(learner))]
    reports = ReportRequest.objects.filter(
        Q(learner_id=learner.pk)
        | Q(section_id__in=sections)
        | Q(organisation_id__in=organisations, section__isnull=True, learner__isnull=True)
    ).exclude(file_name="")
    return list(reports.values_list("file_name", flat=True))


def _school(learner: Learner) -> Organisation:
    return Organisation.objects.get(pk=learner.school_id)


def _sessions_of(user_id: int) -> list[str]:
    """Keys of the unexpired database sessions signed in as ``user_id``."""
    if not stored_in_database():
        return []
    keys = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user_id):
            keys.append(session.session_key)
    return keys


def _erase_login(user_id: int) -> dict[str, int]:
    """Remove the student's login and what hangs off it; a login other people's records still
    point at (it acted on someone else's records) is scrubbed and deactivated instead."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return {}
    counts = {
        "django.Session": Session.objects.filter(session_key__in=_sessions_of(user_id)).delete()[0],
        "axes.AccessAttempt": AccessAttempt.objects.filter(username=user.username).delete()[0],
        "axes.AccessFailureLog": AccessFailureLog.objects.filter(username=user.username).delete()[
            0
        ],
        "axes.AccessLog": AccessLog.objects.filter(username=user.username).delete()[0],
        "audit.AuditEntry(actor)": _delete(AuditEntry.objects.filter(actor_id=user_id)),
    }
    try:
        with transaction.atomic():
            counts["auth.User"] = User.objects.filter(pk=user_id).delete()[0]
    except ProtectedError:
        user.username = f"erased-{user_id}"
        user.first_name = user.last_name = user.email = ""
        user.is_active = False
        user.set_unusable_password()
        user.save()
        counts["auth.User(scrubbed)"] = 1
    return counts


def _remove_files(paths: Iterable[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed


def erase_learner(*, actor: Actor, learner_id: int) -> ErasureReport:
    """Erase everything held about the learner (see the module docstring) and return counts.

    The actor must administer the learner's school (``PermissionDenied`` otherwise, audited as
    denied, nothing removed); ``None`` is the command line, for which a learner that no longer
    exists gives ``already_erased=True`` and changes nothing (for a user it is out of scope).
    """
    try:
        if actor is not None and not Learner.objects.filter(pk=learner_id).exists():
            raise PermissionDenied("No such learner.")
        _check_scope(actor, learner_id)
    except PermissionDenied:
        exists = Learner.objects.filter(pk=learner_id).exists()
        record_denied(
            actor=actor,
            action="privacy.erase",
            learner_id=learner_id if exists else None,
            object_id=learner_id,
        )
        raise
    with transaction.atomic():
        return _erase(actor, learner_id)


def _erase(actor: Actor, learner_id: int) -> ErasureReport:
    learner = Learner.objects.select_for_update().filter(pk=learner_id).first()
    if learner is None:
        return ErasureReport(learner_id=learner_id, already_erased=True)
    # The one way past the append-only tables' triggers: this transaction, this learner and
    # their login only (a SECURITY DEFINER function, privacy/migrations/0002; S14).
    with connection.cursor() as cursor:
        cursor.execute("SELECT mastery_begin_erasure(%s, %s)", [learner_id, learner.user_id])

    media = Path(settings.MEDIA_ROOT)
    reports_root = Path(settings.REPORTS_ROOT)
    files = [
        media / storage_path(name)
        for name in Artifact.objects.filter(evidence__learner_id=learner_id)
        .exclude(storage_name="")
        .values_list("storage_name", flat=True)
    ]
    files += [reports_root / name for name in _report_files_covering(learner)]
    school_id = learner.school_id
    user_id = learner.user_id

    rows: dict[str, int] = {}
    for entry in reversed(registry.REGISTRY):
        rows[entry.model] = _delete(entry.rows_of(learner_id))
    learner_type = ContentType.objects.get_for_model(Learner)
    rows["admin.LogEntry"] = _delete(
        LogEntry.objects.filter(content_type=learner_type, object_id=str(learner_id))
    )
    if user_id is not None:
        rows.update(_erase_login(user_id))
    rows = {model: count for model, count in rows.items() if count}
    removed = _remove_files(files)

    record = ErasureRecord.objects.create(
        actor_id=actor.pk if actor is not None and actor.is_authenticated else None,
        role=audit.role_of(actor) if actor is not None else audit.OPERATOR,
        organisation_id=school_id,
        rows=rows,
        files_removed=removed,
        request_id=audit.request_id_or_blank(),
    )
    audit.record_access(
        actor=actor,
        role=audit.role_of(actor) if actor is not None else audit.OPERATOR,
        action="privacy.erase",
        object_type="privacy.erasurerecord",
        object_id=record.pk,
        detail={"rows": sum(rows.values()), "files": removed},
    )
    # The note lasts until the outermost transaction ends: a caller's own transaction must not
    # keep the way past the append-only triggers open after the erasure.
    with connection.cursor() as cursor:
        cursor.execute("SELECT mastery_end_erasure()")
    logger.info("privacy.erased", extra={"erasure": record.pk, "rows": sum(rows.values())})
    return ErasureReport(
        learner_id=learner_id, rows=rows, files_removed=removed, record_id=record.pk
    )


def record_denied(*, actor: Actor, action: str, learner_id: int | None, object_id: object) -> None:
    """Audit a refused export or erasure (``action``), naming the learner when it exists."""
    audit.record_access(
        actor=actor,
        action=action,
        allowed=False,
        learner_id=learner_id,
        object_type="learners.learner",
        object_id=object_id,
    )
