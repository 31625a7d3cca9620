"""The audit log and the record of disclosures: what is written, and that it is append-only."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import services
from audit.models import AuditEntry, Disclosure
from common.logging import request_id_var
from tests.personas import Cast, cast

__all__ = ["cast"]


def test_an_entry_records_who_as_what_on_which_learner_in_which_request(cast: Cast) -> None:
    token = request_id_var.set("req-0123456789")
    try:
        entry = services.record_access(
            actor=cast.teacher_admin,
            action="report.download",
            learner_id=cast.own.pk,
            object_type="reports.reportrequest",
            object_id=7,
            detail={"kind": "transcript"},
        )
    finally:
        request_id_var.reset(token)
    entry.refresh_from_db()
    assert (entry.actor_id, entry.role, entry.learner_id, entry.outcome) == (
        cast.teacher_admin.pk, "school_admin,teacher", cast.own.pk, "allowed",
    )  # fmt: skip
    assert (entry.object_type, entry.object_id, entry.request_id) == (
        "reports.reportrequest", "7", "req-0123456789",
    )  # fmt: skip


def test_a_denial_and_the_command_line_are_recorded_too(cast: Cast) -> None:
    denied = services.record_access(actor=cast.outsider, action="report.request", allowed=False)
    system = services.record_access(actor=None, action="report.generate")
    assert (denied.outcome, denied.role) == ("denied", "")
    assert (system.actor_id, system.role, system.request_id) == (None, "system", "")


def test_bad_entries_write_nothing(cast: Cast) -> None:
    with pytest.raises(ValueError, match="action"):
        services.record_access(actor=cast.teacher, action="")
    with pytest.raises(ValueError, match="object_id"):
        services.record_access(actor=cast.teacher, action="x", object_id="9" * 65)
    with pytest.raises(TypeError):
        services.record_access(actor=cast.teacher, action="x", detail={"when": object()})
    assert not AuditEntry.objects.exists()


def test_disclosures_are_one_insert_for_any_number_of_learners(cast: Cast) -> None:
    ids = [cast.own.pk, cast.same_section.pk, cast.own.pk, cast.former.pk]
    with CaptureQueriesContext(connection) as queries:
        count = services.record_disclosures(
            learner_ids_sql="SELECT unnest(%s::bigint[]) AS learner_id",
            params=[ids],
            actor=cast.state_admin,
            recipient="state education agency",
            purpose="state accountability reporting",
            object_type="reports.reportrequest",
            object_id=3,
            detail={"as_of": "2026-10-31"},
        )
    assert count == 3
    inserts = [q for q in queries.captured_queries if "audit_disclosure" in q["sql"]]
    assert len(inserts) == 1
    rows = Disclosure.objects.order_by("learner_id")
    assert [row.learner_id for row in rows] == sorted({*ids})
    assert {(row.actor_id, row.role, row.object_id) for row in rows} == {
        (cast.state_admin.pk, "state_admin", "3")
    }
    assert rows[0].detail == {"as_of": "2026-10-31"}


def _execute(sql: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


@pytest.mark.parametrize("table", ["audit_auditentry", "audit_disclosure"])
def test_the_database_refuses_to_change_or_delete_audit_rows(cast: Cast, table: str) -> None:
    services.record_access(actor=cast.teacher, action="report.request")
    services.record_disclosures(
        learner_ids_sql="SELECT %s AS learner_id", params=[cast.own.pk], actor=None,
        recipient="r", purpose="p", object_type="t", object_id=1,
    )  # fmt: skip
    with pytest.raises(IntegrityError, match="append-only"):
        _execute(f"UPDATE {table} SET object_id = 'x'")  # noqa: S608
    with pytest.raises(IntegrityError, match="append-only"):
        _execute(f"DELETE FROM {table}")  # noqa: S608
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.all().update(action="quietly")


@pytest.mark.django_db(transaction=True)
def test_only_an_erasure_deletes_audit_rows_and_only_its_learners(cast: Cast) -> None:
    services.record_access(actor=None, action="learner.read", learner_id=cast.own.pk)
    services.record_access(actor=None, action="learner.read", learner_id=cast.same_section.pk)
    with pytest.raises(IntegrityError):  # the old setting opens nothing
        _in_one_transaction("SET LOCAL mastery.erasure = 'on'", "DELETE FROM audit_auditentry")
    _in_one_transaction(
        f"SELECT mastery_begin_erasure({cast.own.pk}, NULL)",
        f"DELETE FROM audit_auditentry WHERE learner_id = {cast.own.pk}",  # noqa: S608
        "SELECT mastery_end_erasure()",
    )
    assert list(AuditEntry.objects.values_list("learner_id", flat=True)) == [cast.same_section.pk]
    with pytest.raises(IntegrityError):
        _execute("DELETE FROM audit_auditentry")  # the erasure ended with its transaction


def _in_one_transaction(*statements: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
