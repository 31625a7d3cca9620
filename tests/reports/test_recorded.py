"""Reports of today read the records the workers keep and say how fresh they are (ADR 8); a
report of a past day computes. Once the queue has drained, every kind of report of today read
from the records is the same bytes as the same report computed from the counted ratings as of
today's end of day; while a record waits for its recompute, the report says so."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.utils import timezone
from reportlab import rl_config

from evidence.models import Rating
from mastery import core
from mastery import services as mastery_services
from mastery.models import MasteryRecord, StaleMastery
from reports import services
from reports.gradebook import write_gradebook
from reports.models import ReportRequest
from reports.school_report import write_school_report
from reports.state_export import Written, write_state_export
from reports.transcript import write_transcript
from standards.models import CalculationPolicy
from tests.journeys.helpers import run_worker
from tests.mastery.helpers import rate
from tests.reports.world import World

pytestmark = pytest.mark.django_db


def _state(world: World, file_format: str = "csv", **kw: Any) -> tuple[str, Written]:
    out = io.StringIO()
    written = write_state_export(
        organisation=world.cast.state,
        term=world.term,
        as_of=timezone.localdate(),
        file_format=file_format,
        out=out,
        **kw,
    )
    return out.getvalue(), written


def _files(world: World, folder: Path, *, recorded: bool) -> dict[str, bytes]:
    """Every report of today about the world, read from the records or computed."""
    today, cast = timezone.localdate(), world.cast
    folder.mkdir()
    out: dict[str, bytes] = {}
    for file_format in ("csv", "json", "ndjson"):
        out[f"state.{file_format}"] = _state(world, file_format, recorded=recorded)[0].encode()
    for file_format in ("csv", "xlsx"):
        path = folder / f"school.{file_format}"
        write_school_report(school=cast.school, term=world.term, as_of=today,
                            file_format=file_format, path=path, recorded=recorded)  # fmt: skip
        out[path.name] = _content(path)
        path = folder / f"grid.{file_format}"
        write_gradebook(section=cast.section, as_of=today, file_format=file_format, path=path,
                        recorded=recorded)  # fmt: skip
        out[path.name] = _content(path)
    for name, term in (("transcript.pdf", world.term), ("rated.pdf", None)):
        path = folder / name
        write_transcript(learner=cast.own, term=term, as_of=today, path=path, recorded=recorded)
        out[name] = path.read_bytes()
    return out


def _content(path: Path) -> bytes:
    """A file's bytes; an XLSX's cell values (the zip's entries carry the time of writing)."""
    if path.suffix != ".xlsx":
        return path.read_bytes()
    book = openpyxl.load_workbook(path, read_only=True)
    return repr(
        [[list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets]
    ).encode()


def _drain(world: World, how: str) -> None:
    """What the workers do once every change is queued: the per-pair recomputes, or a bulk
    recompute of the state (the world's ratings were written without markers)."""
    if how == "worker":
        pairs = sorted(set(Rating.objects.values_list("learner_id", "standard_id")))
        mastery_services.mark_stale(pairs=pairs)
        run_worker()
        return
    job = mastery_services.start_bulk_recompute(
        actor=world.cast.state_admin, organisation=world.cast.state, reason="organisation"
    )
    for batch in job.batches.all():
        mastery_services.run_bulk_batch(batch_id=batch.pk)
    run_worker()  # the override's marker


def _override(world: World) -> None:
    mastery_services.set_override(
        actor=world.cast.teacher,
        learner=world.cast.own,
        standard=world.c,
        score="4",
        reason="Seen in the lab",
    )


@pytest.mark.parametrize("how", ["worker", "bulk"])
def test_reports_of_today_read_from_the_drained_records_are_the_computed_bytes(
    world: World, tmp_path: Path, how: str
) -> None:
    _override(world)
    # Before the workers ran, the records (none yet) and the computation differ.
    assert _state(world)[0] != _state(world, recorded=False)[0]
    _drain(world, how)
    computed = _files(world, tmp_path / "computed", recorded=False)
    recorded = _files(world, tmp_path / "recorded", recorded=True)
    assert sorted(recorded) == sorted(computed)
    for name, content in computed.items():
        assert recorded[name] == content, name
    # The default for today is the records, every figure up to date; the override reads 4.
    text, written = _state(world)
    assert (text.encode(), written.pending) == (recorded["state.csv"], 0)
    own = {r["human_code"]: r for r in _rows(world, text)}
    c, domain = own[world.c.human_code], own[world.domain.human_code]
    assert (c["score"], c["method"]) == ("4.00", "override")
    # Each row's provenance is its record's.
    record = MasteryRecord.objects.get(learner=world.cast.own, standard=world.domain)
    assert domain["ratings_digest"] == core.digest_text(record.ratings_digest or 0)
    assert domain["rules_key"] == core.digest_text(record.rules_key or 0)


def test_a_record_waiting_for_its_recompute_makes_each_report_of_today_say_so(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cast, today = world.cast, timezone.localdate()
    _drain(world, "worker")
    # A rating the workers have not taken in yet: the own learner's A, under the domain.
    rate(cast.own, world.a, "1", rater=cast.teacher)
    assert StaleMastery.objects.filter(learner=cast.own, standard=world.a).exists()
    stale = {"pending_recomputes": 2}  # A and the required domain above it

    assert _state(world)[1].pending == 2
    for kind, params in (
        ("state_export", {"organisation": cast.state.pk, "term": world.term.pk}),
        ("school_report", {"organisation": cast.school.pk, "term": world.term.pk}),
        ("section_export", {"section": cast.section.pk}),
        ("transcript", {"learner": cast.own.pk, "term": world.term.pk}),
    ):
        file_format = {"transcript": "pdf", "state_export": "csv"}.get(kind, "csv")
        report = services.request_report(
            actor=cast.state_admin if kind != "section_export" else cast.teacher,
            kind=kind, file_format=file_format, as_of=today, **params,
        )  # fmt: skip
        services.generate_report(report_id=report.pk)
        assert ReportRequest.objects.get(pk=report.pk).summary == stale, kind
    # The transcript says it on the page (uncompressed here, to read it).
    monkeypatch.setattr(rl_config, "pageCompression", 0)
    path = tmp_path / "t.pdf"
    write_transcript(learner=cast.own, term=world.term, as_of=today, path=path)
    assert b"still being recomputed" in path.read_bytes()
    # A past day is computed: nothing pending to say.
    summary: dict[str, int] = {}
    write_gradebook(section=cast.section, as_of=world.day, file_format="csv",
                    path=tmp_path / "past.csv", summary=summary)  # fmt: skip
    assert summary == {}
    run_worker()
    text, written = _state(world)
    assert (text, written.pending) == (_state(world, recorded=False)[0], 0)
    write_transcript(learner=cast.own, term=world.term, as_of=today, path=path)
    assert b"still being recomputed" not in path.read_bytes()


def test_records_under_other_rules_or_without_a_digest_carry_their_own_provenance(
    world: World,
) -> None:
    cast = world.cast
    _drain(world, "worker")
    before = {r["human_code"]: r for r in _rows(world)}
    record = MasteryRecord.objects.get(learner=cast.own, standard=world.a)
    # The policy changed in SQL (no recompute yet): the records say which rules computed them.
    CalculationPolicy.objects.update_or_create(
        organisation=cast.school, framework=None, defaults={"method": "highest"}
    )
    MasteryRecord.objects.filter(pk=record.pk).update(ratings_digest=None)
    text, written = _state(world)
    rows = {r["human_code"]: r for r in _rows(world, text)}
    computed = {r["human_code"]: r for r in _rows(world, _state(world, recorded=False)[0])}
    a = rows[world.a.human_code]
    assert a["rules_key"] == core.digest_text(record.rules_key or 0)
    assert a["rules_key"] != computed[world.a.human_code]["rules_key"]
    assert a["ratings_digest"] == ""  # kept without one: left blank, never made up
    assert a["score"] == before[world.a.human_code]["score"]
    assert written.pending is not None
    assert written.pending > 0


def _rows(world: World, text: str | None = None) -> list[dict[str, str]]:
    text = _state(world)[0] if text is None else text
    own = world.cast.own.state_student_id
    return [r for r in csv.DictReader(io.StringIO(text)) if r["state_student_id"] == own]
