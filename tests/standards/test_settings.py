"""Scales, policies, requirements and electives: services (who may write) and selectors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from pytest_django import DjangoAssertNumQueries

from mastery import core
from standards.models import (
    CalculationPolicy,
    ChoiceStatus,
    ElectiveChoice,
    Framework,
    ProficiencyScale,
    Requirement,
    Standard,
    StandardStatus,
)
from standards.selectors import (
    DEFAULT_POLICY,
    DEFAULT_SCALE,
    policy_for,
    requirements_for,
    scale_for,
)
from standards.services import (
    InvalidSettings,
    add_requirements,
    choose_elective,
    create_elective_group,
    decide_elective_choice,
    remove_policy,
    remove_scale,
    set_policy,
    update_scale,
    withdraw_elective_choice,
)
from standards.validation import LevelInput
from tests.factories import TermFactory
from tests.personas import Cast, cast
from tests.standards.conftest import uid

__all__ = ["cast"]

FIVE_LEVELS = [
    LevelInput(4, "Exceeds", "#1565c0"),
    LevelInput(3, "Meets", "#2e7d32"),
    LevelInput("2.5", "Approaching", "#6a1b9a"),
    LevelInput(2, "Developing", "#f9a825"),
    LevelInput(1, "Beginning", "#c62828"),
]


def _standards(framework: Framework, *numbers: int) -> list[Standard]:
    by_identifier = {s.identifier: s for s in Standard.objects.filter(framework=framework)}
    return [by_identifier[uid(number)] for number in numbers]


# --- Scales --------------------------------------------------------------------------------------


def test_scale_for_gives_the_default_when_nothing_is_set(
    cast: Cast, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(1):
        assert scale_for(cast.school) == DEFAULT_SCALE
    assert [level.label for level in DEFAULT_SCALE.levels] == [
        "Advanced",
        "Proficient",
        "Developing",
        "Beginning",
    ]
    assert DEFAULT_SCALE.mastery_threshold == Decimal(3)


def test_school_inherits_the_district_scale_until_it_sets_its_own(cast: Cast) -> None:
    update_scale(
        actor=cast.district_admin,
        organisation=cast.district,
        levels=FIVE_LEVELS,
        mastery_threshold="3",
    )
    inherited = scale_for(cast.school)
    assert inherited.organisation_id == cast.district.pk
    assert [level.label for level in inherited.levels][:3] == ["Exceeds", "Meets", "Approaching"]
    assert core.level_for(inherited, Decimal("2.7")).label == "Approaching"
    assert core.level_for(inherited, Decimal("0.5")).label == "Beginning"
    assert scale_for(cast.other_district.pk) == DEFAULT_SCALE

    update_scale(
        actor=cast.school_admin,
        organisation=cast.school,
        levels=FIVE_LEVELS[:2],
        mastery_threshold=3,
    )
    own = scale_for(cast.school.pk)
    assert own.organisation_id == cast.school.pk
    assert len(own.levels) == 2
    assert scale_for(cast.other_school).organisation_id == cast.district.pk


def test_scale_for_is_one_query_whatever_the_lineage(
    cast: Cast, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for organisation in (cast.state, cast.district, cast.school):
        update_scale(
            actor=cast.state_admin,
            organisation=organisation,
            levels=FIVE_LEVELS,
            mastery_threshold=3,
        )
    with django_assert_num_queries(1):
        assert scale_for(cast.school.pk).organisation_id == cast.school.pk


def test_updating_a_scale_replaces_its_levels(cast: Cast) -> None:
    update_scale(
        actor=cast.school_admin, organisation=cast.school, levels=FIVE_LEVELS, mastery_threshold=3
    )
    update_scale(
        actor=cast.school_admin,
        organisation=cast.school,
        levels=FIVE_LEVELS[:3],
        mastery_threshold="2.5",
    )
    scale = ProficiencyScale.objects.get(organisation=cast.school)
    assert scale.levels.count() == 3
    assert scale.mastery_threshold == Decimal("2.5")


def test_invalid_scale_is_refused_and_keeps_the_old_one(cast: Cast) -> None:
    update_scale(
        actor=cast.school_admin, organisation=cast.school, levels=FIVE_LEVELS, mastery_threshold=3
    )
    with pytest.raises(InvalidSettings) as refused:
        update_scale(
            actor=cast.school_admin,
            organisation=cast.school,
            levels=[LevelInput(4, "A", "#000000"), LevelInput(4, "B", "red")],
            mastery_threshold=9,
        )
    assert [str(p) for p in refused.value.problems] == [
        "levels[1]: colour: must be a colour like #2e7d32",
        "scale: mastery_threshold: must lie within the levels' points (4 to 4)",
    ]
    assert ProficiencyScale.objects.get(organisation=cast.school).levels.count() == 5


@pytest.mark.parametrize(
    ("persona", "target"),
    [
        ("school_admin", "district"),
        ("school_admin", "other_school"),
        ("district_admin", "other_district"),
        ("teacher", "school"),
        ("student", "school"),
        ("teacher_admin", "school"),
        ("outsider", "school"),
    ],
)
def test_only_administrators_of_the_organisation_may_change_its_scale(
    cast: Cast, persona: str, target: str
) -> None:
    with pytest.raises(PermissionDenied):
        update_scale(
            actor=cast.persona(persona),
            organisation=getattr(cast, target),
            levels=FIVE_LEVELS,
            mastery_threshold=3,
        )
    assert ProficiencyScale.objects.count() == 0


def test_removing_a_scale_inherits_again(cast: Cast) -> None:
    update_scale(
        actor=cast.school_admin, organisation=cast.school, levels=FIVE_LEVELS, mastery_threshold=3
    )
    assert remove_scale(actor=cast.school_admin, organisation=cast.school)
    assert scale_for(cast.school) == DEFAULT_SCALE


# --- Policies ------------------------------------------------------------------------------------


def test_policy_for_gives_decaying_average_65_by_default(
    cast: Cast, small_framework: Framework
) -> None:
    policy = policy_for(cast.school, small_framework)
    assert policy == DEFAULT_POLICY
    assert (policy.method, dict(policy.params), policy.min_evidence) == (
        "decaying_average",
        {"weight": 65},
        1,
    )


def test_policy_for_takes_the_nearest_organisation_policy(cast: Cast) -> None:
    set_policy(
        actor=cast.state_admin, organisation=cast.state, method="average", params={}, min_evidence=1
    )
    set_policy(
        actor=cast.district_admin,
        organisation=cast.district,
        method="n_times",
        params={"n": 2, "threshold": 3},
        min_evidence=2,
    )
    assert policy_for(cast.school).method == "n_times"
    assert policy_for(cast.school).organisation_id == cast.district.pk
    assert policy_for(cast.district_school).method == "average"


def test_a_framework_override_wins_over_organisation_policies(
    cast: Cast, small_framework: Framework, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    set_policy(
        actor=cast.school_admin,
        organisation=cast.school,
        method="latest",
        params={},
        min_evidence=1,
    )
    set_policy(
        actor=cast.state_admin,
        organisation=cast.state,
        framework=small_framework,
        method="power_law",
        params={"evaluate_at": "next"},
        min_evidence=3,
        rollup_rule="share_mastered",
        rollup_params={"share": 0.5},
    )
    with django_assert_num_queries(1):
        policy = policy_for(cast.school, small_framework)
    assert (policy.method, policy.framework_id, policy.organisation_id) == (
        "power_law",
        small_framework.pk,
        cast.state.pk,
    )
    assert (policy.rollup_rule, dict(policy.rollup_params)) == ("share_mastered", {"share": 0.5})
    assert policy_for(cast.school, None).method == "latest"


def test_set_policy_updates_in_place_and_remove_policy_inherits_again(cast: Cast) -> None:
    set_policy(
        actor=cast.school_admin,
        organisation=cast.school,
        method="latest",
        params={},
        min_evidence=1,
    )
    set_policy(
        actor=cast.school_admin,
        organisation=cast.school,
        method="decaying_average",
        params={"weight": 80},
        min_evidence=2,
    )
    assert CalculationPolicy.objects.filter(organisation=cast.school).count() == 1
    assert dict(policy_for(cast.school).params) == {"weight": 80}
    assert remove_policy(actor=cast.school_admin, organisation=cast.school)
    assert policy_for(cast.school) == DEFAULT_POLICY


def test_invalid_policy_is_refused_and_writes_nothing(cast: Cast) -> None:
    with pytest.raises(InvalidSettings) as refused:
        set_policy(
            actor=cast.school_admin,
            organisation=cast.school,
            method="decaying_average",
            params={"weight": 40},
            min_evidence=0,
        )
    assert [str(p) for p in refused.value.problems] == [
        "params: weight: must be from 50 to 99, got 40",
        "policy: min_evidence: must be from 1 to 100, got 0",
    ]
    assert CalculationPolicy.objects.count() == 0


def test_points_rollup_must_name_standards_of_the_framework(
    cast: Cast, small_framework: Framework
) -> None:
    ns = _standards(small_framework, 12)[0]
    with pytest.raises(InvalidSettings) as refused:
        set_policy(
            actor=cast.school_admin,
            organisation=cast.school,
            framework=small_framework,
            method="latest",
            params={},
            min_evidence=1,
            rollup_rule="points",
            rollup_params={"points_required": 1, "points": {str(ns.pk): 1, "999999": 1}},
        )
    assert [str(p) for p in refused.value.problems] == [
        "rollup_params: points: standard 999999 does not exist in this framework"
    ]


def test_teacher_cannot_set_a_policy(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        set_policy(
            actor=cast.teacher, organisation=cast.school, method="latest", params={}, min_evidence=1
        )


# --- Requirements --------------------------------------------------------------------------------


def test_district_requirements_apply_to_its_schools_and_the_nearest_priority_wins(
    cast: Cast, small_framework: Framework, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    count_to_20, count_to_100, shapes = _standards(small_framework, 12, 13, 21)
    add_requirements(
        actor=cast.district_admin,
        organisation=cast.district,
        term=cast.term,
        grade_level="5",
        standards=[count_to_20, count_to_100],
        priority="supporting",
    )
    add_requirements(
        actor=cast.school_admin,
        organisation=cast.school,
        term=cast.term,
        grade_level="05",
        standards=[count_to_20, shapes],
        priority="power",
    )
    with django_assert_max_num_queries(2):
        school = requirements_for(cast.school, "05", cast.term)
    assert {(r.human_code, r.priority) for r in school.required} == {
        ("NS.C.1", "power"),
        ("NS.C.2", "supporting"),
        ("G.1", "power"),
    }
    assert school.power_standard_ids == {count_to_20.pk, shapes.pk}
    other = requirements_for(cast.other_school.pk, "05", cast.term.pk)
    assert {(r.human_code, r.priority) for r in other.required} == {
        ("NS.C.1", "supporting"),
        ("NS.C.2", "supporting"),
    }
    assert requirements_for(cast.district_school, "05", cast.term).required == ()
    assert requirements_for(cast.school, "04", cast.term).required == ()
    assert requirements_for(cast.school, "05", TermFactory()).required == ()


def test_adding_a_requirement_again_changes_its_priority_not_the_count(
    cast: Cast, small_framework: Framework
) -> None:
    standard = _standards(small_framework, 12)
    for priority in ("supporting", "power"):
        add_requirements(
            actor=cast.school_admin,
            organisation=cast.school,
            term=cast.term,
            grade_level="KG",
            standards=standard,
            priority=priority,
        )
    assert list(Requirement.objects.values_list("grade_level", "priority")) == [("KG", "power")]


def test_retired_standards_are_not_required(cast: Cast, small_framework: Framework) -> None:
    standard = _standards(small_framework, 12)
    add_requirements(
        actor=cast.school_admin,
        organisation=cast.school,
        term=cast.term,
        grade_level="KG",
        standards=standard,
        priority="power",
    )
    Standard.objects.filter(pk=standard[0].pk).update(status=StandardStatus.RETIRED)
    assert requirements_for(cast.school, "KG", cast.term).required == ()
    standard[0].refresh_from_db()
    with pytest.raises(InvalidSettings):
        add_requirements(
            actor=cast.school_admin,
            organisation=cast.school,
            term=cast.term,
            grade_level="KG",
            standards=standard,
            priority="power",
        )


def test_bad_requirement_input_lists_every_problem(cast: Cast, small_framework: Framework) -> None:
    other_calendar = TermFactory(organisation=cast.other_state)
    with pytest.raises(InvalidSettings) as refused:
        add_requirements(
            actor=cast.school_admin,
            organisation=cast.school,
            term=other_calendar,
            grade_level="Year 5",
            standards=[],
            priority="urgent",
        )
    assert [str(p) for p in refused.value.problems] == [
        "requirement: grade_level: 'Year 5' is not a CEDS grade level code",
        "requirement: term: belongs to another organisation's calendar",
        "requirement: priority: must be 'power' or 'supporting'",
        "requirement: standards: choose at least one standard",
    ]
    assert Requirement.objects.count() == 0


def test_teacher_cannot_add_requirements(cast: Cast, small_framework: Framework) -> None:
    with pytest.raises(PermissionDenied):
        add_requirements(
            actor=cast.teacher,
            organisation=cast.school,
            term=cast.term,
            grade_level="05",
            standards=_standards(small_framework, 12),
            priority="power",
        )


# --- Electives -----------------------------------------------------------------------------------


@pytest.fixture
def elective(cast: Cast, small_framework: Framework) -> Any:
    return create_elective_group(
        actor=cast.district_admin,
        organisation=cast.district,
        term=cast.term,
        grade_level="05",
        title="Choose one geometry or counting standard",
        choose=1,
        standards=_standards(small_framework, 12, 13, 21),
    )


def test_elective_group_needs_k_below_n(cast: Cast, small_framework: Framework) -> None:
    with pytest.raises(InvalidSettings) as refused:
        create_elective_group(
            actor=cast.district_admin,
            organisation=cast.district,
            term=cast.term,
            grade_level="05",
            title=" ",
            choose=3,
            standards=_standards(small_framework, 12, 13, 21),
        )
    assert [str(p) for p in refused.value.problems] == [
        "elective group: title: is required, at most 200 characters",
        "elective group: choose: must be a whole number from 1 to 2 "
        "(fewer than the standards offered)",
    ]


def test_requirements_for_lists_elective_groups(cast: Cast, elective: Any) -> None:
    groups = requirements_for(cast.school, "05", cast.term).electives
    assert [(g.title, g.choose, len(g.standard_ids)) for g in groups] == [
        ("Choose one geometry or counting standard", 1, 3)
    ]


def _required(cast: Cast) -> dict[int, str]:
    """What the learner must master in the term (the mastery core's rule)."""
    items = core.required_standards([cast.own], cast.term)[cast.own.pk]
    return {item.standard_id: item.priority for item in items}


def test_student_chooses_a_teacher_approves_and_it_becomes_required(
    cast: Cast, elective: Any, small_framework: Framework
) -> None:
    shapes = _standards(small_framework, 21)[0]
    choice = choose_elective(actor=cast.student, group=elective, standard=shapes)
    assert choice.status == ChoiceStatus.PENDING
    assert shapes.pk not in _required(cast)

    decided = decide_elective_choice(actor=cast.teacher, choice=choice, approve=True, note="Yes")
    assert (decided.status, decided.decided_by) == (ChoiceStatus.APPROVED, cast.teacher)
    assert _required(cast) == {shapes.pk: "supporting"}


def test_student_cannot_choose_more_than_k(
    cast: Cast, elective: Any, small_framework: Framework
) -> None:
    first, second = _standards(small_framework, 12, 21)
    choose_elective(actor=cast.student, group=elective, standard=first)
    with pytest.raises(InvalidSettings) as refused:
        choose_elective(actor=cast.student, group=elective, standard=second)
    assert [str(p) for p in refused.value.problems] == [
        "choice: standard: you have already chosen 1 of this group"
    ]


def test_withdrawn_choice_frees_the_place_and_can_be_chosen_again(
    cast: Cast, elective: Any, small_framework: Framework
) -> None:
    first, second = _standards(small_framework, 12, 21)
    choice = choose_elective(actor=cast.student, group=elective, standard=first)
    withdraw_elective_choice(actor=cast.student, choice=choice)
    choose_elective(actor=cast.student, group=elective, standard=second)
    withdraw_elective_choice(actor=cast.student, choice=ElectiveChoice.objects.get(standard=second))
    again = choose_elective(actor=cast.student, group=elective, standard=first)
    assert again.pk == choice.pk
    assert again.status == ChoiceStatus.PENDING


def test_choice_outside_the_group_is_refused(
    cast: Cast, elective: Any, small_framework: Framework
) -> None:
    domain = _standards(small_framework, 10)[0]
    with pytest.raises(InvalidSettings):
        choose_elective(actor=cast.student, group=elective, standard=domain)


@pytest.mark.parametrize("persona", ["teacher", "guardian", "outsider", "school_admin"])
def test_only_a_learner_of_the_group_may_choose(
    cast: Cast, elective: Any, small_framework: Framework, persona: str
) -> None:
    with pytest.raises(PermissionDenied):
        choose_elective(
            actor=cast.persona(persona), group=elective, standard=_standards(small_framework, 12)[0]
        )


def test_learner_of_another_grade_is_not_offered_the_group(
    cast: Cast, elective: Any, small_framework: Framework
) -> None:
    type(cast.own).objects.filter(pk=cast.own.pk).update(grade_level="04")
    with pytest.raises(PermissionDenied):
        choose_elective(
            actor=cast.student, group=elective, standard=_standards(small_framework, 12)[0]
        )


@pytest.mark.parametrize(
    "persona", ["teacher_elsewhere", "other_student", "guardian", "ended_teacher", "outsider"]
)
def test_only_the_learners_teachers_or_admins_decide(
    cast: Cast, elective: Any, small_framework: Framework, persona: str
) -> None:
    choice = choose_elective(
        actor=cast.student, group=elective, standard=_standards(small_framework, 12)[0]
    )
    with pytest.raises(PermissionDenied):
        decide_elective_choice(actor=cast.persona(persona), choice=choice, approve=True)
    choice.refresh_from_db()
    assert choice.status == ChoiceStatus.PENDING


def test_a_decided_choice_cannot_be_decided_again(
    cast: Cast, elective: Any, small_framework: Framework
) -> None:
    choice = choose_elective(
        actor=cast.student, group=elective, standard=_standards(small_framework, 12)[0]
    )
    decide_elective_choice(actor=cast.school_admin, choice=choice, approve=False)
    with pytest.raises(InvalidSettings):
        decide_elective_choice(actor=cast.teacher, choice=choice, approve=True)
