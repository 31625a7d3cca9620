"""OneRoster 1.1 CSV import: valid rosters, re-imports, bad rows, malformed files, scope."""

from __future__ import annotations

import datetime
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learners import oneroster, selectors, services
from learners.models import (
    Course,
    Enrollment,
    GuardianLink,
    Learner,
    Organisation,
    RoleAssignment,
    RosterIdentity,
    RosterImport,
    Section,
    Term,
)
from tests.factories import AdminAssignmentFactory, LearnerFactory, SchoolFactory, UserFactory
from tests.learners.rosters import (
    BAD_ROWS,
    VALID,
    append,
    copy_roster,
    edit,
    write_synthetic_roster,
    zip_roster,
)

pytestmark = pytest.mark.django_db

IN_FALL = datetime.datetime(2026, 9, 15, 12, 0, tzinfo=datetime.UTC)
AFTER_FALL = datetime.datetime(2027, 1, 20, 12, 0, tzinfo=datetime.UTC)

ROSTER_MODELS = (
    Organisation,
    Term,
    Course,
    Section,
    Learner,
    Enrollment,
    RoleAssignment,
    GuardianLink,
    RosterIdentity,
    User,
)


@pytest.fixture(autouse=True)
def in_fall() -> Iterator[None]:
    with time_machine.travel(IN_FALL, tick=False):
        yield


def counts(result: oneroster.ImportResult) -> dict[str, dict[str, int]]:
    return {name: c.as_dict() for name, c in result.counts.items()}


def c(
    created: int = 0, updated: int = 0, unchanged: int = 0, deleted: int = 0, skipped: int = 0
) -> dict[str, int]:
    return {
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "deleted": deleted,
        "skipped": skipped,
    }


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in ROSTER_MODELS}


def errors_of(source: Path, actor: User | None = None) -> list[tuple[str, int | None, str]]:
    with pytest.raises(oneroster.RosterInvalid) as caught:
        services.import_roster(actor=actor, source=source)
    return [(e.file, e.row, e.column) for e in caught.value.errors]


def reasons_of(source: Path) -> list[str]:
    with pytest.raises(oneroster.RosterInvalid) as caught:
        services.import_roster(actor=None, source=source)
    return [str(e) for e in caught.value.errors]


def user(username: str) -> User:
    return User.objects.get(username=username)


def learner_names(login: User) -> set[str]:
    return set(selectors.visible_learners(login).values_list("given_name", flat=True))


# --- a valid roster -----------------------------------------------------------------------------


def test_a_valid_roster_is_imported_with_counts_per_file() -> None:
    result = services.import_roster(actor=None, source=VALID)
    assert counts(result) == {
        "orgs": c(created=4),
        "academicSessions": c(created=3),
        "courses": c(created=3),
        "classes": c(created=3),
        "users": c(created=13),
        "enrollments": c(created=11, skipped=1),
        "demographics": c(skipped=2),
    }
    assert RosterImport.objects.get(pk=result.import_id).status == "applied"


def test_imported_roles_open_exactly_the_right_learners() -> None:
    services.import_roster(actor=None, source=VALID)
    assert learner_names(user("tlee")) == {"Amara", "Ben"}
    assert learner_names(user("tnguyen")) == {"Amara", "Ben", "Chen"}
    assert learner_names(user("tsmith")) == {"Dev", "Eva", "Finn"}
    assert learner_names(user("pjones")) == {"Amara"}
    assert learner_names(user("gpatel")) == {"Dev", "Eva"}
    assert learner_names(user("sadmin")) == {"Amara", "Ben", "Chen"}
    assert learner_names(user("dadmin")) == {"Amara", "Ben", "Chen", "Dev", "Eva", "Finn"}
    assert learner_names(user("amara.j")) == {"Amara"}
    assert selectors.roles_of(user("sadmin")) == {"school_admin"}
    assert selectors.roles_of(user("dadmin")) == {"district_admin"}
    assert selectors.roles_of(user("pjones")) == {"guardian"}


