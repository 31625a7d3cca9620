"""Writes of the reports app: request a report, generate it, hand out its file; all audited.

- ``request_report`` checks the scope (``reports.selectors.resolve_scope``), stores the
  request, writes one audit entry (allowed, or denied before the 404), and queues the
  generation after commit (ids only).
- ``generate_report`` (the ``reports`` queue's task calls it) claims the request, writes the
  file under a temporary name, and in one transaction moves it into place, records its size,
  sha256 and row count and, for a state export, one disclosure per learner included (one
  ``INSERT ... SELECT`` from a staging table filled page by page). A redelivered task takes
  over; the attempt it replaced cannot finish.
- ``open_download`` resolves a signed link for the acting user and audits the download (or the
  refusal, with its reason).
- ``generate_to_path``: the command line's run, same generators, audited as the operator.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Final

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import (
    DatabaseError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.db.models.functions import Coalesce, Now
from django.http import Http404
from django.utils import timezone

from audit import services as audit
from common import queueing
from common.files import DIRECTORY_MODE, create_private
from mastery.core import ReportDataError
from moderation.equity import write_equity_audit
from notifications.services import language_of
from reports import selectors
from reports.gradebook import write_gradebook
from reports.models import ReportKind, ReportRequest, ReportStatus
from reports.school_report import write_school_report
from reports.selectors import ReportScope
from reports.state_export import write_state_export
from reports.transcript import write_transcript

logger = logging.getLogger(__name__)

OBJECT_TYPE: Final = "reports.reportrequest"
RECIPIENT: Final = "state education agency"
PURPOSE: Final = "state accountability reporting"
_STAGE: Final = "reports_disclosure_stage"

type Actor = AbstractBaseUser | AnonymousUser
type Progress = Callable[[int, int], None]


def _detail(scope: ReportScope | dict[str, Any]) -> dict[str, Any]:
    """The parameters of a request, as ids (never names) for the audit log."""
    if isinstance(scope, ReportScope):
        return {
            "kind": scope.kind,
            "format": scope.file_format,
            "as_of": scope.as_of.isoformat(),
            "organisation": scope.organisation.pk if scope.organisation else None,
            "term": scope.term.pk if scope.term else None,
            "section": scope.section.pk if scope.section else None,
            "learner": scope.learner.pk if scope.learner else None,
        }
    return {key: str(value)[:40] if value is not None else None for key, value in scope.items()}


def _learner_id(value: object) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


# --- requesting ---------------------------------------------------------------------------------


def request_report(
    *,
    actor: Actor,
    kind: str,
    file_format: str,
    as_of: object,
    organisation: object = None,
    term: object = None,
    section: object = None,
    learner: object = None,
) -> ReportRequest:
    """Request a report for ``actor`` and queue its generation (after commit).

    Raises ``ValidationError`` naming the field for parameters that make no sense (nothing
    written), ``Http404`` for a scope outside the actor's (the refusal is audited first, in its
    own transaction, so the rollback of the caller cannot lose it). An allowed request writes
    the request and its audit entry together.
    """
    params = {
        "kind": kind,
        "file_format": file_format,
        "as_of": as_of,
        "organisation": organisation,
        "term": term,
        "section": section,
        "learner": learner,
    }
    try:
        scope = selectors.resolve_scope(actor, **params)  # type: ignore[arg-type]
    except Http404:
        audit.record_access(
            actor=actor,
            action="report.request",
            allowed=False,
            learner_id=_learner_id(learner),
            object_type=OBJECT_TYPE,
            detail={**_detail(params), "reason": "scope"},
        )
        raise
    return _store_request(actor, scope)


@transaction.atomic
def _store_request(actor: Actor, scope: ReportScope) -> ReportRequest:
    report = ReportRequest.objects.create(
        requester_id=actor.pk,
        kind=scope.kind,
        file_format=scope.file_format,
        organisation=scope.organisation,
        term=scope.term,
        section=scope.section,
        learner=scope.learner,
        as_of=scope.as_of,
        file_name=f"{uuid.uuid4().hex}.{scope.file_format}",
        request_id=audit.request_id_or_blank(),
    )
    audit.record_access(
        actor=actor,
        action="report.request",
        learner_id=scope.learner.pk if scope.learner else None,
        object_type=OBJECT_TYPE,
        object_id=report.pk,
        detail=_detail(scope),
    )
    transaction.on_commit(partial(enqueue_generation, report.pk), robust=True)
    return report


def enqueue_generation(report_id: int) -> bool:
    """Send the generation to the ``reports`` queue and note when (``sent_at``); True if sent.

    Never waits on an unreachable broker nor raises (``common.queueing.send``): the request
    then stays queued, unsent, with ``send_failed_at`` (people are told it will start when the
    workers are back) and ``requeue_reports`` sends it within a minute of the broker's return.
    """
    from reports import tasks  # the tasks module imports this one

    if not queueing.send(tasks.generate_report, report_id):
        ReportRequest.objects.filter(pk=report_id, send_failed_at__isnull=True).update(
            send_failed_at=Now()
        )
        return False
    ReportRequest.objects.filter(pk=report_id).update(sent_at=Now(), send_failed_at=None)
    return True


EXHAUSTED: Final = (
    "The report was started {attempts} times and its worker stopped each time before it "
    "finished (it may be too large for the report workers). Request it again, or ask an "
    "administrator to check the report workers."
)


def requeue_reports(*, lost_after_seconds: int = 600, limit: int = 100) -> int:
    """The reports' outbox and leases (beat, every minute); returns how many were sent.

    1. A running report whose lease expired (its worker died: killed, out of memory, the
       machine restarted) goes back to the queue, or, once ``REPORT_MAX_ATTEMPTS`` attempts
       have taken it up, fails with a reason people can read.
    2. Queued reports never sent (the broker was down) or sent more than
       ``lost_after_seconds`` ago (the message was lost) are sent, oldest first, at most
       ``limit``; the first failure stops the run (the broker is still down).
    Generating twice is safe: a finished report is never redone, a held lease never taken.
    """
    with transaction.atomic():
        expired = list(
            ReportRequest.objects.select_for_update(skip_locked=True)
            .filter(status=ReportStatus.RUNNING, lease_expires_at__lt=Now())
            .values_list("pk", "attempts")
        )
        exhausted = [pk for pk, attempts in expired if attempts >= settings.REPORT_MAX_ATTEMPTS]
        for pk, attempts in expired:
            if pk in exhausted:
                ReportRequest.objects.filter(pk=pk).update(
                    status=ReportStatus.FAILED,
                    error=EXHAUSTED.format(attempts=attempts),
                    finished_at=timezone.now(),
                    lease_expires_at=None,
                )
        ReportRequest.objects.filter(
            pk__in=[pk for pk, _ in expired if pk not in exhausted]
        ).update(status=ReportStatus.QUEUED, attempt="", sent_at=None, lease_expires_at=None)
    if expired:
        logger.warning(
            "reports whose worker died",
            extra={"requeued": len(expired) - len(exhausted), "failed": len(exhausted)},
        )
    lost = timezone.now() - datetime.timedelta(seconds=lost_after_seconds)
    ids = list(
        ReportRequest.objects.filter(status=ReportStatus.QUEUED)
        .filter(Q(sent_at__isnull=True) | Q(sent_at__lt=lost))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for report_id in ids:
        if not enqueue_generation(report_id):
            break
        sent += 1
    return sent


# --- generating ---------------------------------------------------------------------------------


def reports_root() -> Path:
    root = Path(settings.REPORTS_ROOT)
    root.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    return root


class _DisclosureStage:
    """A temporary table (this connection only) of the learners a state export included."""

    def __enter__(self) -> _DisclosureStage:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {_STAGE} (learner_id bigint NOT NULL)")
        return self

    def add(self, learner_ids: Sequence[int]) -> None:
        if not learner_ids:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_STAGE} (learner_id) SELECT unnest(%s::bigint[])",
                [list(learner_ids)],
            )

    sql: Final = f"SELECT learner_id FROM {_STAGE}"  # noqa: S608

    def __exit__(self, *_: object) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")


@dataclass(frozen=True)
class Generated:
    rows: int
    size: int
    sha256: str
    # A report of today (read from the records): how many of its figures wait for a recompute.
    pending_recomputes: int | None = None


def _digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def write_report(
    scope: ReportScope,
    path: Path,
    *,
    progress: Progress | None = None,
    disclose: Callable[[Sequence[int]], None] | None = None,
    summary: dict[str, int] | None = None,
    language: str = "",
) -> int:
    """Write the report ``scope`` describes to ``path``; return its number of rows.
    ``summary`` receives what the file leaves out (the Ed-Fi formats' rows without a level) and,
    for a report of today (read from the records the workers keep: the state export, the
    school report, the gradebook and the transcript), how many of its figures wait for a
    recompute (``pending_recomputes``);
    ``language`` is the transcript's (the requester's chosen language; the exports' columns
    are fixed by their formats)."""
    if scope.kind == ReportKind.STATE_EXPORT:
        assert scope.organisation is not None
        assert scope.term is not None
        with path.open("w", encoding="utf-8", newline="") as out:
            written = write_state_export(
                organisation=scope.organisation,
                term=scope.term,
                as_of=scope.as_of,
                file_format=scope.file_format,
                out=out,
                progress=progress,
                disclose=disclose,
            )
        if summary is not None and written.left_out is not None:
            summary.update({f"left_out_{state}": n for state, n in written.left_out.items()})
        if summary is not None and written.pending is not None:
            summary["pending_recomputes"] = written.pending
        return written.rows
    if scope.kind == ReportKind.SCHOOL_REPORT:
        assert scope.organisation is not None
        assert scope.term is not None
        return write_school_report(
            school=scope.organisation,
            term=scope.term,
            as_of=scope.as_of,
            file_format=scope.file_format,
            path=path,
            progress=progress,
            summary=summary,
        )
    if scope.kind == ReportKind.EQUITY_AUDIT:
        assert scope.organisation is not None
        assert scope.term is not None
        return write_equity_audit(
            organisation=scope.organisation,
            term=scope.term,
            as_of=scope.as_of,
            file_format=scope.file_format,
            path=path,
            progress=progress,
        )
    if scope.kind == ReportKind.SECTION_EXPORT:
        assert scope.section is not None
        return write_gradebook(
            section=scope.section,
            as_of=scope.as_of,
            file_format=scope.file_format,
            path=path,
            progress=progress,
            summary=summary,
        )
    assert scope.learner is not None
    return write_transcript(
        learner=scope.learner,
        term=scope.term,
        as_of=scope.as_of,
        path=path,
        progress=progress,
        language=language,
        summary=summary,
    )


def _lease_until() -> Any:
    """The database's now plus the lease (one clock for every worker and beat)."""
    return Now() + datetime.timedelta(seconds=settings.REPORT_LEASE_SECONDS)


