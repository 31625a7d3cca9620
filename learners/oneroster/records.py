"""Reading each CSV file into typed records, reporting every problem of every row."""

from __future__ import annotations

import csv
import datetime
import io
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from common.importing import ERROR, WARNING, Problem
from learners.models import (
    Course,
    Learner,
    Organisation,
    RosterIdentity,
    Section,
    Term,
    TermKind,
)
from learners.oneroster.base import (
    _DATE,
    _USERID_ENTRY,
    CLASS_TYPES,
    ENROLLMENT_ROLES,
    GRADES,
    REQUIRED_COLUMNS,
    REQUIRED_FILES,
    STATE_ID_TYPES,
    SUPPORTED_ORG_TYPES,
    USER_ROLES,
    RowError,
)

logger = logging.getLogger(__name__)


@dataclass
class Row:
    """One CSV record with typed accessors that report problems instead of raising."""

    file: str
    number: int
    values: dict[str, str]
    errors: list[Problem]

    def error(self, column: str, reason: str) -> None:
        self.errors.append(self._problem(column, reason, ERROR))

    def skip(self, column: str, reason: str) -> None:
        """Leaves the row out on purpose, with a warning (the rest of the roster goes in)."""
        self.errors.append(self._problem(column, reason, WARNING))

    def _problem(self, column: str, reason: str, severity: str) -> Problem:
        record = self.values.get("sourcedId", "").strip()[:100]
        return Problem(self.file, column, reason, row=self.number, severity=severity, record=record)

    def text(self, column: str, *, required: bool = False, max_length: int = 255) -> str:
        value = self.values.get(column, "").strip()
        if required and not value:
            self.error(column, "A value is required.")
        elif len(value) > max_length:
            self.error(column, f"At most {max_length} characters.")
            return value[:max_length]
        return value

    def choice(self, column: str, allowed: Iterable[str], *, required: bool = True) -> str:
        """One of ``allowed``, matched without regard to case (SIS exports write ``Scheduled``
        or ``STUDENT``); the value in the vocabulary's own spelling."""
        value = self.text(column, required=required)
        options = {option.lower(): option for option in allowed}
        if value and value.lower() not in options:
            self.error(column, f"{value!r} is not one of {', '.join(sorted(options.values()))}.")
            return ""
        return options.get(value.lower(), "")

    def date(self, column: str, *, required: bool = False) -> datetime.date | None:
        value = self.text(column, required=required)
        if not value:
            return None
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            return datetime.date.fromisoformat(value)
        except ValueError:
            self.error(column, f"{value!r} is not a date (YYYY-MM-DD).")
            return None

    def boolean(self, column: str) -> bool:
        value = self.text(column, required=True).lower()
        if value not in {"true", "false", ""}:
            self.error(column, f"{value!r} is not true or false.")
        return value != "false"

    def ids(self, column: str, *, required: bool = False) -> list[str]:
        value = self.text(column, required=required, max_length=100_000)
        ids = [part.strip() for part in value.split(",") if part.strip()]
        if required and value and not ids:
            self.error(column, "A value is required.")
        return ids

    def status(self) -> bool:
        """True when the row asks for deletion (``tobedeleted``)."""
        value = self.text("status").lower()
        if value and value not in {"active", "tobedeleted"}:
            self.error("status", f"{value!r} is not active or tobedeleted.")
        modified = self.text("dateLastModified")
        if modified:
            try:
                datetime.datetime.fromisoformat(modified.replace("Z", "+00:00"))
            except ValueError:
                self.error("dateLastModified", f"{modified!r} is not an ISO 8601 date-time.")
        return value == "tobedeleted"