def test_imported_learner_carries_its_ids_grade_school_and_state() -> None:
    services.import_roster(actor=None, source=VALID)
    chen = Learner.objects.select_related("school", "state", "user").get(sourced_id="usr-st3")
    assert (chen.local_id, chen.state_student_id, chen.grade_level) == ("S1003", "SL0000003", "05")
    assert chen.school.sourced_id == "org-s1"
    assert chen.state is not None
    assert chen.state.sourced_id == "org-st"
    assert chen.user is not None
    assert chen.user.username == "chen.l"
    assert Learner.objects.get(sourced_id="usr-st5").family_name == "Müller"


def test_imported_logins_never_get_a_usable_password() -> None:
    services.import_roster(actor=None, source=VALID)
    assert User.objects.count() == 13
    assert not any(u.has_usable_password() for u in User.objects.all())
    assert not User.objects.filter(is_staff=True).exists()


def test_a_disabled_user_becomes_an_inactive_login_and_learner() -> None:
    services.import_roster(actor=None, source=VALID)
    finn = Learner.objects.select_related("user").get(sourced_id="usr-st6")
    assert finn.active is False
    assert finn.user is not None
    assert finn.user.is_active is False
    assert learner_names(finn.user) == set()


def test_blank_enrollment_dates_default_to_the_term_and_access_ends_with_it() -> None:
    services.import_roster(actor=None, source=VALID)
    teaching = RoleAssignment.objects.get(sourced_id="enr-t1-math5a")
    assert (teaching.begin_date, teaching.end_date) == (
        datetime.date(2026, 8, 17),
        datetime.date(2027, 1, 15),
    )
    chen = Enrollment.objects.get(sourced_id="enr-st3-sci5a")
    assert (chen.begin_date, chen.end_date) == (
        datetime.date(2026, 9, 1),
        datetime.date(2027, 1, 15),
    )
    with time_machine.travel(AFTER_FALL, tick=False):
        assert learner_names(user("tlee")) == set()
        assert selectors.roles_of(user("tlee")) == frozenset()


def test_a_class_takes_its_first_term_course_code_and_subject() -> None:
    services.import_roster(actor=None, source=VALID)
    section = Section.objects.select_related("term", "school").get(sourced_id="cls-math7a")
    assert section.term.sourced_id == "as-2027-fall"
    assert (section.course_code, section.subject, section.section_code) == (
        "MATH7",
        "Mathematics",
        "MATH7-3",
    )
    assert section.school.sourced_id == "org-s2"


def test_the_organisation_tree_and_external_ids_are_kept() -> None:
    services.import_roster(actor=None, source=VALID)
    school = Organisation.objects.get(sourced_id="org-s1")
    assert school.external_id == "340000100001"
    assert [o.sourced_id for o in selectors.lineage_of(school)] == ["org-s1", "org-d1", "org-st"]


def test_demographics_are_validated_but_never_stored() -> None:
    services.import_roster(actor=None, source=VALID)
    learner = Learner.objects.get(sourced_id="usr-st1")
    stored = json.dumps(
        [str(v) for v in Learner.objects.filter(pk=learner.pk).values().get().values()]
    )
    assert "2016-03-02" not in stored


def test_a_zipped_roster_in_a_folder_imports_like_the_folder(tmp_path: Path) -> None:
    archive = zip_roster(VALID, tmp_path / "roster.zip", inside="export-2026")
    with archive.open("rb") as handle:
        result = services.import_roster(actor=None, source=handle)
    assert counts(result)["users"] == c(created=13)
    assert counts(services.import_roster(actor=None, source=VALID))["users"] == c(unchanged=13)


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    orgs = folder / "orgs.csv"
    orgs.write_bytes(b"\xef\xbb\xbf" + orgs.read_bytes())
    assert counts(services.import_roster(actor=None, source=folder))["orgs"] == c(created=4)


# --- re-import ----------------------------------------------------------------------------------


