"""Report leases and the reports' outbox (R11, R12), in process; the real-worker proofs are in
tests/reports/test_outage_and_leases.py."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import TimeoutError as RedisTimeout

from common import queueing
from reports import services, tasks
from reports.models import ReportRequest, ReportStatus
from tests.reports.world import World


@pytest.fixture(autouse=True)
def _broker_tried_afresh() -> Any:
    queueing.forget_failures()
    yield
    queueing.forget_failures()


def _report(world: World, **fields: Any) -> ReportRequest:
    report = services.request_report(
        actor=world.cast.district_admin,
        kind="state_export",
        file_format="csv",
        as_of=world.day,
        organisation=world.cast.district.pk,
        term=world.term.pk,
    )
    ReportRequest.objects.filter(pk=report.pk).update(**fields)
    report.refresh_from_db()
    return report


def _ago(seconds: float) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(seconds=seconds)


def _broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise BrokerError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(tasks.generate_report, "apply_async", refuse)


def test_a_running_report_under_another_messages_lease_is_not_taken(world: World) -> None:
    later = timezone.now() + datetime.timedelta(minutes=1)
    report = _report(world, status="running", task_id="holder", lease_expires_at=later)
    assert services.generate_report(report_id=report.pk, task_id="other") is None
    assert ReportRequest.objects.get(pk=report.pk).status == ReportStatus.RUNNING
    # The holder's own message (redelivered after its worker process died) takes it over.
    done = services.generate_report(report_id=report.pk, task_id="holder")
    assert done is not None
    assert (done.status, done.attempts, done.lease_expires_at) == (ReportStatus.DONE, 1, None)


def test_an_expired_lease_is_taken_over_and_attempts_are_bounded(
    world: World, settings: Any
) -> None:
    settings.REPORT_MAX_ATTEMPTS = 2
    report = _report(world, status="running", task_id="dead", attempts=1, lease_expires_at=_ago(5))
    done = services.generate_report(report_id=report.pk, task_id="new")
    assert done is not None
    assert (done.status, done.attempts) == (ReportStatus.DONE, 2)
    spent = _report(world, status="queued", attempts=2)
    assert services.generate_report(report_id=spent.pk, task_id="third") is None
    failed = ReportRequest.objects.get(pk=spent.pk)
    assert failed.status == ReportStatus.FAILED
    assert failed.error.startswith("The report was started 2 times and its worker stopped")


def test_requeue_takes_up_expired_leases_and_fails_the_exhausted_with_a_reason(
    world: World, settings: Any
) -> None:
    settings.REPORT_MAX_ATTEMPTS = 3
    live = _report(
        world,
        status="running",
        attempts=1,
        sent_at=_ago(60),
        lease_expires_at=timezone.now() + datetime.timedelta(minutes=1),
    )
    dead = _report(world, status="running", attempts=1, sent_at=_ago(60), lease_expires_at=_ago(1))
    spent = _report(world, status="running", attempts=3, sent_at=_ago(60), lease_expires_at=_ago(1))
    assert services.requeue_reports() == 1
    states = {
        r.pk: (r.status, r.attempt, r.sent_at is not None)
        for r in ReportRequest.objects.filter(pk__in=[live.pk, dead.pk, spent.pk])
    }
    assert states[live.pk][0] == ReportStatus.RUNNING
    assert states[dead.pk] == (ReportStatus.QUEUED, "", True)
    assert states[spent.pk][0] == ReportStatus.FAILED


def test_a_report_the_broker_missed_waits_with_a_word_and_is_sent_when_it_is_back(
    world: World, client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _broker_down(monkeypatch)
    report = _report(world)
    services.enqueue_generation(report.pk)  # what the request's commit does
    report.refresh_from_db()
    assert report.waiting_for_workers
    page = client_for(world.cast.district_admin).get(f"/reports/{report.pk}/")
    assert "will start as soon as the report workers are back" in page.content.decode()
    api = Client()
    api.force_login(world.cast.district_admin)
    assert api.get(f"/api/v1/reports/{report.pk}/").json()["waiting_for_workers"] is True
    assert services.requeue_reports() == 0  # still down: nothing sent, nothing lost
    monkeypatch.undo()
    queueing.forget_failures()
    assert services.requeue_reports() == 1
    report.refresh_from_db()
    assert not report.waiting_for_workers
    assert services.requeue_reports() == 0  # sent a moment ago: not sent twice


def _timed_out() -> None:
    try:
        raise RedisTimeout("Timeout reading from socket")
    except RedisTimeout as exc:  # as kombu re-raises redis' errors
        raise BrokerError("Timeout reading from socket") from exc


@pytest.mark.parametrize(("failure", "tries"), [("refused", 2), ("timed out", 1)])
def test_after_a_failed_send_the_broker_is_not_tried_again_for_a_while(
    world: World, monkeypatch: pytest.MonkeyPatch, failure: str, tries: int
) -> None:
    """A broken connection is tried once more on a new one (the broker may have restarted
    since it was made); a broker that did not answer in time is not; then no send tries the
    broker until the back-off has passed."""
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if failure == "timed out":
            _timed_out()
        raise BrokerError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(tasks.generate_report, "apply_async", refuse)
    report = _report(world)
    assert services.enqueue_generation(report.pk) is False
    assert services.enqueue_generation(report.pk) is False
    assert len(calls) == tries
    assert queueing.broker_recently_down()
