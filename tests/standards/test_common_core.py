from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django.test import Client
from pytest_django import DjangoAssertNumQueries

from standards.exporters import build_case_package, mint_identifier
from standards.importers.case import parse_case_bytes, parse_case_package
from standards.models import Association, Framework, Standard
from standards.services import import_framework
from tests.factories import UserFactory
from tests.standards.conftest import (
    CCSS_IDENTIFIER,
    CCSS_PACKAGE,
    association_snapshot,
    tree_snapshot,
)

# --- The shared Common Core package -------------------------------------------------------------


def test_common_core_package_gives_703_items_in_the_tree_its_readme_describes(
    ccss_framework: Framework, db: None
) -> None:
    standards = Standard.objects.filter(framework=ccss_framework)
    assert standards.count() == 703
    assert Counter(standards.values_list("depth", flat=True)) == {
        1: 17,
        2: 123,
        3: 283,
        4: 244,
        5: 36,
    }
    assert Counter(standards.values_list("item_type", flat=True)) == {
        "Standard": 393,
        "Cluster": 147,
        "Component": 124,
        "Domain": 33,
        "": 6,
    }
    links = Association.objects.filter(framework=ccss_framework)
    assert links.count() == 703
    assert set(links.values_list("association_type", flat=True)) == {"isChildOf"}
    top_level_links = links.filter(destination__isnull=True)
    assert top_level_links.count() == 17
    assert set(top_level_links.values_list("destination_identifier", flat=True)) == {
        CCSS_IDENTIFIER
    }


def test_common_core_standard_keeps_its_statement_grade_and_parents(
    ccss_framework: Framework, db: None
) -> None:
    standard = Standard.objects.select_related("parent__parent").get(
        framework=ccss_framework, human_code="CCSS.Math.Content.1.G.A.1"
    )
    assert standard.identifier == "http://purl.org/ASN/resources/S114344A"
    assert standard.statement.startswith("Distinguish between defining attributes")
    assert standard.grade_levels == ["01"]
    assert standard.item_type == "Standard"
    assert not standard.is_grouping
    assert standard.parent is not None
    assert standard.parent.human_code == "CCSS.Math.Content.1.G.A"
    assert standard.parent.is_grouping
    assert standard.parent.parent is not None
    assert standard.parent.parent.statement == "Geometry"
    assert standard.depth == 3


def test_common_core_headings_without_a_type_are_groupings(
    ccss_framework: Framework, db: None
) -> None:
    headings = Standard.objects.filter(framework=ccss_framework, item_type="")
    assert headings.count() == 6
    assert all(heading.is_grouping for heading in headings)
    assert Standard.objects.filter(framework=ccss_framework, is_grouping=True).count() == 186


def test_reimporting_common_core_changes_nothing(
    ccss_framework: Framework, db: None, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    parsed = parse_case_bytes(CCSS_PACKAGE.read_bytes())
    before = tree_snapshot(ccss_framework)
    with django_assert_max_num_queries(8):
        report = import_framework(parsed=parsed, actor=None)
    assert (report.created, report.updated, report.unchanged, report.retired) == (0, 0, 703, 0)
    assert (report.associations_created, report.associations_updated) == (0, 0)
    assert (report.associations_unchanged, report.associations_removed) == (703, 0)
    assert not report.framework_created
    assert not report.framework_updated
    assert tree_snapshot(ccss_framework) == before


def test_first_import_of_common_core_uses_a_bounded_number_of_queries(
    ccss_framework: Framework, db: None, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    Framework.objects.filter(pk=ccss_framework.pk).update(identifier="moved-aside")
    parsed = parse_case_bytes(CCSS_PACKAGE.read_bytes())
    # One insert per tree level, not per item.
    with django_assert_max_num_queries(14):
        report = import_framework(parsed=parsed, actor=None)
    assert (report.created, report.associations_created) == (703, 703)


def test_common_core_export_imported_afresh_reproduces_items_tree_and_associations(
    ccss_framework: Framework, db: None
) -> None:
    def minted(value: Any) -> Any:
        return mint_identifier(value) if isinstance(value, str) and value else value

    # The export mints UUIDs for the package's URL identifiers (keeping them as ``uri``).
    tree = {(minted(row[0]), minted(row[1]), *row[2:]) for row in tree_snapshot(ccss_framework)}
    links = {
        (row[0], row[1], *map(minted, row[2:6]), row[6])
        for row in association_snapshot(ccss_framework)
    }
    exported = json.loads(json.dumps(build_case_package(ccss_framework)))

    report = import_framework(parsed=parse_case_package(exported), actor=None)

    again = Framework.objects.get(identifier=mint_identifier(CCSS_IDENTIFIER))
    assert again.pk != ccss_framework.pk
    assert report.created == 703
    assert tree_snapshot(again) == tree
    assert association_snapshot(again) == links
    assert build_case_package(again) == exported


def test_tree_page_queries_do_not_grow_with_the_items(
    client: Client,
    ccss_framework: Framework,
    small_framework: Framework,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    client.force_login(UserFactory())
    client.get(f"/standards/frameworks/{small_framework.pk}/")  # warm the session
    with django_assert_max_num_queries(6) as small:
        client.get(f"/standards/frameworks/{small_framework.pk}/")
    with django_assert_max_num_queries(6) as large:
        response = client.get(f"/standards/frameworks/{ccss_framework.pk}/")
    main = response.content.decode().split("<main", 1)[1]
    assert main.count("<li>") == 703
    assert len(small.captured_queries) == len(large.captured_queries)
