"""The database itself refuses UPDATE and DELETE on evidence history (ADR 5, RELIABILITY R7)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from evidence import services
from evidence.models import (
    Artifact,
    Evidence,
    EvidenceKind,
    EvidenceRemoval,
    EvidenceStatusChange,
    Rating,
    RatingRemoval,
    Reflection,
)
from evidence.services import ReflectionInput
from tests.evidence.conftest import Standards
from tests.personas import Cast

ROOT = Path(__file__).resolve().parents[2]
YESTERDAY = timezone.now() - datetime.timedelta(days=1)

HISTORY_TABLES = [
    (Evidence, "title = 'changed'"),
    (EvidenceStatusChange, "comment = 'changed'"),
    (EvidenceRemoval, "reason = 'changed'"),
    (Artifact, "url = 'https://changed.example'"),
    (Reflection, "what_i_learned = 'changed'"),
    (Rating, "score = 1"),
    (RatingRemoval, "reason = 'changed'"),
]


@pytest.fixture
def history(cast: Cast, standards: Standards) -> None:
    """At least one row in every history table."""
    if connection.vendor != "postgresql":
        pytest.skip("the append-only triggers are PostgreSQL's (SQLite runs only the demo)")
    services.submit_evidence(
        actor=cast.student,
        kind=EvidenceKind.PROJECT,
        title="Kept",
        demonstrated_at=YESTERDAY,
        links=["https://example.org/kept"],
        reflection=ReflectionInput(what_i_learned="Things"),
        self_scores={standards.counting.pk: 3},
    )
    evidence = services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind=EvidenceKind.OBSERVATION,
        title="Removed",
        demonstrated_at=YESTERDAY,
        scores={standards.adding.pk: 2},
    )
    services.remove_evidence(actor=cast.teacher, evidence=evidence, reason="Duplicate")


def _execute(sql: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


@pytest.mark.django_db
@pytest.mark.usefixtures("history")
@pytest.mark.parametrize(
    ("model", "assignment"), HISTORY_TABLES, ids=lambda v: getattr(v, "__name__", "")
)
def test_raw_sql_update_and_delete_are_refused(model: type, assignment: str) -> None:
    table = model._meta.db_table  # type: ignore[attr-defined]
    before = model.objects.count()  # type: ignore[attr-defined]
    assert before > 0
    with pytest.raises(IntegrityError, match=f"UPDATE on {table} is refused"):
        _execute(f"UPDATE {table} SET {assignment}")  # noqa: S608
    with pytest.raises(IntegrityError, match=f"DELETE on {table} is refused"):
        _execute(f"DELETE FROM {table}")  # noqa: S608
    assert model.objects.count() == before  # type: ignore[attr-defined]


@pytest.mark.django_db
@pytest.mark.usefixtures("history")
def test_orm_updates_and_deletes_are_refused_too() -> None:
    rating = Rating.objects.first()
    assert rating is not None
    rating.score = 1  # type: ignore[assignment]
    with pytest.raises(IntegrityError), transaction.atomic():
        rating.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.filter(pk=rating.pk).update(comment="quietly")
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingRemoval.objects.all().delete()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("history")
def test_only_a_transaction_that_set_the_erasure_flag_may_delete() -> None:
    # A real transaction (not the test's savepoint): SET LOCAL lasts until its end.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL mastery.erasure = 'on'")
        cursor.execute("DELETE FROM evidence_ratingremoval")
    assert RatingRemoval.objects.count() == 0
    with pytest.raises(IntegrityError):
        _execute("DELETE FROM evidence_rating")  # the flag ended with its transaction


SQLITE_SCRIPT = """
import datetime
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from evidence import selectors, services
from evidence.models import Rating
call_command("seed_demo", learners=30)
teacher = User.objects.get(username="teacher")
learner = selectors.visible_evidence(teacher).first().learner
day = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
data = f"learner_id,standard,score,date,title\\n{learner.pk},5.NBT.B.5,3,{day},Quiz\\n"
report = services.import_ratings_csv(actor=teacher, data=data.encode())
again = services.import_ratings_csv(actor=teacher, data=data.encode())
print("IMPORT", report.created, again.unchanged, Rating.objects.filter(source="import").count())
"""


def test_the_demo_and_the_import_run_on_the_embedded_sqlite(tmp_path: Path) -> None:
    """The embedded default (SQLite, no triggers, no COPY) runs the same services."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    env["DATA_DIR"] = str(tmp_path)
    outputs = []
    for command in (["migrate", "-v", "0"], ["shell", "-c", SQLITE_SCRIPT]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(result.stdout)
    assert "IMPORT 1 1 1" in outputs[1]
    assert "evidence.demo: " in outputs[1]