def _claim(report_id: int, task_id: str = "") -> tuple[ReportRequest, str] | None:
    """Take the report for a new attempt, or None: it is finished, failed, or running under a
    lease another message holds (a redelivery of the holder's own message takes it over)."""
    with transaction.atomic():
        report = (
            ReportRequest.objects.select_for_update()
            .filter(pk=report_id)
            .annotate(held=ExpressionWrapper(Q(lease_expires_at__gt=Now()), BooleanField()))
            .first()
        )
        if report is None or report.status in (ReportStatus.DONE, ReportStatus.FAILED):
            return None
        held = bool(report.held)
        if (
            report.status == ReportStatus.RUNNING
            and held
            and (not task_id or task_id != report.task_id)
        ):
            return None
        if report.attempts >= settings.REPORT_MAX_ATTEMPTS:
            ReportRequest.objects.filter(pk=report_id).update(
                status=ReportStatus.FAILED,
                error=EXHAUSTED.format(attempts=report.attempts),
                finished_at=timezone.now(),
                lease_expires_at=None,
            )
            return None
        attempt = uuid.uuid4().hex
        ReportRequest.objects.filter(pk=report_id).update(
            status=ReportStatus.RUNNING,
            attempt=attempt,
            task_id=task_id,
            # A message reached a worker, so it was sent after all: a send that timed out on a
            # hanging broker may still have been taken when the broker resumed.
            sent_at=Coalesce(F("sent_at"), Now()),
            send_failed_at=None,
            attempts=F("attempts") + 1,
            lease_expires_at=_lease_until(),
            started_at=timezone.now(),
            rows_done=0,
            error="",
        )
    report.refresh_from_db()
    return report, attempt


