"""Helpers for OneRoster tests: the sample rosters and a writer of synthetic ones."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "oneroster"
VALID = FIXTURES / "valid"
BAD_ROWS = FIXTURES / "bad_rows"


def copy_roster(source: Path, target: Path) -> Path:
    """A writable copy of a sample roster folder."""
    shutil.copytree(source, target)
    return target


def edit(folder: Path, name: str, old: str, new: str) -> None:
    """Replace one exact piece of text in a roster file (fails if it is not there once)."""
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def append(folder: Path, name: str, line: str) -> None:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    path.write_text(text.rstrip("\n") + "\n" + line + "\n", encoding="utf-8")


def zip_roster(folder: Path, target: Path, *, inside: str = "") -> Path:
    """Zip a roster folder (optionally under a top-level folder, as many SIS exports do)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{inside}/{path.name}" if inside else path.name)
    return target


def write_synthetic_roster(folder: Path, *, students: int, per_class: int = 25) -> Path:
    """A one-district roster: two schools, one class per ``per_class`` students, one teacher
    per class, one parent per student. Deterministic."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, header: list[str], rows: list[list[str]]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        (folder / name).write_text(buffer.getvalue(), encoding="utf-8")

    base = ["sourcedId", "status", "dateLastModified"]
    write(
        "orgs.csv",
        [*base, "name", "type", "identifier", "parentSourcedId"],
        [
            ["syn-st", "", "", "Synth State", "state", "SY", ""],
            ["syn-d", "", "", "Synth District", "district", "9900001", "syn-st"],
            ["syn-s0", "", "", "Synth School 0", "school", "990000100000", "syn-d"],
            ["syn-s1", "", "", "Synth School 1", "school", "990000100001", "syn-d"],
        ],
    )
    write(
        "academicSessions.csv",
        [*base, "title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"],
        [["syn-y", "", "", "2026-2027", "schoolYear", "2026-08-17", "2027-06-11", "", "2027"]],
    )
    classes = max(1, -(-students // per_class))
    write(
        "courses.csv",
        [*base, "schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId", "subjects"],
        [["syn-c", "", "", "syn-y", "Maths", "M", "05", "syn-d", "Mathematics"]],
    )
    write(
        "classes.csv",
        [
            *base,
            "title",
            "grades",
            "courseSourcedId",
            "classCode",
            "classType",
            "location",
            "schoolSourcedId",
            "termSourcedIds",
            "subjects",
            "subjectCodes",
            "periods",
        ],
        [
            [
                f"syn-k{k}",
                "",
                "",
                f"Maths {k}",
                "05",
                "syn-c",
                f"M{k}",
                "scheduled",
                "",
                f"syn-s{k % 2}",
                "syn-y",
                "",
                "",
                "",
            ]
            for k in range(classes)
        ],
    )
    user_header = [
        *base,
        "enabledUser",
        "orgSourcedIds",
        "role",
        "username",
        "userIds",
        "givenName",
        "familyName",
        "middleName",
        "identifier",
        "email",
        "sms",
        "phone",
        "agentSourcedIds",
        "grades",
        "password",
    ]
    users: list[list[str]] = []
    enrollments: list[list[str]] = []
    for k in range(classes):
        users.append(
            [
                f"syn-t{k}",
                "",
                "",
                "true",
                f"syn-s{k % 2}",
                "teacher",
                f"synt{k}",
                "",
                "Tea",
                f"Cher{k}",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
        enrollments.append(
            [
                f"syn-et{k}",
                "",
                "",
                f"syn-k{k}",
                f"syn-s{k % 2}",
                f"syn-t{k}",
                "teacher",
                "true",
                "",
                "",
            ]
        )
    for n in range(students):
        k = n // per_class
        school = f"syn-s{k % 2}"
        users.append(
            [
                f"syn-u{n}",
                "",
                "",
                "true",
                school,
                "student",
                f"syns{n}",
                f"{{state:SY{n:07d}}}",
                "Stu",
                f"Dent{n}",
                "",
                f"L{n}",
                "",
                "",
                "",
                f"syn-p{n}",
                "05",
                "",
            ]
        )
        users.append(
            [
                f"syn-p{n}",
                "",
                "",
                "true",
                school,
                "parent",
                f"synp{n}",
                "",
                "Par",
                f"Ent{n}",
                "",
                "",
                "",
                "",
                "",
                f"syn-u{n}",
                "",
                "",
            ]
        )
        enrollments.append(
            [f"syn-e{n}", "", "", f"syn-k{k}", school, f"syn-u{n}", "student", "false", "", ""]
        )
    write("users.csv", user_header, users)
    write(
        "enrollments.csv",
        [
            *base,
            "classSourcedId",
            "schoolSourcedId",
            "userSourcedId",
            "role",
            "primary",
            "beginDate",
            "endDate",
        ],
        enrollments,
    )
    return folder
