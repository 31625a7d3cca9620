"""The scoping selectors: every persona against every target, denials included."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from learners import selectors
from learners.models import Learner, Organisation, Section
from tests.factories import (
    AdminAssignmentFactory,
    EnrollmentFactory,
    GuardianLinkFactory,
    LearnerFactory,
    TeacherAssignmentFactory,
    UserFactory,
)
from tests.personas import (
    ADMINISTERED,
    CHANGEABLE_LEARNERS,
    LEARNER_ATTRS,
    ORG_ATTRS,
    PERSONA_NAMES,
    ROLES,
    SECTION_ATTRS,
    VISIBLE_LEARNERS,
    VISIBLE_ORGANISATIONS,
    VISIBLE_SECTIONS,
    Cast,
)

pytestmark = pytest.mark.django_db


def _learner_names(cast: Cast, learners: object) -> set[str]:
    by_pk = {getattr(cast, attr).pk: name for name, attr in LEARNER_ATTRS.items()}
    return {by_pk[learner.pk] for learner in learners}  # type: ignore[attr-defined]


def _section_names(cast: Cast, sections: object) -> set[str]:
    by_pk = {getattr(cast, attr).pk: attr for attr in SECTION_ATTRS}
    return {by_pk[section.pk] for section in sections}  # type: ignore[attr-defined]


def _org_names(cast: Cast, organisations: object) -> set[str]:
    by_pk = {getattr(cast, attr).pk: attr for attr in ORG_ATTRS}
    return {by_pk[org.pk] for org in organisations}  # type: ignore[attr-defined]


def test_the_matrices_cover_every_persona() -> None:
    for matrix in (
        VISIBLE_LEARNERS,
        CHANGEABLE_LEARNERS,
        VISIBLE_SECTIONS,
        VISIBLE_ORGANISATIONS,
        ADMINISTERED,
        ROLES,
    ):
        assert set(matrix) == set(PERSONA_NAMES)


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_visible_learners_are_exactly_what_the_persona_is_granted(cast: Cast, persona: str) -> None:
    seen = selectors.visible_learners(cast.persona(persona))
    assert _learner_names(cast, seen) == VISIBLE_LEARNERS[persona]


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_changeable_learners_are_exactly_what_the_persona_may_change(
    cast: Cast, persona: str
) -> None:
    changeable = selectors.changeable_learners(cast.persona(persona))
    assert _learner_names(cast, changeable) == CHANGEABLE_LEARNERS[persona]


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_visible_and_changeable_sections_are_exactly_the_granted_ones(
    cast: Cast, persona: str
) -> None:
    user = cast.persona(persona)
    assert _section_names(cast, selectors.visible_sections(user)) == VISIBLE_SECTIONS[persona]
    assert _section_names(cast, selectors.changeable_sections(user)) == VISIBLE_SECTIONS[persona]


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_visible_organisations_are_the_scope_and_its_ancestors_never_siblings(
    cast: Cast, persona: str
) -> None:
    seen = selectors.visible_organisations(cast.persona(persona))
    assert _org_names(cast, seen) == VISIBLE_ORGANISATIONS[persona]


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_administered_organisations_are_the_admin_organisation_and_below(
    cast: Cast, persona: str
) -> None:
    administered = selectors.administered_organisations(cast.persona(persona))
    assert _org_names(cast, administered) == ADMINISTERED[persona]


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_roles_of_lists_the_current_roles(cast: Cast, persona: str) -> None:
    assert selectors.roles_of(cast.persona(persona)) == ROLES[persona]


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_every_learner_outside_scope_answers_404(cast: Cast, persona: str) -> None:
    user = cast.persona(persona)
    for name, attr in LEARNER_ATTRS.items():
        learner = getattr(cast, attr)
        if name in VISIBLE_LEARNERS[persona]:
            assert selectors.get_visible_learner_or_404(user, learner.pk) == learner
        else:
            with pytest.raises(Http404):
                selectors.get_visible_learner_or_404(user, learner.pk)
        if name in CHANGEABLE_LEARNERS[persona]:
            assert selectors.get_changeable_learner_or_404(user, learner.pk) == learner
        else:
            with pytest.raises(Http404):
                selectors.get_changeable_learner_or_404(user, learner.pk)


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_every_section_outside_scope_answers_404(cast: Cast, persona: str) -> None:
    user = cast.persona(persona)
    for attr in SECTION_ATTRS:
        section = getattr(cast, attr)
        if attr in VISIBLE_SECTIONS[persona]:
            assert selectors.get_visible_section_or_404(user, section.pk) == section
            assert selectors.get_changeable_section_or_404(user, section.pk) == section
        else:
            with pytest.raises(Http404):
                selectors.get_visible_section_or_404(user, section.pk)
            with pytest.raises(Http404):
                selectors.get_changeable_section_or_404(user, section.pk)


@pytest.mark.parametrize("bad_pk", ["abc", "-1", "1.5", "", "99999999999999999999999", "\u0661"])
def test_malformed_ids_answer_404_not_an_error(cast: Cast, bad_pk: str) -> None:
    with pytest.raises(Http404):
        selectors.get_visible_learner_or_404(cast.state_admin, bad_pk)


def test_anonymous_users_see_nothing(cast: Cast) -> None:
    anonymous = AnonymousUser()
    assert list(selectors.visible_learners(anonymous)) == []
    assert list(selectors.visible_sections(anonymous)) == []
    assert list(selectors.visible_organisations(anonymous)) == []
    assert list(selectors.visible_terms(anonymous)) == []
    assert selectors.roles_of(anonymous) == frozenset()
    assert selectors.roles_of(None) == frozenset()


def test_staff_flag_alone_grants_nothing(cast: Cast) -> None:
    staff = UserFactory(username="staff_only", is_staff=True)
    assert list(selectors.visible_learners(staff)) == []
    assert list(selectors.administered_organisations(staff)) == []


def test_an_active_superuser_sees_everything(cast: Cast) -> None:
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert selectors.visible_learners(root).count() == len(cast.all_learners())
    assert selectors.administered_organisations(root).count() == len(cast.all_organisations())


def test_a_deactivated_superuser_sees_nothing(cast: Cast) -> None:
    root = UserFactory(username="root", is_superuser=True, is_active=False)
    assert list(selectors.visible_learners(root)) == []


def test_teacher_whose_assignment_ends_today_still_sees_and_loses_access_tomorrow(
    cast: Cast,
) -> None:
    today = datetime.date.today()
    teacher = UserFactory(username="leaving")
    TeacherAssignmentFactory(user=teacher, section=cast.section, end_date=today)
    with time_machine.travel(datetime.datetime.combine(today, datetime.time(23, 0)), tick=False):
        assert _learner_names(cast, selectors.visible_learners(teacher)) == {"own", "same_section"}
    tomorrow = today + datetime.timedelta(days=1)
    with time_machine.travel(datetime.datetime.combine(tomorrow, datetime.time(0, 1)), tick=False):
        assert list(selectors.visible_learners(teacher)) == []
        assert list(selectors.visible_sections(teacher)) == []
        assert selectors.roles_of(teacher) == frozenset()


def test_teacher_assignment_starting_tomorrow_grants_nothing_today(cast: Cast) -> None:
    teacher = UserFactory(username="arriving")
    TeacherAssignmentFactory(
        user=teacher,
        section=cast.section,
        begin_date=datetime.date.today() + datetime.timedelta(days=1),
    )
    assert list(selectors.visible_learners(teacher)) == []


def test_a_teacher_loses_a_learner_whose_enrollment_ended(cast: Cast) -> None:
    enrollment = cast.same_section.enrollments.get()
    enrollment.end_date = datetime.date.today() - datetime.timedelta(days=1)
    enrollment.save()
    assert _learner_names(cast, selectors.visible_learners(cast.teacher)) == {"own"}


def test_a_guardian_link_that_ended_grants_nothing(cast: Cast) -> None:
    link = cast.guardian.guardian_links.get()
    link.end_date = datetime.date.today() - datetime.timedelta(days=1)
    link.save()
    assert list(selectors.visible_learners(cast.guardian)) == []
    assert selectors.roles_of(cast.guardian) == frozenset()


def test_an_admin_whose_assignment_ended_loses_the_organisation(cast: Cast) -> None:
    assignment = cast.district_admin.role_assignments.get()
    assignment.end_date = datetime.date.today() - datetime.timedelta(days=1)
    assignment.save()
    assert list(selectors.administered_organisations(cast.district_admin)) == []
    assert list(selectors.visible_learners(cast.district_admin)) == []


def test_deactivating_a_user_removes_access_on_the_next_call(cast: Cast) -> None:
    assert selectors.visible_learners(cast.teacher).count() == 2
    User.objects.filter(pk=cast.teacher.pk).update(is_active=False)
    cast.teacher.refresh_from_db()
    assert list(selectors.visible_learners(cast.teacher)) == []


def test_section_roster_lists_current_learners_the_user_may_see(cast: Cast) -> None:
    roster = selectors.section_roster(cast.teacher, cast.section)
    assert _learner_names(cast, roster) == {"own", "same_section"}
    assert list(selectors.section_roster(cast.guardian, cast.section)) == [cast.own]
    assert list(selectors.section_roster(cast.teacher_elsewhere, cast.section)) == []


def test_current_sections_of_learner_excludes_ended_enrollments(cast: Cast) -> None:
    assert list(selectors.current_sections_of_learner(cast.own)) == [cast.section]
    assert list(selectors.current_sections_of_learner(cast.former)) == []


def test_lineage_goes_from_the_school_up_to_the_state(cast: Cast) -> None:
    assert selectors.lineage_of(cast.school) == [cast.school, cast.district, cast.state]
    assert selectors.state_of(cast.school) == cast.state
    assert set(selectors.descendants_of(cast.district)) == {
        cast.district,
        cast.school,
        cast.other_school,
    }


def test_visible_terms_skip_terms_of_unrelated_organisations(cast: Cast) -> None:
    from tests.factories import TermFactory

    far_term = TermFactory(organisation=cast.other_state_district)
    home_term = TermFactory(organisation=cast.district)
    visible = set(selectors.visible_terms(cast.teacher))
    assert cast.term in visible
    assert home_term in visible
    assert far_term not in visible
    assert list(selectors.visible_terms(cast.outsider)) == [cast.term]


def test_can_edit_profile_only_for_the_learner_themselves(cast: Cast) -> None:
    assert selectors.can_edit_profile(cast.student, cast.own)
    for persona in ("teacher", "guardian", "school_admin", "other_student", "outsider"):
        assert not selectors.can_edit_profile(cast.persona(persona), cast.own)


# --- the union of roles: exactly the union, never more -------------------------------------------

Grant = Callable[[Cast, User], None]


def _teach_section(cast: Cast, user: User) -> None:
    TeacherAssignmentFactory(user=user, section=cast.section)


def _teach_school_section(cast: Cast, user: User) -> None:
    TeacherAssignmentFactory(user=user, section=cast.school_section)


def _guard_other_school_learner(cast: Cast, user: User) -> None:
    GuardianLinkFactory(guardian=user, learner=cast.other_school_learner)


def _be_the_other_district_learner(cast: Cast, user: User) -> None:
    Learner.objects.filter(pk=cast.other_district_learner.pk).update(user=user)


def _administer_school(cast: Cast, user: User) -> None:
    AdminAssignmentFactory(user=user, organisation=cast.school)


def _administer_other_district(cast: Cast, user: User) -> None:
    AdminAssignmentFactory(user=user, organisation=cast.other_district)


GRANTS: dict[str, Grant] = {
    "teach_section": _teach_section,
    "teach_school_section": _teach_school_section,
    "guard_other_school_learner": _guard_other_school_learner,
    "be_the_other_district_learner": _be_the_other_district_learner,
    "administer_school": _administer_school,
    "administer_other_district": _administer_other_district,
}


def _scope(user: User) -> tuple[frozenset[int], ...]:
    return (
        frozenset(selectors.visible_learners(user).values_list("pk", flat=True)),
        frozenset(selectors.changeable_learners(user).values_list("pk", flat=True)),
        frozenset(selectors.visible_sections(user).values_list("pk", flat=True)),
        frozenset(selectors.administered_organisations(user).values_list("pk", flat=True)),
        frozenset(selectors.roles_of(user)),
    )


def _scope_with(cast: Cast, grants: tuple[str, ...]) -> tuple[frozenset[object], ...]:
    with transaction.atomic():
        user = UserFactory(username="multi")
        for grant in grants:
            GRANTS[grant](cast, user)
        scope = _scope(user)
        transaction.set_rollback(True)
    return scope  # type: ignore[return-value]


def test_a_user_with_several_roles_gets_exactly_the_union_of_each_role(cast: Cast) -> None:
    single = {name: _scope_with(cast, (name,)) for name in GRANTS}
    combos = [c for size in (2, 3) for c in itertools.combinations(GRANTS, size)]
    for combo in combos:
        expected = tuple(frozenset().union(*(single[name][i] for name in combo)) for i in range(5))
        assert _scope_with(cast, combo) == expected, combo


# --- query counts ------------------------------------------------------------------------------


def test_visible_learners_is_one_query_whatever_the_number_of_rows(cast: Cast) -> None:
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            list(selectors.visible_learners(cast.teacher_admin))
            list(selectors.visible_sections(cast.teacher_admin))
            list(selectors.visible_organisations(cast.teacher_admin))
            selectors.roles_of(cast.teacher_admin)
        return len(ctx.captured_queries)

    before = count_queries()
    for _ in range(20):
        EnrollmentFactory(section=cast.other_section, learner=LearnerFactory(school=cast.school))
    assert before == count_queries() == 4


def test_scoped_querysets_compose_with_other_filters(cast: Cast) -> None:
    sections = Section.objects.filter(
        enrollments__learner__in=selectors.visible_learners(cast.guardian)
    )
    assert list(sections) == [cast.section]
    assert (
        Organisation.objects.filter(
            pk__in=selectors.administered_organisations(cast.school_admin).values("pk")
        ).count()
        == 1
    )
