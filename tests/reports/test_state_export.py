"""The state accountability export: rows against the engine per record, as-of, streaming."""

from __future__ import annotations

import csv
import datetime
import io
import json
from typing import Any

import pytest

from learners.models import Organisation
from reports import plan
from reports.state_export import COLUMNS, write_state_export
from tests.reports.world import World, add_rating, end_of, expected_state_rows, noon, remove


def export(world: World, organisation: Organisation, file_format: str = "csv", **kw: Any) -> str:
    out = io.StringIO()
    write_state_export(
        organisation=organisation,
        term=world.term,
        as_of=kw.pop("as_of", world.day),
        file_format=file_format,
        out=out,
        **kw,
    )
    return out.getvalue()


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_state_export_rows_equal_the_engine_per_record(world: World) -> None:
    text = export(world, world.cast.district)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    expected = expected_state_rows(world, world.cast.district)
    assert rows_of(text) == expected
    # The seeded cases are all there: not assessed, insufficient evidence, mastered, not yet.
    assert {row["state"] for row in expected} == {
        "mastered", "not_yet", "insufficient_evidence", "not_assessed",
    }  # fmt: skip


def test_state_export_for_the_state_covers_every_district(world: World) -> None:
    rows = rows_of(export(world, world.cast.state))
    assert rows == expected_state_rows(world, world.cast.state)
    assert world.cast.other_state_learner.state_student_id not in {
        row["state_student_id"] for row in rows
    }


def test_state_export_leaves_out_inactive_learners_and_unapproved_electives(world: World) -> None:
    rows = rows_of(export(world, world.cast.school))
    ids = {row["state_student_id"] for row in rows}
    assert world.inactive.state_student_id not in ids
    electives = {
        (r["state_student_id"], r["human_code"]) for r in rows if r["human_code"][:3] == "5.X"
    }
    # Approved before D: included. Pending, or approved after D: not (yet) required.
    assert electives == {(world.cast.own.state_student_id, "5.X.1")}


def test_packed_and_plain_reads_give_the_same_export(world: World) -> None:
    assert export(world, world.cast.state, packed=True) == export(
        world, world.cast.state, packed=False
    )


def test_pages_of_one_learner_give_the_same_export(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = export(world, world.cast.district)
    monkeypatch.setattr(plan, "CHUNK_LEARNERS", 1)
    monkeypatch.setattr(plan.learner_pages, "__defaults__", (1,))
    assert export(world, world.cast.district) == whole


def test_the_same_day_gives_the_same_bytes_after_newer_evidence(world: World) -> None:
    before = export(world, world.cast.district)
    after_d = end_of(world.day) + datetime.timedelta(days=1)
    cast = world.cast
    # Newer evidence of every kind: ratings, a correction, a removal, all recorded after D,
    # some of them demonstrated before D (back-dated observations).
    add_rating(cast.own, world.d, "4", demonstrated=noon(world.day), recorded=after_d,
               rater=cast.school_admin)  # fmt: skip
    add_rating(cast.same_section, world.a, "1", demonstrated=after_d, recorded=after_d,
               rater=cast.school_admin)  # fmt: skip
    first = next(r for r in world.ratings if r.learner_id == cast.other_section_learner.pk)
    add_rating(first.learner, first.standard, "4", demonstrated=first.demonstrated_at,
               recorded=after_d, rater=cast.school_admin, supersedes=first)  # fmt: skip
    second = next(r for r in world.ratings if r.learner_id == cast.other_school_learner.pk)
    remove(second, at=after_d, by=cast.school_admin)
    assert export(world, world.cast.district) == before
    assert export(world, world.cast.district, file_format="json") == export(
        world, world.cast.district, file_format="json"
    )


def test_a_later_day_sees_the_newer_evidence(world: World) -> None:
    cast = world.cast
    later = world.day + datetime.timedelta(days=2)
    next_day = noon(world.day + datetime.timedelta(days=1))
    add_rating(cast.own, world.d, "4", demonstrated=next_day, recorded=next_day,
               rater=cast.school_admin)  # fmt: skip
    row = next(
        r for r in rows_of(export(world, cast.school, as_of=later))
        if r["state_student_id"] == cast.own.state_student_id and r["human_code"] == "5.N.2"
    )  # fmt: skip
    assert (row["state"], row["score"], row["evidence_count"]) == ("mastered", "4.00", "1")


def test_json_records_are_ed_fi_student_competency_objectives(world: World) -> None:
    records = json.loads(export(world, world.cast.district, file_format="json"))
    expected = expected_state_rows(world, world.cast.district)
    assert len(records) == len(expected)
    first, row = records[0], expected[0]
    assert first["studentReference"] == {"studentUniqueId": row["state_student_id"]}
    reference = first["objectiveCompetencyObjectiveReference"]
    assert reference["objective"] == row["standard_identifier"]
    assert reference["educationOrganizationId"] == row["school_id"]
    assert reference["objectiveGradeLevelDescriptor"].endswith("#Fifth grade")
    assert first["gradingPeriodReference"]["schoolId"] == row["school_id"]
    for record, line in zip(records, expected, strict=True):
        mastery = record["_ext"]["mastery"]
        assert mastery["humanCode"] == line["human_code"]
        assert mastery["state"] == line["state"]
        assert (mastery["level"] or "") == line["level"]
        assert ("" if mastery["score"] is None else f"{mastery['score']:.2f}") == line["score"]
        assert (mastery["dateFirstMastered"] or "") == line["date_first_mastered"]
        assert str(mastery["evidenceCount"]) == line["evidence_count"]
        assert mastery["method"] == line["method"]
        label = line["level"] or {"not_assessed": "Not assessed"}.get(
            line["state"], line["state"].replace("_", " ").capitalize()
        )
        assert record["competencyLevelDescriptor"].endswith("#" + label)


def test_progress_and_disclosure_callbacks_see_every_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan.learner_pages, "__defaults__", (2,))
    seen: list[tuple[int, int]] = []
    disclosed: list[int] = []
    out = io.StringIO()
    written = write_state_export(
        organisation=world.cast.district, term=world.term, as_of=world.day, file_format="csv",
        out=out, progress=lambda done, total: seen.append((done, total)),
        disclose=disclosed.extend,
    )  # fmt: skip
    expected = expected_state_rows(world, world.cast.district)
    assert written.rows == len(expected)
    assert seen[-1] == (len(expected), len(expected))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    cast = world.cast
    assert sorted(disclosed) == sorted(
        learner.pk
        for learner in (cast.own, cast.same_section, cast.former, cast.other_section_learner,
                        cast.other_school_learner, cast.other_school_peer)
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_reading_the_next_page_in_a_second_thread_gives_the_same_export(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.personas import build_cast
    from tests.reports.world import build_world

    world = build_world(build_cast())  # committed: the reading thread has its own connection
    monkeypatch.setattr(plan.learner_pages, "__defaults__", (2,))
    serial = export(world, world.cast.state, prefetch=False)
    assert export(world, world.cast.state, prefetch=True) == serial
    assert rows_of(serial) == expected_state_rows(world, world.cast.state)
