"""S16: no CSV or XLSX cell a report writes starts as a formula (common.spreadsheet).

Learners whose state ids and names start with each formula character go through the state
export (CSV), the school report and the section gradebook (CSV and XLSX); every cell of every
file is read back and none starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl

from common.spreadsheet import FORMULA_START, neutralise
from reports.gradebook import write_gradebook
from reports.school_report import write_school_report
from reports.state_export import write_state_export
from tests.factories import EnrollmentFactory, LearnerFactory
from tests.reports.world import World, settle

HOSTILE = ["=1+2", "+SSN123", "-2+3", "@evil", "\tTAB", "\rCR"]


def _formula_cells(cells: list[str]) -> list[str]:
    return [cell for cell in cells if cell.startswith(FORMULA_START)]


def _csv_cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as data:
        return [cell for row in csv.reader(data) for cell in row]


def _xlsx_cells(path: Path) -> list[str]:
    book = openpyxl.load_workbook(path, read_only=True)
    return [
        str(value)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    ]


def test_neutralise_prefixes_formula_text_once() -> None:
    assert [neutralise(text) for text in HOSTILE] == ["'" + text for text in HOSTILE]
    assert neutralise(neutralise("=1+2")) == "'=1+2"
    assert neutralise("SSN 123") == "SSN 123"


def test_no_report_cell_starts_as_a_formula(world: World, tmp_path: Path) -> None:
    school = world.cast.school
    learners = [
        LearnerFactory(school=school, state_student_id=text, given_name=text, family_name="x")
        for text in HOSTILE
    ]
    for learner in learners:
        EnrollmentFactory(learner=learner, section=world.cast.section)
    settle(world)  # on the roster on day D

    out = io.StringIO()
    write_state_export(
        organisation=world.cast.district, term=world.term, as_of=world.day, file_format="csv",
        out=out,
    )  # fmt: skip
    state = [cell for row in csv.reader(io.StringIO(out.getvalue())) for cell in row]
    ids = {cell for cell in state if cell.lstrip("'") in HOSTILE}
    assert ids == {"'" + text for text in HOSTILE}
    assert _formula_cells(state) == []

    files: list[list[str]] = []
    for file_format, read in (("csv", _csv_cells), ("xlsx", _xlsx_cells)):
        path = tmp_path / f"school.{file_format}"
        write_school_report(
            school=school, term=world.term, as_of=world.day, file_format=file_format, path=path
        )
        files.append(read(path))
        path = tmp_path / f"gradebook.{file_format}"
        write_gradebook(
            section=world.cast.section, as_of=world.day, file_format=file_format, path=path
        )
        files.append(read(path))
    for cells in files:
        assert any(cell.startswith("'=1+2") for cell in cells)
        assert _formula_cells(cells) == []
