"""One report end to end through a real Celery worker on the ``reports`` queue (slow tier)."""

from __future__ import annotations

import subprocess
import time

import pytest

from audit.models import AuditEntry, Disclosure
from reports import services
from reports.models import ReportRequest, ReportStatus
from tests.personas import build_cast
from tests.reports.world import build_world, expected_state_rows

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _finished(report_id: int, timeout: float = 60.0) -> ReportRequest:
    """Poll the request row (the worker commits it) until it is done or failed."""
    deadline = time.monotonic() + timeout
    while True:
        report = ReportRequest.objects.get(pk=report_id)
        if report.status in (ReportStatus.DONE, ReportStatus.FAILED):
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"report {report_id} still {report.status} after {timeout} s")
        time.sleep(0.05)


def test_a_requested_state_export_is_generated_by_the_worker(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    world = build_world(build_cast())
    report = services.request_report(
        actor=world.cast.district_admin,
        kind="state_export",
        file_format="json",
        as_of=world.day,
        organisation=world.cast.district.pk,
        term=world.term.pk,
    )
    done = _finished(report.pk)
    assert done.status == ReportStatus.DONE, done.error
    rows = expected_state_rows(world, world.cast.district)
    # Ed-Fi has no level for rows not assessed or with too little evidence: left out, counted.
    sent = [row for row in rows if row["state"] in ("mastered", "not_yet")]
    assert done.row_count == len(sent)
    assert done.summary == {
        "left_out_not_assessed": sum(row["state"] == "not_assessed" for row in rows),
        "left_out_insufficient_evidence": sum(
            row["state"] == "insufficient_evidence" for row in rows
        ),
    }
    assert Disclosure.objects.filter(object_id=str(report.pk)).count() == 6
    assert AuditEntry.objects.filter(action="report.request", object_id=str(report.pk)).exists()
