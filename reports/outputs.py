"""Cell formatting shared by the reports: CSV fields, JSON values, spreadsheet-safe text.

The state export's rows are assembled from pre-formatted pieces (per learner, per standard,
per result) concatenated as numpy object arrays, so these helpers run once per distinct value,
never once per row.
"""

from __future__ import annotations

import datetime
import json
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from common.spreadsheet import neutralise
from mastery.core import DAY0, NO_DAY

type ObjectArray = NDArray[np.object_]

# The widest span of days ``Pieces.dates`` keeps as one table (about 55 years).
_DAY_SPAN: Final = 20_000

STATE_LABELS: Final = {
    "mastered": "mastered",
    "not_yet": "not yet",
    "insufficient_evidence": "insufficient evidence",
    "not_assessed": "not assessed",
}


def csv_field(value: object) -> str:
    """One CSV field as the csv module's minimal quoting writes it; text that a spreadsheet
    would run as a formula is neutralised (``common.spreadsheet``: every CSV cell)."""
    text = "" if value is None else neutralise(value) if isinstance(value, str) else str(value)
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(values: Iterable[object]) -> str:
    return ",".join(csv_field(value) for value in values) + "\r\n"


def json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def objects(values: Sequence[str]) -> ObjectArray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def score_text(hundredths: int) -> str:
    if hundredths < 0:
        return ""
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def date_text(day: int) -> str:
    return "" if day == NO_DAY else (DAY0 + datetime.timedelta(days=day)).isoformat()


class Pieces:
    """Lookup tables of formatted values, grown on demand: score hundredths, counts and days
    to text (wrapped by ``wrap``), indexed with numpy fancy indexing."""

    def __init__(self, wrap_score: Any, wrap_count: Any, wrap_date: Any) -> None:
        self._wrap_score = wrap_score
        self._wrap_count = wrap_count
        self._wrap_date = wrap_date
        self._scores: ObjectArray = objects([])
        self._counts: ObjectArray = objects([])
        # Days from ``self._first_day`` on (``NO_DAY``, never mastered, has its own entry).
        self._first_day = 0
        self._days: ObjectArray = objects([])
        self._no_day: str | None = None

    def scores(self, hundredths: NDArray[np.int64]) -> ObjectArray:
        top = int(hundredths.max()) if hundredths.shape[0] else 0
        if top + 2 > self._scores.shape[0]:
            self._scores = objects([self._wrap_score(h - 1) for h in range(top + 2)])
        return self._scores[hundredths + 1]

    def counts(self, counts: NDArray[np.int64]) -> ObjectArray:
        top = int(counts.max()) if counts.shape[0] else 0
        if top + 1 > self._counts.shape[0]:
            self._counts = objects([self._wrap_count(c) for c in range(top + 1)])
        return self._counts[counts]

    def dates(self, days: NDArray[np.int64]) -> ObjectArray:
        """Days (``NO_DAY``: none) as text: a table over the days seen so far, grown to cover
        each new span (a school year is a few hundred entries; no sort per call)."""
        if self._no_day is None:
            self._no_day = str(self._wrap_date(NO_DAY))
        dated = days != NO_DAY
        if not dated.any():
            return np.full(days.shape[0], self._no_day, dtype=object)
        low, high = int(days[dated].min()), int(days[dated].max())
        first, size = self._first_day, self._days.shape[0]
        if not size or low < first or high >= first + size:
            if size:
                low, high = min(low, first), max(high, first + size - 1)
            if high - low > _DAY_SPAN:  # scattered over centuries: no table that large
                distinct, inverse = np.unique(days, return_inverse=True)
                table = objects([self._wrap_date(int(day)) for day in distinct.tolist()])
                return table[inverse.reshape(-1)]
            self._first_day = low
            self._days = objects([self._wrap_date(day) for day in range(low, high + 1)])
        out = self._days[np.where(dated, days - self._first_day, 0)]
        if not dated.all():
            out[~dated] = self._no_day
        return out


def _cell_value(sheet: Any, value: object) -> Any:
    """A write-only cell: strings stay strings, neutralised (never a formula, also once the
    sheet is saved as CSV), illegal characters dropped."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=neutralise(ILLEGAL_CHARACTERS_RE.sub("", value)))
        cell.data_type = "s"
        return cell
    return value


def write_xlsx(
    path: Any,
    tables: Sequence[tuple[str, Sequence[str], Iterable[Sequence[object]]]],
    *,
    stamp: datetime.datetime | None = None,
) -> None:
    """One sheet per (title, header, rows), streamed with openpyxl's write-only mode (rows are
    written as they come, never held as cells). ``stamp`` fixes the document's dates."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook(write_only=True)
    moment = stamp or datetime.datetime(2000, 1, 1)
    workbook.properties.created = moment
    workbook.properties.modified = moment
    bold = Font(bold=True)
    for title, header, rows in tables:
        sheet = workbook.create_sheet(title=title[:31])
        cells = []
        for name in header:
            cell = _cell_value(sheet, name)
            cell.font = bold
            cells.append(cell)
        sheet.append(cells)
        sheet.freeze_panes = "A2"
        for row in rows:
            sheet.append([_cell_value(sheet, value) for value in row])
    # openpyxl's ``save`` stamps the document as modified now: its writer, called here, does not.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).save()
    _fix_zip_times(path, moment)


def _fix_zip_times(path: Any, moment: datetime.datetime) -> None:
    """Give every member of the saved workbook the same date (the zip writer stamps each with
    the time of writing), so the same tables always give the same bytes: a report of a past day
    made again is the same file."""
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    stamp = moment.timetuple()[:6]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            archive.writestr(fixed, data)


def write_tables(
    path: Path,
    tables: Sequence[tuple[str, Sequence[str], Iterable[Sequence[object]]]],
    file_format: str,
) -> None:
    """Several tables in one file: XLSX sheets (``write_xlsx``), or CSV blocks one after the
    other, each with its header, separated by a blank line (school report, equity audit)."""
    if file_format == "xlsx":
        write_xlsx(path, tables)
        return
    if file_format != "csv":
        raise ValueError(f"format: csv or xlsx, got {file_format!r}")
    with path.open("w", encoding="utf-8", newline="") as out:
        for index, (_, columns, rows) in enumerate(tables):
            if index:
                out.write("\r\n")
            out.write(csv_line(columns))
            for row in rows:
                out.write(csv_line(row))