def test_reimporting_the_same_roster_creates_nothing_and_reports_all_unchanged() -> None:
    services.import_roster(actor=None, source=VALID)
    before = row_counts()
    result = services.import_roster(actor=None, source=VALID)
    assert counts(result) == {
        "orgs": c(unchanged=4),
        "academicSessions": c(unchanged=3),
        "courses": c(unchanged=3),
        "classes": c(unchanged=3),
        "users": c(unchanged=13),
        "enrollments": c(unchanged=11, skipped=1),
        "demographics": c(skipped=2),
    }
    assert row_counts() == before


def test_reimport_updates_changed_rows_and_adds_new_ones(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, "orgs.csv", "Oak Middle School", "Oak Middle")
    edit(folder, "users.csv", "Ben,Kowalski,,S1002,,,,,05,", "Ben,Kowalski,,S1002,,,,,06,")
    append(
        folder,
        "users.csv",
        "usr-st7,,,true,org-s1,student,gia.r,{state:SL0000007},Gia,Rossi,,S1004,,,,,05,",
    )
    append(folder, "enrollments.csv", "enr-st7-math5a,,,cls-math5a,org-s1,usr-st7,student,,,")
    result = services.import_roster(actor=None, source=folder)
    assert counts(result)["orgs"] == c(updated=1, unchanged=3)
    assert counts(result)["users"] == c(created=1, updated=1, unchanged=12)
    assert counts(result)["enrollments"] == c(created=1, unchanged=11, skipped=1)
    assert Organisation.objects.get(sourced_id="org-s2").name == "Oak Middle"
    assert Learner.objects.get(sourced_id="usr-st2").grade_level == "06"
    assert learner_names(user("tlee")) == {"Amara", "Ben", "Gia"}


def test_tobedeleted_deactivates_a_user_and_removes_an_enrollment(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, "users.csv", "usr-st2,,,true", "usr-st2,tobedeleted,2026-09-14T10:00:00Z,true")
    edit(folder, "enrollments.csv", "enr-st1-sci5a,,", "enr-st1-sci5a,tobedeleted,")
    result = services.import_roster(actor=None, source=folder)
    assert counts(result)["users"] == c(unchanged=12, deleted=1)
    assert counts(result)["enrollments"] == c(unchanged=10, deleted=1, skipped=1)
    ben = Learner.objects.select_related("user").get(sourced_id="usr-st2")
    assert ben.active is False
    assert ben.user is not None
    assert ben.user.is_active is False
    assert not Enrollment.objects.filter(sourced_id="enr-st1-sci5a").exists()
    sci = Section.objects.get(sourced_id="cls-sci5a")
    assert set(
        selectors.section_roster(user("tnguyen"), sci).values_list("given_name", flat=True)
    ) == {"Chen"}


def test_an_admin_moved_to_another_school_loses_the_first_one(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, "users.csv", "usr-sadmin,,,true,org-s1,", "usr-sadmin,,,true,org-s2,")
    result = services.import_roster(actor=None, source=folder)
    assert counts(result)["users"] == c(updated=1, unchanged=12)
    administered = selectors.administered_organisations(user("sadmin"))
    assert list(administered.values_list("sourced_id", flat=True)) == ["org-s2"]
    ended = RoleAssignment.objects.get(sourced_id="admin:usr-sadmin:org-s1")
    assert ended.end_date == datetime.date(2026, 9, 14)


# --- bad rows: nothing written, every bad row listed --------------------------------------------


def test_bad_rows_are_all_reported_and_nothing_is_written() -> None:
    before = row_counts()
    assert errors_of(BAD_ROWS) == [
        ("academicSessions.csv", 4, "endDate"),
        ("classes.csv", 3, "courseSourcedId"),
        ("users.csv", 8, "enabledUser"),
        ("users.csv", 9, "username"),
        ("enrollments.csv", 7, "userSourcedId"),
        ("enrollments.csv", 11, "beginDate"),
    ]
    assert row_counts() == before
    assert RosterImport.objects.get().status == "rejected"


