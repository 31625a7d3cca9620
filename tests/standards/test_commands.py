"""The management commands: import_case, import_standards_csv, import_asn, export_case."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from standards.models import Framework, Standard
from tests.standards.conftest import FIXTURES, SMALL_IDENTIFIER

SMALL = FIXTURES / "small_case_1_1.json"


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_case_json_prints_one_object_with_the_counts(db: None) -> None:
    out, _err = _run("import_case", str(SMALL), "--json")
    report = json.loads(out)
    assert {key: report[key] for key in ("framework", "items", "associations")} == {
        "framework": SMALL_IDENTIFIER,
        "items": 6,
        "associations": 9,
    }
    assert (report["created"], report["updated"], report["unchanged"]) == (6, 0, 0)
    again = json.loads(_run("import_case", str(SMALL), "--json")[0])
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 6)


def test_import_case_prints_a_summary(db: None) -> None:
    out, _err = _run("import_case", str(SMALL))
    assert f"imported {SMALL_IDENTIFIER} (Example Local Mathematics): 6 items" in out
    assert "items: 6 created, 0 updated, 0 unchanged, 0 retired" in out


def test_refused_package_prints_every_problem_and_exits_non_zero(
    db: None, tmp_path: Path, small_package: dict[str, Any]
) -> None:
    del small_package["CFItems"][0]["identifier"]
    small_package["CFAssociations"][3]["originNodeURI"] = {}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(small_package))
    err = StringIO()
    with pytest.raises(CommandError, match="refused: 2 problem"):
        call_command("import_case", str(bad), stdout=StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "CFItems item 1: identifier: is required and missing or empty",
        "CFAssociations item 4 (c0ffee00-0000-4000-8000-000000000103): originNodeURI: is required: "
        "it must name the node it points to",
    ]
    assert Framework.objects.count() == 0


def test_refused_package_with_json_prints_the_problems_as_json(db: None, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("import_case", str(bad), "--json", stdout=out, stderr=StringIO())
    assert json.loads(out.getvalue()) == {
        "refused": True,
        "problems": [
            {
                "file": "package",
                "row": None,
                "column": "",
                "reason": "is not valid JSON: Expecting value at line 1 column 1",
                "severity": "error",
                "record": "",
            }
        ],
        "error_count": 1,
    }


def test_missing_file_is_a_clear_error(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        _run("import_case", str(tmp_path / "nope.json"))


def test_dry_run_writes_nothing(db: None) -> None:
    out, _err = _run("import_case", str(SMALL), "--dry-run")
    assert out.startswith("would import")
    assert Framework.objects.count() == 0


def test_import_standards_csv_command(db: None) -> None:
    out, _err = _run(
        "import_standards_csv",
        str(FIXTURES / "local_standards.csv"),
        "--identifier",
        "local-ela",
        "--title",
        "Local ELA",
        "--json",
    )
    assert json.loads(out)["created"] == 5
    assert Standard.objects.filter(framework__identifier="local-ela").count() == 5


def test_export_case_writes_a_package_that_imports_to_the_same_tree(
    db: None, tmp_path: Path
) -> None:
    _run("import_case", str(SMALL))
    target = tmp_path / "export.json"
    _out, err = _run("export_case", SMALL_IDENTIFIER, "--output", str(target))
    assert err.strip() == f"wrote {target}"
    package = json.loads(target.read_text())
    assert package["CFDocument"]["caseVersion"] == "1.1"
    assert [item["humanCodingScheme"] for item in package["CFItems"]] == [
        "NS",
        "NS.C",
        "NS.C.1",
        "NS.C.2",
        "G",
        "G.1",
    ]
    again = json.loads(_run("import_case", str(target), "--json")[0])
    assert (again["unchanged"], again["associations_unchanged"]) == (6, 9)


def test_export_case_to_stdout_and_unknown_identifier(db: None) -> None:
    _run("import_case", str(SMALL))
    out, _err = _run("export_case", SMALL_IDENTIFIER)
    assert json.loads(out)["CFDocument"]["identifier"] == SMALL_IDENTIFIER
    with pytest.raises(CommandError, match="no framework has the identifier 'nope'"):
        _run("export_case", "nope")