def parse_csv(name: str, data: bytes, errors: list[Problem]) -> list[Row] | None:
    """The file's records; None (with the reason in ``errors``) when the file is unusable as a
    whole: not UTF-8, not CSV, empty, or missing a required column."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        errors.append(
            RowError(
                name,
                line,
                "",
                f"The file is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8.",
            )
        )
        return None
    if "\x00" in text:
        errors.append(RowError(name, None, "", "The file holds NUL bytes: it is not a CSV file."))
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            errors.append(RowError(name, None, "", "The file is empty (no header row)."))
            return None
        header = [column.strip() for column in header]
        missing = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in header]
        for column in missing:
            errors.append(RowError(name, 1, column, "This required column is missing."))
        duplicates = {c for c in header if header.count(c) > 1 and c}
        for column in sorted(duplicates):
            errors.append(RowError(name, 1, column, "This column appears twice."))
        if missing or duplicates:
            return None
        rows: list[Row] = []
        for number, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                errors.append(
                    RowError(
                        name,
                        number,
                        "",
                        f"The row has {len(record)} fields; the header has {len(header)}.",
                    )
                )
                continue
            rows.append(Row(name, number, dict(zip(header, record, strict=True)), errors))
    except csv.Error as exc:
        errors.append(RowError(name, reader.line_num, "", f"Not valid CSV ({exc})."))
        return None
    return rows


# --- parsed records -----------------------------------------------------------------------------


@dataclass
class OrgRecord:
    row: Row
    sid: str
    name: str
    kind: str
    external_id: str
    parent_sid: str
    # A type we do not keep (department, local, national...): skipped, and what referred to it
    # is taken to its nearest parent of a kept type.
    other_type: str = ""


@dataclass
class TermRecord:
    row: Row
    sid: str
    title: str
    kind: str
    start: datetime.date | None
    end: datetime.date | None
    parent_sid: str
    school_year: int | None
    deleted: bool = False


@dataclass
class CourseRecord:
    row: Row
    sid: str
    title: str
    code: str
    org_sid: str
    subjects: str
    grades: str
    deleted: bool = False


@dataclass
class ClassRecord:
    row: Row
    sid: str
    title: str
    course_sid: str
    code: str
    school_sid: str
    term_sids: list[str]
    subjects: str
    grades: str
    deleted: bool = False


@dataclass
class UserRecord:
    row: Row
    sid: str
    deleted: bool
    enabled: bool
    org_sids: list[str]
    role: str
    username: str
    given: str
    family: str
    local_id: str
    state_id: str
    email: str
    agent_sids: list[str]
    grade: str


@dataclass
class EnrollmentRecord:
    row: Row
    sid: str
    deleted: bool
    class_sid: str
    school_sid: str
    user_sid: str
    role: str
    begin: datetime.date | None
    end: datetime.date | None


def _records[R](
    name: str, rows: list[Row], build: Callable[[Row], R], sid_of: Callable[[R], str]
) -> dict[str, R]:
    """Build one record per row; a sourcedId seen twice is an error on the later row."""
    records: dict[str, R] = {}
    for row in rows:
        record = build(row)
        sid = sid_of(record)
        if not sid:
            continue
        if sid in records:
            first = records[sid].row  # type: ignore[attr-defined]
            if first.values == row.values:
                row.skip("sourcedId", f"Repeats row {first.number} exactly: the copy is left out.")
                continue
            row.error("sourcedId", f"{sid!r} appears more than once in {name}.")
            continue
        records[sid] = record
    return records


def _org(row: Row) -> OrgRecord:
    deleted = row.status()
    kind = row.text("type", required=True)
    other = ""
    if kind.lower() in SUPPORTED_ORG_TYPES:
        kind = kind.lower()
    elif kind:
        other, kind = kind, ""
        row.skip(
            "type",
            f"{other!r} orgs are not kept (only state, district and school): skipped; rows "
            "that refer to it are placed with the org above it.",
        )
    elif deleted:
        row.skip("status", "Orgs are never removed by a roster (edit them in the admin): skipped.")
    return OrgRecord(
        row=row,
        sid=row.text("sourcedId", required=True),
        name=row.text("name", required=True, max_length=200),
        kind=kind,
        external_id=row.text("identifier"),
        parent_sid=row.text("parentSourcedId"),
        other_type=other,
    )


def _deleted_stub(row: Row) -> dict[str, Any]:
    """What a ``tobedeleted`` row needs: its sourcedId (delta exports leave the rest blank)."""
    return {"row": row, "sid": row.text("sourcedId", required=True), "deleted": True}


def _term(row: Row) -> TermRecord:
    if row.status():
        return TermRecord(
            **_deleted_stub(row),
            title="",
            kind="",
            start=None,
            end=None,
            parent_sid="",
            school_year=None,
        )
    start = row.date("startDate", required=True)
    end = row.date("endDate", required=True)
    if start and end and end < start:
        row.error("endDate", "The end date is before the start date.")
    year_text = row.text("schoolYear", required=True)
    year: int | None = None
    if year_text:
        if re.fullmatch(r"\d{4}", year_text):
            year = int(year_text)
        else:
            row.error("schoolYear", f"{year_text!r} is not a year (YYYY).")
    return TermRecord(
        row=row,
        sid=row.text("sourcedId", required=True),
        title=row.text("title", required=True, max_length=200),
        kind=row.choice("type", TermKind.values),
        start=start,
        end=end,
        parent_sid=row.text("parentSourcedId"),
        school_year=year,
    )


def _course(row: Row) -> CourseRecord:
    if row.status():
        return CourseRecord(
            **_deleted_stub(row), title="", code="", org_sid="", subjects="", grades=""
        )
    return CourseRecord(
        row=row,
        sid=row.text("sourcedId", required=True),
        title=row.text("title", required=True, max_length=200),
        code=row.text("courseCode", max_length=64),
        org_sid=row.text("orgSourcedId", required=True),
        subjects=row.text("subjects"),
        grades=",".join(_grades(row, "grades")),
    )


def _class(row: Row) -> ClassRecord:
    if row.status():
        return ClassRecord(
            **_deleted_stub(row),
            title="",
            course_sid="",
            code="",
            school_sid="",
            term_sids=[],
            subjects="",
            grades="",
        )
    row.choice("classType", CLASS_TYPES)
    return ClassRecord(
        row=row,
        sid=row.text("sourcedId", required=True),
        title=row.text("title", required=True, max_length=200),
        course_sid=row.text("courseSourcedId", required=True),
        code=row.text("classCode", max_length=64),
        school_sid=row.text("schoolSourcedId", required=True),
        term_sids=row.ids("termSourcedIds", required=True),
        subjects=row.text("subjects"),
        grades=",".join(_grades(row, "grades")),
    )


def _grades(row: Row, column: str) -> list[str]:
    grades = row.ids(column)
    for grade in grades:
        if grade not in GRADES:
            row.error(column, f"{grade!r} is not a CEDS grade level (KG, 01..13, PK, ...).")
    return [g for g in grades if g in GRADES]


def _user(row: Row) -> UserRecord:
    deleted = row.status()
    if deleted and not row.text("username"):
        # A delta export's deletion: the sourcedId is all there is.
        return UserRecord(
            **_deleted_stub(row),
            enabled=False,
            org_sids=[],
            role="",
            username="",
            given="",
            family="",
            local_id="",
            state_id="",
            email="",
            agent_sids=[],
            grade="",
        )
    enabled = row.boolean("enabledUser")
    username = row.text("username", required=True, max_length=150)
    if username:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError:
            row.error("username", "Letters, digits and @ . + - _ only.")
    email = row.text("email", max_length=254)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            row.error("email", f"{email!r} is not an email address.")
    state_id = ""
    for entry in row.ids("userIds"):
        match = _USERID_ENTRY.match(entry)
        if match is None:
            row.error("userIds", f"{entry!r} is not of the form {{type:identifier}}.")
        elif match.group(1).strip().lower() in STATE_ID_TYPES:
            state_id = match.group(2).strip()[:64]
    grades = _grades(row, "grades")
    return UserRecord(
        row=row,
        sid=row.text("sourcedId", required=True),
        deleted=deleted,
        enabled=enabled,
        org_sids=row.ids("orgSourcedIds", required=True),
        role=row.choice("role", USER_ROLES),
        username=username,
        given=row.text("givenName", required=True, max_length=100),
        family=row.text("familyName", required=True, max_length=100),
        local_id=row.text("identifier", max_length=64),
        state_id=state_id,
        email=email,
        agent_sids=row.ids("agentSourcedIds"),
        grade=grades[0] if grades else "",
    )


def _enrollment(row: Row) -> EnrollmentRecord:
    deleted = row.status()
    begin = row.date("beginDate")
    end = row.date("endDate")
    if begin and end and end < begin:
        row.error("endDate", "The end date is before the begin date.")
    return EnrollmentRecord(
        row=row,
        sid=row.text("sourcedId", required=True),
        deleted=deleted,
        class_sid=row.text("classSourcedId", required=True),
        school_sid=row.text("schoolSourcedId", required=True),
        user_sid=row.text("userSourcedId", required=True),
        role=row.choice("role", ENROLLMENT_ROLES),
        begin=begin,
        end=end,
    )


@dataclass
class Roster:
    """A parsed roster with the database rows it refers to (filled by :func:`validate`)."""

    orgs: dict[str, OrgRecord]
    terms: dict[str, TermRecord]
    courses: dict[str, CourseRecord]
    classes: dict[str, ClassRecord]
    users: dict[str, UserRecord]
    enrollments: dict[str, EnrollmentRecord]
    demographics: list[Row]
    complete: bool
    db_orgs: dict[str, Organisation] = field(default_factory=dict)
    db_terms: dict[str, Term] = field(default_factory=dict)
    db_courses: dict[str, Course] = field(default_factory=dict)
    db_sections: dict[str, Section] = field(default_factory=dict)
    db_identities: dict[str, RosterIdentity] = field(default_factory=dict)
    db_learners: dict[str, Learner] = field(default_factory=dict)
    state_of_school: dict[str, str] = field(default_factory=dict)
    # Orgs of a type we do not keep -> the org above them ("" when none).
    org_alias: dict[str, str] = field(default_factory=dict)
    # ``tobedeleted`` rows, taken out of the records above: applied by the write step.
    deleted_terms: dict[str, TermRecord] = field(default_factory=dict)
    deleted_classes: dict[str, ClassRecord] = field(default_factory=dict)
    deleted_users: dict[str, UserRecord] = field(default_factory=dict)
    # Rows left out on purpose (with a warning each), per file without ".csv".
    skipped: dict[str, int] = field(default_factory=dict)
    # Learners the platform has at the roster's schools whom a bulk users.csv no longer lists:
    # deactivated by the write step (the safety threshold bounds how many).
    missing_learners: list[Learner] = field(default_factory=list)
    skipped_sids: dict[str, set[str]] = field(default_factory=dict)
    rows: int = 0
    bulk_users: bool = True

    def skip(self, entity: str, sid: str, column: str, reason: str) -> None:
        """Takes one record out, with a warning on its row (the rest of the roster goes in)."""
        records: dict[str, Any] = getattr(self, _ATTRIBUTE[entity])
        record = records.pop(sid, None)
        if record is None:
            return
        record.row.skip(column, reason)
        self.skipped[entity] = self.skipped.get(entity, 0) + 1
        self.skipped_sids.setdefault(entity, set()).add(sid)

    def resolve_org(self, sid: str) -> str:
        """The org a reference lands on: itself, or for an org of a type we do not keep, the
        nearest org above it of a kept type ("" when there is none)."""
        for _ in range(8):
            if sid not in self.org_alias:
                return sid
            sid = self.org_alias[sid]
        return ""


_ATTRIBUTE = {
    "orgs": "orgs",
    "academicSessions": "terms",
    "courses": "courses",
    "classes": "classes",
    "users": "users",
    "enrollments": "enrollments",
}


def parse(files: dict[str, bytes], errors: list[Problem]) -> Roster:
    """Every record of every file, with row-level problems added to ``errors``."""
    parsed = {
        name: parse_csv(name, data, errors)
        for name, data in files.items()
        if name in REQUIRED_FILES or name == "demographics.csv"
    }
    rows = {name: found for name, found in parsed.items() if found is not None}
    demographics = rows.get("demographics.csv", [])
    for row in demographics:
        row.text("sourcedId", required=True)
        row.status()
    roster = Roster(
        orgs=_records("orgs.csv", rows.get("orgs.csv", []), _org, lambda r: r.sid),
        terms=_records(
            "academicSessions.csv", rows.get("academicSessions.csv", []), _term, lambda r: r.sid
        ),
        courses=_records("courses.csv", rows.get("courses.csv", []), _course, lambda r: r.sid),
        classes=_records("classes.csv", rows.get("classes.csv", []), _class, lambda r: r.sid),
        users=_records("users.csv", rows.get("users.csv", []), _user, lambda r: r.sid),
        enrollments=_records(
            "enrollments.csv", rows.get("enrollments.csv", []), _enrollment, lambda r: r.sid
        ),
        demographics=demographics,
        complete=all(found is not None for found in parsed.values()),
    )
    roster.rows = sum(len(found) for found in rows.values())
    for sid, org in list(roster.orgs.items()):
        if org.other_type:
            roster.org_alias[sid] = org.parent_sid
        if org.other_type or org.row.values.get("status", "").strip().lower() == "tobedeleted":
            del roster.orgs[sid]
            roster.skipped["orgs"] = roster.skipped.get("orgs", 0) + 1
    for sid, course in list(roster.courses.items()):
        if course.deleted:
            roster.skip(
                "courses",
                sid,
                "status",
                "Courses are never removed by a roster (their classes are): skipped.",
            )
    roster.deleted_terms = _take_deleted(roster.terms)
    roster.deleted_classes = _take_deleted(roster.classes)
    # A user's deletion with the whole row keeps its row (the write step deactivates it like any
    # change); a delta export's bare deletion (sourcedId only) is applied on its own.
    roster.deleted_users = _take_deleted(
        {sid: user for sid, user in roster.users.items() if user.deleted and not user.username}
    )
    for sid in roster.deleted_users:
        del roster.users[sid]
    return roster


def _take_deleted[R: (TermRecord, ClassRecord, UserRecord)](records: dict[str, R]) -> dict[str, R]:
    deleted = {sid: record for sid, record in records.items() if record.deleted}
    for sid in deleted:
        del records[sid]
    return deleted