def test_bad_row_errors_say_why_in_words() -> None:
    assert reasons_of(BAD_ROWS) == [
        "academicSessions.csv row 4 (as-2027-spring): endDate: The end date is before the start "
        "date.",
        "classes.csv row 3 (cls-sci5a): courseSourcedId: No course has sourcedId 'crs-art5'.",
        "users.csv row 8 (usr-st2): enabledUser: 'maybe' is not true or false.",
        "users.csv row 9 (usr-st3): username: 'amara.j' is also used on row 7.",
        "enrollments.csv row 7 (enr-st2-math5a): userSourcedId: No user has sourcedId 'usr-ghost'.",
        "enrollments.csv row 11 (enr-st5-math7a): beginDate: '31/08/2026' is not a date "
        "(YYYY-MM-DD).",
    ]


def test_a_bad_reimport_leaves_the_good_rows_of_the_same_file_untouched(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, "orgs.csv", "Oak Middle School", "Oak Middle")
    edit(folder, "enrollments.csv", "enr-st4-math7a,,,cls-math7a", "enr-st4-math7a,,,cls-nope")
    assert errors_of(folder) == [("enrollments.csv", 10, "classSourcedId")]
    assert Organisation.objects.get(sourced_id="org-s2").name == "Oak Middle School"


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "orgs.csv",
            "org-s1,,,Maple Elementary,school,340000100001,org-d1",
            "org-s1,,,Maple Elementary,school,340000100001,org-s2",
            ("orgs.csv", 4, "parentSourcedId"),
        ),
        (
            "orgs.csv",
            "org-d1,,,Maple District,district,3400001,org-st",
            "org-d1,,,Maple District,district,3400001,org-zz",
            ("orgs.csv", 3, "parentSourcedId"),
        ),
        (
            "academicSessions.csv",
            "2026-08-17,2027-01-15,as-2027,",
            "2026-08-17,2027-01-15,as-x,",
            ("academicSessions.csv", 3, "parentSourcedId"),
        ),
        (
            "academicSessions.csv",
            "schoolYear,2026-08-17,2027-06-11,,2027",
            "schoolYear,2026-08-17,2027-06-11,,27",
            ("academicSessions.csv", 2, "schoolYear"),
        ),
        (
            "courses.csv",
            "05,org-s1,Science",
            "05,org-zz,Science",
            ("courses.csv", 3, "orgSourcedId"),
        ),
        (
            "classes.csv",
            "org-s1,as-2027-fall,Science",
            "org-d1,as-2027-fall,Science",
            ("classes.csv", 3, "schoolSourcedId"),
        ),
        (
            "classes.csv",
            "Lab 1,org-s1,as-2027-fall",
            "Lab 1,org-s1,as-2099",
            ("classes.csv", 3, "termSourcedIds"),
        ),
        ("classes.csv", "SCI5-2,scheduled", "SCI5-2,lecture", ("classes.csv", 3, "classType")),
        (
            "users.csv",
            "usr-t1,,,true,org-s1,teacher",
            "usr-t1,,,true,org-s1,wizard",
            ("users.csv", 4, "role"),
        ),
        ("users.csv", "tlee@maple.example", "not-an-email", ("users.csv", 4, "email")),
        (
            "users.csv",
            "usr-t1,,,true,org-s1,teacher,tlee",
            "usr-t1,,,true,org-s1,teacher,t lee",
            ("users.csv", 4, "username"),
        ),
        (
            "users.csv",
            "Amara,Jones,,S1001,,,,usr-p1,05",
            "Amara,Jones,,S1001,,,,usr-p1,5th",
            ("users.csv", 7, "grades"),
        ),
        (
            "users.csv",
            "usr-st2,,,true,org-s1,student,ben.k,{state:SL0000002}",
            "usr-st2,,,true,org-s1,student,ben.k,{state:SL0000001}",
            ("users.csv", 8, "userIds"),
        ),
        ("users.csv", "Ben,Kowalski,,S1002", "Ben,Kowalski,,S1001", ("users.csv", 8, "identifier")),
        (
            "users.csv",
            "usr-st2,,,true,org-s1,student",
            "usr-st2,,,true,org-d1,student",
            ("users.csv", 8, "orgSourcedIds"),
        ),
        (
            "users.csv",
            "Jones,,,pjones@home.example,,,usr-st1",
            "Jones,,,pjones@home.example,,,usr-t1",
            ("users.csv", 13, "agentSourcedIds"),
        ),
        ("users.csv", "usr-st2,,,true", "usr-st2,archived,,true", ("users.csv", 8, "status")),
        (
            "users.csv",
            "usr-st2,,,true",
            "usr-st2,,yesterday,true",
            ("users.csv", 8, "dateLastModified"),
        ),
        (
            "enrollments.csv",
            "cls-math5a,org-s1,usr-st2,student",
            "cls-math5a,org-s2,usr-st2,student",
            ("enrollments.csv", 7, "schoolSourcedId"),
        ),
        (
            "enrollments.csv",
            "usr-st3,student,false,2026-09-01,",
            "usr-st3,student,false,2026-09-01,2026-08-01",
            ("enrollments.csv", 8, "endDate"),
        ),
        (
            "enrollments.csv",
            "enr-st2-math5a",
            "enr-st1-math5a",
            ("enrollments.csv", 7, "sourcedId"),
        ),
        (
            "demographics.csv",
            "usr-st4,,,2014",
            "usr-zz,,,2014",
            ("demographics.csv", 3, "sourcedId"),
        ),
    ],
)
def test_each_kind_of_bad_row_is_reported_on_its_row_and_column(
    tmp_path: Path, file: str, old: str, new: str, expected: tuple[str, int, str]
) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, file, old, new)
    assert expected in errors_of(folder)
    assert Organisation.objects.count() == 0


