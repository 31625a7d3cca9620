"""The ratings CSV import: all or nothing, row-level errors, idempotent re-import, the command."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from evidence import csv_import, services
from evidence.csv_import import RatingImportRefused
from evidence.models import Evidence, Rating, RatingSource
from mastery import core
from mastery.models import BulkRecompute, StaleMastery
from tests.evidence.conftest import Standards
from tests.factories import EnrollmentFactory, LearnerFactory
from tests.personas import Cast

pytestmark = pytest.mark.django_db

HEADER = "learner_id,standard,score,demonstrated_on,title,source,comment"
LAST_WEEK = (timezone.localdate() - datetime.timedelta(days=7)).isoformat()


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _problems(refused: pytest.ExceptionInfo[RatingImportRefused]) -> list[tuple[int, str, str]]:
    return [(p.row or 0, p.column, p.reason) for p in refused.value.problems]


def test_a_good_file_creates_one_evidence_per_learner_date_and_title(
    cast: Cast, standards: Standards
) -> None:
    data = _csv(
        f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1 test,,",
        f"{cast.own.pk},CCSS.Math.Content.1.OA.A.1,2.5,{LAST_WEEK},Unit 1 test,import,",
        f"{cast.same_section.pk},{standards.fractions.identifier},4,{LAST_WEEK},Unit 1 test,"
        "teacher,Great",
        f"{cast.own.pk},K.CC.A.1,2,{LAST_WEEK},Retake,,",
    )
    report = services.import_ratings_csv(actor=cast.teacher, data=data)
    job = BulkRecompute.objects.get()
    assert report.as_dict() == {
        "rows": 4,
        "evidence_created": 3,
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "dry_run": False,
        "learners": 2,
        "recompute_job_ids": [job.pk],
    }
    assert Evidence.objects.filter(kind="assessment").count() == 3
    rows = set(Rating.objects.values_list("learner_id", "standard_id", "score", "source"))
    assert rows == {
        (cast.own.pk, standards.counting.pk, Decimal("3.00"), "import"),
        (cast.own.pk, standards.adding.pk, Decimal("2.50"), "import"),
        (cast.same_section.pk, standards.fractions.pk, Decimal("4.00"), "teacher"),
        (cast.own.pk, standards.counting.pk, Decimal("2.00"), "import"),
    }
    first = Rating.objects.filter(learner=cast.own).order_by("id").first()
    assert first is not None
    assert timezone.localtime(first.demonstrated_at).date().isoformat() == LAST_WEEK
    assert set(StaleMastery.objects.values_list("learner_id", "standard_id")) == {
        (cast.own.pk, standards.counting.pk),
        (cast.own.pk, standards.adding.pk),
        (cast.same_section.pk, standards.fractions.pk),
    }


def test_reimporting_the_same_file_changes_nothing(cast: Cast, standards: Standards) -> None:
    data = _csv(f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1 test,,")
    services.import_ratings_csv(actor=cast.teacher, data=data)
    report = services.import_ratings_csv(actor=cast.teacher, data=data)
    assert (report.created, report.updated, report.unchanged, report.evidence_created) == (
        0,
        0,
        1,
        0,
    )
    assert Rating.objects.count() == 1


def test_a_changed_score_supersedes_the_earlier_import(cast: Cast, standards: Standards) -> None:
    services.import_ratings_csv(
        actor=cast.teacher, data=_csv(f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1,,")
    )
    report = services.import_ratings_csv(
        actor=cast.teacher,
        data=_csv(
            f"{cast.own.pk},K.CC.A.1,2,{LAST_WEEK},Unit 1,,",
            f"{cast.own.pk},1.OA.A.1,4,{LAST_WEEK},Unit 1,,",
        ),
    )
    assert (report.created, report.updated, report.unchanged) == (1, 1, 0)
    counted = core.counted_ratings().values_list("standard_id", "score", "supersedes_id")
    old = Rating.objects.get(score=3)
    assert set(counted) == {
        (standards.counting.pk, Decimal("2.00"), old.pk),
        (standards.adding.pk, Decimal("4.00"), None),
    }
    assert Evidence.objects.count() == 1


def test_a_dry_run_reports_and_writes_nothing(cast: Cast, standards: Standards) -> None:
    report = services.import_ratings_csv(
        actor=cast.teacher,
        data=_csv(f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1,,"),
        dry_run=True,
    )
    assert (report.created, report.dry_run) == (1, True)
    assert Rating.objects.count() == 0
    assert Evidence.objects.count() == 0


def test_a_bad_file_lists_every_problem_by_row_and_column_and_writes_nothing(
    cast: Cast, standards: Standards
) -> None:
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    data = _csv(
        f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Fine,,",
        f"{cast.other_school_learner.pk},K.CC.A.1,3,{LAST_WEEK},Not mine,,",
        f"abc,K.CC.A.1,3,{LAST_WEEK},Bad id,,",
        f"{cast.own.pk},NOPE.1,3,{LAST_WEEK},Unknown standard,,",
        f"{cast.own.pk},Counting and Cardinality,3,{LAST_WEEK},Grouping,,",
        f"{cast.own.pk},1.OA.A.1,7,{LAST_WEEK},Too high,,",
        f"{cast.own.pk},1.OA.A.1,3,{tomorrow},Future,,",
        f"{cast.own.pk},1.OA.A.1,3,22/09/2026,Bad date,,",
        f"{cast.own.pk},1.OA.A.1,3,{LAST_WEEK},,,",
        f"{cast.own.pk},1.OA.A.1,3,{LAST_WEEK},Self,self,",
        f"{cast.own.pk},K.CC.A.1,2,{LAST_WEEK},Fine,,",
        f"{cast.own.pk},1.OA.A.1,3,{LAST_WEEK},Extra,,,surplus",
    )
    with pytest.raises(RatingImportRefused) as refused:
        services.import_ratings_csv(actor=cast.teacher, data=data)
    mine = cast.other_school_learner.pk
    assert _problems(refused) == [
        (3, "learner_id", f"no learner {mine} among your learners"),
        (4, "learner_id", "'abc' is not a learner id"),
        (5, "standard", "no standard has the code or identifier 'NOPE.1'"),
        (6, "standard", "Counting and Cardinality is a grouping: rate its statements"),
        (7, "score", "7 is outside the scale (1 to 4)"),
        (8, "demonstrated_on", "is in the future"),
        (9, "demonstrated_on", "'22/09/2026' is not a date (YYYY-MM-DD)"),
        (10, "title", "required"),
        (11, "source", "'self' is not one of: import, teacher"),
        (12, "", "same learner, standard, date and title as row 2"),
        (13, "", "The row has 8 fields; the header has 7."),
    ]
    assert Rating.objects.count() == 0
    assert Evidence.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", [(0, "", "The file is empty (no header row).")]),
        (b"\xff\xfe\x00b", [(1, "", "The file is not UTF-8 text (byte 0xff); save it as UTF-8.")]),
        (HEADER.encode() + b"\n", [(0, "", "the file has no rows")]),
        (
            b"learner_id,score,title\n1,3,x\n",
            [
                (1, "demonstrated_on", "this required column is missing"),
                (1, "standard", "this required column is missing"),
            ],
        ),
        (
            b"learner_id,state_student_id,standard,score,date,title\n",
            [
                (
                    1,
                    "learner_id",
                    "give one learner column (state_student_id or learner_id), not several",
                )
            ],
        ),
        (
            b"learner_id,Learner,standard,score,date,title\n",
            [(1, "Learner", "this column appears twice")],
        ),
    ],
)
def test_malformed_files_are_refused_with_a_reason(
    cast: Cast, data: bytes, expected: list[tuple[int, str, str]]
) -> None:
    with pytest.raises(RatingImportRefused) as refused:
        services.import_ratings_csv(actor=cast.teacher, data=data)
    assert _problems(refused) == expected


def test_learners_can_be_named_by_state_student_id_and_headers_by_alias(
    cast: Cast, standards: Standards
) -> None:
    data = _csv(
        f"{cast.own.state_student_id},K.CC.A.1,3,{LAST_WEEK},Unit 1",
        header="State Student ID, Standard Code ,Score,Date,Title",
    )
    report = services.import_ratings_csv(actor=cast.teacher, data=b"\xef\xbb\xbf" + data)
    assert report.created == 1
    assert Rating.objects.get().learner_id == cast.own.pk


@pytest.mark.parametrize("persona", ["student", "guardian", "teacher_elsewhere", "outsider"])
def test_nobody_imports_ratings_for_learners_outside_their_scope(
    cast: Cast, standards: Standards, persona: str
) -> None:
    with pytest.raises(RatingImportRefused) as refused:
        services.import_ratings_csv(
            actor=cast.persona(persona),
            data=_csv(f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1,,"),
        )
    assert _problems(refused) == [
        (2, "learner_id", f"no learner {cast.own.pk} among your learners")
    ]


def test_evidence_removed_after_an_import_is_not_silently_reimported(
    cast: Cast, standards: Standards
) -> None:
    data = _csv(f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1,,")
    services.import_ratings_csv(actor=cast.teacher, data=data)
    services.remove_evidence(actor=cast.teacher, evidence=Evidence.objects.get(), reason="Wrong")
    with pytest.raises(RatingImportRefused) as refused:
        services.import_ratings_csv(actor=cast.teacher, data=data)
    assert "removed" in refused.value.problems[0].reason


def test_the_import_runs_a_constant_number_of_queries(cast: Cast, standards: Standards) -> None:
    learners = [cast.own]
    for _ in range(19):
        learner = LearnerFactory(school=cast.school)
        EnrollmentFactory(learner=learner, section=cast.section)
        learners.append(learner)

    def run(count: int, title: str) -> int:
        rows = [
            f"{learner.pk},{code},3,{LAST_WEEK},{title},,"
            for learner in learners[:count]
            for code in ("K.CC.A.1", "1.OA.A.1", "3.NF.A.1")
        ]
        with CaptureQueriesContext(connection) as queries:
            services.import_ratings_csv(actor=cast.teacher, data=_csv(*rows))
        return len(queries)

    assert run(1, "One") == run(20, "Twenty")
    assert Rating.objects.count() == 63


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzzed_files_never_crash(cast: Cast, data: bytes) -> None:
    """Whatever the bytes, the import reports or refuses; nothing else escapes."""
    problems: list[object] = []
    try:
        services.import_ratings_csv(
            actor=cast.teacher, data=HEADER.encode() + b"\n" + data, dry_run=True
        )
    except RatingImportRefused as refused:
        problems = list(refused.problems)
        # A refusal always says why.
    assert problems or Rating.objects.count() == 0
    assert Rating.objects.count() == 0


def test_quoted_fields_are_read_and_blank_lines_skipped_but_counted(
    cast: Cast, standards: Standards
) -> None:
    header = "learner_id,standard,score,date,title,comment"
    quoted = f'{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},"Quiz, part 1","said ""yes"""'
    with pytest.raises(RatingImportRefused) as refused:
        services.import_ratings_csv(
            actor=cast.teacher,
            data=f"{header}\n\n{quoted}\n{cast.own.pk},NOPE,3,{LAST_WEEK},Quiz,\n".encode(),
        )
    assert _problems(refused) == [(4, "standard", "no standard has the code or identifier 'NOPE'")]
    services.import_ratings_csv(actor=cast.teacher, data=f"{header}\n\n{quoted}\n".encode())
    rating = Rating.objects.select_related("evidence").get()
    assert (rating.evidence.title, rating.comment) == ("Quiz, part 1", 'said "yes"')


