"""OneRoster 1.1 rosters as student information systems really export them.

Each test writes a small roster with one quirk seen in real exports (on top of the sample roster
in tests/fixtures/oneroster/valid) and checks what the import does and what a person sees.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from learners import oneroster, services
from learners.models import (
    Course,
    Enrollment,
    Learner,
    Organisation,
    RoleAssignment,
    RosterImport,
    Section,
    Term,
)
from tests.factories import UserFactory
from tests.learners.rosters import VALID, append, copy_roster, edit, zip_roster

pytestmark = pytest.mark.django_db


def _roster(tmp_path: Path, name: str = "roster") -> Path:
    return copy_roster(VALID, tmp_path / name)


def _import(folder: Path, **options: object) -> oneroster.ImportResult:
    return services.import_roster(actor=None, source=folder, **options)  # type: ignore[arg-type]


def _refusal(folder: Path, **options: object) -> oneroster.RosterInvalid:
    with pytest.raises(oneroster.RosterInvalid) as caught:
        _import(folder, **options)
    return caught.value


def _warnings(result: oneroster.ImportResult) -> list[str]:
    return [str(problem) for problem in result.warnings]


def test_an_org_of_another_type_is_skipped_and_what_refers_to_it_lands_on_its_parent(
    tmp_path: Path,
) -> None:
    folder = _roster(tmp_path)
    append(folder, "orgs.csv", "org-dept,,,Maths Department,department,,org-s1")
    edit(folder, "courses.csv", "Mathematics 5,MATH5,05,org-s1", "Mathematics 5,MATH5,05,org-dept")
    edit(folder, "users.csv", "usr-t1,,,true,org-s1,", 'usr-t1,,,true,"org-s1,org-dept",')

    result = _import(folder)

    assert result.counts["orgs"].skipped == 1
    assert result.counts["orgs"].created == 4
    assert Course.objects.get(sourced_id="crs-math5").organisation.sourced_id == "org-s1"
    assert not Organisation.objects.filter(sourced_id="org-dept").exists()
    assert _warnings(result) == [
        "warning: orgs.csv row 6 (org-dept): type: 'department' orgs are not kept (only state, "
        "district and school): skipped; rows that refer to it are placed with the org above it."
    ]


def test_enumerations_are_matched_without_regard_to_case(tmp_path: Path) -> None:
    folder = _roster(tmp_path)
    edit(folder, "classes.csv", "MATH5-1,scheduled", "MATH5-1,Scheduled")
    edit(folder, "academicSessions.csv", "Fall 2026,semester", "Fall 2026,Semester")
    edit(folder, "users.csv", "org-s1,student,ben.k", "org-s1,Student,ben.k")
    edit(folder, "orgs.csv", "Maple Elementary,school", "Maple Elementary,School")
    edit(folder, "enrollments.csv", "usr-t3,teacher", "usr-t3,TEACHER")
    edit(folder, "users.csv", "usr-st5,,,true", "usr-st5,Active,,TRUE")

    result = _import(folder)

    assert result.warnings == []
    assert Learner.objects.filter(sourced_id="usr-st2").exists()
    assert Term.objects.get(sourced_id="as-2027-fall").kind == "semester"
    assert RoleAssignment.objects.filter(user__username="tsmith", kind="teacher").count() == 1


def test_an_enrollment_contradicting_its_users_role_is_skipped_and_the_rest_goes_in(
    tmp_path: Path,
) -> None:
    folder = _roster(tmp_path)
    edit(folder, "enrollments.csv", "org-s1,usr-st2,student", "org-s1,usr-p1,student")

    result = _import(folder)

    assert result.counts["enrollments"].skipped == 2  # the contradiction and the administrator
    assert _warnings(result) == [
        "warning: enrollments.csv row 7 (enr-st2-math5a): role: The user's role is not "
        "student: this enrollment is skipped."
    ]
    assert Enrollment.objects.count() == 6
    assert result.safety["refused"] is False


def test_a_reimport_of_a_quirky_roster_creates_nothing(tmp_path: Path) -> None:
    folder = _roster(tmp_path)
    append(folder, "orgs.csv", "org-dept,,,Maths Department,department,,org-s1")
    edit(folder, "classes.csv", "MATH5-1,scheduled", "MATH5-1,Scheduled")
    _import(folder)

    again = _import(folder)

    assert sum(counts.created + counts.updated for counts in again.counts.values()) == 0
    assert again.counts["users"].unchanged == 13


def test_tobedeleted_classes_and_sessions_are_applied(tmp_path: Path) -> None:
    _import(VALID)
    folder = _roster(tmp_path)
    # A delta export: the class and an unused session marked for deletion, sourcedId only.
    (folder / "manifest.csv").write_text(
        "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
        "file.orgs,absent\nfile.courses,absent\nfile.users,absent\nfile.enrollments,absent\n"
        "file.demographics,absent\nfile.academicSessions,delta\nfile.classes,delta\n",
        encoding="utf-8",
    )
    for name in ("orgs", "courses", "users", "enrollments", "demographics"):
        (folder / f"{name}.csv").unlink()
    (folder / "classes.csv").write_text(
        (VALID / "classes.csv").read_text(encoding="utf-8").splitlines()[0]
        + "\ncls-sci5a,tobedeleted,2027-01-02,,,,,,,,,,,\n",
        encoding="utf-8",
    )
    Term.objects.create(title="Summer", sourced_id="as-summer", start_date="2027-06-20",
                        end_date="2027-07-30", school_year=2027)  # fmt: skip
    (folder / "academicSessions.csv").write_text(
        "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,"
        "schoolYear\nas-summer,TOBEDELETED,,,,,,,\nas-2027-fall,tobedeleted,,,,,,,\n",
        encoding="utf-8",
    )

    result = _import(folder)

    section = Section.objects.get(sourced_id="cls-sci5a")  # kept: ratings may name it
    assert not Enrollment.objects.filter(section=section).exists()
    assert not RoleAssignment.objects.filter(section=section).exists()
    assert result.counts["classes"].deleted == 1
    assert not Term.objects.filter(sourced_id="as-summer").exists()
    assert Term.objects.filter(sourced_id="as-2027-fall").exists()  # still used by sections
    assert result.counts["academicSessions"].deleted == 1
    assert Learner.objects.filter(active=True).count() == 5  # a delta deactivates no one


def test_a_manifest_marking_required_files_absent_is_honoured(tmp_path: Path) -> None:
    _import(VALID)
    folder = _roster(tmp_path)
    (folder / "demographics.csv").unlink()
    (folder / "manifest.csv").write_text(
        "propertyName,value\noneroster.version,1.1\nfile.demographics,absent\n",
        encoding="utf-8",
    )
    result = _import(folder)
    assert result.counts["demographics"].skipped == 0
    assert result.counts["users"].unchanged == 13


def test_a_oneroster_1_2_roster_is_named_as_such(tmp_path: Path) -> None:
    folder = _roster(tmp_path)
    edit(folder, "manifest.csv", "oneroster.version,1.1", "oneroster.version,1.2")
    assert [str(p) for p in _refusal(folder).errors] == [
        "manifest.csv: oneroster.version: This is a OneRoster 1.2 roster; only OneRoster 1.1 "
        "CSV is supported yet. Export the roster as OneRoster 1.1 from your student "
        "information system."
    ]
    (folder / "manifest.csv").unlink()
    (folder / "roles.csv").write_text("sourcedId,userSourcedId,role\n", encoding="utf-8")
    assert "OneRoster 1.2" in _refusal(folder).errors[0].reason


def test_a_roster_skipping_more_than_the_safety_share_is_refused_whole(tmp_path: Path) -> None:
    folder = _roster(tmp_path)
    for student in ("usr-st2", "usr-st3", "usr-st4"):
        edit(folder, "enrollments.csv", f",{student},student", ",usr-p2,student")

    refused = _refusal(folder)

    assert refused.errors[0].reason.startswith(
        "The roster was refused whole: 3 of its 40 rows would be skipped (7.5%), more than "
        "the safety limit of 5%."
    )
    assert len(refused.warnings) == 3
    assert Organisation.objects.count() == 0
    assert RosterImport.objects.get().status == "rejected"
    assert _import(folder, safety_share=0.10).counts["enrollments"].skipped == 4


def test_a_truncated_bulk_users_file_cannot_deactivate_the_school(tmp_path: Path) -> None:
    _import(VALID)
    folder = _roster(tmp_path)
    lines = (folder / "users.csv").read_text(encoding="utf-8").splitlines()
    (folder / "users.csv").write_text("\n".join(lines[:7]) + "\n", encoding="utf-8")
    (folder / "enrollments.csv").write_text(
        "\n".join((folder / "enrollments.csv").read_text().splitlines()[:5]) + "\n"
    )
    (folder / "demographics.csv").unlink()

    refused = _refusal(folder)

    assert "learners it no longer lists would be deactivated" in refused.errors[0].reason
    assert Learner.objects.filter(active=True).count() == 5


def test_a_bulk_users_file_deactivates_a_learner_it_no_longer_lists(tmp_path: Path) -> None:
    _import(VALID)
    folder = _roster(tmp_path)
    edit(
        folder,
        "users.csv",
        "usr-st6,,,false,org-s2,student,finn.o",
        "usr-st6,,,true,org-s2,student,finn.o",
    )
    _import(folder)
    edit(
        folder,
        "enrollments.csv",
        "enr-st6-math7a,,,cls-math7a,org-s2,usr-st6,student,false,,2026-10-30\n",
        "",
    )
    text = (folder / "users.csv").read_text(encoding="utf-8")
    (folder / "users.csv").write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("usr-st6")) + "\n"
    )
    (folder / "demographics.csv").unlink()

    result = _import(folder, safety_share=0.5)

    assert result.safety["deactivated"] == 1
    assert Learner.objects.get(sourced_id="usr-st6").active is False
    assert result.counts["users"].deleted == 1


def test_a_dry_run_counts_everything_and_writes_nothing(tmp_path: Path) -> None:
    result = _import(VALID, dry_run=True)
    assert result.dry_run is True
    assert result.counts["users"].created == 13
    assert Organisation.objects.count() == 0
    assert RosterImport.objects.get().status == "checked"


def test_the_command_has_a_dry_run_and_a_safety_limit(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("import_oneroster", str(VALID), "--dry-run", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert (payload["ok"], payload["dry_run"]) == (True, True)
    assert Organisation.objects.count() == 0
    folder = _roster(tmp_path)
    edit(folder, "enrollments.csv", "org-s1,usr-st2,student", "org-s1,usr-p1,student")
    with pytest.raises(CommandError, match="1 problem"):
        call_command(
            "import_oneroster", str(folder), "--safety-percent", "1", stdout=io.StringIO(),
            stderr=io.StringIO(),
        )  # fmt: skip


def test_the_api_imports_checks_and_refuses_in_the_one_error_format(tmp_path: Path) -> None:
    api = APIClient()
    api.force_authenticate(UserFactory(is_superuser=True))
    archive = zip_roster(VALID, tmp_path / "r.zip").read_bytes()

    def post(data: bytes, **extra: object) -> object:
        upload = SimpleUploadedFile("r.zip", data, content_type="application/zip")
        return api.post("/api/v1/roster-imports/", {"file": upload, **extra}, format="multipart")

    checked = post(archive, dry_run="true")
    assert checked.status_code == 200  # type: ignore[attr-defined]
    assert checked.json()["counts"]["users"]["created"] == 13  # type: ignore[attr-defined]
    assert Organisation.objects.count() == 0
    created = post(archive)
    assert created.status_code == 201  # type: ignore[attr-defined]
    bad = post(b"not a zip")
    assert bad.status_code == 400  # type: ignore[attr-defined]
    assert bad.json()["problems"][0]["reason"] == "Not a readable zip file."  # type: ignore[attr-defined]


def test_the_page_offers_a_dry_run_and_lists_what_was_skipped(
    client: object, tmp_path: Path
) -> None:
    folder = _roster(tmp_path)
    append(folder, "orgs.csv", "org-dept,,,Maths Department,department,,org-s1")
    archive = zip_roster(folder, tmp_path / "r.zip").read_bytes()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))  # type: ignore[attr-defined]
    response = client.post(  # type: ignore[attr-defined]
        "/learners/roster/import/",
        {"roster": SimpleUploadedFile("r.zip", archive, "application/zip"), "dry_run": "on"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Roster checked: nothing was written" in html
    assert "orgs are not kept" in html
    assert Organisation.objects.count() == 0
