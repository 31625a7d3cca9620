"""The state accountability export: rows against the engine per record, as-of, streaming."""

from __future__ import annotations

import csv
import datetime
import io
import json
import time
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from learners.models import Organisation
from mastery import core
from mastery import services as mastery_services
from mastery.models import MasteryRecord
from reports import plan
from reports.state_export import COLUMNS, write_state_export
from standards.exporters import mint_identifier
from tests.reports.world import World, add_rating, end_of, expected_state_rows, noon, remove
from tests.specs import ed_fi_default_codes, ed_fi_errors


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
    document = json.loads(export(world, world.cast.district, file_format="json"))
    records = document["studentCompetencyObjectives"]
    expected = [
        row
        for row in expected_state_rows(world, world.cast.district)
        if row["state"] in ("mastered", "not_yet")
    ]
    assert len(records) == len(expected)
    first, row = records[0], expected[0]
    assert first["studentReference"] == {"studentUniqueId": row["state_student_id"]}
    reference = first["objectiveCompetencyObjectiveReference"]
    assert reference["objective"] == mint_identifier(row["standard_identifier"])
    assert reference["educationOrganizationId"] == int(row["school_id"])
    assert reference["objectiveGradeLevelDescriptor"].endswith("#Fifth grade")
    assert first["gradingPeriodReference"]["schoolId"] == int(row["school_id"])
    assert first["gradingPeriodReference"]["gradingPeriodName"] == row["term"]
    levels = {"Advanced": "Advanced", "Proficient": "Proficient", "Developing": "Basic",
              "Beginning": "Below Basic"}  # fmt: skip
    for record, line in zip(records, expected, strict=True):
        mastery = record["_ext"]["mastery"]
        assert mastery["standardIdentifier"] == line["standard_identifier"]
        assert mastery["humanCode"] == line["human_code"]
        assert mastery["state"] == line["state"]
        assert (mastery["level"] or "") == line["level"]
        assert ("" if mastery["score"] is None else f"{mastery['score']:.2f}") == line["score"]
        assert (mastery["dateFirstMastered"] or "") == line["date_first_mastered"]
        assert str(mastery["evidenceCount"]) == line["evidence_count"]
        assert mastery["method"] == line["method"]
        assert mastery["calculationVersion"] == line["calculation_version"]
        assert str(mastery["policyId"] or "") == line["policy_id"]
        assert str(mastery["scaleId"] or "") == line["scale_id"]
        assert mastery["ratingsDigest"] == line["ratings_digest"]
        assert mastery["rulesKey"] == line["rules_key"]
        # A roll-up without a level of its own: mastered or not, in Ed-Fi's words.
        fallback = "Proficient" if line["state"] == "mastered" else "Basic"
        assert record["competencyLevelDescriptor"] == (
            "uri://ed-fi.org/CompetencyLevelDescriptor#" + levels.get(line["level"], fallback)
        )


def test_ed_fi_records_validate_against_data_standard_5_and_leave_out_rows_without_a_level(
    world: World,
) -> None:
    out = io.StringIO()
    written = write_state_export(
        organisation=world.cast.district, term=world.term, as_of=world.day,
        file_format="json", out=out,
    )  # fmt: skip
    document = json.loads(out.getvalue())
    every = expected_state_rows(world, world.cast.district)
    left_out = {"not_assessed": 0, "insufficient_evidence": 0}
    for row in every:
        if row["state"] in left_out:
            left_out[row["state"]] += 1
    assert written.left_out == left_out
    assert written.rows == len(every) - sum(left_out.values())
    assert all(left_out.values())  # the world has both kinds
    errors = [
        *(e for r in document["studentCompetencyObjectives"]
          for e in ed_fi_errors("edFi_studentCompetencyObjective", r)),
        *(e for r in document["competencyObjectives"]
          for e in ed_fi_errors("edFi_competencyObjective", r)),
        *(e for r in document["gradingPeriods"] for e in ed_fi_errors("edFi_gradingPeriod", r)),
    ]  # fmt: skip
    assert errors == []
    # Every reference a student record makes is to a companion record in the file.
    objectives = {
        (o["educationOrganizationReference"]["educationOrganizationId"], o["objective"],
         o["objectiveGradeLevelDescriptor"])
        for o in document["competencyObjectives"]
    }  # fmt: skip
    periods = {
        (p["schoolReference"]["schoolId"], p["gradingPeriodName"], p["gradingPeriodDescriptor"])
        for p in document["gradingPeriods"]
    }
    for record in document["studentCompetencyObjectives"]:
        ref = record["objectiveCompetencyObjectiveReference"]
        assert (ref["educationOrganizationId"], ref["objective"],
                ref["objectiveGradeLevelDescriptor"]) in objectives  # fmt: skip
        period = record["gradingPeriodReference"]
        assert (period["schoolId"], period["gradingPeriodName"],
                period["gradingPeriodDescriptor"]) in periods  # fmt: skip
    defaults = ed_fi_default_codes("CompetencyLevelDescriptor.xml")
    assert {d["codeValue"] for d in document["competencyLevelDescriptors"]} <= defaults
    assert {d["codeValue"] for d in document["gradingPeriodDescriptors"]} <= (
        ed_fi_default_codes("GradingPeriodDescriptor.xml")
    )


