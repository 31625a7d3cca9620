"""The database itself refuses UPDATE and DELETE on evidence history (ADR 5, RELIABILITY R7)."""

from __future__ import annotations

import datetime

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
def test_only_an_erasure_may_delete_and_only_its_learners_rows(cast: Cast) -> None:
    # The setting that used to open the triggers opens nothing now.
    with pytest.raises(IntegrityError):
        _in_one_transaction(
            "SET LOCAL mastery.erasure = 'on'", "DELETE FROM evidence_ratingremoval"
        )
    # An erasure (privacy/migrations/0002) deletes its learner's rows, and no one else's.
    with pytest.raises(IntegrityError):
        _in_one_transaction(
            f"SELECT mastery_begin_erasure({cast.same_section.pk}, NULL)",
            "DELETE FROM evidence_ratingremoval",
        )
    _in_one_transaction(
        f"SELECT mastery_begin_erasure({cast.own.pk}, NULL)",
        "DELETE FROM evidence_ratingremoval",
        "SELECT mastery_end_erasure()",
    )
    assert RatingRemoval.objects.count() == 0
    with pytest.raises(IntegrityError):
        _execute("DELETE FROM evidence_rating")  # the erasure ended with its transaction


def _in_one_transaction(*statements: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