class _Lease:
    """Renews a running attempt's lease every third of it until the generation ends.

    A thread of its own (with its own database connection, closed when it stops) keeps the
    lease while the worker lives, however long one step of the generation takes; a worker
    that dies stops renewing, so its lease expires and ``requeue_reports`` takes it up.
    """

    def __init__(self, report_id: int, attempt: str) -> None:
        self.report_id = report_id
        self.attempt = attempt
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._renew, name=f"lease-{report_id}", daemon=True)

    def __enter__(self) -> _Lease:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()

    def _renew(self) -> None:
        interval = max(settings.REPORT_LEASE_SECONDS / 3, 0.2)
        try:
            while not self.stopped.wait(interval):
                try:
                    ReportRequest.objects.filter(
                        pk=self.report_id, attempt=self.attempt, status=ReportStatus.RUNNING
                    ).update(lease_expires_at=_lease_until())
                except DatabaseError:
                    # The next renewal retries; if the lease runs out meanwhile another
                    # attempt takes over and this one cannot finish (its attempt is gone).
                    logger.warning("report lease not renewed", extra={"report_id": self.report_id})
                    close_old_connections()
        finally:
            connection.close()


def _progress(report_id: int, attempt: str) -> Progress:
    def update(done: int, total: int) -> None:
        ReportRequest.objects.filter(pk=report_id, attempt=attempt).update(
            rows_done=done, rows_total=total
        )

    return update


