"""A learner's erasure leaves no row, file or copy of their name behind, and can be re-run."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry
from evidence.models import Evidence, Rating
from learners.models import Learner
from privacy import registry, selectors, services
from privacy.models import ErasureRecord
from tests.evidence.conftest import Standards
from tests.personas import Cast
from tests.privacy.world import CANARY, fill


def _tables_mentioning(text: str) -> list[str]:
    """Every table of the database whose rows mention ``text`` anywhere (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        found = []
        for table in tables:
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"SELECT 1 FROM {quoted} AS t"  # noqa: S608 (names from the catalogue)
                " WHERE CAST(row_to_json(t) AS text) ILIKE %s LIMIT 1",
                [f"%{text}%"],
            )
            if cursor.fetchone():
                found.append(table)
    return found


def _counts_of(learner: Learner) -> dict[str, int]:
    return {entry.model: entry.rows_of(learner.pk).count() for entry in registry.entries()}


def test_erasure_removes_every_row_file_and_copy_of_the_name(
    cast: Cast, standards: Standards, roots: tuple[Path, Path]
) -> None:
    filled = fill(cast, cast.own, standards, roots[1])
    kept = fill(cast, cast.same_section, standards, roots[1], tag="b")
    kept_before = _counts_of(cast.same_section)
    user_id = cast.own.user_id
    before = _counts_of(cast.own)
    assert all(before[entry.model] > 0 for entry in registry.entries()), before
    assert all(path.is_file() for path in filled.artifact_files + filled.report_files)

    report = services.erase_learner(actor=cast.school_admin, learner_id=cast.own.pk)

    assert set(selectors.remaining_rows(cast.own.pk, user_id).values()) == {0}
    assert not any(path.exists() for path in filled.artifact_files + filled.report_files)
    # The other learner keeps everything, except the section report that listed both.
    assert _counts_of(cast.same_section) == kept_before
    assert all(path.is_file() for path in kept.artifact_files)
    assert not kept.section_report_file.exists()
    assert _tables_mentioning(f"{CANARY}a") == []
    assert report.rows_removed >= sum(before.values())
    # Their artifacts, their transcript and both section reports (each listed the section).
    assert report.files_removed == len(filled.artifact_files) + 3
    record = ErasureRecord.objects.get(pk=report.record_id)
    assert record.organisation_id == cast.school.pk
    # The record names tables and counts only: no learner field, no id, no name.
    assert "learner" not in {f.name for f in ErasureRecord._meta.fields}
    assert all(isinstance(count, int) for count in record.rows.values())
    assert set(record.rows) <= {entry.model for entry in registry.entries()} | {
        "admin.LogEntry", "auth.User", "audit.AuditEntry(actor)",
        "django.Session", "axes.AccessAttempt", "axes.AccessFailureLog", "axes.AccessLog",
    }  # fmt: skip
    entry = AuditEntry.objects.get(action="privacy.erase")
    assert (entry.learner_id, entry.actor_id, entry.object_id) == (
        None, cast.school_admin.pk, str(record.pk),
    )  # fmt: skip


def test_the_students_login_goes_with_its_sessions(cast: Cast, roots: tuple[Path, Path]) -> None:
    from django.test import Client

    client = Client()
    client.force_login(cast.student)
    user_id = cast.own.user_id
    services.erase_learner(actor=None, learner_id=cast.own.pk)
    assert not User.objects.filter(pk=user_id).exists()
    assert client.get("/").status_code == 302


def test_erasure_is_idempotent_for_the_command_line(cast: Cast, roots: tuple[Path, Path]) -> None:
    first = services.erase_learner(actor=None, learner_id=cast.own.pk)
    second = services.erase_learner(actor=None, learner_id=cast.own.pk)
    assert not first.already_erased
    assert second.already_erased
    assert second.rows_removed == 0
    assert ErasureRecord.objects.count() == 1


def test_a_crash_before_the_commit_leaves_every_row_and_a_rerun_finishes(
    cast: Cast, standards: Standards, roots: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    filled = fill(cast, cast.own, standards, roots[1])
    before = _counts_of(cast.own)
    real_unlink = Path.unlink
    calls = {"n": 0}

    def crash_on_second_file(self: Path, missing_ok: bool = False) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise DatabaseError("server closed the connection")  # the crash, mid-way
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash_on_second_file)
    with pytest.raises(DatabaseError):
        services.erase_learner(actor=None, learner_id=cast.own.pk)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert _counts_of(cast.own) == before  # rolled back: nothing half-erased in the database
    files = filled.artifact_files + filled.report_files
    assert sum(path.exists() for path in files) == len(files) - 1  # one went before the crash

    report = services.erase_learner(actor=None, learner_id=cast.own.pk)
    assert not report.already_erased
    assert set(selectors.remaining_rows(cast.own.pk).values()) == {0}
    assert not any(path.exists() for path in filled.artifact_files + filled.report_files)


def test_the_append_only_tables_refuse_deletes_again_after_an_erasure(
    cast: Cast, standards: Standards, roots: tuple[Path, Path]
) -> None:
    fill(cast, cast.same_section, standards, roots[1], tag="b")
    services.erase_learner(actor=None, learner_id=cast.own.pk)
    rating = Rating.objects.filter(learner=cast.same_section).first()
    assert rating is not None
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM evidence_rating WHERE id = %s", [rating.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET action = 'x'")


@pytest.mark.parametrize(
    "persona", ["teacher", "guardian", "student", "teacher_elsewhere", "teacher_admin", "outsider"]
)
def test_only_administrators_of_the_school_may_erase(
    cast: Cast, roots: tuple[Path, Path], persona: str
) -> None:
    with pytest.raises(PermissionDenied):
        services.erase_learner(actor=cast.persona(persona), learner_id=cast.own.pk)
    assert Learner.objects.filter(pk=cast.own.pk).exists()
    denied = AuditEntry.objects.get(action="privacy.erase")
    assert (denied.outcome, denied.learner_id) == ("denied", cast.own.pk)


@pytest.mark.parametrize("persona", ["school_admin", "district_admin", "state_admin"])
def test_administrators_at_or_above_the_school_may_erase(
    cast: Cast, roots: tuple[Path, Path], persona: str
) -> None:
    services.erase_learner(actor=cast.persona(persona), learner_id=cast.own.pk)
    assert not Learner.objects.filter(pk=cast.own.pk).exists()


def test_an_administrator_of_another_school_gets_not_found_for_an_erased_learner(
    cast: Cast, roots: tuple[Path, Path]
) -> None:
    services.erase_learner(actor=cast.school_admin, learner_id=cast.own.pk)
    with pytest.raises(PermissionDenied):
        services.erase_learner(actor=cast.school_admin, learner_id=cast.own.pk)
    assert not Evidence.objects.filter(learner_id=cast.own.pk).exists()
