"""The one import framework: read a file, validate all of it, then write all of it or refuse it.

Every importer (standards: CASE, ASN, CSV; rosters: OneRoster; ratings: CSV) follows the same
three steps and speaks the same language:

1. **parse**: read the file into the importer's own records without touching the database,
   adding a :class:`Problem` to a :class:`Problems` collector for everything wrong, row by row,
   instead of stopping at the first;
2. **validate**: check the records against each other and the database, adding more problems;
   a record that fails is left out of later checks, so one bad row gives one problem, not a
   cascade of secondary ones (a reference to a row that was refused or skipped is reported once,
   as depending on it);
3. **write or refuse**: any *error* refuses the whole file (:class:`ImportRefused`, nothing
   written); *warnings* (an identical duplicate collapsed, a number given as text, a row skipped
   on purpose) never refuse and come back with the :class:`ImportReport` of created, updated,
   unchanged, skipped and deleted records.

Pages, API and commands show problems the same way: ``problems_payload`` is the one API error
format (``{"problems": [{"file", "row", "column", "reason", "severity", "record"}], ...}``),
``templates/common/_problems.html`` the one page table, ``Problem.__str__`` the command line.

Streaming: the interface never asks for a whole file as a list. :class:`CsvReader` yields rows
from an open binary stream with bounded memory, and :class:`Problems` keeps at most
``MAX_PROBLEMS`` problems while counting them all, so an importer can push rows of any size
through (a staging table filled by COPY, say) and still report every problem of the file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final

ERROR: Final = "error"
WARNING: Final = "warning"
SEVERITIES: Final = (ERROR, WARNING)
MAX_PROBLEMS: Final = 1000


@dataclass(frozen=True)
class Problem:
    """One thing wrong with (``error``) or worth knowing about (``warning``) an imported file.

    ``file``: the file, or the part of a package (``CFItems``), or ``request`` for a form or API
    field; ``row``: the row as a spreadsheet numbers it (the header is row 1), or the position of
    a record in a JSON list counting from 1; None for the whole file. ``column``: the column or
    field, "" for the whole row. ``record``: the identifier the row gives itself, when it has one
    (a sourcedId, a CASE identifier), so people find it in files without row numbers.
    """

    file: str
    column: str = ""
    reason: str = ""
    row: int | None = None
    severity: str = ERROR
    record: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    @property
    def where(self) -> str:
        """The file and row in words: ``users.csv row 3``, ``CFItems item 2 (abc)``."""
        text = self.file
        if self.row is not None:
            unit = (
                "row" if self.file.lower().endswith((".csv", ".tsv")) or not self.file else "item"
            )
            text = f"{text} {unit} {self.row}".strip()
        if self.record:
            text = f"{text} ({self.record})" if text else self.record
        return text

    def __str__(self) -> str:
        prefix = "" if self.is_error else "warning: "
        where = self.where
        if self.column:
            return f"{prefix}{where}: {self.column}: {self.reason}"
        return f"{prefix}{where}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "reason": self.reason,
            "severity": self.severity,
            "record": self.record,
        }


def warning(file: str, column: str, reason: str, **where: Any) -> Problem:
    return Problem(file, column, reason, severity=WARNING, **where)


@dataclass(frozen=True)
class Location:
    """Where a record sits in its file, kept with the record so that checks made after reading
    (the validate step) name the same place."""

    file: str
    row: int | None = None
    record: str = ""

    def error(self, column: str, reason: str) -> Problem:
        return Problem(self.file, column, reason, row=self.row, record=self.record)

    def warning(self, column: str, reason: str) -> Problem:
        return warning(self.file, column, reason, row=self.row, record=self.record)

    def __str__(self) -> str:
        return Problem(self.file, row=self.row, record=self.record).where


class ImportRefused(Exception):
    """The file was refused and nothing was written; ``problems`` lists every reason found
    (errors first, in file order), with the warnings the file also raised."""

    def __init__(self, problems: Iterable[Problem], *, total: int | None = None) -> None:
        listed = list(dict.fromkeys(problems))  # exact repeats once, order kept
        self.problems = [p for p in listed if p.is_error] + [p for p in listed if not p.is_error]
        self.total_errors = total if total is not None else len(self.errors)
        super().__init__(f"{self.total_errors} problem(s): " + "; ".join(map(str, self.errors[:5])))

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.is_error]


class Problems:
    """Collects the problems of one file as it is read and checked.

    Keeps the first ``limit`` problems of each severity (a file with a million bad rows must not
    hold a million messages) and counts them all. Exact repeats are kept once.
    """

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self.limit = limit
        self._errors: dict[Problem, None] = {}
        self._warnings: dict[Problem, None] = {}
        self.error_count = 0
        self.warning_count = 0

    def add(self, problem: Problem) -> None:
        kept = self._errors if problem.is_error else self._warnings
        if problem in kept:
            return
        if problem.is_error:
            self.error_count += 1
        else:
            self.warning_count += 1
        if len(kept) < self.limit:
            kept[problem] = None

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    def error(self, file: str, column: str, reason: str, **where: Any) -> None:
        self.add(Problem(file, column, reason, **where))

    def warn(self, file: str, column: str, reason: str, **where: Any) -> None:
        self.add(warning(file, column, reason, **where))

    @property
    def errors(self) -> list[Problem]:
        return list(self._errors)

    @property
    def warnings(self) -> list[Problem]:
        return list(self._warnings)

    def __bool__(self) -> bool:
        """True when the file has an error (warnings alone never refuse it)."""
        return self.error_count > 0

    def refuse_if_errors(self) -> None:
        """Raises :class:`ImportRefused` with every problem kept when there is any error."""
        if self.error_count:
            raise ImportRefused([*self.errors, *self.warnings], total=self.error_count)


@dataclass
class Counts:
    """What an import did to one kind of record."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "deleted": self.deleted,
        }

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.skipped + self.deleted