def generate_report(*, report_id: int, task_id: str = "") -> ReportRequest | None:
    """Generate a requested report; idempotent (a finished report is left alone).

    ``task_id`` names the message (Celery's task id): the attempt holds the report under a
    lease renewed while it runs (``_Lease``), which no other message takes over.

    The file is written under a temporary name next to its final one; in one transaction the
    row is locked, the attempt checked (a newer attempt wins), the file moved into place and
    the request marked done with its size, sha256 and row count, and (state export) one
    disclosure per learner included is recorded. A data problem marks the request failed with
    ids and the reason; a database connection problem is raised for the task to retry.
    """
    claimed = _claim(report_id, task_id)
    if claimed is None:
        return None
    report, attempt = claimed
    with _Lease(report.pk, attempt):
        return _generate(report, attempt)


def _generate(report: ReportRequest, attempt: str) -> ReportRequest | None:
    final = reports_root() / report.file_name
    part = create_private(final.with_name(f"{final.name}.{attempt}.part"))
    try:
        scope = selectors.resolve_scope(None, operator=True, **selectors.scope_of(report))  # type: ignore[arg-type]
        if report.kind == ReportKind.STATE_EXPORT:
            with _DisclosureStage() as stage:
                summary: dict[str, int] = {}
                rows = write_report(
                    scope,
                    part,
                    progress=_progress(report.pk, attempt),
                    disclose=stage.add,
                    summary=summary,
                )
                return _finish(report, attempt, part, final, rows, stage.sql, summary)
        language = language_of(report.requester_id) if report.requester_id else ""
        summary = {}
        rows = write_report(
            scope,
            part,
            progress=_progress(report.pk, attempt),
            summary=summary,
            language=language,
        )
        return _finish(report, attempt, part, final, rows, None, summary)
    except OperationalError:
        part.unlink(missing_ok=True)
        raise
    except (ReportDataError, ValidationError, Http404) as error:
        _fail(report.pk, attempt, str(error)[:1000])
        part.unlink(missing_ok=True)
        logger.warning("report failed", extra={"report_id": report.pk, "reason": str(error)[:200]})
        return None
    except Exception:
        _fail(report.pk, attempt, "internal error; the logs have the details")
        part.unlink(missing_ok=True)
        logger.exception("report failed", extra={"report_id": report.pk})
        raise


def _fail(report_id: int, attempt: str, reason: str) -> None:
    ReportRequest.objects.filter(pk=report_id, attempt=attempt).update(
        status=ReportStatus.FAILED, error=reason, finished_at=timezone.now(), lease_expires_at=None
    )


