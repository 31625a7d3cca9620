"""Requesting, generating and downloading reports: scope, audit, disclosures, idempotency."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEntry, Disclosure
from learners.models import RoleAssignment
from reports import selectors, services
from reports.models import ReportRequest, ReportStatus
from tests.personas import (
    ADMINISTERED,
    LEARNER_ATTRS,
    ORG_ATTRS,
    PERSONA_NAMES,
    SECTION_ATTRS,
    VISIBLE_LEARNERS,
    VISIBLE_SECTIONS,
    Cast,
)
from tests.reports.world import World, add_rating, expected_state_rows, noon


def ask(user: object, **params: object) -> ReportRequest:
    return services.request_report(actor=user, **params)  # type: ignore[arg-type]


def state_export(world: World, user: object, organisation: object = None) -> ReportRequest:
    return ask(
        user,
        kind="state_export",
        file_format="csv",
        as_of=world.day,
        organisation=(organisation or world.cast.district).pk,  # type: ignore[attr-defined]
        term=world.term.pk,
    )


def test_who_may_request_which_scope(cast: Cast) -> None:
    day = timezone.localdate()
    for persona in PERSONA_NAMES:
        user = cast.persona(persona)
        for name in ORG_ATTRS:
            org = getattr(cast, name)
            allowed = name in ADMINISTERED[persona]
            _check(allowed, user, kind="state_export", file_format="csv", as_of=day,
                   organisation=org.pk, term=cast.term.pk)  # fmt: skip
        for name in SECTION_ATTRS:
            allowed = name in VISIBLE_SECTIONS[persona]
            _check(allowed, user, kind="section_export", file_format="csv", as_of=day,
                   section=getattr(cast, name).pk)  # fmt: skip
        for name, attr in LEARNER_ATTRS.items():
            allowed = name in VISIBLE_LEARNERS[persona]
            _check(allowed, user, kind="transcript", file_format="pdf", as_of=day,
                   learner=getattr(cast, attr).pk)  # fmt: skip


def _check(allowed: bool, user: object, **params: object) -> None:
    before = AuditEntry.objects.count()
    if allowed:
        report = ask(user, **params)
        assert report.status == ReportStatus.QUEUED, params
        entry = AuditEntry.objects.latest("id")
        assert (entry.action, entry.outcome, entry.object_id) == (
            "report.request", "allowed", str(report.pk),
        )  # fmt: skip
    else:
        with pytest.raises(Http404):
            ask(user, **params)
        entry = AuditEntry.objects.latest("id")
        assert (entry.action, entry.outcome) == ("report.request", "denied"), params
    assert AuditEntry.objects.count() == before + 1


def test_a_school_admin_cannot_request_another_schools_report(world: World) -> None:
    cast = world.cast
    with pytest.raises(Http404):
        ask(cast.school_admin, kind="school_report", file_format="xlsx", as_of=world.day,
            organisation=cast.other_school.pk, term=world.term.pk)  # fmt: skip
    assert not ReportRequest.objects.exists()
    denied = AuditEntry.objects.get(outcome="denied")
    assert denied.actor_id == cast.school_admin.pk
    assert denied.role == "school_admin"
    assert denied.detail["organisation"] == str(cast.other_school.pk)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "grades"}, "kind"),
        ({"file_format": "pdf"}, "format"),
        ({"term": None}, "term"),
        ({"learner": 1}, "learner"),
        ({"as_of": "2026-01-01"}, "as_of"),
        ({"organisation": "12x"}, "organisation"),
    ],
)
def test_bad_parameters_name_the_field_and_write_nothing(
    world: World, params: dict[str, object], field: str
) -> None:
    base: dict[str, object] = {
        "kind": "state_export", "file_format": "csv", "as_of": world.day,
        "organisation": world.cast.district.pk, "term": world.term.pk,
    }  # fmt: skip
    with pytest.raises(ValidationError) as error:
        ask(world.cast.district_admin, **(base | params))
    assert field in error.value.message_dict
    assert not ReportRequest.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_day_in_the_future_is_refused(world: World) -> None:
    with pytest.raises(ValidationError, match="future"):
        ask(world.cast.district_admin, kind="state_export", file_format="csv",
            as_of=timezone.localdate() + datetime.timedelta(days=1),
            organisation=world.cast.district.pk, term=world.term.pk)  # fmt: skip


def test_generation_stores_the_file_privately_with_its_digest(
    world: World, reports_root: Path
) -> None:
    report = state_export(world, world.cast.district_admin)
    done = services.generate_report(report_id=report.pk)
    assert done is not None
    assert done.status == ReportStatus.DONE
    path = reports_root / done.file_name
    content = path.read_bytes()
    assert done.sha256 == hashlib.sha256(content).hexdigest()
    assert done.size == len(content)
    assert done.row_count == len(expected_state_rows(world, world.cast.district))
    assert (done.rows_done, done.rows_total) == (done.row_count, done.row_count)
    assert path.suffix == ".csv"
    assert len(path.stem) == 32  # a generated name, never one the user chose
    assert list(reports_root.glob("*.part")) == []


def test_a_state_export_records_one_disclosure_per_learner_in_one_statement(
    world: World,
) -> None:
    cast = world.cast
    report = state_export(world, cast.district_admin)
    with CaptureQueriesContext(connection) as queries:
        services.generate_report(report_id=report.pk)
    inserts = [q for q in queries.captured_queries if "INSERT INTO audit_disclosure" in q["sql"]]
    assert len(inserts) == 1
    disclosed = Disclosure.objects.filter(object_id=str(report.pk))
    assert sorted(disclosed.values_list("learner_id", flat=True)) == sorted(
        learner.pk
        for learner in (cast.own, cast.same_section, cast.former, cast.other_section_learner,
                        cast.other_school_learner, cast.other_school_peer)
    )  # fmt: skip
    first = disclosed.first()
    assert first is not None
    assert (first.actor_id, first.recipient) == (cast.district_admin.pk, services.RECIPIENT)


def test_other_reports_disclose_nothing(world: World) -> None:
    report = ask(world.cast.teacher, kind="section_export", file_format="xlsx", as_of=world.day,
                 section=world.cast.section.pk)  # fmt: skip
    services.generate_report(report_id=report.pk)
    assert not Disclosure.objects.exists()


def test_generating_twice_leaves_a_finished_report_alone(world: World) -> None:
    report = state_export(world, world.cast.district_admin)
    first = services.generate_report(report_id=report.pk)
    assert first is not None
    assert services.generate_report(report_id=report.pk) is None
    assert Disclosure.objects.count() == 6
    again = ReportRequest.objects.get(pk=report.pk)
    assert (again.sha256, again.finished_at) == (first.sha256, first.finished_at)


def test_a_newer_attempt_wins_over_the_one_it_replaced(world: World, reports_root: Path) -> None:
    report = state_export(world, world.cast.district_admin)
    # A worker started it, then died; its message, redelivered, takes over under its lease.
    stale = services._claim(report.pk, "message-1")
    assert stale is not None
    done = services.generate_report(report_id=report.pk, task_id="message-1")
    assert done is not None
    part = reports_root / f"{report.file_name}.{stale[1]}.part"
    part.write_text("half a file")
    final = reports_root / report.file_name
    assert services._finish(stale[0], stale[1], part, final, 1, None) is None
    assert not part.exists()
    again = ReportRequest.objects.get(pk=report.pk)
    assert (again.row_count, again.sha256) == (done.row_count, done.sha256)
    assert final.read_text() != "half a file"


def test_a_rating_off_the_scale_fails_the_report_with_ids_only(world: World) -> None:
    cast = world.cast
    add_rating(cast.own, world.c, "0", demonstrated=noon(world.day), recorded=noon(world.day),
               rater=cast.school_admin)  # fmt: skip
    report = state_export(world, cast.district_admin)
    assert services.generate_report(report_id=report.pk) is None
    failed = ReportRequest.objects.get(pk=report.pk)
    assert failed.status == ReportStatus.FAILED
    assert f"learner {cast.own.pk}, standard {world.c.pk}" in failed.error
    assert cast.own.family_name not in failed.error
    assert not Disclosure.objects.exists()


# --- downloads ----------------------------------------------------------------------------------


def _ready(world: World) -> ReportRequest:
    report = state_export(world, world.cast.district_admin)
    done = services.generate_report(report_id=report.pk)
    assert done is not None
    return done


def test_the_requester_downloads_through_a_fresh_link_and_it_is_audited(world: World) -> None:
    report = _ready(world)
    got, path = services.open_download(
        actor=world.cast.district_admin, token=selectors.download_token(report)
    )
    assert got.pk == report.pk
    assert path.read_bytes()
    entry = AuditEntry.objects.filter(action="report.download").get()
    assert (entry.outcome, entry.object_id, entry.detail["sha256"]) == (
        "allowed", str(report.pk), report.sha256,
    )  # fmt: skip


@pytest.mark.parametrize("other", ["state_admin", "school_admin", "teacher", "outsider"])
def test_a_link_used_by_another_user_is_refused_and_audited(world: World, other: str) -> None:
    report = _ready(world)
    with pytest.raises(Http404):
        services.open_download(
            actor=world.cast.persona(other), token=selectors.download_token(report)
        )
    entry = AuditEntry.objects.filter(action="report.download").get()
    assert (entry.outcome, entry.detail["reason"], entry.object_id) == (
        "denied", "another user", str(report.pk),
    )  # fmt: skip


def test_an_expired_or_forged_link_is_refused(world: World) -> None:
    report = _ready(world)
    token = selectors.download_token(report)
    later = timezone.now() + datetime.timedelta(seconds=301)
    with time_machine.travel(later), pytest.raises(Http404):
        services.open_download(actor=world.cast.district_admin, token=token)
    with pytest.raises(Http404):
        services.open_download(actor=world.cast.district_admin, token=token[:-2] + "xx")
    reasons = list(
        AuditEntry.objects.filter(action="report.download")
        .order_by("pk")
        .values_list("detail__reason", flat=True)
    )
    assert reasons == ["expired", "bad signature"]


def test_a_requester_who_lost_the_scope_cannot_download(world: World) -> None:
    report = _ready(world)
    RoleAssignment.objects.filter(user=world.cast.district_admin).update(
        end_date=timezone.localdate() - datetime.timedelta(days=1)
    )
    with pytest.raises(Http404):
        services.open_download(
            actor=world.cast.district_admin, token=selectors.download_token(report)
        )


def test_a_report_not_ready_has_no_link(world: World) -> None:
    report = state_export(world, world.cast.district_admin)
    assert selectors.download_path(report) is None
    with pytest.raises(Http404):
        services.open_download(
            actor=world.cast.district_admin, token=selectors.download_token(report)
        )


def test_requests_whose_message_was_lost_are_queued_again(world: World) -> None:
    lost = state_export(world, world.cast.district_admin)
    fresh = state_export(world, world.cast.district_admin)
    ReportRequest.objects.filter(pk=lost.pk).update(
        sent_at=timezone.now() - datetime.timedelta(minutes=30)
    )
    ReportRequest.objects.filter(pk=fresh.pk).update(sent_at=timezone.now())
    assert services.requeue_reports(lost_after_seconds=600) == 1
    services.generate_report(report_id=lost.pk)
    assert services.requeue_reports(lost_after_seconds=600) == 0
    assert ReportRequest.objects.get(pk=fresh.pk).status == ReportStatus.QUEUED
