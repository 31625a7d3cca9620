"""The school accountability report: learners' progress and standards' reach, as of a day."""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

import openpyxl

from learners.models import Learner
from reports.school_report import (
    LEARNER_COLUMNS,
    MASTERED_BY_COLUMNS,
    STANDARD_COLUMNS,
    elapsed_share,
    write_school_report,
)
from tests.factories import LearnerFactory
from tests.reports.world import World, end_of, expected_cell, expected_standards, settle


def tables_of_csv(path: Path) -> list[list[list[str]]]:
    blocks: list[list[list[str]]] = [[]]
    with path.open(newline="", encoding="utf-8") as data:
        for row in csv.reader(data):
            if not row:
                blocks.append([])
            else:
                blocks[-1].append(row)
    return blocks


def expected_tables(world: World) -> list[list[list[str]]]:
    at, school = end_of(world.day), world.cast.school
    share = elapsed_share(world.term, world.day)
    learners = list(Learner.objects.filter(school=school, active=True).order_by("pk"))
    power = {world.a.pk, world.c.pk}
    lines = [list(LEARNER_COLUMNS)]
    reach: dict[int, list[tuple[Learner, str]]] = {}
    required: dict[int, int] = {}
    for learner in learners:
        standards = expected_standards(world, learner, at)
        cells = {s.pk: expected_cell(learner, s, at) for s in standards}
        mastered = [s for s in standards if cells[s.pk]["state"] == "mastered"]
        for s in standards:
            required[s.pk] = required.get(s.pk, 0) + 1
        for s in mastered:
            reach.setdefault(s.pk, []).append((learner, cells[s.pk]["date_first_mastered"]))
        on_pace = "-" if not standards else (
            "yes" if len(mastered) >= share * len(standards) else "no"
        )  # fmt: skip
        lines.append(
            [
                learner.local_id,
                learner.display_name,
                learner.grade_level,
                learner.state_student_id,
                str(sum(1 for s in mastered if s.pk in power)),
                str(sum(1 for s in standards if s.pk in power)),
                str(len(mastered)),
                str(len(standards)),
                on_pace,
                "; ".join(s.human_code for s in standards if s not in mastered),
            ]
        )
    order = [world.a, world.c, world.domain, world.b, world.d, world.e1]
    standards_table = [list(STANDARD_COLUMNS)] + [
        [s.human_code, s.identifier, "power" if s.pk in power else "supporting",
         str(required[s.pk]), str(len(reach.get(s.pk, [])))]
        for s in order
    ]  # fmt: skip
    mastered_by = [list(MASTERED_BY_COLUMNS)] + [
        [s.human_code, learner.local_id, learner.display_name, day]
        for s in order
        for learner, day in sorted(reach.get(s.pk, []), key=lambda item: item[0].pk)
    ]
    return [lines, standards_table, mastered_by]


def test_school_report_csv_equals_the_independent_computation(world: World, tmp_path: Path) -> None:
    path = tmp_path / "school.csv"
    count = write_school_report(
        school=world.cast.school, term=world.term, as_of=world.day, file_format="csv", path=path
    )
    expected = expected_tables(world)
    assert tables_of_csv(path) == expected
    assert count == len(expected[0]) - 1
    # Counts of learners only: no column is an average of scores.
    assert not any("average" in name or "score" in name for name in LEARNER_COLUMNS)


def test_school_report_xlsx_has_the_same_three_tables(world: World, tmp_path: Path) -> None:
    path = tmp_path / "school.xlsx"
    write_school_report(
        school=world.cast.school, term=world.term, as_of=world.day, file_format="xlsx", path=path
    )
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["Learners", "Standards", "Mastered by"]
    sheets = [
        [
            ["" if v is None else str(v) for v in row]
            for row in book[name].iter_rows(values_only=True)
        ]
        for name in book.sheetnames
    ]
    assert sheets == expected_tables(world)


def test_a_name_that_looks_like_a_formula_stays_text(world: World, tmp_path: Path) -> None:
    LearnerFactory(school=world.cast.school, given_name="=HYPERLINK(1)", family_name="+Evil")
    settle(world)  # on the roster on day D
    write_school_report(
        school=world.cast.school, term=world.term, as_of=world.day, file_format="csv",
        path=tmp_path / "s.csv",
    )  # fmt: skip
    names = [row[1] for row in tables_of_csv(tmp_path / "s.csv")[0][1:]]
    assert "'=HYPERLINK(1) +Evil" in names
    write_school_report(
        school=world.cast.school, term=world.term, as_of=world.day, file_format="xlsx",
        path=tmp_path / "s.xlsx",
    )  # fmt: skip
    sheet = openpyxl.load_workbook(tmp_path / "s.xlsx")["Learners"]
    cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    evil = next(cell for cell in cells if "HYPERLINK" in str(cell.value))
    assert (evil.value, evil.data_type) == ("'=HYPERLINK(1) +Evil", "s")


def test_on_pace_follows_the_share_of_the_term_elapsed(world: World) -> None:
    term = world.term
    assert elapsed_share(term, term.start_date - datetime.timedelta(days=1)) == 0
    assert elapsed_share(term, term.end_date) == 1
    middle = term.start_date + (term.end_date - term.start_date) // 2
    assert 0.45 < elapsed_share(term, middle) < 0.55
