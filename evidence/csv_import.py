"""Reading a ratings CSV file (scores from assessments) into rows, without touching the database.

The file is UTF-8 (a byte order mark is fine) with a header row. Columns, in any order and any
letter case (extra columns are ignored):

- the learner, by one of: ``local_id`` (the school's student id; also ``student_id``,
  ``local_student_id``), ``state_student_id``, or ``learner_id`` (the platform's own id, for
  integrations that read it from the API); exactly one of these columns, required;
- ``standard`` (or ``standard_code``, ``standard_identifier``): a human code (``3.OA.A.1``) or
  a CASE identifier, required;
- ``score``: a number on the proficiency scale, at most 2 decimals, required;
- ``demonstrated_on`` (or ``date``, ``date_demonstrated``): ``YYYY-MM-DD``, not in the future,
  required;
- ``title``: the assessment's title, required (rows with the same learner, date and title are
  one evidence);
- ``source``: ``import`` (the default) or ``teacher``;
- ``comment``: a note kept with the rating.

Rows are numbered as a spreadsheet shows them: the header is row 1. Problems are the import
framework's (``common.importing``): every one of the file is reported at once.
"""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass

from django.utils import timezone

from common.importing import ImportRefused, Problem

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
TITLE_MAX = 200
COMMENT_MAX = 5_000
SOURCES = ("import", "teacher")

_ALIASES = {
    "learner_id": "learner_id",
    "learner": "learner_id",
    "local_id": "local_id",
    "student_id": "local_id",
    "local_student_id": "local_id",
    "state_student_id": "state_student_id",
    "standard": "standard",
    "standard_code": "standard",
    "standard_identifier": "standard",
    "score": "score",
    "demonstrated_on": "demonstrated_on",
    "date": "demonstrated_on",
    "date_demonstrated": "demonstrated_on",
    "title": "title",
    "source": "source",
    "comment": "comment",
}
REQUIRED = ("standard", "score", "demonstrated_on", "title")
LEARNER_COLUMNS = ("local_id", "state_student_id", "learner_id")
FILE = "ratings.csv"


def RowProblem(row: int, column: str, message: str) -> Problem:
    """One reason the file is refused: the row (1 = header, 0 = the whole file), the column,
    and why (the import framework's :class:`common.importing.Problem`)."""
    return Problem(FILE, column, message, row=row or None)


class RatingImportRefused(ImportRefused):
    """The file was refused and nothing was written; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(sorted(problems, key=lambda p: (p.row or 0, p.column)))


@dataclass(frozen=True)
class ParsedRow:
    row: int
    learner_column: str
    learner: str
    standard: str
    score: str
    demonstrated_on: datetime.date
    title: str
    source: str
    comment: str


def _normalise(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def parse_ratings_csv(data: bytes) -> tuple[list[ParsedRow], list[Problem]]:
    """Every row that reads well, and every problem with the file and its rows.

    Only the shape of each value is checked here (a number, a date, a known source); whether
    learners and standards exist, and scores fit the scale, is checked by the import service.
    """
    if len(data) > MAX_FILE_BYTES:
        return [], [RowProblem(0, "", f"the file is larger than {MAX_FILE_BYTES // 2**20} MB")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [RowProblem(0, "", f"the file is not UTF-8 text (byte {exc.start})")]
    if "\x00" in text:
        return [], [RowProblem(0, "", "the file is not a text file")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return [], [RowProblem(0, "", "the file is empty: expected a header row")]
    columns: dict[str, int] = {}
    problems: list[Problem] = []
    for index, name in enumerate(header):
        canonical = _ALIASES.get(_normalise(name))
        if canonical is None:
            continue
        if canonical in columns:
            problems.append(RowProblem(1, name.strip(), "this column appears twice"))
        columns[canonical] = index
    missing = [name for name in REQUIRED if name not in columns]
    given = [name for name in LEARNER_COLUMNS if name in columns]
    if not given:
        problems.append(
            RowProblem(
                1, "local_id", "name the learner: a local_id or state_student_id column is missing"
            )
        )
    elif len(given) > 1:
        problems.append(
            RowProblem(1, given[1], f"give one learner column ({' or '.join(given)}), not several")
        )
    for name in missing:
        problems.append(RowProblem(1, name, "this required column is missing"))
    if problems:
        return [], problems

    learner_column = given[0]
    today = timezone.localdate()
    rows: list[ParsedRow] = []
    row_number = 1
    try:
        for values in reader:
            row_number += 1
            if not any(value.strip() for value in values):
                continue
            if row_number - 1 > MAX_ROWS:
                problems.append(RowProblem(row_number, "", f"more than {MAX_ROWS} rows"))
                break
            if len(values) > len(header):
                problems.append(
                    RowProblem(row_number, "", f"{len(values)} values for {len(header)} columns")
                )
                continue
            parsed = _parse_row(row_number, values, columns, learner_column, today, problems)
            if parsed is not None:
                rows.append(parsed)
    except csv.Error as exc:
        problems.append(RowProblem(row_number, "", f"unreadable CSV: {exc}"))
    if not rows and not problems:
        problems.append(RowProblem(0, "", "the file has no rows"))
    return rows, problems


def _parse_row(
    row: int,
    values: list[str],
    columns: dict[str, int],
    learner_column: str,
    today: datetime.date,
    problems: list[Problem],
) -> ParsedRow | None:
    def value(name: str) -> str:
        index = columns.get(name)
        return values[index].strip() if index is not None and index < len(values) else ""

    found = len(problems)
    learner = value(learner_column)
    if not learner:
        problems.append(RowProblem(row, learner_column, "required"))
    elif learner_column == "learner_id" and not (learner.isascii() and learner.isdigit()):
        problems.append(RowProblem(row, learner_column, f"{learner!r} is not a learner id"))
    elif len(learner) > 64:
        problems.append(RowProblem(row, learner_column, "too long"))
    standard = value("standard")
    if not standard:
        problems.append(RowProblem(row, "standard", "required"))
    elif len(standard) > 255:
        problems.append(RowProblem(row, "standard", "too long"))
    score = value("score")
    if not score:
        problems.append(RowProblem(row, "score", "required"))
    demonstrated_text = value("demonstrated_on")
    demonstrated_on: datetime.date | None = None
    try:
        demonstrated_on = datetime.date.fromisoformat(demonstrated_text)
    except ValueError:
        problems.append(
            RowProblem(row, "demonstrated_on", f"{demonstrated_text!r} is not a date (YYYY-MM-DD)")
        )
    else:
        if demonstrated_on > today:
            problems.append(RowProblem(row, "demonstrated_on", "is in the future"))
        elif demonstrated_on.year < 1900:
            problems.append(RowProblem(row, "demonstrated_on", "is too far in the past"))
    title = " ".join(value("title").split())
    if not title:
        problems.append(RowProblem(row, "title", "required"))
    elif len(title) > TITLE_MAX:
        problems.append(RowProblem(row, "title", f"longer than {TITLE_MAX} characters"))
    source = value("source").lower() or "import"
    if source not in SOURCES:
        problems.append(
            RowProblem(row, "source", f"{value('source')!r} is not one of: {', '.join(SOURCES)}")
        )
    comment = value("comment")
    if len(comment) > COMMENT_MAX:
        problems.append(RowProblem(row, "comment", f"longer than {COMMENT_MAX} characters"))
    if len(problems) > found or demonstrated_on is None:
        return None
    return ParsedRow(
        row=row,
        learner_column=learner_column,
        learner=learner,
        standard=standard,
        score=score,
        demonstrated_on=demonstrated_on,
        title=title,
        source=source,
        comment=comment,
    )