@dataclass
class ImportReport:
    """One report for every importer: counts per kind of record (``"standards"``, ``"users"``,
    ``"ratings"``...), the warnings, and whether it was a dry run (checked, nothing kept)."""

    counts: dict[str, Counts] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    dry_run: bool = False

    def of(self, kind: str) -> Counts:
        return self.counts.setdefault(kind, Counts())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "counts": {kind: counts.as_dict() for kind, counts in self.counts.items()},
            "warnings": [problem.as_dict() for problem in self.warnings],
        }


def problems_payload(refused: ImportRefused | Iterable[Problem]) -> dict[str, Any]:
    """The one API error format of a refused file or request."""
    if isinstance(refused, ImportRefused):
        problems, total = refused.problems, refused.total_errors
    else:
        problems = list(refused)
        total = sum(1 for problem in problems if problem.is_error)
    return {
        "problems": [problem.as_dict() for problem in problems],
        "error_count": total,
    }


# --- reading CSV as a stream ---------------------------------------------------------------------


@dataclass(frozen=True)
class CsvRow:
    """One record: its number as a spreadsheet shows it and its values by header name."""

    number: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "").strip()


class _Limited(io.RawIOBase):
    """A binary stream that stops with an error past ``limit`` bytes (an upload, a zip member)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise _TooLarge
        buffer[: len(data)] = data
        return len(data)


class _TooLarge(Exception):
    pass


class CsvReader:
    """Rows of a UTF-8 CSV stream (a byte order mark is fine), one at a time.

    Problems of the file as a whole (not UTF-8, NUL bytes, not CSV, larger than ``max_bytes``,
    no header) and of rows whose number of fields differs from the header's are added to
    ``problems`` under ``file``; blank rows are skipped. ``header`` is the trimmed header row
    (None until the first row is read, or when the file has none).
    """

    def __init__(
        self, stream: IO[bytes] | bytes, *, file: str, problems: Problems, max_bytes: int
    ) -> None:
        raw: IO[bytes] = io.BytesIO(stream) if isinstance(stream, bytes) else stream
        self.file = file
        self.problems = problems
        self.max_bytes = max_bytes
        self._limited = _Limited(raw, max_bytes)
        self.header: list[str] | None = None
        self.ok = True

    def _fail(self, reason: str, row: int | None = None) -> None:
        self.ok = False
        self.problems.error(self.file, "", reason, row=row)

    def __iter__(self) -> Iterator[CsvRow]:
        header: list[str] = []
        for number, record in self.records():
            header = header or self.header or []
            yield CsvRow(number, dict(zip(header, record, strict=True)))

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """The rows as (number, fields in the header's order): what ``iter`` yields without a
        dict per row, for importers of large files (the ratings import reads millions)."""
        reader_stream = io.BufferedReader(self._limited)
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        line = 1
        lines = _decoded_lines(reader_stream, decoder)
        reader = csv.reader(lines, strict=True)
        try:
            first = next(reader, None)
            if first is None:
                self._fail("The file is empty (no header row).")
                return
            self.header = [column.strip() for column in first]
            width = len(self.header)
            for record in reader:
                # Rows as a spreadsheet numbers them: records, not lines (a quoted value may
                # span lines).
                line += 1
                if not "".join(record).strip():
                    continue
                if len(record) != width:
                    self.problems.error(
                        self.file,
                        "",
                        f"The row has {len(record)} fields; the header has {width}.",
                        row=line,
                    )
                    continue
                yield line, record
        except _TooLarge:
            self._fail(f"The file is larger than the limit of {self.max_bytes:,} bytes.")
        except UnicodeDecodeError as exc:
            self._fail(
                f"The file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); "
                "save it as UTF-8.",
                row=line + 1 if self.header is not None else 1,
            )
        except _NulByte:
            self._fail("The file holds NUL bytes: it is not a CSV file.")
        except csv.Error as exc:
            self._fail(f"Not valid CSV ({exc}).", row=line + 1)


class _NulByte(Exception):
    pass


def _decoded_lines(stream: IO[bytes], decoder: codecs.IncrementalDecoder) -> Iterator[str]:
    """Text lines of a binary stream (newlines kept, as the csv module wants them), decoded one
    line at a time so that a decoding error names its line. Splitting the bytes at ``\\n`` is
    safe in UTF-8 (no multi-byte character contains that byte)."""
    pending = b""
    while True:
        chunk = stream.read(64 * 1024)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            text = decoder.decode(line + b"\n")
            if "\x00" in text:
                raise _NulByte
            yield text
        if not chunk:
            break
    text = decoder.decode(pending, final=True)
    if "\x00" in text:
        raise _NulByte
    if text:
        yield text
