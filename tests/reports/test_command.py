"""``manage.py generate_report``: the operator's run gives the page's report, audited."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry, Disclosure
from reports.state_export import write_state_export
from tests.reports.world import World


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("generate_report", *args, stdout=out)
    return out.getvalue()


def test_the_command_writes_the_state_export_and_records_disclosures(
    world: World, tmp_path: Path
) -> None:
    output = tmp_path / "state.csv"
    text = run(
        "state_export", "--org", str(world.cast.district.pk), "--term", str(world.term.pk),
        "--as-of", world.day.isoformat(), "--format", "csv", "--output", str(output),
    )  # fmt: skip
    expected = io.StringIO()
    write_state_export(
        organisation=world.cast.district, term=world.term, as_of=world.day,
        file_format="csv", out=expected,
    )  # fmt: skip
    assert output.read_bytes() == expected.getvalue().encode()
    assert "state_export: 23 rows" in text
    entry = AuditEntry.objects.get(action="report.generate")
    assert (entry.actor_id, entry.role, entry.detail["rows"]) == (None, "system", 23)
    assert Disclosure.objects.filter(object_id=str(entry.pk)).count() == 6
    assert [p.name for p in tmp_path.iterdir()] == ["state.csv"]  # no temporary file left


def test_the_command_writes_a_transcript_for_a_learner_of_the_organisation(
    world: World, tmp_path: Path
) -> None:
    output = tmp_path / "t.pdf"
    run("transcript", "--org", str(world.cast.school.pk), "--learner", str(world.cast.own.pk),
        "--as-of", world.day.isoformat(), "--format", "pdf", "--output", str(output))  # fmt: skip
    assert output.read_bytes().startswith(b"%PDF-")
    assert not Disclosure.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--as-of": "31/12/2026"}, "--as-of: expected YYYY-MM-DD"),
        ({"--format": "pdf"}, "state_export comes as csv, json"),
        ({"--term": None}, "term: required"),
        ({"--org": "999999"}, "no such organisation"),
    ],
)
def test_bad_parameters_stop_with_a_message_and_write_nothing(
    world: World, tmp_path: Path, change: dict[str, str | None], message: str
) -> None:
    options = {
        "--org": str(world.cast.district.pk), "--term": str(world.term.pk),
        "--as-of": world.day.isoformat(), "--format": "csv",
        "--output": str(tmp_path / "x.csv"),
    } | change  # fmt: skip
    args = ["state_export"] + [item for k, v in options.items() if v for item in (k, v)]
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert list(tmp_path.iterdir()) == []
    assert not AuditEntry.objects.exists()


def test_a_section_outside_the_organisation_is_refused(world: World, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not within it"):
        run("section_export", "--org", str(world.cast.other_school.pk), "--section",
            str(world.cast.section.pk), "--as-of", world.day.isoformat(), "--format", "csv",
            "--output", str(tmp_path / "g.csv"))  # fmt: skip
