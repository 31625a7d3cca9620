"""The learners services: validation before writing, the actor's scope, idempotency."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError

from learners import selectors, services
from learners.models import Enrollment, GuardianLink, Learner, LearnerProfile, Organisation
from tests.factories import LearnerFactory, SectionFactory, StateFactory, UserFactory
from tests.personas import Cast

pytestmark = pytest.mark.django_db

TODAY = datetime.date.today()


@pytest.fixture(autouse=True)
def _today_stays_today() -> Iterator[None]:
    """Keeps TODAY (read at import) the current day while the module runs: a run that crosses
    midnight would otherwise end "today's" assignments a day early."""
    noon = datetime.datetime.combine(TODAY, datetime.time(12), tzinfo=datetime.UTC)
    with time_machine.travel(noon, tick=True):
        yield


# --- organisations ------------------------------------------------------------------------------


def test_a_district_admin_creates_a_school_in_their_district(cast: Cast) -> None:
    school = services.create_organisation(
        actor=cast.district_admin, kind="school", name="New School", parent=cast.district
    )
    assert school in selectors.administered_organisations(cast.district_admin)


@pytest.mark.parametrize(
    ("kind", "parent_attr", "field"),
    [
        ("district", "school", "parent"),
        ("state", "district", "parent"),
        ("school", "other_school", "parent"),
        ("county", "district", "kind"),
    ],
)
def test_an_organisation_must_rank_below_its_parent(
    cast: Cast, kind: str, parent_attr: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.create_organisation(
            actor=None, kind=kind, name="Wrong", parent=getattr(cast, parent_attr)
        )
    assert field in caught.value.message_dict
    assert not Organisation.objects.filter(name="Wrong").exists()


def test_only_the_operator_creates_a_root_organisation(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        services.create_organisation(actor=cast.state_admin, kind="state", name="Newland")
    root = UserFactory(username="root", is_superuser=True)
    assert services.create_organisation(actor=root, kind="state", name="Newland").parent is None


def test_an_admin_cannot_create_below_an_organisation_they_do_not_administer(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        services.create_organisation(
            actor=cast.school_admin, kind="school", name="Sneaky", parent=cast.district
        )
    assert not Organisation.objects.filter(name="Sneaky").exists()


# --- learners -----------------------------------------------------------------------------------


def test_create_learner_sets_the_state_from_the_school(cast: Cast) -> None:
    learner = services.create_learner(
        actor=cast.school_admin, school=cast.school, given_name="Ola", family_name="New"
    )
    assert learner.state == cast.state
    assert learner in selectors.visible_learners(cast.school_admin)


def test_a_state_student_id_is_unique_within_the_state_only(cast: Cast) -> None:
    taken = cast.own.state_student_id
    with pytest.raises(ValidationError) as caught:
        services.create_learner(
            actor=None,
            school=cast.other_school,
            given_name="Dup",
            family_name="Licate",
            state_student_id=taken,
        )
    assert "state_student_id" in caught.value.message_dict
    elsewhere = services.create_learner(
        actor=None,
        school=cast.other_state_school,
        given_name="Same",
        family_name="Id",
        state_student_id=taken,
    )
    assert elsewhere.state == cast.other_state


def test_a_local_id_is_unique_within_the_school(cast: Cast) -> None:
    with pytest.raises(ValidationError) as caught:
        services.create_learner(
            actor=None,
            school=cast.school,
            given_name="Dup",
            family_name="Local",
            local_id=cast.own.local_id,
        )
    assert "local_id" in caught.value.message_dict


def test_a_learner_belongs_to_a_school_not_a_district(cast: Cast) -> None:
    with pytest.raises(ValidationError):
        services.create_learner(
            actor=None, school=cast.district, given_name="No", family_name="School"
        )


def test_a_school_admin_cannot_create_a_learner_elsewhere(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        services.create_learner(
            actor=cast.school_admin, school=cast.other_school, given_name="X", family_name="Y"
        )
    assert not Learner.objects.filter(given_name="X").exists()


def test_a_teacher_cannot_create_learners(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        services.create_learner(
            actor=cast.teacher, school=cast.school, given_name="X", family_name="Y"
        )


# --- enrollments and roles ----------------------------------------------------------------------


def test_enrolling_twice_updates_the_dates_instead_of_duplicating(cast: Cast) -> None:
    end = TODAY + datetime.timedelta(days=10)
    services.enroll_learner(actor=None, learner=cast.own, section=cast.section, end_date=end)
    enrollment = Enrollment.objects.get(learner=cast.own, section=cast.section)
    assert enrollment.end_date == end


def test_a_learner_cannot_be_enrolled_in_another_school_section(cast: Cast) -> None:
    with pytest.raises(ValidationError):
        services.enroll_learner(actor=None, learner=cast.own, section=cast.school_section)


def test_an_enrollment_cannot_end_before_it_begins(cast: Cast) -> None:
    with pytest.raises(ValidationError) as caught:
        services.enroll_learner(
            actor=None,
            learner=cast.other_section_learner,
            section=cast.section,
            begin_date=TODAY,
            end_date=TODAY - datetime.timedelta(days=1),
        )
    assert "end_date" in caught.value.message_dict


def test_an_admin_role_must_match_its_organisation_kind(cast: Cast) -> None:
    with pytest.raises(ValidationError) as caught:
        services.assign_role(
            actor=None, user=cast.outsider, kind="district_admin", organisation=cast.school
        )
    assert "kind" in caught.value.message_dict


def test_a_teacher_role_needs_a_section(cast: Cast) -> None:
    with pytest.raises(ValidationError) as caught:
        services.assign_role(actor=None, user=cast.outsider, kind="teacher")
    assert "section" in caught.value.message_dict


def test_an_admin_grants_roles_only_within_their_scope(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        services.assign_role(
            actor=cast.school_admin,
            user=cast.outsider,
            kind="teacher",
            section=cast.school_section,
        )
    assignment = services.assign_role(
        actor=cast.school_admin, user=cast.outsider, kind="teacher", section=cast.other_section
    )
    assert assignment.organisation == cast.school
    assert selectors.roles_of(cast.outsider) == {"teacher"}


def test_an_ended_role_grants_nothing_from_the_next_day(cast: Cast) -> None:
    assignment = cast.co_teacher.role_assignments.get()
    services.end_role_assignment(actor=cast.school_admin, assignment=assignment, end_date=TODAY)
    assert selectors.visible_learners(cast.co_teacher).count() == 2
    with time_machine.travel(TODAY + datetime.timedelta(days=1, hours=12), tick=False):
        assert list(selectors.visible_learners(cast.co_teacher)) == []


def test_only_an_admin_of_the_organisation_ends_a_role(cast: Cast) -> None:
    assignment = cast.co_teacher.role_assignments.get()
    with pytest.raises(PermissionDenied):
        services.end_role_assignment(actor=cast.teacher, assignment=assignment, end_date=TODAY)


# --- guardians, students, profiles --------------------------------------------------------------


def test_linking_a_guardian_twice_keeps_one_link(cast: Cast) -> None:
    services.link_guardian(actor=None, guardian=cast.guardian, learner=cast.own)
    assert GuardianLink.objects.filter(guardian=cast.guardian, learner=cast.own).count() == 1


def test_a_student_login_cannot_be_a_guardian(cast: Cast) -> None:
    with pytest.raises(ValidationError):
        services.link_guardian(actor=None, guardian=cast.student, learner=cast.same_section)


def test_one_user_is_the_login_of_one_learner_only(cast: Cast) -> None:
    with pytest.raises(ValidationError):
        services.link_student_user(actor=None, learner=cast.former, user=cast.student)
    fresh = UserFactory(username="fresh_student")
    services.link_student_user(actor=cast.school_admin, learner=cast.former, user=fresh)
    assert selectors.learner_of(fresh) == cast.former


def test_a_learner_writes_their_own_profile_trimmed(cast: Cast) -> None:
    profile = services.update_learner_profile(
        actor=cast.student,
        learner=cast.own,
        strengths="  Puzzles \n",
        interests="Chess",
        how_i_learn_best="",
        goals="Fractions",
    )
    assert (profile.strengths, profile.updated_by) == ("Puzzles", cast.student)


@pytest.mark.parametrize("persona", ["teacher", "guardian", "school_admin", "other_student"])
def test_nobody_else_writes_a_learner_profile(cast: Cast, persona: str) -> None:
    with pytest.raises(PermissionDenied):
        services.update_learner_profile(
            actor=cast.persona(persona),
            learner=cast.own,
            strengths="Not mine",
            interests="",
            how_i_learn_best="",
            goals="",
        )
    assert not LearnerProfile.objects.exists()


def test_a_profile_answer_over_the_limit_is_refused(cast: Cast) -> None:
    with pytest.raises(ValidationError) as caught:
        services.update_learner_profile(
            actor=cast.student,
            learner=cast.own,
            strengths="x" * 5001,
            interests="",
            how_i_learn_best="",
            goals="y" * 5001,
        )
    assert set(caught.value.message_dict) == {"strengths", "goals"}


def test_only_the_operator_deactivates_logins_and_access_ends(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        services.deactivate_users(actor=cast.state_admin, users=[cast.teacher])
    root = UserFactory(username="root", is_superuser=True)
    assert services.deactivate_users(actor=root, users=[cast.teacher, cast.co_teacher]) == 2
    teacher = User.objects.get(pk=cast.teacher.pk)
    assert teacher.is_active is False
    assert list(selectors.visible_learners(teacher)) == []


def test_factories_keep_the_state_invariant() -> None:
    state = StateFactory()
    learner = LearnerFactory(school=SectionFactory(school__parent__parent=state).school)
    assert learner.state == state
