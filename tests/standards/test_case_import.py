from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from standards.importers.base import ImportRefused
from standards.importers.case import parse_case_bytes, parse_case_package
from standards.importers.tree import check_and_build_tree, graph_problems
from standards.models import Association, Framework, Standard, StandardStatus
from standards.services import import_framework
from tests.standards.conftest import _SMALL, SMALL_IDENTIFIER, uid


def _import(package: dict[str, Any]) -> Any:
    return import_framework(parsed=parse_case_package(package), actor=None)


# --- The small CASE 1.1 package ------------------------------------------------------------------


def test_small_package_builds_the_tree_with_sequence_order(small_framework: Framework) -> None:
    rows = {
        s.identifier: (s.parent.identifier if s.parent else None, s.position, s.depth)
        for s in Standard.objects.filter(framework=small_framework).select_related("parent")
    }
    assert rows == {
        uid(10): (None, 0, 1),
        uid(11): (uid(10), 0, 2),
        uid(12): (uid(11), 0, 3),
        uid(13): (uid(11), 1, 3),
        uid(20): (None, 1, 1),
        uid(21): (uid(20), 0, 2),
    }


def test_sibling_order_follows_sequence_number_not_file_order(
    db: None, small_package: dict[str, Any]
) -> None:
    for link in small_package["CFAssociations"]:
        if link["identifier"] == uid(103):
            link["sequenceNumber"] = 5
    _import(small_package)
    positions = dict(Standard.objects.values_list("identifier", "position"))
    assert (positions[uid(13)], positions[uid(12)]) == (0, 1)


def test_every_association_type_is_kept_and_outside_ends_by_uri(
    small_framework: Framework,
) -> None:
    links = {a.identifier: a for a in Association.objects.filter(framework=small_framework)}
    assert Counter(a.association_type for a in links.values()) == {
        "isChildOf": 6,
        "precedes": 1,
        "exactMatchOf": 1,
        "isRelatedTo": 1,
    }
    outside = links[uid(111)]
    assert outside.origin is not None
    assert outside.origin.identifier == uid(12)
    assert outside.destination is None
    assert outside.destination_identifier == "http://example.org/other-framework/CC.1"
    assert outside.destination_uri == "http://example.org/other-framework/CC.1"
    precedes = links[uid(110)]
    assert precedes.destination is not None
    assert precedes.destination.identifier == uid(13)


def test_reimport_reports_created_updated_unchanged_and_retired(
    small_framework: Framework, small_package: dict[str, Any]
) -> None:
    items = small_package["CFItems"]
    items[2]["fullStatement"] = "Count to 20 by ones, starting at any number."
    del items[5]  # G.1 leaves the framework
    small_package["CFAssociations"] = [
        link
        for link in small_package["CFAssociations"]
        if link["identifier"] not in (uid(105), uid(112))
    ]
    new_item = dict(items[3], identifier=uid(14), humanCodingScheme="NS.C.3")
    new_item["fullStatement"] = "Write numbers from 0 to 20."
    items.append(new_item)
    new_link = dict(small_package["CFAssociations"][4], identifier=uid(106), sequenceNumber=3)
    new_link["originNodeURI"] = dict(new_link["originNodeURI"], identifier=uid(14))
    small_package["CFAssociations"].append(new_link)

    report = _import(small_package)

    assert (report.created, report.updated, report.unchanged, report.retired) == (1, 1, 4, 1)
    assert (report.associations_created, report.associations_removed) == (1, 2)
    retired = Standard.objects.get(identifier=uid(21))
    assert retired.status == StandardStatus.RETIRED
    assert Standard.objects.get(identifier=uid(14)).parent == Standard.objects.get(
        identifier=uid(11)
    )
    assert Standard.objects.filter(framework=small_framework).count() == 7


def test_retired_item_that_comes_back_is_active_again(
    small_framework: Framework, small_package: dict[str, Any]
) -> None:
    Standard.objects.filter(identifier=uid(21)).update(status=StandardStatus.RETIRED)
    report = _import(small_package)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 5)
    assert Standard.objects.get(identifier=uid(21)).status == StandardStatus.ACTIVE


def test_moving_an_item_updates_its_parent_and_depth(
    small_framework: Framework, small_package: dict[str, Any]
) -> None:
    for link in small_package["CFAssociations"]:
        if link["identifier"] == uid(105):
            link["destinationNodeURI"]["identifier"] = uid(11)
            link["sequenceNumber"] = 9
    report = _import(small_package)
    moved = Standard.objects.select_related("parent").get(identifier=uid(21))
    assert moved.parent is not None
    assert moved.parent.identifier == uid(11)
    assert (moved.depth, moved.position) == (3, 2)
    assert report.updated == 1
    assert report.associations_updated == 1


