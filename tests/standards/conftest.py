"""Fixtures of the standards tests: the shared real files and small packages of our own."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from pytest_django import DjangoDbBlocker

from standards.importers.case import parse_case_bytes, parse_case_package
from standards.models import Association, Framework, Standard, StandardStatus
from standards.services import import_framework

ROOT = Path(__file__).resolve().parents[2]
SHARED_STANDARDS = ROOT.parent / "shared" / "data" / "standards"
FIXTURES = ROOT / "tests" / "fixtures" / "standards"
CCSS_PACKAGE = SHARED_STANDARDS / "ccss-math-case-opensalt-2016" / "ccss_math_cfpackage.json"
CCSS_IDENTIFIER = "http://purl.org/ASN/resources/D10003FB"
SMALL_IDENTIFIER = "c0ffee00-0000-4000-8000-000000000001"


def shared_file(*parts: str) -> Path:
    """A file of ../shared/data/standards, or a skip saying which one is missing."""
    path = SHARED_STANDARDS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found: {path} (see ../shared/data/README.md)")
    return path


def uid(number: int) -> str:
    """The identifiers of tests/fixtures/standards/small_case_1_1.json."""
    return f"c0ffee00-0000-4000-8000-{number:012d}"


_SMALL = json.loads((FIXTURES / "small_case_1_1.json").read_text())


@pytest.fixture
def small_package() -> dict[str, Any]:
    """A fresh copy of the small CASE 1.1 package, safe to modify."""
    return copy.deepcopy(_SMALL)


@pytest.fixture
def small_framework(db: None, small_package: dict[str, Any]) -> Framework:
    import_framework(parsed=parse_case_package(small_package), actor=None)
    return Framework.objects.get(identifier=SMALL_IDENTIFIER)


@pytest.fixture(scope="module")
def ccss_framework(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> Iterator[Framework]:
    """The shared Common Core package, imported once per test module (tests roll back)."""
    path = shared_file("ccss-math-case-opensalt-2016", "ccss_math_cfpackage.json")
    with django_db_blocker.unblock():
        import_framework(parsed=parse_case_bytes(path.read_bytes()), actor=None)
        framework = Framework.objects.get(identifier=CCSS_IDENTIFIER)
    yield framework
    with django_db_blocker.unblock():
        delete_frameworks_directly([framework.pk])


def delete_frameworks_directly(pks: list[int]) -> None:
    """Deletes frameworks with plain SQL, skipping the ORM's cascade collection.

    The collection would visit every model pointing at standards, including ones other apps
    are still building; nothing of theirs points at these test frameworks, and the database's
    foreign keys would refuse the delete if anything did.
    """
    with connection.cursor() as cursor:
        for table in ("standards_association", "standards_standard"):
            cursor.execute(f"DELETE FROM {table} WHERE framework_id = ANY(%s)", [pks])  # noqa: S608
        cursor.execute("DELETE FROM standards_framework WHERE id = ANY(%s)", [pks])


def tree_snapshot(framework: Framework) -> set[tuple[Any, ...]]:
    return {
        (
            row["identifier"],
            row["parent__identifier"],
            row["position"],
            row["depth"],
            row["statement"],
            row["human_code"],
            row["item_type"],
            tuple(row["grade_levels"]),
            row["list_enumeration"],
            row["is_grouping"],
        )
        for row in Standard.objects.filter(
            framework=framework, status=StandardStatus.ACTIVE
        ).values(
            "identifier",
            "parent__identifier",
            "position",
            "depth",
            "statement",
            "human_code",
            "item_type",
            "grade_levels",
            "list_enumeration",
            "is_grouping",
        )
    }


def association_snapshot(framework: Framework) -> set[tuple[Any, ...]]:
    return set(
        Association.objects.filter(framework=framework).values_list(
            "identifier",
            "association_type",
            "origin_identifier",
            "origin__identifier",
            "destination_identifier",
            "destination__identifier",
            "sequence_number",
        )
    )
