"""OneRoster 1.1 CSV roster import: read, validate everything, then write it all or nothing.

The public entry point is :func:`import_roster` (also reachable as
``learners.services.import_roster``). A roster is a folder or a zip holding ``orgs.csv``,
``academicSessions.csv``, ``courses.csv``, ``classes.csv``, ``users.csv`` and
``enrollments.csv`` (``demographics.csv`` is optional; ``manifest.csv`` is accepted but not
interpreted: every import is a bulk import of the six files). Mapping:

- ``orgs``: state, district and school orgs become organisations (other types are refused);
- ``academicSessions``: terms; ``courses``: courses; ``classes``: sections (the first of
  ``termSourcedIds`` is the section's term);
- ``users``: a login per user (never with a password from the file); a ``student`` also becomes
  a learner at the first school of ``orgSourcedIds`` (``identifier`` is the local id; a
  ``userIds`` entry typed ``state``/``stateID``/``SSID`` is the state student id; the first
  grade is the grade level); ``parent``/``guardian``/``relative`` users are linked to the students
  named in ``agentSourcedIds`` (either side may name the other); an ``administrator`` becomes
  school, district or state admin of each org in ``orgSourcedIds``;
- ``enrollments``: ``student`` rows enroll the learner, ``teacher`` rows make the user a teacher
  of the section; blank dates default to the section's term, so access ends with the term;
  ``administrator`` and ``proctor`` rows are counted as skipped;
- ``demographics``: validated and counted as skipped, never stored (data minimisation).

Identity is the ``sourcedId``: a re-import updates changed rows and creates no duplicates.
``status=tobedeleted`` deactivates a user (and their learner) and deletes an enrollment; other
files refuse it. An import never removes what it does not mention, except that an administrator's
imported admin roles follow the ``orgSourcedIds`` of their row. Row numbers count the header as
row 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import csv
import datetime
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from common.archives import ArchiveLimits, ArchiveRefused, ArchiveUnreadable, SafeArchive
from learners import selectors
from learners.models import (
    ADMIN_ROLE_FOR_KIND,
    KIND_RANK,
    Course,
    Enrollment,
    GuardianLink,
    GuardianRelationship,
    Learner,
    Organisation,
    OrganisationKind,
    RoleAssignment,
    RoleKind,
    RosterIdentity,
    RosterImport,
    RosterImportStatus,
    Section,
    Term,
    TermKind,
)
from learners.sessions import end_sessions

logger = logging.getLogger(__name__)

type RosterSource = Path | IO[bytes]

REQUIRED_FILES = (
    "orgs.csv",
    "academicSessions.csv",
    "courses.csv",
    "classes.csv",
    "users.csv",
    "enrollments.csv",
)
OPTIONAL_FILES = ("demographics.csv", "manifest.csv")
ENTITIES = tuple(name.removesuffix(".csv") for name in (*REQUIRED_FILES, "demographics.csv"))

# Columns that must be present in the header of each file (OneRoster 1.1 CSV binding).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "orgs.csv": ("sourcedId", "name", "type"),
    "academicSessions.csv": (
        "sourcedId",
        "title",
        "type",
        "startDate",
        "endDate",
        "schoolYear",
    ),
    "courses.csv": ("sourcedId", "title", "orgSourcedId"),
    "classes.csv": (
        "sourcedId",
        "title",
        "courseSourcedId",
        "classType",
        "schoolSourcedId",
        "termSourcedIds",
    ),
    "users.csv": (
        "sourcedId",
        "enabledUser",
        "orgSourcedIds",
        "role",
        "username",
        "givenName",
        "familyName",
    ),
    "enrollments.csv": ("sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
    "demographics.csv": ("sourcedId",),
}

MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_ZIP_ENTRIES = 64
MAX_ERRORS = 1000
SUPPORTED_ORG_TYPES = {"state", "district", "school"}
USER_ROLES = {
    "administrator",
    "aide",
    "guardian",
    "parent",
    "proctor",
    "relative",
    "student",
    "teacher",
}
GUARDIAN_ROLES = {"parent": "parent", "guardian": "guardian", "relative": "relative"}
ENROLLMENT_ROLES = {"administrator", "proctor", "student", "teacher"}
TEACHING_USER_ROLES = {"teacher", "aide", "administrator", "proctor"}
CLASS_TYPES = {"homeroom", "scheduled"}
GRADES = {"IT", "PR", "PK", "TK", "KG", "PS", "UG", "Other"}
GRADES |= {f"{n:02d}" for n in range(1, 14)}
STATE_ID_TYPES = {"state", "stateid", "ssid", "state_student_id"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_USERID_ENTRY = re.compile(r"^\{([^:{}]+):([^{}]*)\}$")


# --- results and errors --------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem: the file, the row (header = 1; None for the whole file), the column, why."""

    file: str
    row: int | None
    column: str
    reason: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        return (
            f"{where}, column {self.column}: {self.reason}"
            if self.column
            else (f"{where}: {self.reason}")
        )

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "row": self.row, "column": self.column, "reason": self.reason}


class RosterInvalid(Exception):
    """The roster was refused; nothing was written. ``errors`` lists every problem found."""

    def __init__(self, errors: list[RowError], import_id: int | None = None) -> None:
        super().__init__(f"{len(errors)} problem(s) in the roster")
        self.errors = errors
        self.import_id = import_id


@dataclass
class EntityCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "skipped": self.skipped,
        }


@dataclass
class ImportResult:
    counts: dict[str, EntityCounts]
    import_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "import_id": self.import_id,
            "counts": {name: c.as_dict() for name, c in self.counts.items()},
        }


# --- reading the files ----------------------------------------------------------------------------