def test_a_duplicate_enrollment_of_the_same_pair_is_reported(tmp_path: Path) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    append(folder, "enrollments.csv", "enr-dup,,,cls-math5a,org-s1,usr-st1,student,,,")
    assert errors_of(folder) == [("enrollments.csv", 14, "userSourcedId")]


def test_a_loop_of_parent_sessions_is_reported(tmp_path: Path) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, "academicSessions.csv", "2027-06-11,,2027", "2027-06-11,as-2027-fall,2027")
    assert ("academicSessions.csv", 2, "parentSourcedId") in errors_of(folder)


def test_a_username_taken_by_a_login_outside_the_roster_is_reported(tmp_path: Path) -> None:
    UserFactory(username="tlee")
    assert errors_of(VALID) == [("users.csv", 4, "username")]


def test_an_org_cannot_change_its_type_on_reimport(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, "orgs.csv", "Oak Middle School,school", "Oak Middle School,district")
    assert ("orgs.csv", 5, "type") in errors_of(folder)


# --- malformed files: a clear error, never a crash ----------------------------------------------


def test_a_broken_zip_is_refused_with_a_clear_error() -> None:
    with pytest.raises(oneroster.RosterInvalid) as caught:
        services.import_roster(actor=None, source=io.BytesIO(b"PK\x03\x04 this is not a zip"))
    (error,) = caught.value.errors
    assert error.reason.startswith("Not a readable zip file")
    assert row_counts()["Organisation"] == 0


