"""The section gradebook export and the learner transcript, as of a day."""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

import openpyxl

from evidence.models import EvidenceRemoval, Reflection
from reports.gradebook import write_gradebook
from reports.transcript import transcript, write_transcript
from tests.factories import EnrollmentFactory, LearnerFactory
from tests.reports.world import World, add_rating, end_of, expected_cell, noon


def expected_grid(world: World) -> list[list[str]]:
    cast, at = world.cast, end_of(world.day)
    columns = [world.a, world.c, world.domain, world.b, world.d, world.e1, world.e2]
    roster = sorted([cast.own, cast.same_section, cast.former], key=lambda x: x.family_name)
    # (the cast's own, same-section and former learners: Own, Same and Former by family name)
    rows = [["local_id", "name", *(s.human_code for s in columns), "standards_mastered"]]
    for learner in roster:
        cells = [expected_cell(learner, s, at) for s in columns]
        text = [
            f"{c['score']} {c['level']}".strip() if c["state"] in ("mastered", "not_yet")
            else ("insufficient evidence" if c["state"] == "insufficient_evidence" else "")
            for c in cells
        ]  # fmt: skip
        mastered = sum(1 for c in cells if c["state"] == "mastered")
        rows.append([learner.local_id, learner.display_name, *text, str(mastered)])
    return rows


def test_gradebook_grid_equals_the_engine_per_record(world: World, tmp_path: Path) -> None:
    # Enrolled only after D: not on the roster as it stood then.
    late = LearnerFactory(school=world.cast.school)
    EnrollmentFactory(
        learner=late, section=world.cast.section, begin_date=world.day + datetime.timedelta(days=1)
    )
    path = tmp_path / "grid.csv"
    count = write_gradebook(
        section=world.cast.section, as_of=world.day, file_format="csv", path=path
    )
    with path.open(newline="", encoding="utf-8") as data:
        rows = list(csv.reader(data))
    assert rows == expected_grid(world)
    assert count == 3


def test_gradebook_xlsx_matches_the_csv(world: World, tmp_path: Path) -> None:
    write_gradebook(
        section=world.cast.section, as_of=world.day, file_format="xlsx", path=tmp_path / "g.xlsx"
    )
    book = openpyxl.load_workbook(tmp_path / "g.xlsx", read_only=True)
    grid = [
        ["" if v is None else str(v) for v in row]
        for row in book["Gradebook"].iter_rows(values_only=True)
    ]
    assert grid == expected_grid(world)
    legend = list(book["Standards"].iter_rows(values_only=True))
    assert legend[-1][:3] == (world.e2.human_code, world.e2.identifier, "not required")


def test_transcript_lines_equal_the_engine_per_record(world: World) -> None:
    cast, at = world.cast, end_of(world.day)
    data = transcript(learner=cast.own, term=world.term, as_of=world.day)
    assert [heading for heading, _ in data.domains] == [
        "5.G Statement of 5.G",
        world.framework.title,
    ]
    got = {line.standard.human_code: line.result for line in data.lines}
    # Required, the approved elective, and nothing else: the learner has no rating on 5.X.2.
    assert set(got) == {"5.G.1", "5.G.2", "5.N.1", "5.N.2", "5.X.1", "5.G"}
    for standard in (world.a, world.b, world.c, world.d, world.e1, world.domain):
        cell = expected_cell(cast.own, standard, at)
        result = got[standard.human_code]
        assert (result.state, result.level, result.score, result.evidence_count) == (
            cell["state"], cell["level"], cell["score"], int(cell["evidence_count"]),
        )  # fmt: skip
        first = result.first_mastered.isoformat() if result.first_mastered else ""
        assert first == cell["date_first_mastered"]


def test_transcript_shows_only_evidence_and_reflections_of_the_day(world: World) -> None:
    cast = world.cast
    after = end_of(world.day) + datetime.timedelta(hours=5)
    late = add_rating(cast.own, world.d, "3", demonstrated=noon(world.day), recorded=after,
                      rater=cast.school_admin)  # fmt: skip
    shown = add_rating(cast.own, world.d, "3", demonstrated=noon(world.day),
                       recorded=noon(world.day), rater=cast.school_admin)  # fmt: skip
    for thought, written in (("Early thought", noon(world.day)), ("Later thought", after)):
        Reflection.objects.create(
            evidence=shown.evidence, author=cast.student, what_i_learned=thought,
            created_at=written,
        )  # fmt: skip
    removed = add_rating(cast.own, world.d, "1", demonstrated=noon(world.day),
                         recorded=noon(world.day), rater=cast.school_admin)  # fmt: skip
    EvidenceRemoval.objects.create(
        evidence=removed.evidence, reason="wrong learner", removed_by=cast.school_admin,
        removed_at=noon(world.day),
    )  # fmt: skip
    data = transcript(learner=cast.own, term=None, as_of=world.day)
    ids = [item.evidence.pk for item in data.highlights]
    assert shown.evidence_id in ids
    assert late.evidence_id not in ids
    assert removed.evidence_id not in ids
    item = next(item for item in data.highlights if item.evidence.pk == shown.evidence_id)
    assert item.reflection is not None
    assert item.reflection.what_i_learned == "Early thought"
    assert item.codes == ("5.N.2",)


def test_transcript_pdf_is_the_same_bytes_whenever_regenerated(
    world: World, tmp_path: Path
) -> None:
    first, second = tmp_path / "one.pdf", tmp_path / "two.pdf"
    write_transcript(learner=world.cast.own, term=world.term, as_of=world.day, path=first)
    add_rating(world.cast.own, world.d, "4", demonstrated=noon(world.day),
               recorded=end_of(world.day) + datetime.timedelta(days=1),
               rater=world.cast.school_admin)  # fmt: skip
    write_transcript(learner=world.cast.own, term=world.term, as_of=world.day, path=second)
    content = first.read_bytes()
    assert content.startswith(b"%PDF-")
    assert content == second.read_bytes()


def test_transcript_text_from_people_cannot_inject_markup(world: World, tmp_path: Path) -> None:
    cast = world.cast
    rating = add_rating(cast.own, world.d, "3", demonstrated=noon(world.day),
                        recorded=noon(world.day), rater=cast.school_admin)  # fmt: skip
    Reflection.objects.create(evidence=rating.evidence, author=cast.student,
                              what_i_learned="<para><b>bold</b></para> & <unclosed",
                              created_at=noon(world.day))  # fmt: skip
    path = tmp_path / "t.pdf"
    write_transcript(learner=cast.own, term=None, as_of=world.day, path=path)
    assert path.read_bytes().startswith(b"%PDF-")
