# Table names are the models' own constants or this module's temporary tables; every value is a
# parameter.
# ruff: noqa: S608
"""The ratings CSV import (scores from assessments): a file of any size, read as a stream,
staged with COPY into a temporary table, checked there in SQL, written set-based.

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

How (the figures: ``bench/import.py``, ``docs/performance.md``):

1. **read**: the import framework's streaming :class:`common.importing.CsvReader` (64 KiB at a
   time, no row limit); each row's form is checked in Python (required values, a number with at
   most 2 decimals, a date, lengths, the source) and a row that reads well goes to PostgreSQL
   with ``COPY`` into a temporary table as it is read, so memory stays flat whatever the size;
2. **check** in SQL, one statement per rule whatever the number of rows: learners among those the
   actor may change (``learners.write_scope``), by local, state or platform id; standards by the
   one resolver of codes (``standards.selectors.find_standards``, on the file's distinct
   references, a page at a time); the score within the scale in force at the learner's school;
   a row repeating another's learner, standard, date and title; evidence imported before and
   removed since. Every problem names its row and column; the first ``MAX_PROBLEMS`` are kept
   and all are counted;
3. **write** or refuse: any problem refuses the file and nothing is written (the caller's
   transaction rolls back). Otherwise evidence (one per learner, date and title), their status
   changes and the ratings are each one ``INSERT ... SELECT``; a row already imported with the
   same score is left alone, with another score it supersedes the earlier rating. The touched
   records are marked stale in one statement and their learners handed to one bulk recompute
   job (``mastery.services.start_learners_recompute``) instead of one message per pair; one
   audit entry per learner whose ratings changed.

Rows are numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models.expressions import RawSQL
from django.utils import timezone

from common.importing import MAX_PROBLEMS, CsvReader, ImportRefused, Problem, Problems
from evidence import selectors
from evidence.models import (
    Evidence,
    EvidenceKind,
    EvidenceRemoval,
    EvidenceStatus,
    EvidenceStatusChange,
    LearningSetting,
    Rating,
)
from evidence.scores import outside_scale, score_number
from learners import write_scope
from learners.models import Learner
from mastery import core
from standards import selectors as standard_selectors

FILE: Final = "ratings.csv"
TITLE_MAX: Final = 200
COMMENT_MAX: Final = 5_000
REFERENCE_MAX: Final = 255
LEARNER_REFERENCE_MAX: Final = 64
SOURCES: Final = ("import", "teacher")
# Distinct standard references resolved per call of the resolver (bounded memory: a fuzzed file
# may hold a million different ones).
STANDARD_PAGE: Final = 5_000
# Rows sent to PostgreSQL per COPY write.
COPY_CHUNK: Final = 2_000

_ALIASES: Final = {
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
REQUIRED: Final = ("standard", "score", "demonstrated_on", "title")
LEARNER_COLUMNS: Final = ("local_id", "state_student_id", "learner_id")

# The temporary tables of one import (dropped at its end, and at commit).
ROWS: Final = "rating_import_rows"
LEARNERS: Final = "rating_import_learners"
STANDARD_REFS: Final = "rating_import_standard_refs"
STANDARDS: Final = "rating_import_standards"
RANGES: Final = "rating_import_ranges"
VALID: Final = "rating_import_valid"
KEYS: Final = "rating_import_evidence"
CURRENT: Final = "rating_import_current"
PAIRS: Final = "rating_import_pairs"
_TEMPORARY: Final = (ROWS, LEARNERS, STANDARD_REFS, STANDARDS, RANGES, VALID, KEYS, CURRENT, PAIRS)

EVIDENCE: Final = Evidence._meta.db_table
STATUS: Final = EvidenceStatusChange._meta.db_table
RATING: Final = Rating._meta.db_table
EVIDENCE_REMOVAL: Final = EvidenceRemoval._meta.db_table
LEARNER: Final = Learner._meta.db_table

# The key that finds an imported evidence again: its date and title, per learner (what
# ``Evidence.source_key`` holds for imports since the first import; keep it stable).
SOURCE_KEY_SQL: Final = (
    "'import:' || left(encode(sha256(convert_to(to_char({date}, 'YYYY-MM-DD') || chr(31)"
    " || {title}, 'UTF8')), 'hex'), 56)"
)


def RowProblem(row: int, column: str, message: str) -> Problem:
    """One reason the file is refused: the row (1 = header, 0 = the whole file), the column,
    and why (the import framework's :class:`common.importing.Problem`)."""
    return Problem(FILE, column, message, row=row or None)


class RatingImportRefused(ImportRefused):
    """The file was refused and nothing was written; ``problems`` lists the reasons found (the
    first ``MAX_PROBLEMS`` in row order), ``total_errors`` counts them all."""

    def __init__(self, problems: Sequence[Problem], *, total: int | None = None) -> None:
        ordered = sorted(problems, key=lambda p: (p.row or 0, p.column))
        super().__init__(ordered[:MAX_PROBLEMS] if total is not None else ordered, total=total)


@dataclass
class RatingImportReport:
    """What an import did (or, with ``dry_run``, would do). ``rows``: rows checked;
    ``created``: new ratings; ``updated``: ratings that superseded an earlier import of the same
    row with another score; ``unchanged``: rows already imported with the same score;
    ``learners``: learners whose mastery records are recomputed, by the bulk recompute jobs
    ``recompute_job_ids`` (one, unless the learners come from several states)."""

    rows: int = 0
    evidence_created: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    learners: int = 0
    recompute_job_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "evidence_created": self.evidence_created,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "dry_run": self.dry_run,
            "learners": self.learners,
            "recompute_job_ids": self.recompute_job_ids,
        }