def test_every_learner_whose_ratings_changed_gets_one_audit_entry(
    cast: Cast, standards: Standards
) -> None:
    data = _csv(
        f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1,,",
        f"{cast.own.pk},1.OA.A.1,3,{LAST_WEEK},Unit 1,,",
        f"{cast.same_section.pk},K.CC.A.1,2,{LAST_WEEK},Unit 1,,",
    )
    services.import_ratings_csv(actor=cast.teacher, data=data)
    services.import_ratings_csv(actor=cast.teacher, data=data)  # unchanged: no entry
    entries = AuditEntry.objects.filter(action="evidence.ratings.import")
    assert sorted(entries.values_list("learner_id", "actor_id", "outcome")) == sorted(
        [
            (cast.own.pk, cast.teacher.pk, "allowed"),
            (cast.same_section.pk, cast.teacher.pk, "allowed"),
        ]
    )


def test_a_file_with_many_bad_rows_lists_the_first_in_row_order_and_counts_them_all(
    cast: Cast, standards: Standards
) -> None:
    rows = [
        f"{cast.own.pk},K.CC.A.1,3,someday,T{i},,"  # a form problem (found while reading)
        if i % 2
        else f"{cast.other_school_learner.pk},K.CC.A.1,3,{LAST_WEEK},T{i},,"  # found in SQL
        for i in range(1200)
    ]
    with pytest.raises(RatingImportRefused) as refused:
        services.import_ratings_csv(actor=cast.teacher, data=_csv(*rows))
    assert refused.value.total_errors == 1200
    assert [p.row for p in refused.value.problems] == list(range(2, 1002))
    assert Rating.objects.count() == 0


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(
    cast: Cast, standards: Standards
) -> None:
    data = _csv(*[f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit {i},," for i in range(20)])
    with pytest.raises(RatingImportRefused) as refused:
        services.import_ratings_csv(actor=cast.teacher, data=data, max_bytes=200)
    assert _problems(refused)[-1] == (0, "", "The file is larger than the limit of 200 bytes.")
    assert Rating.objects.count() == 0


# --- the command --------------------------------------------------------------------------------


def test_the_command_imports_as_the_given_user(
    cast: Cast, standards: Standards, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(_csv(f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1,,"))
    call_command("import_ratings", str(path), "--user", "teacher", "--json")
    assert json.loads(capsys.readouterr().out)["created"] == 1
    assert Rating.objects.get().rater_id == cast.teacher.pk
    assert Rating.objects.get().source == RatingSource.IMPORT


def test_the_command_refuses_a_bad_file_and_lists_the_problems(
    cast: Cast, standards: Standards, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(_csv(f"{cast.other_state_learner.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1,,"))
    with pytest.raises(CommandError, match="refused: 1 problem"):
        call_command("import_ratings", str(path), "--user", "teacher")
    assert "row 2: learner_id: no learner" in capsys.readouterr().err
    with pytest.raises(CommandError, match="no active user 'ghost'"):
        call_command("import_ratings", str(path), "--user", "ghost")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_ratings", str(tmp_path / "missing.csv"), "--user", "teacher")


def test_learners_are_named_by_local_id_or_state_student_id(
    cast: Cast, standards: Standards
) -> None:
    by_local = _csv(
        f"{cast.own.local_id},K.CC.A.1,3,{LAST_WEEK},Unit 1,,",
        header=HEADER.replace("learner_id", "local_id"),
    )
    assert services.import_ratings_csv(actor=cast.teacher, data=by_local).created == 1
    by_state = _csv(
        f"{cast.own.state_student_id},1.OA.A.1,2,{LAST_WEEK},Unit 1,,",
        header=HEADER.replace("learner_id", "state_student_id"),
    )
    assert services.import_ratings_csv(actor=cast.teacher, data=by_state).created == 1
    assert set(Rating.objects.values_list("learner_id", flat=True)) == {cast.own.pk}


def test_a_local_id_two_of_your_schools_share_asks_for_the_state_id(
    cast: Cast, standards: Standards
) -> None:
    twin = LearnerFactory(school=cast.other_school, local_id=cast.own.local_id)
    data = _csv(
        f"{cast.own.local_id},K.CC.A.1,3,{LAST_WEEK},Unit 1,,",
        header=HEADER.replace("learner_id", "student_id"),
    )
    with pytest.raises(RatingImportRefused) as refused:
        services.import_ratings_csv(actor=cast.district_admin, data=data)
    assert _problems(refused) == [
        (2, "local_id", f"{twin.local_id} names learners in several schools you teach: "
         "use state_student_id")
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_learner_erased_while_the_file_is_read_refuses_it_cleanly(
    cast: Cast, standards: Standards, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys are checked inside the import: another session deleting a learner of the file
    after it was checked gives a refusal saying why, not a failed commit."""
    gone = LearnerFactory(school=cast.school)
    write = csv_import.RatingImport._write

    def delete_then_write(self: csv_import.RatingImport, cursor: Any) -> None:
        params = connection.get_connection_params()
        with psycopg.connect(**params, autocommit=True) as other:
            other.execute("DELETE FROM learners_learner WHERE id = %s", [gone.pk])
        write(self, cursor)

    monkeypatch.setattr(csv_import.RatingImport, "_write", delete_then_write)
    with pytest.raises(RatingImportRefused) as refused:
        services.import_ratings_csv(
            actor=cast.school_admin, data=_csv(f"{gone.pk},K.CC.A.1,3,{LAST_WEEK},Unit 1,,")
        )
    assert "import it again" in refused.value.problems[0].reason
    assert (Rating.objects.count(), Evidence.objects.count()) == (0, 0)
