"""What every part of the OneRoster import shares: the files, the vocabularies, the results."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from common.importing import (
    ERROR,
    WARNING,
    Counts,
    ImportRefused,
    ImportReport,
    Problem,
)

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


def RowError(
    file: str, row: int | None, column: str, reason: str, *, severity: str = ERROR
) -> Problem:
    """One problem of the roster: the file, the row (header = 1; None for the whole file), the
    column and why (the import framework's :class:`common.importing.Problem`)."""
    return Problem(file, column, reason, row=row, severity=severity)


def skipped(file: str, row: int | None, column: str, reason: str) -> Problem:
    """A row left out on purpose (a warning: the rest of the roster goes in)."""
    return RowError(file, row, column, reason, severity=WARNING)


class RosterInvalid(ImportRefused):
    """The roster was refused; nothing was written. ``errors`` lists every problem found,
    ``problems`` the warnings too."""

    def __init__(self, errors: list[Problem], import_id: int | None = None) -> None:
        super().__init__(errors)
        self.import_id = import_id


EntityCounts = Counts


@dataclass
class ImportResult(ImportReport):
    """What a roster import did (or, with ``dry_run``, would do), per file."""

    import_id: int | None = None
    safety: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"import_id": self.import_id, **super().as_dict(), "safety": self.safety}