# --- 1. reading ---------------------------------------------------------------------------------


def _normalise(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


@dataclass(frozen=True)
class Layout:
    """Which header names hold what: ``columns`` maps our names to the file's."""

    learner_column: str
    columns: dict[str, str]


def layout_of(header: Sequence[str], problems: Problems) -> Layout | None:
    """The file's columns, or None after adding to ``problems`` why they do not do."""
    columns: dict[str, str] = {}
    found = problems.error_count
    for name in header:
        canonical = _ALIASES.get(_normalise(name))
        if canonical is None:
            continue
        if canonical in columns:
            problems.add(RowProblem(1, name.strip(), "this column appears twice"))
        columns[canonical] = name
    given = [name for name in LEARNER_COLUMNS if name in columns]
    if not given:
        problems.add(
            RowProblem(
                1, "local_id", "name the learner: a local_id or state_student_id column is missing"
            )
        )
    elif len(given) > 1:
        problems.add(
            RowProblem(1, given[1], f"give one learner column ({' or '.join(given)}), not several")
        )
    for name in REQUIRED:
        if name not in columns:
            problems.add(RowProblem(1, name, "this required column is missing"))
    if problems.error_count > found:
        return None
    return Layout(given[0], columns)


_COPY_SPECIAL: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    """``value`` as a field of COPY's text format (most values need nothing)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_SPECIAL)
    return value


class RowChecker:
    """The form of each row (no database): what a row that reads well sends to the staging
    table, or the problems that keep it out. Whether its learner and standard exist and its
    score fits the scale is checked in SQL afterwards (:class:`RatingImport`).

    A million rows go through :meth:`line`: scores and dates are checked once per distinct
    text (a file holds a few of each), and fields are taken by position."""

    def __init__(
        self, layout: Layout, header: Sequence[str], problems: Problems, today: datetime.date
    ) -> None:
        self.problems = problems
        self.today = today
        self.learner_column = layout.learner_column
        position = {name: index for index, name in enumerate(header)}
        columns = layout.columns
        self.learner = position[columns[layout.learner_column]]
        self.standard = position[columns["standard"]]
        self.score = position[columns["score"]]
        self.date = position[columns["demonstrated_on"]]
        self.title = position[columns["title"]]
        self.source = position[columns["source"]] if "source" in columns else None
        self.comment = position[columns["comment"]] if "comment" in columns else None
        self.by_id = layout.learner_column == "learner_id"
        # text as written -> the COPY fields, or the reason it is refused
        self._scores: dict[str, tuple[str, str]] = {}
        self._dates: dict[str, tuple[str, str]] = {}

    def _score(self, text: str) -> tuple[str, str]:
        """(the COPY fields ``score, score_text``, "") or ("", why not)."""
        known = self._scores.get(text)
        if known is None:
            try:
                value = score_number(text)
            except ValueError as exc:
                known = ("", str(exc))
            else:
                # The canonical form (no exponent, no digits of other scripts): PostgreSQL reads
                # it as the number it is; the text as written is kept for messages.
                known = (f"{value:f}\t{_copy_text(text)}", "")
            if len(self._scores) < 10_000:
                self._scores[text] = known
        return known

    def _date(self, text: str) -> tuple[str, str]:
        """(the date as COPY reads it, "") or ("", why not)."""
        known = self._dates.get(text)
        if known is None:
            try:
                day = datetime.date.fromisoformat(text)
            except ValueError:
                known = ("", f"{text!r} is not a date (YYYY-MM-DD)")
            else:
                if day > self.today:
                    known = ("", "is in the future")
                elif day.year < 1900:
                    known = ("", "is too far in the past")
                else:
                    known = (day.isoformat(), "")
            if len(self._dates) < 10_000:
                self._dates[text] = known
        return known

    def line(self, number: int, values: list[str]) -> str | None:
        """The staging table's COPY line of row ``number``, or None (its problems added)."""
        problems: list[Problem] = []
        learner = values[self.learner].strip()
        if not learner:
            problems.append(RowProblem(number, self.learner_column, "required"))
        elif self.by_id and not (learner.isascii() and learner.isdigit() and len(learner) < 19):
            problems.append(
                RowProblem(number, self.learner_column, f"{learner!r} is not a learner id")
            )
        elif len(learner) > LEARNER_REFERENCE_MAX:
            problems.append(RowProblem(number, self.learner_column, "too long"))
        standard = values[self.standard].strip()
        if not standard:
            problems.append(RowProblem(number, "standard", "required"))
        elif len(standard) > REFERENCE_MAX:
            problems.append(RowProblem(number, "standard", "too long"))
        score_text = values[self.score].strip()
        score = ""
        if score_text:
            score, why = self._score(score_text)
            if why:
                problems.append(RowProblem(number, "score", why))
        else:
            problems.append(RowProblem(number, "score", "required"))
        date, why = self._date(values[self.date].strip())
        if why:
            problems.append(RowProblem(number, "demonstrated_on", why))
        title = " ".join(values[self.title].split())
        if not title:
            problems.append(RowProblem(number, "title", "required"))
        elif len(title) > TITLE_MAX:
            problems.append(RowProblem(number, "title", f"longer than {TITLE_MAX} characters"))
        source = "import"
        if self.source is not None:
            source_text = values[self.source].strip()
            source = source_text.lower() or "import"
            if source not in SOURCES:
                problems.append(
                    RowProblem(
                        number, "source", f"{source_text!r} is not one of: {', '.join(SOURCES)}"
                    )
                )
        comment = values[self.comment].strip() if self.comment is not None else ""
        if len(comment) > COMMENT_MAX:
            problems.append(RowProblem(number, "comment", f"longer than {COMMENT_MAX} characters"))
        if problems:
            for problem in problems:
                self.problems.add(problem)
            return None
        return (
            f"{number}\t{_copy_text(learner)}\t{_copy_text(standard)}\t{score}\t{date}\t"
            f"{_copy_text(title)}\t{source}\t{_copy_text(comment)}\n"
        )


def _stage(reader: CsvReader, problems: Problems, cursor: Any) -> tuple[Layout | None, int, int]:
    """Reads every row into the staging table (COPY, in chunks as they are read); returns the
    layout (None when the header does not do), the rows read and the rows staged."""
    rows = reader.records()
    first = next(rows, None)
    if reader.header is None:
        return None, 0, 0
    layout = layout_of(reader.header, problems)
    if layout is None:
        return None, 0, 0
    checker = RowChecker(layout, reader.header, problems, timezone.localdate())
    read = staged = 0
    chunk: list[str] = []
    with cursor.copy(
        f"COPY {ROWS} (file_row, learner, standard, score, score_text, demonstrated_on, title,"
        " source, comment) FROM STDIN"
    ) as copy:
        for number, values in _chain(first, rows):
            read += 1
            line = checker.line(number, values)
            if line is None:
                continue
            chunk.append(line)
            if len(chunk) >= COPY_CHUNK:
                copy.write("".join(chunk))
                staged += len(chunk)
                chunk.clear()
        if chunk:
            copy.write("".join(chunk))
            staged += len(chunk)
    return layout, read, staged


def _chain[T](first: T | None, rest: Iterator[T]) -> Iterator[T]:
    if first is not None:
        yield first
        yield from rest


# --- 2. checking and 3. writing, in SQL ---------------------------------------------------------


@dataclass
class RatingImport:
    """One import on the caller's connection and transaction (see the module docstring)."""

    actor: AbstractBaseUser
    problems: Problems = field(default_factory=Problems)  # of the file and its rows' form
    report: RatingImportReport = field(default_factory=RatingImportReport)
    found: list[Problem] = field(default_factory=list)  # by the SQL checks (each its first ones)
    found_total: int = 0  # every problem the SQL checks counted

    def run(self, source: IO[bytes] | bytes, *, max_bytes: int, dry_run: bool) -> None:
        """Reads, checks and (unless ``dry_run``) writes; raises :class:`RatingImportRefused`
        with every problem when the file has any, having written nothing."""
        self.report.dry_run = dry_run
        reader = CsvReader(source, file=FILE, problems=self.problems, max_bytes=max_bytes)
        # Every table is temporary and made inside the caller's savepoint: a refusal or an
        # error rolls them back with it; a finished import drops them at once.
        with connection.cursor() as cursor:
            self._create_staging(cursor)
            layout, read, _staged = _stage(reader, self.problems, cursor.cursor)
            if layout is None or not reader.ok:
                self._refuse()
            assert layout is not None
            if read == 0:
                self.problems.add(RowProblem(0, "", "the file has no rows"))
                self._refuse()
            self._resolve_learners(cursor, layout)
            self._resolve_standards(cursor)
            self._score_ranges(cursor)
            self._learner_standard_and_score_problems(cursor, layout)
            self._keep_valid_rows(cursor)
            self._duplicate_problems(cursor)
            existing = self._evidence_keys(cursor)
            if self.problems.error_count or self.found_total:
                self._refuse()
            self._plan(cursor, existing)
            if not dry_run and (self.report.created or self.report.updated):
                self._write(cursor)
            self._drop_staging(cursor)

    # -- problems --

    def _refuse(self) -> None:
        """Every problem found, the first ``MAX_PROBLEMS`` of them in row order listed."""
        problems = [*self.problems.errors, *self.found, *self.problems.warnings]
        raise RatingImportRefused(problems, total=self.problems.error_count + self.found_total)

    def _add_counted(self, found: list[Problem], total: int) -> None:
        """What one SQL check found: its first ``MAX_PROBLEMS`` rows' problems and the total."""
        self.found.extend(found)
        self.found_total += max(total, len(found))

    # -- tables --

    def _create_staging(self, cursor: Any) -> None:
        self._drop_staging(cursor)
        cursor.execute(
            f"CREATE TEMPORARY TABLE {ROWS} (file_row integer NOT NULL, learner text NOT NULL,"
            " standard text NOT NULL, score numeric NOT NULL, score_text text NOT NULL,"
            " demonstrated_on date NOT NULL,"
            " title text NOT NULL, source text NOT NULL, comment text NOT NULL) ON COMMIT DROP"
        )

    def _drop_staging(self, cursor: Any) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(f'pg_temp.{t}' for t in _TEMPORARY)}")

    def _resolve_learners(self, cursor: Any, layout: Layout) -> None:
        """Each distinct learner reference -> the learners it names among the actor's (the
        number ``n``: 1 resolves; 0 rows: not one of theirs; more: ambiguous)."""
        condition, params = write_scope.changeable_learner_condition(self.actor, "l")
        match = {
            "learner_id": "l.id = r.ref::bigint",
            "local_id": "l.local_id = r.ref",
            "state_student_id": "l.state_student_id = r.ref",
        }[layout.learner_column]
        cursor.execute(
            f"CREATE TEMPORARY TABLE {LEARNERS} ON COMMIT DROP AS"
            " SELECT r.ref, min(l.id) AS learner_id, min(l.school_id) AS school_id,"
            f" count(*) AS n FROM (SELECT DISTINCT learner AS ref FROM {ROWS}) r"
            f" JOIN {LEARNER} l ON {match} WHERE {condition} GROUP BY r.ref",
            params,
        )
        cursor.execute(f"ANALYZE {LEARNERS}")

    def _resolve_standards(self, cursor: Any) -> None:
        """Each distinct standard reference -> its standard or why it cannot be rated, through
        the one resolver of codes, ``STANDARD_PAGE`` references at a time."""
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STANDARD_REFS} (ref text PRIMARY KEY) ON COMMIT DROP"
        )
        cursor.execute(f"INSERT INTO {STANDARD_REFS} SELECT DISTINCT standard FROM {ROWS}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STANDARDS} (ref text PRIMARY KEY, standard_id bigint,"
            " reason text) ON COMMIT DROP"
        )
        last = ""
        while True:
            cursor.execute(
                f"SELECT ref FROM {STANDARD_REFS} WHERE ref > %s ORDER BY ref LIMIT %s",
                [last, STANDARD_PAGE],
            )
            refs = [str(row[0]) for row in cursor.fetchall()]
            if not refs:
                break
            last = refs[-1]
            matches = standard_selectors.find_standards(refs)
            copying = f"COPY {STANDARDS} (ref, standard_id, reason) FROM STDIN"
            with cursor.cursor.copy(copying) as copy:
                for ref in refs:
                    match = matches.get(ref)
                    standard_id, reason = _standard_or_reason(ref, match)
                    copy.write_row((ref, standard_id, reason))
            if len(refs) < STANDARD_PAGE:
                break
        cursor.execute(f"ANALYZE {STANDARDS}")

    def _score_ranges(self, cursor: Any) -> None:
        """The scale's range at each school of the file's learners (one statement for all)."""
        cursor.execute(f"SELECT DISTINCT school_id FROM {LEARNERS} WHERE n = 1")
        schools = [int(row[0]) for row in cursor.fetchall()]
        ranges = selectors.score_ranges_of_schools(schools)
        cursor.execute(
            f"CREATE TEMPORARY TABLE {RANGES} (school_id bigint PRIMARY KEY, low numeric,"
            " high numeric) ON COMMIT DROP"
        )
        if ranges:
            cursor.execute(
                f"INSERT INTO {RANGES} SELECT * FROM unnest(%s::bigint[], %s::numeric[],"
                " %s::numeric[])",
                [list(ranges), [r[0] for r in ranges.values()], [r[1] for r in ranges.values()]],
            )

    def _learner_standard_and_score_problems(self, cursor: Any, layout: Layout) -> None:
        column = layout.learner_column
        where = "schools" if column == "local_id" else "states"
        other = "state_student_id" if column == "local_id" else "local_id"
        cursor.execute(
            "SELECT file_row, learner, score_text, bad_learner, n, reason, bad_score, low, high,"
            " sum(bad_learner::int + bad_standard::int + bad_score::int) OVER ()"
            " FROM (SELECT r.file_row, r.learner, r.score_text, l.n, s.reason, g.low, g.high,"
            " (l.ref IS NULL OR l.n > 1) AS bad_learner,"
            " (s.standard_id IS NULL) AS bad_standard,"
            " COALESCE(l.n = 1 AND s.standard_id IS NOT NULL"
            "  AND NOT (r.score BETWEEN g.low AND g.high), false) AS bad_score"
            f" FROM {ROWS} r LEFT JOIN {LEARNERS} l ON l.ref = r.learner"
            f" LEFT JOIN {STANDARDS} s ON s.ref = r.standard"
            f" LEFT JOIN {RANGES} g ON g.school_id = l.school_id) p"
            " WHERE bad_learner OR bad_standard OR bad_score ORDER BY file_row LIMIT %s",
            [MAX_PROBLEMS],
        )
        found: list[Problem] = []
        total = 0
        for (
            row,
            learner,
            score,
            bad_learner,
            n,
            reason,
            bad_score,
            low,
            high,
            all_,
        ) in cursor.fetchall():
            total = int(all_)
            if bad_learner:
                found.append(
                    RowProblem(
                        row,
                        column,
                        f"no learner {learner} among your learners"
                        if n is None
                        else f"{learner} names learners in several {where} you teach: use {other}",
                    )
                )
            if reason is not None:
                found.append(RowProblem(row, "standard", str(reason)))
            if bad_score:
                found.append(RowProblem(row, "score", outside_scale(score, low, high)))
        self._add_counted(found, total)

    def _keep_valid_rows(self, cursor: Any) -> None:
        """The rows whose learner, standard and score are right, in the order of the ratings'
        covering index (learner, standard, ...), each with the first row of its identity."""
        cursor.execute(
            f"CREATE TEMPORARY TABLE {VALID} ON COMMIT DROP AS SELECT x.*, min(x.file_row) OVER"
            " (PARTITION BY x.learner_id, x.standard_id, x.demonstrated_on, x.title)"
            " AS first_row FROM (SELECT r.file_row, l.learner_id, s.standard_id,"
            " r.score::numeric(5, 2) AS score, r.demonstrated_on, r.title, r.source, r.comment"
            f" FROM {ROWS} r JOIN {LEARNERS} l ON l.ref = r.learner AND l.n = 1"
            f" JOIN {STANDARDS} s ON s.ref = r.standard AND s.standard_id IS NOT NULL"
            f" JOIN {RANGES} g ON g.school_id = l.school_id"
            " WHERE r.score BETWEEN g.low AND g.high) x"
        )
        self.report.rows = int(cursor.rowcount)

    def _duplicate_problems(self, cursor: Any) -> None:
        cursor.execute(
            f"SELECT file_row, first_row, count(*) OVER () FROM {VALID}"
            " WHERE file_row <> first_row ORDER BY file_row LIMIT %s",
            [MAX_PROBLEMS],
        )
        rows = cursor.fetchall()
        self._add_counted(
            [
                RowProblem(row, "", f"same learner, standard, date and title as row {first}")
                for row, first, _ in rows
            ],
            int(rows[0][2]) if rows else 0,
        )

    def _evidence_keys(self, cursor: Any) -> int:
        """One row per evidence of the file (learner, date, title) with its key, and the id of
        the evidence an earlier import made with that key; refuses rows of such evidence that
        was removed since. Returns how many of the file's evidence exist already."""
        key = SOURCE_KEY_SQL.format(date="demonstrated_on", title="title")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {KEYS} ON COMMIT DROP AS SELECT learner_id,"
            f" demonstrated_on, title, min(file_row) AS first_row, {key} AS source_key,"
            " NULL::bigint AS evidence_id, NULL::timestamptz AS demonstrated_at,"
            f" false AS removed FROM {VALID} WHERE file_row = first_row"
            " GROUP BY learner_id, demonstrated_on, title"
        )
        self.report.evidence_created = int(cursor.rowcount)
        cursor.execute(f"ANALYZE {KEYS}")
        cursor.execute(
            f"UPDATE {KEYS} k SET evidence_id = e.id, demonstrated_at = e.demonstrated_at,"
            f" removed = EXISTS (SELECT 1 FROM {EVIDENCE_REMOVAL} x WHERE x.evidence_id = e.id)"
            f" FROM {EVIDENCE} e WHERE e.learner_id = k.learner_id"
            " AND e.source_key = k.source_key AND e.source_key <> ''"
        )
        existing = int(cursor.rowcount)
        self.report.evidence_created -= existing
        if existing:
            cursor.execute(
                f"SELECT v.file_row, count(*) OVER () FROM {VALID} v JOIN {KEYS} k"
                " USING (learner_id, demonstrated_on, title) WHERE k.removed"
                " ORDER BY v.file_row LIMIT %s",
                [MAX_PROBLEMS],
            )
            rows = cursor.fetchall()
            self._add_counted(
                [
                    RowProblem(
                        row,
                        "title",
                        "this evidence was imported before and then removed: use another title",
                    )
                    for row, _ in rows
                ],
                int(rows[0][1]) if rows else 0,
            )
        return existing

    def _plan(self, cursor: Any, existing: int) -> None:
        """Counts what would be written: rows of evidence imported before whose current
        (staff) rating of the standard has the same score are unchanged, another score is an
        update (a superseding rating), the rest new ratings."""
        cursor.execute(
            f"CREATE TEMPORARY TABLE {CURRENT} (evidence_id bigint, standard_id bigint, id bigint,"
            " score numeric(5, 2), PRIMARY KEY (evidence_id, standard_id)) ON COMMIT DROP"
        )
        if existing:
            current = (
                core.counted_ratings()
                .filter(
                    evidence_id__in=RawSQL(  # noqa: S611  (a constant: our temporary table)
                        f"SELECT evidence_id FROM {KEYS} WHERE evidence_id IS NOT NULL", ()
                    )
                )
                .values_list("evidence_id", "standard_id", "id", "score")
            )
            sql, params = current.query.sql_with_params()
            cursor.execute(
                f"INSERT INTO {CURRENT} SELECT DISTINCT ON (1, 2) * FROM ({sql}) c"
                " ORDER BY 1, 2, 3 DESC",
                params,
            )
        if not existing:
            self.report.created = self.report.rows
            return
        cursor.execute(
            "SELECT count(*) FILTER (WHERE c.id IS NULL),"
            " count(*) FILTER (WHERE c.score <> v.score), count(*) FILTER (WHERE c.score = v.score)"
            f" FROM {VALID} v JOIN {KEYS} k USING (learner_id, demonstrated_on, title)"
            f" LEFT JOIN {CURRENT} c ON c.evidence_id = k.evidence_id"
            " AND c.standard_id = v.standard_id"
        )
        row = cursor.fetchone()
        self.report.created, self.report.updated, self.report.unchanged = (int(v) for v in row)

    def _write(self, cursor: Any) -> None:
        from mastery.services import mark_stale_in_bulk, start_learners_recompute

        actor_id = int(str(self.actor.pk))
        now = timezone.now()
        params = {"actor": actor_id, "now": now, "tz": timezone.get_current_timezone_name()}
        # New evidence (one per learner, date and title), each with its status change.
        cursor.execute(
            f"WITH made AS (INSERT INTO {EVIDENCE} (kind, title, description, setting,"
            " demonstrated_at, recorded_at, source_key, learner_id, section_id, submitted_by_id)"
            " SELECT %(kind)s, title, '', %(setting)s,"
            " demonstrated_on::timestamp AT TIME ZONE %(tz)s, %(now)s, source_key, learner_id,"
            f" NULL, %(actor)s FROM {KEYS} WHERE evidence_id IS NULL ORDER BY learner_id,"
            " source_key RETURNING id, learner_id, source_key, demonstrated_at),"
            f" status AS (INSERT INTO {STATUS} (status, changed_at, comment, changed_by_id,"
            " evidence_id) SELECT %(scored)s, %(now)s, '', %(actor)s, id FROM made)"
            f" UPDATE {KEYS} k SET evidence_id = made.id, demonstrated_at = made.demonstrated_at"
            " FROM made WHERE made.learner_id = k.learner_id AND made.source_key = k.source_key",
            {
                **params,
                "kind": EvidenceKind.ASSESSMENT.value,
                "setting": LearningSetting.IN_SCHOOL.value,
                "scored": EvidenceStatus.SCORED.value,
            },
        )
        # The ratings: new ones, and corrections superseding an earlier import's rating.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {PAIRS} (learner_id bigint, standard_id bigint) ON COMMIT DROP"
        )
        cursor.execute(
            f"WITH written AS (INSERT INTO {RATING} (evidence_id, learner_id, demonstrated_at,"
            " standard_id, score, source, rater_id, comment, supersedes_id, recorded_at)"
            " SELECT k.evidence_id, v.learner_id, k.demonstrated_at, v.standard_id, v.score,"
            f" v.source, %(actor)s, v.comment, c.id, %(now)s FROM {VALID} v JOIN {KEYS} k"
            f" USING (learner_id, demonstrated_on, title) LEFT JOIN {CURRENT} c"
            " ON c.evidence_id = k.evidence_id AND c.standard_id = v.standard_id"
            " WHERE c.id IS NULL OR c.score <> v.score RETURNING learner_id, standard_id)"
            f" INSERT INTO {PAIRS} SELECT DISTINCT learner_id, standard_id FROM written",
            params,
        )
        mark_stale_in_bulk(pairs_sql=f"SELECT learner_id, standard_id FROM {PAIRS}")
        jobs = start_learners_recompute(
            actor=self.actor, learners_sql=f"SELECT learner_id FROM {PAIRS}", reason="import"
        )
        self.report.recompute_job_ids = [job.pk for job in jobs]
        self.report.learners = sum(job.learner_count for job in jobs)
        from audit.recording import record_accesses

        record_accesses(
            actor=self.actor,
            action="evidence.ratings.import",
            allowed=True,
            learner_ids_sql=f"SELECT DISTINCT learner_id AS learner_ref FROM {PAIRS}",
            object_type="evidence.rating",
            detail={
                "created": self.report.created,
                "updated": self.report.updated,
                "evidence_created": self.report.evidence_created,
            },
        )
        # The keys are checked now, inside the import's own savepoint, rather than at the
        # commit: a learner erased meanwhile refuses the file cleanly. Then back to Django's
        # default (every deferrable key here is initially deferred) for the caller's transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _standard_or_reason(
    ref: str, match: standard_selectors.StandardMatch | None
) -> tuple[int | None, str | None]:
    """The standard a reference names, or why it cannot be rated (in plain words)."""
    if match is None or not match.standards:
        return None, f"no standard has the code or identifier {ref!r}"
    if len(match.standards) > 1:
        frameworks = sorted({s.framework.title for s in match.standards})
        return None, (
            f"{ref!r} matches {len(match.standards)} standards "
            f"({'; '.join(frameworks)[:200]}): use the CASE identifier"
        )
    standard = match.standards[0]
    problem = standard_selectors.standard_problem(standard)
    if problem:
        return None, problem
    return standard.pk, None