def read_files(source: RosterSource) -> dict[str, bytes]:
    """The roster's files by name, from a folder, a zip path or an open zip file.

    Raises RosterInvalid for a broken zip, a missing required file, a file too large, or two
    files of the same name.
    """
    if isinstance(source, Path) and source.is_dir():
        return _read_folder(source)
    if isinstance(source, Path):
        if not source.exists():
            raise RosterInvalid([RowError(source.name, None, "", "No such file or folder.")])
        with source.open("rb") as handle:
            return _read_zip(handle, source.name)
    return _read_zip(source, getattr(source, "name", "upload") or "upload")


def _too_large() -> str:
    return f"The file is larger than the limit of {MAX_FILE_BYTES:,} bytes."


def _read_folder(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    errors: list[RowError] = []
    for name in (*REQUIRED_FILES, *OPTIONAL_FILES):
        path = folder / name
        if not path.is_file():
            if name in REQUIRED_FILES:
                errors.append(RowError(name, None, "", "The file is missing from the roster."))
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            errors.append(RowError(name, None, "", _too_large()))
            continue
        files[name] = path.read_bytes()
    if errors:
        raise RosterInvalid(errors)
    return files


def _read_zip(handle: IO[bytes], label: str) -> dict[str, bytes]:
    """The roster's files from a zip, inflated within the upload limit (common.archives: a zip
    bomb is refused after at most that many bytes, read in chunks)."""
    try:
        archive = SafeArchive(handle, ArchiveLimits.for_uploads())
    except ArchiveUnreadable as exc:
        raise RosterInvalid(
            [RowError(Path(str(label)).name, None, "", "Not a readable zip file.")]
        ) from exc
    except ArchiveRefused as exc:
        name = Path(str(exc.member or label)).name
        raise RosterInvalid([RowError(name, None, "", str(exc))]) from exc
    with archive:
        entries = archive.members
        if len(entries) > MAX_ZIP_ENTRIES:
            raise RosterInvalid(
                [RowError(label, None, "", f"The zip holds more than {MAX_ZIP_ENTRIES} files.")]
            )
        wanted = set(REQUIRED_FILES) | set(OPTIONAL_FILES)
        found: dict[str, zipfile.ZipInfo] = {}
        errors: list[RowError] = []
        for info in entries:
            # Only the base name counts (rosters are often zipped inside one folder); paths are
            # never used to write anything, so "../" tricks have nothing to reach.
            base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            if base.startswith("._") or base not in wanted:
                continue
            if base in found:
                errors.append(RowError(base, None, "", "The zip holds this file twice."))
            found[base] = info
        for name in REQUIRED_FILES:
            if name not in found:
                errors.append(RowError(name, None, "", "The file is missing from the roster."))
        files: dict[str, bytes] = {}
        for name, info in found.items():
            if info.file_size > MAX_FILE_BYTES:
                errors.append(RowError(name, None, "", _too_large()))
                continue
            try:
                files[name] = archive.read(info)
            except ArchiveRefused as exc:
                errors.append(RowError(name, None, "", str(exc)))
                if archive.inflated > archive.limits.max_total:
                    break  # the whole zip's bound is spent: reading on would only repeat it
        if errors:
            raise RosterInvalid(errors)
        return files


@dataclass
class Row:
    """One CSV record with typed accessors that report problems instead of raising."""

    file: str
    number: int
    values: dict[str, str]
    errors: list[RowError]

    def error(self, column: str, reason: str) -> None:
        self.errors.append(RowError(self.file, self.number, column, reason))

    def text(self, column: str, *, required: bool = False, max_length: int = 255) -> str:
        value = self.values.get(column, "").strip()
        if required and not value:
            self.error(column, "A value is required.")
        elif len(value) > max_length:
            self.error(column, f"At most {max_length} characters.")
            return value[:max_length]
        return value

    def choice(self, column: str, allowed: Iterable[str], *, required: bool = True) -> str:
        value = self.text(column, required=required)
        options = sorted(allowed)
        if value and value not in options:
            self.error(column, f"{value!r} is not one of {', '.join(options)}.")
            return ""
        return value

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
        value = self.text("status")
        if value and value not in {"active", "tobedeleted"}:
            self.error("status", f"{value!r} is not active or tobedeleted.")
        modified = self.text("dateLastModified")
        if modified:
            try:
                datetime.datetime.fromisoformat(modified.replace("Z", "+00:00"))
            except ValueError:
                self.error("dateLastModified", f"{modified!r} is not an ISO 8601 date-time.")
        return value == "tobedeleted"


def parse_csv(name: str, data: bytes, errors: list[RowError]) -> list[Row] | None:
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


@dataclass
class CourseRecord:
    row: Row
    sid: str
    title: str
    code: str
    org_sid: str
    subjects: str
    grades: str


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
            row.error("sourcedId", f"{sid!r} appears more than once in {name}.")
            continue
        records[sid] = record
    return records


def _org(row: Row) -> OrgRecord:
    if row.status():
        row.error("status", "tobedeleted is not supported for orgs; edit them in the admin.")
    kind = row.text("type", required=True)
    if kind and kind not in SUPPORTED_ORG_TYPES:
        row.error("type", f"{kind!r} is not supported (state, district, school).")
        kind = ""
    return OrgRecord(
        row=row,
        sid=row.text("sourcedId", required=True),
        name=row.text("name", required=True, max_length=200),
        kind=kind,
        external_id=row.text("identifier"),
        parent_sid=row.text("parentSourcedId"),
    )


def _term(row: Row) -> TermRecord:
    if row.status():
        row.error("status", "tobedeleted is not supported for academicSessions.")
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
        row.error("status", "tobedeleted is not supported for courses.")
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
        row.error("status", "tobedeleted is not supported for classes.")
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


# --- validation across files and against the database ------------------------------------------


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


def parse(files: dict[str, bytes], errors: list[RowError]) -> Roster:
    """Every record of every file, with row-level problems added to ``errors``."""
    parsed = {name: parse_csv(name, data, errors) for name, data in files.items()}
    rows = {name: found for name, found in parsed.items() if found is not None}
    demographics = rows.get("demographics.csv", [])
    for row in demographics:
        row.text("sourcedId", required=True)
        row.status()
    return Roster(
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


CHUNK = 5000  # ids per IN (...) list: well under PostgreSQL's 65,535 parameters per statement


def _chunks[T: (int, str)](values: Iterable[T]) -> list[list[T]]:
    ordered = sorted(set(values))
    return [ordered[start : start + CHUNK] for start in range(0, len(ordered), CHUNK)]


def _by_sid[M: models.Model](model: type[M], sids: Iterable[str]) -> dict[str, M]:
    wanted = sorted(set(sids))
    found: dict[str, M] = {}
    for start in range(0, len(wanted), 5000):
        for obj in model._default_manager.filter(sourced_id__in=wanted[start : start + 5000]):
            found[str(obj.sourced_id)] = obj  # type: ignore[attr-defined]
    return found


def validate(roster: Roster, *, actor: User | None, errors: list[RowError]) -> None:
    """Check every reference and rule, against the upload and the database; add to ``errors``."""
    _load_database_rows(roster)
    org_kind = {sid: o.kind for sid, o in roster.db_orgs.items()}
    org_kind.update({sid: r.kind for sid, r in roster.orgs.items() if r.kind})
    scope = _scope_of(roster, actor)
    allowed = scope[0] if scope is not None else None
    administered_ids = scope[1] if scope is not None else None

    def check_org(row: Row, column: str, sid: str, kinds: set[str] | None = None) -> bool:
        if sid not in org_kind:
            row.error(column, f"No org has sourcedId {sid!r}.")
            return False
        if kinds is not None and org_kind[sid] not in kinds:
            row.error(column, f"{sid!r} is a {org_kind[sid]}, not a {' or '.join(sorted(kinds))}.")
            return False
        if allowed is not None and sid not in allowed:
            row.error(column, f"{sid!r} is outside the organisations you administer.")
            return False
        return True

    _validate_orgs(roster, org_kind)
    _validate_terms(roster)
    for course in roster.courses.values():
        check_org(course.row, "orgSourcedId", course.org_sid)
        existing_course = roster.db_courses.get(course.sid)
        if administered_ids is not None and existing_course is not None:
            _check_in_scope(course.row, existing_course.organisation_id, administered_ids)
    course_sids = set(roster.courses) | set(roster.db_courses)
    term_sids = set(roster.terms) | set(roster.db_terms)
    for klass in roster.classes.values():
        if klass.course_sid and klass.course_sid not in course_sids:
            klass.row.error("courseSourcedId", f"No course has sourcedId {klass.course_sid!r}.")
        if klass.school_sid:
            check_org(klass.row, "schoolSourcedId", klass.school_sid, {"school"})
        for term_sid in klass.term_sids:
            if term_sid not in term_sids:
                klass.row.error(
                    "termSourcedIds", f"No academic session has sourcedId {term_sid!r}."
                )
        existing_section = roster.db_sections.get(klass.sid)
        if administered_ids is not None and existing_section is not None:
            _check_in_scope(klass.row, existing_section.school_id, administered_ids)
    _validate_users(roster, org_kind, check_org, administered_ids)
    _validate_demographics(roster)
    _validate_enrollments(roster, org_kind, check_org, administered_ids)


def _load_database_rows(roster: Roster) -> None:
    org_refs = set(roster.orgs) | {r.parent_sid for r in roster.orgs.values() if r.parent_sid}
    org_refs |= {r.org_sid for r in roster.courses.values()}
    org_refs |= {r.school_sid for r in roster.classes.values()}
    org_refs |= {sid for r in roster.users.values() for sid in r.org_sids}
    org_refs |= {r.school_sid for r in roster.enrollments.values()}
    roster.db_orgs = _by_sid(Organisation, org_refs)
    term_refs = set(roster.terms) | {r.parent_sid for r in roster.terms.values() if r.parent_sid}
    term_refs |= {sid for r in roster.classes.values() for sid in r.term_sids}
    roster.db_terms = _by_sid(Term, term_refs)
    course_refs = set(roster.courses) | {r.course_sid for r in roster.classes.values()}
    roster.db_courses = _by_sid(Course, course_refs)
    class_refs = set(roster.classes) | {r.class_sid for r in roster.enrollments.values()}
    roster.db_sections = _by_sid(Section, class_refs)
    user_refs = set(roster.users) | {r.user_sid for r in roster.enrollments.values()}
    user_refs |= {sid for r in roster.users.values() for sid in r.agent_sids}
    user_refs |= {row.text("sourcedId") for row in roster.demographics}
    roster.db_identities = {
        identity.sourced_id: identity
        for chunk in _chunks(user_refs)
        for identity in RosterIdentity.objects.filter(sourced_id__in=chunk).select_related("user")
    }
    roster.db_learners = _by_sid(Learner, user_refs)


_RANK = {"state": 0, "district": 1, "school": 2}


def _scope_of(roster: Roster, actor: User | None) -> tuple[set[str], set[int]] | None:
    """The org sourcedIds the actor may reference and the ids of the organisations they
    administer (None: the system or a superuser, who may touch any). Each org row outside the
    actor's organisations is reported on its row."""
    if actor is None or actor.is_superuser:
        return None
    administered = dict(selectors.administered_organisations(actor).values_list("sourced_id", "pk"))
    administered_ids = set(administered.values())
    administered.pop("", None)
    allowed = {sid for sid in roster.db_orgs if sid in administered}
    for record in sorted(roster.orgs.values(), key=lambda r: _RANK.get(r.kind, 9)):
        if record.sid in roster.db_orgs:
            if record.sid not in administered:
                record.row.error(
                    "sourcedId", "This org is outside the organisations you administer."
                )
        elif record.parent_sid and record.parent_sid in allowed:
            allowed.add(record.sid)
        else:
            record.row.error(
                "parentSourcedId", "A new org must sit below an organisation you administer."
            )
    return allowed, administered_ids


def _check_in_scope(row: Row, org_id: int, administered_ids: set[int]) -> None:
    if org_id not in administered_ids:
        row.error("sourcedId", "This row exists outside the organisations you administer.")


def _validate_orgs(roster: Roster, org_kind: dict[str, str]) -> None:
    for record in roster.orgs.values():
        existing = roster.db_orgs.get(record.sid)
        if existing is not None and record.kind and existing.kind != record.kind:
            record.row.error(
                "type", f"The org is a {existing.kind}; its type cannot change on re-import."
            )
        if not record.parent_sid:
            continue
        parent_kind = org_kind.get(record.parent_sid)
        if parent_kind is None:
            record.row.error("parentSourcedId", f"No org has sourcedId {record.parent_sid!r}.")
        elif (
            record.kind
            and KIND_RANK[OrganisationKind(parent_kind)] >= KIND_RANK[OrganisationKind(record.kind)]
        ):
            record.row.error(
                "parentSourcedId", f"A {record.kind} cannot sit below a {parent_kind}."
            )


def _validate_terms(roster: Roster) -> None:
    for record in roster.terms.values():
        if record.parent_sid and record.parent_sid not in roster.terms | roster.db_terms:
            record.row.error(
                "parentSourcedId", f"No academic session has sourcedId {record.parent_sid!r}."
            )
    # A parent chain inside the file must end: no session is its own ancestor.
    for record in roster.terms.values():
        seen = {record.sid}
        node = record
        while node.parent_sid in roster.terms:
            if node.parent_sid in seen:
                record.row.error("parentSourcedId", "The parent chain loops back to this session.")
                break
            seen.add(node.parent_sid)
            node = roster.terms[node.parent_sid]


def _validate_users(
    roster: Roster,
    org_kind: dict[str, str],
    check_org: Callable[..., bool],
    administered_ids: set[int] | None,
) -> None:
    usernames: dict[str, UserRecord] = {}
    student_user_ids = [
        roster.db_identities[r.sid].user_id
        for r in roster.users.values()
        if r.role == "student" and r.sid in roster.db_identities
    ]
    guardian_user_ids = {
        guardian_id
        for chunk in _chunks(student_user_ids)
        for guardian_id in GuardianLink.objects.filter(guardian_id__in=chunk).values_list(
            "guardian_id", flat=True
        )
    }
    for record in roster.users.values():
        for org_sid in record.org_sids:
            check_org(record.row, "orgSourcedIds", org_sid)
        if record.role == "student" and not any(
            org_kind.get(sid) == "school" for sid in record.org_sids
        ):
            record.row.error("orgSourcedIds", "A student needs a school among their orgs.")
        if record.username:
            other = usernames.get(record.username.lower())
            if other is not None:
                record.row.error(
                    "username", f"{record.username!r} is also used on row {other.row.number}."
                )
            else:
                usernames[record.username.lower()] = record
        learner = roster.db_learners.get(record.sid)
        if learner is not None and administered_ids is not None:
            _check_in_scope(record.row, learner.school_id, administered_ids)
        identity = roster.db_identities.get(record.sid)
        if (
            record.role == "student"
            and identity is not None
            and identity.user_id in guardian_user_ids
        ):
            record.row.error("role", "This user is a guardian; a student login cannot be one.")
        if record.role in GUARDIAN_ROLES and learner is not None:
            record.row.error("role", "This user is a learner; a guardian login cannot be one.")
    # Usernames already taken in the database by another user.
    if usernames:
        taken = [
            user
            for chunk in _chunks(r.username for r in usernames.values())
            for user in User.objects.filter(username__in=chunk)
        ]
        owner_sid = {
            user_id: sid
            for chunk in _chunks(u.pk for u in taken)
            for user_id, sid in RosterIdentity.objects.filter(user_id__in=chunk).values_list(
                "user_id", "sourced_id"
            )
        }
        for user in taken:
            record = usernames[user.username.lower()]
            if owner_sid.get(user.pk) != record.sid:
                record.row.error("username", f"{record.username!r} belongs to another login.")
    _validate_learner_ids(roster, org_kind)
    _validate_agents(roster)


def _school_of(record: UserRecord, org_kind: dict[str, str]) -> str:
    return next((sid for sid in record.org_sids if org_kind.get(sid) == "school"), "")


def _state_sid_of(school_sid: str, roster: Roster) -> str:
    """The sourcedId of the state above a school (file first, then database), or ''."""
    cached = roster.state_of_school.get(school_sid)
    if cached is not None:
        return cached
    result = ""
    node_sid = school_sid
    for _ in range(3):
        record = roster.orgs.get(node_sid)
        if record is None:
            org = roster.db_orgs.get(node_sid)
            state = selectors.state_of(org) if org is not None else None
            result = state.sourced_id if state is not None else ""
            break
        if record.kind == "state":
            result = node_sid
            break
        if not record.parent_sid:
            break
        node_sid = record.parent_sid
    roster.state_of_school[school_sid] = result
    return result


def _validate_learner_ids(roster: Roster, org_kind: dict[str, str]) -> None:
    students = [r for r in roster.users.values() if r.role == "student" and not r.deleted]
    local: dict[tuple[str, str], UserRecord] = {}
    state: dict[tuple[str, str], UserRecord] = {}
    for record in students:
        school = _school_of(record, org_kind)
        if record.local_id:
            key = (school, record.local_id)
            if key in local:
                record.row.error(
                    "identifier",
                    f"Local id {record.local_id!r} is also used at this school on row "
                    f"{local[key].row.number}.",
                )
            local[key] = record
        if record.state_id:
            state_key = (_state_sid_of(school, roster), record.state_id)
            if state_key in state:
                record.row.error(
                    "userIds",
                    f"State student id {record.state_id!r} is also used on row "
                    f"{state[state_key].row.number}.",
                )
            state[state_key] = record
    if local:
        clashes = [
            learner
            for chunk in _chunks(k[1] for k in local)
            for learner in Learner.objects.filter(local_id__in=chunk).select_related("school")
        ]
        for learner in clashes:
            clash = local.get((learner.school.sourced_id, learner.local_id))
            if clash is not None and learner.sourced_id != clash.sid:
                clash.row.error(
                    "identifier", f"Local id {clash.local_id!r} belongs to another learner."
                )
    if state:
        clashes = [
            learner
            for chunk in _chunks(k[1] for k in state)
            for learner in Learner.objects.filter(state_student_id__in=chunk).select_related(
                "state"
            )
        ]
        for learner in clashes:
            state_sid = learner.state.sourced_id if learner.state is not None else ""
            clash = state.get((state_sid, learner.state_student_id))
            if clash is not None and learner.sourced_id != clash.sid:
                clash.row.error(
                    "userIds", f"State student id {clash.state_id!r} belongs to another learner."
                )


def _validate_agents(roster: Roster) -> None:
    for record in roster.users.values():
        for agent_sid in record.agent_sids:
            agent = roster.users.get(agent_sid)
            if record.role in GUARDIAN_ROLES:
                is_student = (agent is not None and agent.role == "student") or (
                    agent is None and agent_sid in roster.db_learners
                )
                if not is_student:
                    record.row.error(
                        "agentSourcedIds", f"{agent_sid!r} is not a student in the roster."
                    )
            elif record.role == "student":
                is_guardian = (agent is not None and agent.role in GUARDIAN_ROLES) or (
                    agent is None
                    and agent_sid in roster.db_identities
                    and agent_sid not in roster.db_learners
                )
                if not is_guardian:
                    record.row.error(
                        "agentSourcedIds", f"{agent_sid!r} is not a parent, guardian or relative."
                    )


def _validate_demographics(roster: Roster) -> None:
    for row in roster.demographics:
        sid = row.values.get("sourcedId", "").strip()
        known = sid in roster.users or sid in roster.db_identities or sid in roster.db_learners
        if sid and not known:
            row.error("sourcedId", f"No user has sourcedId {sid!r}.")


def _validate_enrollments(
    roster: Roster,
    org_kind: dict[str, str],
    check_org: Callable[..., bool],
    administered_ids: set[int] | None,
) -> None:
    org_sid_of = dict(
        Organisation.objects.filter(
            pk__in={s.school_id for s in roster.db_sections.values()}
        ).values_list("pk", "sourced_id")
    )
    class_school = {sid: org_sid_of.get(s.school_id, "") for sid, s in roster.db_sections.items()}
    class_school.update({sid: r.school_sid for sid, r in roster.classes.items()})
    pairs: dict[tuple[str, str, str], EnrollmentRecord] = {}
    for record in roster.enrollments.values():
        row = record.row
        if record.class_sid and record.class_sid not in class_school:
            row.error("classSourcedId", f"No class has sourcedId {record.class_sid!r}.")
        elif record.school_sid != class_school.get(record.class_sid):
            row.error("schoolSourcedId", "The class belongs to another school.")
        if record.school_sid:
            check_org(row, "schoolSourcedId", record.school_sid, {"school"})
        db_learner = roster.db_learners.get(record.user_sid)
        if (
            administered_ids is not None
            and record.user_sid not in roster.users
            and db_learner is not None
        ):
            _check_in_scope(row, db_learner.school_id, administered_ids)
        user = roster.users.get(record.user_sid)
        known = user is not None or record.user_sid in roster.db_identities
        if record.user_sid and not known and record.user_sid not in roster.db_learners:
            row.error("userSourcedId", f"No user has sourcedId {record.user_sid!r}.")
            continue
        if record.role == "student":
            if (user is not None and user.role != "student") or (
                user is None and record.user_sid not in roster.db_learners
            ):
                row.error("role", "A student enrollment needs a user whose role is student.")
        elif record.role == "teacher" and (
            (user is not None and user.role not in TEACHING_USER_ROLES)
            or (user is None and record.user_sid in roster.db_learners)
        ):
            row.error("role", "A teacher enrollment needs a teacher, not a student or parent.")
        if record.deleted or record.role not in {"student", "teacher"}:
            continue
        key = (record.user_sid, record.class_sid, record.role)
        if key in pairs:
            row.error(
                "userSourcedId",
                f"The user is already enrolled in this class on row {pairs[key].row.number}.",
            )
        pairs[key] = record


# --- writing ------------------------------------------------------------------------------------


@dataclass
class _Upsert[M: models.Model]:
    """Compares wanted field values with existing rows; creates and updates in bulk."""

    model: type[M]
    existing: dict[str, M]
    created: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    unchanged: set[str] = field(default_factory=set)
    objects: dict[str, M] = field(default_factory=dict)

    def apply(self, wanted: dict[str, dict[str, Any]], *, key_field: str = "sourced_id") -> None:
        to_create: list[M] = []
        to_update: list[M] = []
        fields: set[str] = set()
        now = timezone.now()
        for key, values in wanted.items():
            obj = self.existing.get(key)
            if obj is None:
                obj = self.model(**values, **({key_field: key} if key_field else {}))
                to_create.append(obj)
                self.created.add(key)
            else:
                diff = [name for name, value in values.items() if getattr(obj, name) != value]
                if diff:
                    for name in diff:
                        setattr(obj, name, values[name])
                    fields.update(diff)
                    to_update.append(obj)
                    self.changed.add(key)
                else:
                    self.unchanged.add(key)
            self.objects[key] = obj
        self.model._default_manager.bulk_create(to_create, batch_size=1000)
        if to_update:
            if any(f.name == "updated_at" for f in self.model._meta.get_fields()):
                for obj in to_update:
                    obj.updated_at = now  # type: ignore[attr-defined]
                fields.add("updated_at")
            self.model._default_manager.bulk_update(to_update, sorted(fields), batch_size=1000)


def _counts(upsert: _Upsert[Any]) -> EntityCounts:
    return EntityCounts(
        created=len(upsert.created), updated=len(upsert.changed), unchanged=len(upsert.unchanged)
    )


def apply(roster: Roster) -> dict[str, EntityCounts]:
    """Write a validated roster. Call inside a transaction, after :func:`validate` found nothing."""
    counts = {name: EntityCounts() for name in ENTITIES}
    org_ids = _apply_orgs(roster, counts)
    term_ids = _apply_terms(roster, counts)
    course_objects = _apply_courses(roster, counts, org_ids)
    sections = _apply_classes(roster, counts, org_ids, term_ids, course_objects)
    users, learners = _apply_users(roster, counts, org_ids)
    _apply_enrollments(roster, counts, sections, users, learners)
    counts["demographics"].skipped = len(roster.demographics)
    return counts


def _apply_orgs(roster: Roster, counts: dict[str, EntityCounts]) -> dict[str, int]:
    ids = {sid: org.pk for sid, org in roster.db_orgs.items()}
    upsert = _Upsert(Organisation, dict(roster.db_orgs))
    for kind in ("state", "district", "school"):
        wanted = {
            sid: {
                "kind": r.kind,
                "name": r.name,
                "external_id": r.external_id,
                "parent_id": ids[r.parent_sid] if r.parent_sid else None,
            }
            for sid, r in roster.orgs.items()
            if r.kind == kind
        }
        upsert.apply(wanted)
        ids.update({sid: upsert.objects[sid].pk for sid in wanted})
    counts["orgs"] = _counts(upsert)
    return ids


def _apply_terms(roster: Roster, counts: dict[str, EntityCounts]) -> dict[str, int]:
    ids = {sid: t.pk for sid, t in roster.db_terms.items()}
    upsert = _Upsert(Term, dict(roster.db_terms))
    pending = dict(roster.terms)
    while pending:
        # Parents first: a level is every session whose parent is already written or outside.
        level = {
            sid: r for sid, r in pending.items() if not r.parent_sid or r.parent_sid not in pending
        }
        upsert.apply(
            {
                sid: {
                    "title": r.title,
                    "kind": r.kind,
                    "start_date": r.start,
                    "end_date": r.end,
                    "school_year": r.school_year,
                    "parent_id": ids[r.parent_sid] if r.parent_sid else None,
                }
                for sid, r in level.items()
            }
        )
        for sid in level:
            ids[sid] = upsert.objects[sid].pk
            del pending[sid]
    counts["academicSessions"] = _counts(upsert)
    return ids


def _apply_courses(
    roster: Roster, counts: dict[str, EntityCounts], org_ids: dict[str, int]
) -> dict[str, Course]:
    upsert = _Upsert(Course, dict(roster.db_courses))
    upsert.apply(
        {
            sid: {
                "title": r.title,
                "course_code": r.code,
                "organisation_id": org_ids[r.org_sid],
                "subjects": r.subjects[:255],
                "grade_levels": r.grades[:255],
            }
            for sid, r in roster.courses.items()
        }
    )
    counts["courses"] = _counts(upsert)
    return {**roster.db_courses, **upsert.objects}


def _apply_classes(
    roster: Roster,
    counts: dict[str, EntityCounts],
    org_ids: dict[str, int],
    term_ids: dict[str, int],
    courses: dict[str, Course],
) -> dict[str, Section]:
    upsert = _Upsert(Section, dict(roster.db_sections))
    upsert.apply(
        {
            sid: {
                "title": r.title,
                "school_id": org_ids[r.school_sid],
                "term_id": term_ids[r.term_sids[0]],
                "course_id": courses[r.course_sid].pk,
                "course_code": courses[r.course_sid].course_code,
                "section_code": r.code,
                "subject": (r.subjects or courses[r.course_sid].subjects)[:255],
                "grade_levels": r.grades[:255],
            }
            for sid, r in roster.classes.items()
        }
    )
    counts["classes"] = _counts(upsert)
    return {**roster.db_sections, **upsert.objects}


def _apply_users(
    roster: Roster, counts: dict[str, EntityCounts], org_ids: dict[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """Logins, learners, guardian links and admin roles; returns user and learner ids by sid."""
    existing_users = {sid: identity.user for sid, identity in roster.db_identities.items()}
    user_upsert = _Upsert(User, existing_users)
    unusable = make_password(None)
    wanted_users: dict[str, dict[str, Any]] = {}
    for sid, r in roster.users.items():
        values: dict[str, Any] = {
            "username": r.username,
            "first_name": r.given[:150],
            "last_name": r.family[:150],
            "email": r.email,
            "is_active": r.enabled and not r.deleted,
        }
        if sid not in existing_users:
            # Never a password from the file: new logins sign in by a reset or single sign-on.
            values["password"] = unusable
        wanted_users[sid] = values
    was_active = {sid for sid, user in existing_users.items() if user.is_active}
    user_upsert.apply(wanted_users, key_field="")
    # Logins the file deactivates lose their sessions at once (S4); bulk writes send no signal.
    end_sessions(
        [
            existing_users[sid].pk
            for sid, values in wanted_users.items()
            if sid in was_active and not values["is_active"]
        ]
    )
    user_ids = {sid: u.pk for sid, u in existing_users.items()}
    user_ids.update({sid: u.pk for sid, u in user_upsert.objects.items()})
    RosterIdentity.objects.bulk_create(
        [RosterIdentity(user_id=user_ids[sid], sourced_id=sid) for sid in user_upsert.created],
        batch_size=1000,
    )
    touched: set[str] = set(user_upsert.changed)

    org_by_sid = {
        o.sourced_id: o for o in Organisation.objects.filter(pk__in=set(org_ids.values()))
    }
    kinds = {sid: o.kind for sid, o in org_by_sid.items()}
    state_by_school: dict[int, Organisation | None] = {}

    # Learners.
    learner_upsert = _Upsert(Learner, dict(roster.db_learners))
    wanted_learners: dict[str, dict[str, Any]] = {}
    for sid, r in roster.users.items():
        if r.role != "student":
            continue
        school = org_by_sid[_school_of(r, kinds)]
        if school.pk not in state_by_school:
            state_by_school[school.pk] = selectors.state_of(school)
        state = state_by_school[school.pk]
        wanted_learners[sid] = {
            "school_id": school.pk,
            "state_id": state.pk if state is not None else None,
            "local_id": r.local_id,
            "state_student_id": r.state_id,
            "given_name": r.given,
            "family_name": r.family,
            "grade_level": r.grade,
            "active": r.enabled and not r.deleted,
            "user_id": user_ids[sid],
        }
    learner_upsert.apply(wanted_learners)
    touched |= learner_upsert.changed | (learner_upsert.created - user_upsert.created)
    learner_ids = {sid: lr.pk for sid, lr in roster.db_learners.items()}
    learner_ids.update({sid: lr.pk for sid, lr in learner_upsert.objects.items()})

    touched |= _apply_guardian_links(roster, user_ids, learner_ids)
    touched |= _apply_admin_roles(roster, user_ids, org_by_sid)

    deleted = {sid for sid, r in roster.users.items() if r.deleted}
    created = user_upsert.created - deleted
    counts["users"] = EntityCounts(
        created=len(created),
        updated=len((touched - user_upsert.created) - deleted),
        unchanged=len(set(roster.users) - created - touched - deleted),
        deleted=len(deleted),
    )
    return user_ids, learner_ids


def _apply_guardian_links(
    roster: Roster, user_ids: dict[str, int], learner_ids: dict[str, int]
) -> set[str]:
    wanted: dict[tuple[int, int], tuple[str, str]] = {}
    for sid, r in roster.users.items():
        for agent_sid in r.agent_sids:
            if r.role in GUARDIAN_ROLES:
                guardian_sid, student_sid, relation = sid, agent_sid, GUARDIAN_ROLES[r.role]
            elif r.role == "student":
                guardian_record = roster.users.get(agent_sid)
                relation = (
                    GUARDIAN_ROLES.get(guardian_record.role, "guardian")
                    if guardian_record is not None
                    else GuardianRelationship.GUARDIAN
                )
                guardian_sid, student_sid = agent_sid, sid
            else:
                continue
            pair = (user_ids[guardian_sid], learner_ids[student_sid])
            wanted.setdefault(pair, (relation, guardian_sid))
    if not wanted:
        return set()
    existing = {
        (link.guardian_id, link.learner_id): link
        for chunk in _chunks(p[0] for p in wanted)
        for link in GuardianLink.objects.filter(guardian_id__in=chunk)
    }
    touched: set[str] = set()
    to_create: list[GuardianLink] = []
    to_update: list[GuardianLink] = []
    for (guardian_id, learner_id), (relation, guardian_sid) in wanted.items():
        link = existing.get((guardian_id, learner_id))
        if link is None:
            to_create.append(
                GuardianLink(guardian_id=guardian_id, learner_id=learner_id, relationship=relation)
            )
            touched.add(guardian_sid)
        elif link.relationship != relation:
            link.relationship = relation
            to_update.append(link)
            touched.add(guardian_sid)
    GuardianLink.objects.bulk_create(to_create, batch_size=1000)
    GuardianLink.objects.bulk_update(to_update, ["relationship"], batch_size=1000)
    return touched


def _admin_key(user_sid: str, org_sid: str) -> str:
    return f"admin:{user_sid}:{org_sid}"


def _apply_admin_roles(
    roster: Roster, user_ids: dict[str, int], org_by_sid: dict[str, Organisation]
) -> set[str]:
    wanted: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for sid, r in roster.users.items():
        if r.role != "administrator" or r.deleted:
            continue
        for org_sid in r.org_sids:
            org = org_by_sid[org_sid]
            key = _admin_key(sid, org_sid)
            wanted[key] = {
                "user_id": user_ids[sid],
                "kind": ADMIN_ROLE_FOR_KIND[OrganisationKind(org.kind)],
                "organisation_id": org.pk,
                "section_id": None,
                "end_date": None,
            }
            owner[key] = sid
    prefixes = [_admin_key(sid, "") for sid in roster.users]
    existing = {
        ra.sourced_id: ra
        for chunk in _chunks(user_ids[s] for s in roster.users)
        for ra in RoleAssignment.objects.filter(user_id__in=chunk, sourced_id__startswith="admin:")
        if any(ra.sourced_id.startswith(p) for p in prefixes)
    }
    upsert = _Upsert(RoleAssignment, existing)
    upsert.apply(wanted)
    touched = {owner[k] for k in upsert.created | upsert.changed}
    # Admin roles the SIS no longer lists for the user end yesterday: they grant nothing today.
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    for key, assignment in existing.items():
        if key in wanted or assignment.end_date is not None:
            continue
        user_sid = key.split(":", 2)[1]
        if assignment.begin_date is not None and assignment.begin_date > yesterday:
            assignment.delete()
        else:
            assignment.end_date = yesterday
            assignment.save(update_fields=["end_date", "updated_at"])
        touched.add(user_sid)
    return touched


def _apply_enrollments(
    roster: Roster,
    counts: dict[str, EntityCounts],
    sections: dict[str, Section],
    user_ids: dict[str, int],
    learner_ids: dict[str, int],
) -> None:
    all_user_ids = {sid: i.user_id for sid, i in roster.db_identities.items()} | user_ids
    all_learner_ids = {sid: lr.pk for sid, lr in roster.db_learners.items()} | learner_ids
    dates_by_term_id = {
        t.pk: (t.start_date, t.end_date)
        for t in Term.objects.filter(pk__in={s.term_id for s in sections.values()})
    }

    counts_e = counts["enrollments"]
    students = {sid: r for sid, r in roster.enrollments.items() if r.role == "student"}
    teachers = {sid: r for sid, r in roster.enrollments.items() if r.role == "teacher"}
    counts_e.skipped = len(roster.enrollments) - len(students) - len(teachers)

    def dates_for(r: EnrollmentRecord) -> tuple[datetime.date | None, datetime.date | None]:
        section = sections[r.class_sid]
        start, end = dates_by_term_id[section.term_id]
        begin = r.begin or start
        finish = r.end or end
        if finish < begin:  # explicit begin after the term's end: keep the row valid
            finish = begin
        return begin, finish

    # Students: by sourcedId, else by (learner, section) pair (rows made by hand adopt the id).
    existing_enrollments = _by_sid(Enrollment, students)
    pair_index = {
        (e.learner_id, e.section_id): e
        for chunk in _chunks(all_learner_ids[r.user_sid] for r in students.values())
        for e in Enrollment.objects.filter(learner_id__in=chunk)
    }
    wanted: dict[str, dict[str, Any]] = {}
    to_delete: list[int] = []
    for sid, r in students.items():
        learner_id = all_learner_ids[r.user_sid]
        section_id = sections[r.class_sid].pk
        match = existing_enrollments.get(sid) or pair_index.get((learner_id, section_id))
        if r.deleted:
            if match is not None:
                to_delete.append(match.pk)
                counts_e.deleted += 1
            else:
                counts_e.skipped += 1
            continue
        if match is not None:
            existing_enrollments[sid] = match
        begin, end = dates_for(r)
        wanted[sid] = {
            "learner_id": learner_id,
            "section_id": section_id,
            "begin_date": begin,
            "end_date": end,
            "sourced_id": sid,
        }
    for chunk in _chunks(to_delete):
        Enrollment.objects.filter(pk__in=chunk).delete()
    upsert = _Upsert(Enrollment, existing_enrollments)
    upsert.apply(wanted, key_field="")

    existing_roles = _by_sid(RoleAssignment, teachers)
    role_wanted: dict[str, dict[str, Any]] = {}
    role_delete: list[int] = []
    for sid, r in teachers.items():
        match_role = existing_roles.get(sid)
        if r.deleted:
            if match_role is not None:
                role_delete.append(match_role.pk)
                counts_e.deleted += 1
            else:
                counts_e.skipped += 1
            continue
        section = sections[r.class_sid]
        begin, end = dates_for(r)
        role_wanted[sid] = {
            "user_id": all_user_ids[r.user_sid],
            "kind": RoleKind.TEACHER,
            "section_id": section.pk,
            "organisation_id": section.school_id,
            "begin_date": begin,
            "end_date": end,
        }
    for chunk in _chunks(role_delete):
        RoleAssignment.objects.filter(pk__in=chunk).delete()
    role_upsert = _Upsert(RoleAssignment, existing_roles)
    role_upsert.apply(role_wanted)
    counts_e.created += len(upsert.created) + len(role_upsert.created)
    counts_e.updated += len(upsert.changed) + len(role_upsert.changed)
    counts_e.unchanged += len(upsert.unchanged) + len(role_upsert.unchanged)


# --- the whole import ---------------------------------------------------------------------------


def import_roster(
    *, actor: User | None, source: RosterSource, source_name: str = ""
) -> ImportResult:
    """Validate a whole OneRoster 1.1 CSV roster, then write it in one transaction.

    - ``actor`` None is the system (command line): any organisation. Otherwise every org the
      roster touches must be administered by the actor (a new org must sit below one).
    - Raises :class:`RosterInvalid` listing every problem (file, row, column, reason) when
      anything is wrong; then no roster row is written (only the audit row of the attempt).
    - Idempotent by ``sourcedId``: re-importing the same roster writes nothing and reports
      every row unchanged.
    Concurrent imports are serialised by a transaction-level advisory lock.
    """
    errors: list[RowError] = []
    try:
        files = read_files(source)
    except RosterInvalid as exc:
        _record(actor, source_name, RosterImportStatus.REJECTED, {}, len(exc.errors), exc)
        raise
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('learners.oneroster'))")
            roster = parse(files, errors)
            # Cross-file checks need every file readable; row-level problems do not stop them,
            # so one pass reports every bad row.
            if roster.complete:
                validate(roster, actor=actor, errors=errors)
            if errors:
                raise RosterInvalid(_sorted(errors))
            counts = apply(roster)
    except RosterInvalid as exc:
        _record(actor, source_name, RosterImportStatus.REJECTED, {}, len(exc.errors), exc)
        raise
    except IntegrityError as exc:
        invalid = RosterInvalid(
            [RowError("", None, "", "A concurrent change conflicted with this roster; retry.")]
        )
        _record(actor, source_name, RosterImportStatus.REJECTED, {}, 1, invalid)
        raise invalid from exc
    record = RosterImport.objects.create(
        imported_by=actor,
        source_name=source_name[:255],
        status=RosterImportStatus.APPLIED,
        counts={name: c.as_dict() for name, c in counts.items()},
    )
    logger.info(
        "roster imported",
        extra={"roster_import_id": record.pk, "counts": record.counts},
    )
    return ImportResult(counts=counts, import_id=record.pk)


def _sorted(errors: list[RowError]) -> list[RowError]:
    order = {name: i for i, name in enumerate((*REQUIRED_FILES, *OPTIONAL_FILES))}
    unique = list(dict.fromkeys(errors))
    unique.sort(key=lambda e: (order.get(e.file, 99), e.row or 0, e.column))
    return unique[:MAX_ERRORS]


def _record(
    actor: User | None,
    source_name: str,
    status: str,
    counts: dict[str, object],
    error_count: int,
    exc: RosterInvalid,
) -> None:
    record = RosterImport.objects.create(
        imported_by=actor,
        source_name=source_name[:255],
        status=status,
        counts=counts,
        error_count=error_count,
    )
    exc.import_id = record.pk
    logger.info("roster refused", extra={"roster_import_id": record.pk, "error_count": error_count})