def test_a_truncated_zip_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    data = zip_roster(VALID, tmp_path / "r.zip").read_bytes()
    with pytest.raises(oneroster.RosterInvalid) as caught:
        services.import_roster(actor=None, source=io.BytesIO(data[: len(data) // 2]))
    assert caught.value.errors[0].reason.startswith("Not a readable zip file")


def test_a_zip_missing_a_required_file_names_it(tmp_path: Path) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    (folder / "users.csv").unlink()
    archive = zip_roster(folder, tmp_path / "r.zip")
    assert errors_of(archive) == [("users.csv", None, "")]
    assert errors_of(folder) == [("users.csv", None, "")]


def test_a_zip_holding_a_file_twice_is_refused(tmp_path: Path) -> None:
    archive = zip_roster(VALID, tmp_path / "r.zip")
    with zipfile.ZipFile(archive, "a") as handle:
        handle.write(VALID / "orgs.csv", "copy/orgs.csv")
    assert errors_of(archive) == [("orgs.csv", None, "")]


def test_a_file_over_the_size_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oneroster.files, "MAX_FILE_BYTES", 1024)
    archive = zip_roster(VALID, tmp_path / "r.zip")
    assert ("users.csv", None, "") in errors_of(archive)


def test_a_csv_with_a_missing_column_names_the_column(tmp_path: Path) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    text = (folder / "users.csv").read_text(encoding="utf-8")
    lines = [",".join(line.split(",")[:5] + line.split(",")[6:]) for line in text.splitlines()]
    (folder / "users.csv").write_text("\n".join(lines), encoding="utf-8")
    assert reasons_of(folder) == ["users.csv row 1: role: This required column is missing."]


def test_a_csv_in_the_wrong_encoding_is_refused_with_the_row(tmp_path: Path) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    text = (folder / "users.csv").read_text(encoding="utf-8")
    (folder / "users.csv").write_bytes(text.encode("latin-1"))
    assert reasons_of(folder) == [
        "users.csv row 11: The file is not UTF-8 text (byte 0xfc); save it as UTF-8."
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "users.csv: The file is empty (no header row)."),
        (b"sourcedId,role\x00\n", "users.csv: The file holds NUL bytes: it is not a CSV file."),
    ],
)
def test_an_empty_or_binary_csv_is_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    (folder / "users.csv").write_bytes(content)
    assert reasons_of(folder) == [reason]


def test_a_row_with_the_wrong_number_of_fields_is_reported(tmp_path: Path) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    append(folder, "orgs.csv", "org-s9,,,Short Row,school")
    assert reasons_of(folder) == ["orgs.csv row 6: The row has 5 fields; the header has 7."]


def test_broken_quoting_is_reported_as_invalid_csv(tmp_path: Path) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    append(folder, "orgs.csv", 'org-s9,,,"Broken "quote,school,,org-d1')
    (reason,) = reasons_of(folder)
    assert reason.startswith("orgs.csv row 6: Not valid CSV")


