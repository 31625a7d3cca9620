"""Roll-ups of groupings (domains, clusters) from their children.

The points rule follows Moodle's ``core_competency\\competency_rule_points``
(moodle/moodle, competency/classes/competency_rule_points.php); the cases marked [MOODLE] are those
of ``test_rule_points_matching`` and ``test_rule_points_validation`` in
competency/tests/competency_rule_test.php: children c11 and c12 proficient, c13 and c14 not.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from mastery.rules import (
    DEFAULT_SCALE,
    INSUFFICIENT_EVIDENCE,
    NOT_ASSESSED,
    SCORED,
    ChildMastery,
    RulesError,
    rollup_all_mastered,
    rollup_lowest_level,
    rollup_points,
    rollup_share_mastered,
)

PROFICIENT, DEVELOPING, ADVANCED = (
    DEFAULT_SCALE.level_for(Decimal(3)),
    DEFAULT_SCALE.level_for(Decimal(2)),
    DEFAULT_SCALE.level_for(Decimal(4)),
)


def child(standard_id: int, mastered: bool, state: str = SCORED) -> ChildMastery:
    level = None if state != SCORED else (PROFICIENT if mastered else DEVELOPING)
    return ChildMastery(standard_id, state, mastered, level)


MOODLE_CHILDREN = [child(11, True), child(12, True), child(13, False), child(14, False)]


def test_all_mastered_needs_every_child() -> None:
    assert rollup_all_mastered([child(1, True), child(2, True)]).mastered is True
    assert rollup_all_mastered([child(1, True), child(2, False)]).mastered is False


def test_all_mastered_explains_the_count() -> None:
    result = rollup_all_mastered([child(1, True), child(2, False)])
    assert result.explanation["formula"] == "1 of 2 children mastered"


def test_a_grouping_whose_children_are_all_unassessed_is_not_assessed() -> None:
    result = rollup_all_mastered([child(1, False, NOT_ASSESSED)])
    assert result.state == NOT_ASSESSED


def test_share_mastered_compares_the_exact_share() -> None:
    children = [child(1, True), child(2, True), child(3, False)]
    assert rollup_share_mastered(children, Decimal("0.66")).mastered is True
    assert rollup_share_mastered(children, Decimal("0.67")).mastered is False
    assert rollup_share_mastered(children, Fraction(2, 3)).mastered is True


def test_share_must_be_above_zero_and_at_most_one() -> None:
    with pytest.raises(RulesError, match="share: must be in"):
        rollup_share_mastered([child(1, True)], Decimal("1.5"))


def test_lowest_level_is_the_minimum_child_level() -> None:
    children = [
        ChildMastery(1, SCORED, True, ADVANCED),
        ChildMastery(2, SCORED, True, PROFICIENT),
    ]
    result = rollup_lowest_level(children, DEFAULT_SCALE)
    assert (result.level, result.mastered, result.state) == (PROFICIENT, True, SCORED)


def test_lowest_level_below_the_threshold_is_not_mastered() -> None:
    children = [ChildMastery(1, SCORED, True, ADVANCED), ChildMastery(2, SCORED, False, DEVELOPING)]
    result = rollup_lowest_level(children, DEFAULT_SCALE)
    assert (result.level, result.mastered) == (DEVELOPING, False)


def test_lowest_level_waits_for_every_child_to_have_a_level() -> None:
    children = [ChildMastery(1, SCORED, True, ADVANCED), child(2, False, INSUFFICIENT_EVIDENCE)]
    result = rollup_lowest_level(children, DEFAULT_SCALE)
    assert (result.level, result.mastered, result.state) == (None, False, INSUFFICIENT_EVIDENCE)


def test_points_enough_points() -> None:  # [MOODLE] "Enough points."
    result = rollup_points(MOODLE_CHILDREN[:2], {11: 4, 12: 4}, [], 8)
    assert result.mastered is True


def test_points_not_enough_points() -> None:  # [MOODLE] "Not enough points."
    children = [MOODLE_CHILDREN[0], MOODLE_CHILDREN[2]]
    assert rollup_points(children, {11: 4, 13: 4}, [], 8).mastered is False


def test_points_a_required_child_not_mastered_fails_despite_points() -> None:
    # [MOODLE] "One required that is not met but points were OK."
    result = rollup_points(MOODLE_CHILDREN[:3], {11: 4, 12: 4, 13: 4}, [13], 8)
    assert result.mastered is False
    assert "required children not mastered: [13]" in result.explanation["formula"]


def test_points_one_required_one_not_matches() -> None:  # [MOODLE]
    assert rollup_points(MOODLE_CHILDREN[:2], {11: 4, 12: 4}, [12], 8).mastered is True


def test_points_all_required_matches() -> None:  # [MOODLE] "All required and should match."
    assert rollup_points(MOODLE_CHILDREN[:2], {11: 4, 12: 4}, [11, 12], 8).mastered is True


def test_points_all_required_but_one_unassessed_fails() -> None:
    # [MOODLE] "All required, but one doesn't have a user record."
    children = [MOODLE_CHILDREN[1], child(14, False, NOT_ASSESSED)]
    assert rollup_points(children, {12: 4, 14: 4}, [12, 14], 4).mastered is False


def test_points_refuses_negative_points() -> None:  # [MOODLE] "Cannot use negative points."
    with pytest.raises(RulesError, match="points of 12: must be at least 0"):
        rollup_points(MOODLE_CHILDREN[:2], {11: 1, 12: -1}, [], 1)


def test_points_refuses_a_target_no_one_can_reach() -> None:  # [MOODLE] validation
    with pytest.raises(RulesError, match="points_required: 9 is more than all children give"):
        rollup_points(MOODLE_CHILDREN[:2], {11: 4, 12: 4}, [], 9)


def test_points_refuses_a_standard_that_is_not_a_child() -> None:  # [MOODLE] "not a child"
    with pytest.raises(RulesError, match="points: 99 is not a child of the grouping"):
        rollup_points(MOODLE_CHILDREN[:2], {11: 4, 12: 4, 99: 1}, [], 1)


def test_points_refuses_a_zero_target() -> None:  # [MOODLE] required points < 1
    with pytest.raises(RulesError, match="points_required: must be at least 1"):
        rollup_points(MOODLE_CHILDREN[:2], {11: 4, 12: 4}, [], 0)


def test_rollups_refuse_an_empty_grouping() -> None:  # [MOODLE] "No competencies"
    with pytest.raises(RulesError, match="a grouping needs at least one child standard"):
        rollup_all_mastered([])


def test_rollups_refuse_a_child_listed_twice() -> None:  # [MOODLE] "Duplicate competency."
    with pytest.raises(RulesError, match="child 1: listed twice"):
        rollup_all_mastered([child(1, True), child(1, True)])