def test_dry_run_reports_and_writes_nothing(db: None, small_package: dict[str, Any]) -> None:
    report = import_framework(parsed=parse_case_package(small_package), actor=None, dry_run=True)
    assert report.dry_run
    assert report.created == 6
    assert Framework.objects.count() == 0
    assert Standard.objects.count() == 0


def test_item_with_two_parents_uses_the_first_and_keeps_both_links(
    db: None, small_package: dict[str, Any]
) -> None:
    second = dict(small_package["CFAssociations"][5], identifier=uid(120), sequenceNumber=7)
    second["destinationNodeURI"] = dict(second["destinationNodeURI"], identifier=uid(11))
    small_package["CFAssociations"].append(second)
    report = _import(small_package)
    g1 = Standard.objects.select_related("parent").get(identifier=uid(21))
    assert g1.parent is not None
    assert g1.parent.identifier == uid(20)
    assert Association.objects.filter(origin=g1, association_type="isChildOf").count() == 2
    assert [w.where for w in report.warnings] == [f"CFItems item 6 ({uid(21)})"]
    assert "2 parents" in report.warnings[0].reason


def test_item_whose_parent_is_outside_the_framework_goes_to_the_top_level(
    db: None, small_package: dict[str, Any]
) -> None:
    link = small_package["CFAssociations"][5]
    link["destinationNodeURI"] = {
        "title": "Elsewhere",
        "identifier": "http://example.org/elsewhere/1",
        "uri": "http://example.org/elsewhere/1",
    }
    report = _import(small_package)
    g1 = Standard.objects.get(identifier=uid(21))
    assert (g1.parent_id, g1.depth) == (None, 1)
    assert "outside this framework" in report.warnings[0].reason
    assert Association.objects.get(identifier=uid(105)).destination_identifier == (
        "http://example.org/elsewhere/1"
    )


def test_pre_1_0_spellings_are_read(db: None, small_package: dict[str, Any]) -> None:
    for item in small_package["CFItems"]:
        item["educationalLevel"] = item.pop("educationLevel")[0]
        item["CFDocumentURI"] = "https://case.example.org/uri/doc"
    for link in small_package["CFAssociations"]:
        link["originNodeIdentifier"] = link.pop("originNodeURI")["identifier"]
        link["destinationNodeIdentifier"] = link.pop("destinationNodeURI")["identifier"]
        link["associationType"] = {"isChildOf": "Is Child Of"}.get(
            link["associationType"], link["associationType"]
        )
    report = _import(small_package)
    assert report.created == 6
    assert Standard.objects.get(identifier=uid(21)).grade_levels == ["KG"]
    assert Association.objects.filter(association_type="isChildOf").count() == 6


# --- Refusals: nothing written ------------------------------------------------------------------


def _parse_and_import(data: bytes | dict[str, Any]) -> None:
    parsed = parse_case_bytes(data) if isinstance(data, bytes) else parse_case_package(data)
    import_framework(parsed=parsed, actor=None)


def _refusal(data: bytes | dict[str, Any]) -> list[str]:
    with pytest.raises(ImportRefused) as refused:
        _parse_and_import(data)
    assert Framework.objects.count() == 0
    assert Standard.objects.count() == 0
    assert Association.objects.count() == 0
    return [str(problem) for problem in refused.value.problems]


def test_bad_json_is_refused_naming_line_and_column(db: None) -> None:
    assert _refusal(b'{"CFDocument": {"identifier": "x",}') == [
        "package: is not valid JSON: Expecting property name enclosed in double quotes "
        "at line 1 column 35"
    ]


def test_package_that_is_not_an_object_is_refused(db: None) -> None:
    assert _refusal(b"[1, 2]") == ["package: must be a JSON object (a CFPackage)"]
    assert _refusal({"CFItems": []}) == ["package: CFDocument: is required and must be an object"]


def test_missing_identifiers_and_statements_are_all_listed(
    db: None, small_package: dict[str, Any]
) -> None:
    del small_package["CFDocument"]["identifier"]
    small_package["CFItems"][2]["identifier"] = ""
    small_package["CFItems"][3]["fullStatement"] = "   "
    del small_package["CFAssociations"][1]["identifier"]
    assert _refusal(small_package) == [
        "CFDocument: identifier: is required and missing or empty",
        "CFItems item 3: identifier: is required and missing or empty",
        f"CFItems item 4 ({uid(13)}): fullStatement: is required and missing or empty",
        "CFAssociations item 2: identifier: is required and missing or empty",
    ]


