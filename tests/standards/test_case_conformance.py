"""CASE as publishers write it and as 1EdTech defines it: tolerant import, conformant export.

The export is held against the official CASE 1.1 CFPackage JSON Schema read from
../shared/data/specs (skipped, saying so, where it is absent).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from standards.exporters import build_case_package, mint_identifier
from standards.importers.base import ImportRefused
from standards.importers.case import parse_case_package
from standards.models import Framework, Standard
from standards.services import import_framework
from tests.specs import case_errors
from tests.standards.conftest import _SMALL, CCSS_IDENTIFIER, uid

T = "2025-05-01T10:00:00+00:00"
DOC = "d0c00000-0000-4000-8000-000000000001"


def _item(number: int, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "identifier": uid(number),
        "uri": f"https://case.example.org/uri/{uid(number)}",
        "fullStatement": f"Statement {code}",
        "humanCodingScheme": code,
        "lastChangeDateTime": T,
        **extra,
    }


def _child(number: int, child: int, parent: str, **extra: Any) -> dict[str, Any]:
    return {
        "identifier": uid(number),
        "uri": f"https://case.example.org/uri/{uid(number)}",
        "associationType": "isChildOf",
        "originNodeURI": {"title": "Item", "identifier": uid(child), "uri": "u"},
        "destinationNodeURI": {"title": "Item", "identifier": parent, "uri": "u"},
        "lastChangeDateTime": T,
        **extra,
    }


def quirky_package() -> dict[str, Any]:
    """What real publishers emit: a repeated association, a sequence number as text, siblings
    without sequence numbers, definitions, rubrics and extensions."""
    items = [_item(1, "L1")] + [_item(10 + n, f"L1.{n}") for n in (1, 10, 11, 2, 3)]
    links = [_child(101, 1, DOC, sequenceNumber="1")]
    links += [_child(110 + n, 10 + n, uid(1)) for n in (1, 10, 11, 2, 3)]
    links.append(copy.deepcopy(links[1]))  # published twice, byte for byte
    return {
        "CFDocument": {
            "identifier": DOC,
            "uri": f"https://case.example.org/uri/{DOC}",
            "creator": "A State",
            "title": "Quirky Literacy",
            "lastChangeDateTime": T,
            "CFPackageURI": {"title": "Quirky", "identifier": DOC, "uri": "u"},
            "extensions": {"stateCode": "QL-2017"},
        },
        "CFItems": items,
        "CFAssociations": links,
        "CFDefinitions": {
            "CFSubjects": [
                {
                    "identifier": "5b000000-0000-4000-8000-000000000001",
                    "uri": "https://case.example.org/subject/ela",
                    "title": "English Language Arts",
                    "hierarchyCode": "1",
                    "lastChangeDateTime": T,
                    "colour": "blue",
                }
            ],
            "CFConcepts": [
                {
                    "identifier": "concept-phonics",
                    "uri": "https://case.example.org/concept/phonics",
                    "title": "Phonics",
                    "hierarchyCode": "1.1",
                    "lastChangeDateTime": T,
                }
            ],
            "CFLicenses": [
                {
                    "identifier": "11c00000-0000-4000-8000-000000000001",
                    "uri": "https://case.example.org/licence",
                    "title": "CC BY 4.0",
                    "licenseText": "Creative Commons Attribution 4.0",
                    "lastChangeDateTime": T,
                }
            ],
            "CFAssociationGroupings": [
                {
                    "identifier": "a9000000-0000-4000-8000-000000000001",
                    "uri": "https://case.example.org/grouping/1",
                    "title": "Progressions",
                    "lastChangeDateTime": T,
                }
            ],
        },
        "CFRubrics": [
            {
                "identifier": "0b000000-0000-4000-8000-000000000001",
                "uri": "https://case.example.org/rubric/1",
                "title": "Reading rubric",
                "lastChangeDateTime": T,
                "CFRubricCriteria": [
                    {
                        "identifier": "0c000000-0000-4000-8000-000000000001",
                        "uri": "https://case.example.org/criterion/1",
                        "description": "Decodes words",
                        "weight": "0.5",
                        "position": 1,
                        "rubricId": "0b000000-0000-4000-8000-000000000001",
                        "lastChangeDateTime": T,
                        "CFRubricCriterionLevels": [
                            {
                                "identifier": "0d000000-0000-4000-8000-000000000001",
                                "uri": "https://case.example.org/level/1",
                                "description": "Secure",
                                "score": "3",
                                "position": 1,
                                "lastChangeDateTime": T,
                            }
                        ],
                    }
                ],
            }
        ],
        "extensions": {"publisherTool": "OpenSALT 2017"},
    }


def _import(package: dict[str, Any]) -> Any:
    return import_framework(parsed=parse_case_package(package), actor=None)


def test_quirky_package_imports_with_warnings_and_natural_order(db: None) -> None:
    report = _import(quirky_package())

    warnings = [str(warning) for warning in report.warnings]
    assert (
        f"warning: CFAssociations item 7 ({uid(111)}): identifier: repeats item 2 exactly: "
        "the copy is left out"
    ) in warnings
    assert (
        f"warning: CFAssociations item 1 ({uid(101)}): sequenceNumber: '1' is text: "
        "read as the number"
    ) in warnings
    assert (report.created, report.associations_created) == (6, 6)
    codes = list(
        Standard.objects.filter(parent__identifier=uid(1))
        .order_by("position")
        .values_list("human_code", flat=True)
    )
    assert codes == ["L1.1", "L1.2", "L1.3", "L1.10", "L1.11"]


def test_quirky_package_reimported_changes_nothing(db: None) -> None:
    _import(quirky_package())
    report = _import(quirky_package())
    assert (report.created, report.updated, report.unchanged) == (0, 0, 6)
    assert (report.associations_created, report.associations_updated) == (0, 0)
    assert report.framework_updated is False


def test_definitions_rubrics_and_extensions_come_back_on_export(db: None) -> None:
    _import(quirky_package())
    package = build_case_package(Framework.objects.get(identifier=DOC))

    assert case_errors(package) == []
    assert package["extensions"] == {"publisherTool": "OpenSALT 2017"}
    assert package["CFDocument"]["extensions"] == {"stateCode": "QL-2017"}
    definitions = package["CFDefinitions"]
    assert [s["title"] for s in definitions["CFSubjects"]] == ["English Language Arts"]
    assert definitions["CFSubjects"][0]["extensions"] == {"colour": "blue"}
    concept = definitions["CFConcepts"][0]
    assert concept["identifier"] == mint_identifier("concept-phonics")
    assert [license["title"] for license in definitions["CFLicenses"]] == ["CC BY 4.0"]
    assert [g["title"] for g in definitions["CFAssociationGroupings"]] == ["Progressions"]
    criterion = package["CFRubrics"][0]["CFRubricCriteria"][0]
    assert (criterion["weight"], criterion["CFRubricCriterionLevels"][0]["score"]) == (0.5, 3)


def test_conflicting_duplicates_are_refused_with_every_other_problem_at_once(db: None) -> None:
    package = quirky_package()
    package["CFAssociations"][-1]["sequenceNumber"] = 9  # same identifier, different content
    package["CFItems"][2]["fullStatement"] = ""
    package["CFAssociations"].append(_child(190, 13, uid(14)))
    package["CFAssociations"].append(_child(191, 14, uid(13)))
    package["CFItems"].append(_item(14, "L1.4"))

    with pytest.raises(ImportRefused) as refused:
        _import(package)

    assert [str(problem) for problem in refused.value.errors] == [
        f"CFItems item 3 ({uid(20)}): fullStatement: is required and missing or empty",
        f"CFAssociations item 7 ({uid(111)}): identifier: is also used by item 2, with "
        "different content: keep one of them",
        f"CFItems item 6 ({uid(13)}): isChildOf: forms a cycle: {uid(13)} -> {uid(14)} -> "
        f"{uid(13)}",
    ]
    assert Framework.objects.count() == 0


def test_common_core_export_validates_against_the_official_schema(
    ccss_framework: Framework, db: None
) -> None:
    package = build_case_package(ccss_framework)
    assert case_errors(package) == []
    item = next(i for i in package["CFItems"] if i.get("humanCodingScheme", "").endswith("1.G.A.1"))
    assert item["uri"] == "http://purl.org/ASN/resources/S114344A"
    assert item["identifier"] == mint_identifier("http://purl.org/ASN/resources/S114344A")
    assert package["CFDocument"]["uri"] == CCSS_IDENTIFIER
    assert build_case_package(ccss_framework) == package  # the minted identifiers are stable


def test_small_package_export_validates_and_its_1_0_shape_carries_the_document_links(
    db: None,
) -> None:
    _import(copy.deepcopy(_SMALL))
    framework = Framework.objects.get(identifier=_SMALL["CFDocument"]["identifier"])
    current = build_case_package(framework)
    assert case_errors(current) == []
    assert current["CFDocument"]["caseVersion"] == "1.1"
    assert current["CFItems"][0]["identifier"] == uid(10)  # UUIDs stay as they are

    old = build_case_package(framework, version="1.0")
    assert "caseVersion" not in old["CFDocument"]
    assert old["CFDocument"]["CFPackageURI"]["identifier"] == framework.identifier
    assert {item["CFDocumentURI"]["identifier"] for item in old["CFItems"]} == {
        framework.identifier
    }
    assert {link["CFDocumentURI"]["identifier"] for link in old["CFAssociations"]} == {
        framework.identifier
    }


def test_export_of_a_csv_framework_validates(db: None) -> None:
    from standards.importers.csv import parse_standards_csv

    text = "identifier,parent_identifier,human_code,statement\nw,,W,Writing\nw1,w,W.1,Opinion\n"
    parsed = parse_standards_csv(text.encode(), framework_identifier="local-ela", title="ELA")
    import_framework(parsed=parsed, actor=None)
    package = build_case_package(Framework.objects.get(identifier="local-ela"))
    assert case_errors(json.loads(json.dumps(package))) == []
    assert package["CFDocument"]["uri"] == "local-ela"