def test_ndjson_has_one_record_per_line_companions_first(world: World) -> None:
    lines = export(world, world.cast.district, file_format="ndjson").splitlines()
    entries = [json.loads(line) for line in lines]
    resources = [entry["resource"] for entry in entries]
    assert resources[0] == "competencyLevelDescriptors"
    assert resources.index("studentCompetencyObjectives") > resources.index("competencyObjectives")
    document = json.loads(export(world, world.cast.district, file_format="json"))
    students = [e["record"] for e in entries if e["resource"] == "studentCompetencyObjectives"]
    assert students == document["studentCompetencyObjectives"]


def test_the_level_mapping_is_configurable(world: World, settings: Any) -> None:
    settings.ED_FI_COMPETENCY_LEVELS = {"Developing": "Pass", "Proficient": "Pass"}
    settings.ED_FI_LEVEL_NAMESPACE = "uri://state.example/CompetencyLevelDescriptor"
    document = json.loads(export(world, world.cast.district, file_format="json"))
    used = {r["competencyLevelDescriptor"] for r in document["studentCompetencyObjectives"]}
    assert "uri://state.example/CompetencyLevelDescriptor#Pass" in used
    assert all(value.startswith("uri://state.example/") for value in used)


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

    world = build_world(build_cast())  # committed: the reading threads have their own connections
    monkeypatch.setattr(plan.learner_pages, "__defaults__", (2,))
    serial = export(world, world.cast.state, prefetch=False)
    before = _connections()
    assert export(world, world.cast.state, prefetch=True) == serial
    assert rows_of(serial) == expected_state_rows(world, world.cast.state)
    for file_format in ("json", "ndjson"):
        assert export(world, world.cast.state, file_format, prefetch=True) == export(
            world, world.cast.state, file_format, prefetch=False
        )
    # A write that fails (a full disk) fails the export with its error, whichever page it is.
    for failing in (1, 3):
        with pytest.raises(OSError, match="No space left"):
            write_state_export(
                organisation=world.cast.state, term=world.term, as_of=world.day,
                file_format="csv", out=_FullAfter(failing), prefetch=True,
            )  # fmt: skip
    # Each reading thread closed its own connection: none is left open.
    deadline = time.monotonic() + 5
    while _connections() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _connections() == before


class _FullAfter(io.StringIO):
    """A file whose disk fills up at its ``writes``-th write."""

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.left = writes

    def write(self, text: str) -> int:
        self.left -= 1
        if self.left <= 0:
            raise OSError(28, "No space left on device")
        return super().write(text)


def _connections() -> int:
    """Sessions open on the test database (this one's included)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def test_an_override_in_force_reads_as_the_override_in_the_export_and_not_before_it(
    world: World,
) -> None:
    """ADR 8: an override of 4 reads 4 (method override, its evidence count the counted
    ratings'), from the moment it was set; an export as of an earlier day is unchanged."""
    before = export(world, world.cast.school)
    mastery_services.set_override(
        actor=world.cast.teacher,
        learner=world.cast.own,
        standard=world.a,
        score="4",
        reason="Observed it in the lab",
    )
    assert export(world, world.cast.school) == before
    # An export of today reads the records: once the worker has taken the override in.
    mastery_services.recompute_pairs(pairs=[(world.cast.own.pk, world.a.pk)])
    today = timezone.localdate()
    rows = {
        (row["state_student_id"], row["human_code"]): row
        for row in rows_of(export(world, world.cast.school, as_of=today))
    }
    row = rows[(world.cast.own.state_student_id, world.a.human_code)]
    assert (row["score"], row["level"], row["state"], row["method"]) == (
        "4.00",
        "Advanced",
        "mastered",
        "override",
    )
    # The provenance of an overridden record: the rules it was computed under (as the stored
    # record keys them) and the digest of the counted ratings behind the evidence alone.
    record = MasteryRecord.objects.get(learner=world.cast.own, standard=world.a)
    assert row["rules_key"] == core.digest_text(record.rules_key or 0)
    assert record.ratings_digest is not None
    assert row["ratings_digest"] == core.digest_text(record.ratings_digest)
    assert int(row["evidence_count"]) == len(
        core.counted_ratings(learner_ids=[world.cast.own.pk], standard_ids=[world.a.pk])
    )