def _finish(
    report: ReportRequest,
    attempt: str,
    part: Path,
    final: Path,
    rows: int,
    disclosed_sql: str | None,
    summary: dict[str, int] | None = None,
) -> ReportRequest | None:
    size, sha256 = _digest(part)
    with transaction.atomic():
        locked = ReportRequest.objects.select_for_update().get(pk=report.pk)
        if locked.attempt != attempt:
            part.unlink(missing_ok=True)
            return None
        if disclosed_sql is not None:
            requester = locked.requester
            audit.record_disclosures(
                learner_ids_sql=disclosed_sql,
                params=[],
                actor=requester,
                recipient=RECIPIENT,
                purpose=PURPOSE,
                object_type=OBJECT_TYPE,
                object_id=locked.pk,
                detail={"kind": locked.kind, "as_of": locked.as_of.isoformat()},
                request_id=locked.request_id,
            )
        os.replace(part, final)
        ReportRequest.objects.filter(pk=report.pk).update(
            status=ReportStatus.DONE,
            row_count=rows,
            summary=summary or {},
            rows_done=rows,
            rows_total=rows,
            size=size,
            sha256=sha256,
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
    locked.refresh_from_db()
    return locked


# --- downloading ---------------------------------------------------------------------------------


def open_download(*, actor: Actor, token: str) -> tuple[ReportRequest, Path]:
    """The report and file a signed link gives ``actor``, with the download audited.

    Refused (``Http404``, audited as denied with the reason) for a link issued to another user,
    an expired or forged one, a report not ready, or a requester who has lost the scope."""
    check = selectors.check_download(actor, token)
    path = reports_root() / check.report.file_name if check.report is not None else None
    if check.report is None or path is None or not path.is_file():
        audit.record_access(
            actor=actor,
            action="report.download",
            allowed=False,
            object_type=OBJECT_TYPE,
            object_id=check.report_id or "",
            detail={"reason": check.reason or "file missing"},
        )
        raise Http404("Not found.")
    report = check.report
    audit.record_access(
        actor=actor,
        action="report.download",
        learner_id=report.learner_id,
        object_type=OBJECT_TYPE,
        object_id=report.pk,
        detail={"kind": report.kind, "sha256": report.sha256},
    )
    return report, path


# --- the command line --------------------------------------------------------------------------


def generate_to_path(*, scope: ReportScope, output: Path) -> Generated:
    """The operator's run (``manage.py generate_report``): write the report to ``output``
    (through a temporary file next to it, renamed when complete), audit it as the system, and
    for a state export record one disclosure per learner included, in one transaction."""
    part = create_private(output.with_name(f".{output.name}.{uuid.uuid4().hex}.part"))
    summary: dict[str, int] = {}
    try:
        if scope.kind == ReportKind.STATE_EXPORT:
            with _DisclosureStage() as stage:
                rows = write_report(scope, part, disclose=stage.add, summary=summary)
                generated = _finish_path(scope, part, output, rows, stage.sql)
        else:
            rows = write_report(scope, part, summary=summary)
            generated = _finish_path(scope, part, output, rows, None)
    finally:
        part.unlink(missing_ok=True)
    return replace(generated, pending_recomputes=summary.get("pending_recomputes"))


@transaction.atomic
def _finish_path(
    scope: ReportScope, part: Path, output: Path, rows: int, disclosed_sql: str | None
) -> Generated:
    size, sha256 = _digest(part)
    entry = audit.record_access(
        actor=None,
        action="report.generate",
        learner_id=scope.learner.pk if scope.learner else None,
        object_type="reports.command",
        detail={**_detail(scope), "rows": rows, "sha256": sha256},
    )
    if disclosed_sql is not None:
        audit.record_disclosures(
            learner_ids_sql=disclosed_sql,
            params=[],
            actor=None,
            recipient=RECIPIENT,
            purpose=PURPOSE,
            object_type="audit.auditentry",
            object_id=entry.pk,
            detail={"kind": scope.kind, "as_of": scope.as_of.isoformat()},
        )
    os.replace(part, output)
    return Generated(rows=rows, size=size, sha256=sha256)
