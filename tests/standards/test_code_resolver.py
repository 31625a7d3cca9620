"""The one resolver of standard codes (full or short), identifiers and URIs."""

from __future__ import annotations

import pytest

from standards.selectors import find_standards, resolve_standard_codes, split_codes
from tests.evidence.conftest import make_standards

pytestmark = pytest.mark.django_db


def test_typed_lists_split_on_spaces_commas_and_semicolons_each_code_once() -> None:
    assert split_codes(" 3.NF.A.1, K.CC.A.1;3.NF.A.1\n1.OA.A.1 ") == [
        "3.NF.A.1",
        "K.CC.A.1",
        "1.OA.A.1",
    ]
    assert split_codes("") == []


def test_full_and_short_codes_identifiers_and_uris_resolve_in_the_order_given() -> None:
    first = make_standards("fw-a")
    resolved = resolve_standard_codes(
        "1.oa.a.1 CCSS.Math.Content.K.CC.A.1, fw-a-3.NF.A.1", framework=first.framework
    )
    assert resolved.problems == []
    assert resolved.standards == [first.adding, first.counting, first.fractions]


def test_a_short_code_in_two_frameworks_is_refused_naming_both_unless_the_framework_is_given() -> (
    None
):
    first = make_standards("fw-a")
    second = make_standards("fw-b", prefix="NY.Math.")
    resolved = resolve_standard_codes(["K.CC.A.1"])
    assert resolved.standards == []
    assert resolved.problems == [
        "K.CC.A.1 names several standards: CCSS.Math.Content.K.CC.A.1 (Test maths fw-a),"
        " NY.Math.K.CC.A.1 (Test maths fw-b). Type the full code."
    ]
    assert resolve_standard_codes(["K.CC.A.1"], framework=second.framework).standards == [
        second.counting
    ]
    assert resolve_standard_codes(["K.CC.A.1"], framework=first.framework.pk).standards == [
        first.counting
    ]


def test_unknown_grouping_and_retired_standards_each_get_a_plain_reason() -> None:
    made = make_standards("fw-a")
    resolved = resolve_standard_codes(
        ["NOPE.1", "Counting and Cardinality", "3.NF.A.9", "3.NF.A.1"], framework=made.framework
    )
    assert resolved.standards == [made.fractions]
    assert resolved.problems == [
        "No standard has the code NOPE.1 in this framework.",
        "Counting and Cardinality is a grouping: rate its statements.",
        "CCSS.Math.Content.3.NF.A.9 is retired.",
    ]
    # Requirements and roll-ups may name groupings.
    assert resolve_standard_codes(["Counting and Cardinality"], assessable=False).standards == [
        made.domain
    ]


def test_the_resolver_runs_at_most_three_queries(django_assert_max_num_queries: object) -> None:
    made = make_standards("fw-a")
    with django_assert_max_num_queries(3):  # type: ignore[operator]
        found = find_standards([f"X.{n}" for n in range(50)] + ["fw-a-K.CC.A.1"])
    assert found["fw-a-K.CC.A.1"].standards == (made.counting,)
