"""CSV and ASN imports, and every shared standards file through every parser."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from standards.importers.asn import parse_asn_bytes
from standards.importers.base import ImportRefused, ParsedFramework
from standards.importers.case import parse_case_bytes
from standards.importers.csv import derived_identifier, parse_standards_csv
from standards.importers.tree import check_and_build_tree, graph_problems
from standards.models import Association, Framework, Standard, StandardStatus
from standards.services import import_framework
from tests.standards.conftest import FIXTURES, SHARED_STANDARDS, shared_file

LOCAL_CSV = (FIXTURES / "local_standards.csv").read_bytes()


def _csv(data: bytes, *, allow_missing_parents: bool = False) -> ParsedFramework:
    return parse_standards_csv(
        data,
        framework_identifier="local-ela",
        title="Local ELA",
        allow_missing_parents=allow_missing_parents,
    )


def _csv_problems(text: str) -> list[str]:
    with pytest.raises(ImportRefused) as refused:
        _csv(text.encode())
    return [str(problem) for problem in refused.value.problems]


# --- CSV ------------------------------------------------------------------------------------------


def test_local_csv_builds_its_tree_with_normalised_grades(db: None) -> None:
    report = import_framework(parsed=_csv(LOCAL_CSV), actor=None)
    assert (report.created, report.associations_created) == (5, 5)
    rows = {
        s.identifier: (s.parent.identifier if s.parent else None, s.position, s.grade_levels)
        for s in Standard.objects.select_related("parent")
    }
    assert rows == {
        "loc-w": (None, 0, ["03", "04"]),
        "loc-w1": ("loc-w", 0, ["03"]),
        "loc-w2": ("loc-w", 1, ["03", "04"]),
        "loc-r": (None, 1, ["KG"]),
        "loc-r1": ("loc-r", 0, ["01"]),
    }
    assert Standard.objects.get(identifier="loc-w").is_grouping  # item type "Strand"


def test_reimporting_the_same_csv_changes_nothing(db: None) -> None:
    import_framework(parsed=_csv(LOCAL_CSV), actor=None)
    report = import_framework(parsed=_csv(LOCAL_CSV), actor=None)
    assert (report.created, report.updated, report.unchanged, report.retired) == (0, 0, 5, 0)
    assert (report.associations_unchanged, report.associations_updated) == (5, 0)


def test_csv_reimport_with_a_row_removed_retires_it(db: None) -> None:
    import_framework(parsed=_csv(LOCAL_CSV), actor=None)
    shorter = b"\n".join(line for line in LOCAL_CSV.splitlines() if b"loc-r1" not in line)
    report = import_framework(parsed=_csv(shorter), actor=None)
    assert (report.unchanged, report.retired, report.associations_removed) == (4, 1, 1)
    assert Standard.objects.get(identifier="loc-r1").status == StandardStatus.RETIRED


def test_csv_parent_by_code_and_derived_identifiers(db: None) -> None:
    text = "humanCodingScheme,Parent,fullStatement,Label,Statement Type,Education Level\n"
    text += "M,,,Mathematics,Subject,\nM.1,M,Count.,,Standard,K;\n"
    report = import_framework(parsed=_csv(text.encode()), actor=None)
    assert report.created == 2
    child = Standard.objects.select_related("parent").get(human_code="M.1")
    assert child.identifier == derived_identifier("local-ela", "item", "M.1")
    assert child.parent is not None
    assert child.parent.statement == "Mathematics"  # label used when the statement is blank


def test_csv_problems_name_the_row_and_field(db: None) -> None:
    text = (
        "identifier,parent_identifier,human_code,statement,order\n"
        "a,,A,First,1\n"
        ",,,No id or code,2\n"
        "c,zz,C,Orphan,3\n"
        "d,a,D,,4\n"
        "e,a,E,Bad order,x\n"
        "a,,A2,Duplicate,5\n"
    )
    assert _csv_problems(text) == [
        "row 3: identifier: is required when human_code is blank",
        "row 5 (d): statement: is required and empty",
        "row 6 (e): order: 'x' is not a whole number",
        "row 4 (c): parent_identifier: 'zz' is not the identifier of any row",
        "row 7 (a): identifier: is used again (first at row 2 (a))",
    ]
    assert Framework.objects.count() == 0


def test_csv_duplicates_and_cycles_are_refused(db: None) -> None:
    text = "identifier,parent_identifier,statement\na,b,A\nb,a,B\nb,,B again\n"
    with pytest.raises(ImportRefused) as refused:
        import_framework(parsed=_csv(text.encode()), actor=None)
    messages = [str(problem) for problem in refused.value.problems]
    assert messages[0] == "row 4 (b): identifier: is used again (first at row 3 (b))"
    assert any("forms a cycle" in message for message in messages)
    assert Standard.objects.count() == 0


def test_csv_header_problems(db: None) -> None:
    assert _csv_problems("") == ["row 1: the header row is missing"]
    assert _csv_problems("name,notes\nx,y\n") == [
        "row 1: statement: the header has no statement column",
        "row 1: identifier: the header needs an identifier or human code column",
    ]


def test_csv_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ImportRefused) as refused:
        _csv("identifier,statement\nx,caf\xe9\n".encode("latin-1"))
    assert str(refused.value.problems[0]) == "file: is not UTF-8 text (byte 26)"


def test_csv_framework_needs_identifier_and_title() -> None:
    with pytest.raises(ImportRefused) as refused:
        parse_standards_csv(LOCAL_CSV, framework_identifier=" ", title="")
    assert [str(p) for p in refused.value.problems] == [
        "framework: identifier: is required",
        "framework: title: is required",
    ]


def test_act_csv_reports_its_seven_missing_parents_and_writes_nothing(db: None) -> None:
    data = shared_file("act-holistic-framework-math-csv", "act_holistic_framework_math_skills.csv")
    with pytest.raises(ImportRefused) as refused:
        _csv(data.read_bytes())
    problems = refused.value.problems
    assert len(problems) == 7
    assert str(problems[0]) == (
        "row 2 (7efd7566-21e9-4195-b1d5-96d0d3f94a82): parent: human code 'H.A' is not in this file"
    )
    assert Counter(problem.reason for problem in problems) == {
        "human code 'H.A' is not in this file": 1,
        "human code 'H.A.MATH.NQ.FC.PW' is not in this file": 6,
    }


def test_act_csv_imports_when_missing_parents_are_allowed(db: None) -> None:
    data = shared_file("act-holistic-framework-math-csv", "act_holistic_framework_math_skills.csv")
    parsed = _csv(data.read_bytes(), allow_missing_parents=True)
    report = import_framework(parsed=parsed, actor=None)
    assert (report.created, len(report.warnings)) == (2663, 7)
    assert Standard.objects.filter(parent__isnull=True).count() == 7


# --- ASN RDF/JSON ---------------------------------------------------------------------------------


def test_asn_ccss_gives_692_statements_with_the_case_packages_ids(db: None) -> None:
    path = shared_file("asn-rdfjson", "ccss_math_D10003FB.json")
    report = import_framework(parsed=parse_asn_bytes(path.read_bytes()), actor=None)
    assert (report.created, report.associations_created, report.warnings) == (692, 692, [])
    framework = Framework.objects.get(identifier="http://asn.jesandco.org/resources/D10003FB")
    standards = Standard.objects.filter(framework=framework)
    assert standards.filter(parent__isnull=True).count() == 17
    assert standards.exclude(human_code="").count() == 517
    case = shared_file("ccss-math-case-opensalt-2016", "ccss_math_cfpackage.json")
    case_ids = {
        item.identifier.rsplit("/", 1)[-1] for item in parse_case_bytes(case.read_bytes()).items
    }
    asn_ids = {
        identifier.rsplit("/", 1)[-1]
        for identifier in standards.values_list("identifier", flat=True)
    }
    assert len(case_ids & asn_ids) == 692
    first_grade = standards.get(human_code="1.G.1")
    assert first_grade.grade_levels == ["01"]
    assert first_grade.parent is not None
    assert first_grade.parent.statement == "Reason with shapes and their attributes."


def test_asn_reimport_changes_nothing(db: None) -> None:
    data = shared_file("asn-rdfjson", "maryland_math_vsc_2004_D1000055.json").read_bytes()
    first = import_framework(parsed=parse_asn_bytes(data), actor=None)
    again = import_framework(parsed=parse_asn_bytes(data), actor=None)
    assert first.created == 1269
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1269)
    assert Standard.objects.filter(grade_levels__contains=["PK"]).count() == 91
    assert Association.objects.count() == 1269


def test_asn_file_that_is_not_rdf_json_is_refused() -> None:
    with pytest.raises(ImportRefused) as refused:
        parse_asn_bytes(b'{"x": {"y": []}}')
    assert [str(p) for p in refused.value.problems] == [
        "file: http://www.w3.org/1999/02/22-rdf-syntax-ns#type: needs exactly one "
        "StandardDocument, found 0"
    ]


# --- Tolerance: every shared file through every parser -------------------------------------------

PARSERS = {
    "case": parse_case_bytes,
    "asn": parse_asn_bytes,
    "csv": lambda data: _csv(data),
}


def _shared_files() -> list[Path]:
    if not SHARED_STANDARDS.exists():
        return []
    return sorted(p for p in SHARED_STANDARDS.rglob("*") if p.suffix in {".json", ".xml", ".csv"})


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("path", _shared_files(), ids=lambda path: path.name)
def test_every_shared_file_is_parsed_or_refused_with_problems(path: Path, parser: str) -> None:
    try:
        parsed = PARSERS[parser](path.read_bytes())
    except ImportRefused as refused:
        problems = refused.problems
        assert problems
        assert all(problem.where and problem.reason for problem in problems)
        return
    problems = graph_problems(parsed)
    if not problems:
        tree = check_and_build_tree(parsed)
        assert len(tree.places) == len(parsed.items)