def test_a_missing_path_is_refused() -> None:
    assert errors_of(Path("/nonexistent/roster.zip")) == [("roster.zip", None, "")]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    position=st.integers(min_value=0, max_value=2000),
    junk=st.binary(min_size=1, max_size=12),
    name=st.sampled_from(["orgs.csv", "users.csv", "enrollments.csv", "classes.csv"]),
)
def test_corrupted_files_never_crash_the_import(position: int, junk: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_roster(VALID, Path(tmp) / "roster")
        data = (folder / name).read_bytes()
        cut = position % (len(data) + 1)
        (folder / name).write_bytes(data[:cut] + junk + data[cut:])
        problems: list[oneroster.RowError] = []
        with transaction.atomic():
            try:
                services.import_roster(actor=None, source=folder)
            except oneroster.RosterInvalid as exc:
                problems = exc.errors or [oneroster.RowError("", None, "", "")]
            transaction.set_rollback(True)
        assert all(str(problem) and problem.reason for problem in problems)


# --- scope: an admin imports only within their organisations ------------------------------------


def _district_admin() -> User:
    admin = UserFactory(username="district-boss")
    AdminAssignmentFactory(user=admin, organisation=Organisation.objects.get(sourced_id="org-d1"))
    return admin


def test_a_district_admin_may_import_their_district(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, "orgs.csv", "org-st,,,Stateland,state,SL,\n", "")
    append(folder, "orgs.csv", "org-s3,,,Birch School,school,340000100003,org-d1")
    result = services.import_roster(actor=_district_admin(), source=folder)
    assert counts(result)["orgs"] == c(created=1, unchanged=3)


def test_a_district_admin_cannot_touch_the_state_or_a_new_district(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    folder = copy_roster(VALID, tmp_path / "roster")
    append(folder, "orgs.csv", "org-d2,,,Pine District,district,3400002,org-st")
    admin = _district_admin()
    before = row_counts()
    assert errors_of(folder, actor=admin) == [
        ("orgs.csv", 2, "sourcedId"),
        ("orgs.csv", 6, "parentSourcedId"),
    ]
    assert row_counts() == before


def test_a_school_admin_cannot_import_other_schools(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    admin = UserFactory(username="school-boss")
    AdminAssignmentFactory(user=admin, organisation=Organisation.objects.get(sourced_id="org-s1"))
    found = errors_of(VALID, actor=admin)
    assert ("orgs.csv", 3, "sourcedId") in found
    assert ("orgs.csv", 5, "sourcedId") in found
    assert ("classes.csv", 4, "schoolSourcedId") in found
    assert ("enrollments.csv", 5, "schoolSourcedId") in found


def test_an_import_cannot_pull_in_a_learner_from_outside_the_admin_scope(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    elsewhere = LearnerFactory(school=SchoolFactory(), sourced_id="usr-far")
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, "orgs.csv", "org-st,,,Stateland,state,SL,\n", "")
    append(folder, "enrollments.csv", "enr-far,,,cls-math5a,org-s1,usr-far,student,,,")
    assert errors_of(folder, actor=_district_admin()) == [("enrollments.csv", 14, "sourcedId")]
    assert not Enrollment.objects.filter(learner=elsewhere).exists()


def test_a_teacher_may_not_import_at_all(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    found = errors_of(VALID, actor=user("tlee"))
    assert ("orgs.csv", 2, "sourcedId") in found


# --- the command --------------------------------------------------------------------------------


def test_the_command_prints_counts_per_file() -> None:
    out = io.StringIO()
    call_command("import_oneroster", str(VALID), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["file", "created", "updated", "unchanged", "skipped", "deleted"]
    assert lines[1].split() == ["orgs", "4", "0", "0", "0", "0"]
    assert lines[6].split() == ["enrollments", "11", "0", "0", "1", "0"]
    assert lines[-1].startswith("Roster imported")


def test_the_command_prints_one_json_object_with_json() -> None:
    out = io.StringIO()
    call_command("import_oneroster", str(VALID), "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["ok"] is True
    assert payload["counts"]["users"] == c(created=13)


def test_the_command_lists_every_bad_row_and_fails() -> None:
    err = io.StringIO()
    with pytest.raises(CommandError, match="6 problem"):
        call_command("import_oneroster", str(BAD_ROWS), stderr=err)
    lines = err.getvalue().splitlines()
    assert lines[0] == (
        "academicSessions.csv row 4 (as-2027-spring): endDate: The end date is before the start "
        "date."
    )
    assert lines[-1].startswith("warning: orgs.csv row 6 (org-dept): type: 'department' orgs")
    assert len(lines) == 7


def test_the_command_reports_errors_as_json_with_json() -> None:
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_oneroster", str(BAD_ROWS), "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["ok"] is False
    assert payload["problems"][0] == {
        "file": "academicSessions.csv",
        "row": 4,
        "column": "endDate",
        "reason": "The end date is before the start date.",
        "severity": "error",
        "record": "as-2027-spring",
    }


# --- cost -------------------------------------------------------------------------------------


def _queries_to_import(folder: Path) -> int:
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        services.import_roster(actor=None, source=folder)
        transaction.set_rollback(True)
    return len(ctx.captured_queries)


def test_import_query_count_does_not_grow_with_the_number_of_students(tmp_path: Path) -> None:
    small = _queries_to_import(write_synthetic_roster(tmp_path / "small", students=60))
    large = _queries_to_import(write_synthetic_roster(tmp_path / "large", students=150))
    assert small == large