def test_association_pointing_to_nothing_is_refused(
    db: None, small_package: dict[str, Any]
) -> None:
    small_package["CFAssociations"][6]["destinationNodeURI"] = {"title": "x", "uri": "y"}
    del small_package["CFAssociations"][7]["originNodeURI"]
    assert _refusal(small_package) == [
        f"CFAssociations item 7 ({uid(110)}): destinationNodeURI: is required: "
        "it must name the node it points to",
        f"CFAssociations item 8 ({uid(111)}): originNodeURI: is required: "
        "it must name the node it points to",
    ]


def test_cycle_in_is_child_of_is_refused(db: None, small_package: dict[str, Any]) -> None:
    # Number Sense becomes a child of its own grandchild.
    small_package["CFAssociations"][0]["destinationNodeURI"]["identifier"] = uid(12)
    problems = _refusal(small_package)
    assert len(problems) == 1
    assert "forms a cycle" in problems[0]
    assert all(uid(n) in problems[0] for n in (10, 11, 12))


def test_self_parent_is_a_cycle(db: None, small_package: dict[str, Any]) -> None:
    small_package["CFAssociations"][5]["destinationNodeURI"]["identifier"] = uid(21)
    assert _refusal(small_package) == [
        f"CFItems item 6 ({uid(21)}): isChildOf: forms a cycle: {uid(21)} -> {uid(21)}"
    ]


def test_duplicate_identifiers_are_refused(db: None, small_package: dict[str, Any]) -> None:
    small_package["CFItems"][4]["identifier"] = uid(10)
    small_package["CFAssociations"][8]["identifier"] = uid(100)
    assert _refusal(small_package) == [
        f"CFItems item 5 ({uid(10)}): identifier: is also used by item 1, with different "
        "content: keep one of them",
        f"CFAssociations item 9 ({uid(100)}): identifier: is also used by item 1, with "
        "different content: keep one of them",
    ]


def test_wrong_types_are_refused_with_their_field(db: None, small_package: dict[str, Any]) -> None:
    small_package["CFItems"][0]["educationLevel"] = {"grade": 1}
    small_package["CFItems"][1]["humanCodingScheme"] = ["NS.C"]
    small_package["CFAssociations"][0]["sequenceNumber"] = "first"
    assert _refusal(small_package) == [
        f"CFItems item 1 ({uid(10)}): educationLevel: must be a list of strings",
        f"CFItems item 2 ({uid(11)}): humanCodingScheme: must be a string",
        f"CFAssociations item 1 ({uid(100)}): sequenceNumber: 'first' is not a whole number",
    ]


def test_refused_reimport_leaves_the_framework_as_it_was(
    small_framework: Framework, small_package: dict[str, Any]
) -> None:
    small_package["CFItems"][0]["fullStatement"] = "Changed"
    small_package["CFItems"][1]["fullStatement"] = ""
    with pytest.raises(ImportRefused):
        _import(small_package)
    assert Standard.objects.get(identifier=uid(10)).statement == "Number Sense"
    assert Framework.objects.get(identifier=SMALL_IDENTIFIER).pk == small_framework.pk


# --- Fuzzing: any mutation is either imported or refused, never a crash --------------------------

_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.sampled_from(["identifier", "uri", "title"]), st.text(max_size=4)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    section=st.sampled_from(["CFItems", "CFAssociations"]),
    index=st.integers(min_value=0, max_value=8),
    key=st.sampled_from(
        [
            "identifier",
            "fullStatement",
            "educationLevel",
            "originNodeURI",
            "destinationNodeURI",
            "associationType",
            "sequenceNumber",
            "humanCodingScheme",
        ]
    ),
    value=_VALUES,
)
def test_mutated_packages_are_parsed_or_refused_never_crash(
    section: str, index: int, key: str, value: Any
) -> None:
    package = json.loads(json.dumps(_SMALL))
    entries = package[section]
    entries[index % len(entries)][key] = value
    try:
        parsed = parse_case_package(package)
    except ImportRefused as refused:
        problems = refused.problems
    else:
        problems = graph_problems(parsed)
        if not problems:
            tree = check_and_build_tree(parsed)
            assert set(tree.places) == {item.identifier for item in parsed.items}
            return
    assert problems
    assert all(problem.where and problem.reason for problem in problems)
