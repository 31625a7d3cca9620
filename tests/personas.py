"""The fixed cast of personas (../shared/STYLE.md) in a small world with real "elsewhere" targets.

Use ``build_cast()`` in any test (it needs the database), or a fixture::

    from tests.personas import Cast, build_cast
    # in a conftest.py, either the cast built for each test:
    from tests.personas import cast  # noqa: F401
    # or the cast built once per module (fresh instances and a rolled-back savepoint per test;
    # much faster for permission matrices; not with transactional_db or live servers):
    from tests.personas import _module_cast, shared_cast  # noqa: F401

The world (every section is in the current term; every assignment and enrollment is current
unless its name says otherwise)::

    state                                   state_admin
      district                              district_admin
        school                              school_admin
          section        teacher, co_teacher, ended_teacher (ended yesterday),
                         deactivated_teacher (inactive login)
                         learners: own (student), same_section (other_student),
                                   former (enrollment ended yesterday)
          other_section  teacher_guardian, teacher_admin;  learner: other_section
        other_school
          school_section teacher_elsewhere;  learners: other_school, other_school_peer
      other_district
        district_school
          district_section  other_district_teacher;  learner: other_district
    other_state
      other_state_district
        other_state_school   learner: other_state

    guardian            linked to the own learner
    teacher_guardian    teaches other_section AND is guardian of the other_school learner
                        (never sees school_section or other_school_peer: the Canvas bug)
    teacher_admin       teaches other_section AND is school admin of district_school
    outsider            an active login with no role at all

Learner targets by relation to the ``teacher``: ``own`` (the student's record, in the
teacher's section), ``same_section``, ``other_section`` (same school), ``other_school``,
``other_district``, ``other_state``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from learners.models import Learner, Organisation, Section, Term
from tests.factories import (
    AdminAssignmentFactory,
    DistrictFactory,
    EnrollmentFactory,
    GuardianLinkFactory,
    LearnerFactory,
    SchoolFactory,
    SectionFactory,
    StateFactory,
    TeacherAssignmentFactory,
    TermFactory,
    UserFactory,
)


@dataclass(frozen=True)
class Cast:
    # organisations
    state: Organisation
    district: Organisation
    school: Organisation
    other_school: Organisation
    other_district: Organisation
    district_school: Organisation
    other_state: Organisation
    other_state_district: Organisation
    other_state_school: Organisation
    # the term and sections
    term: Term
    section: Section
    other_section: Section
    school_section: Section
    district_section: Section
    # learners
    own: Learner
    same_section: Learner
    former: Learner
    other_section_learner: Learner
    other_school_learner: Learner
    other_school_peer: Learner
    other_district_learner: Learner
    other_state_learner: Learner
    # personas (logins)
    teacher: User
    co_teacher: User
    teacher_elsewhere: User
    other_district_teacher: User
    student: User
    other_student: User
    guardian: User
    school_admin: User
    district_admin: User
    state_admin: User
    teacher_guardian: User
    teacher_admin: User
    ended_teacher: User
    deactivated_teacher: User
    outsider: User

    def all_learners(self) -> list[Learner]:
        return [
            self.own,
            self.same_section,
            self.former,
            self.other_section_learner,
            self.other_school_learner,
            self.other_school_peer,
            self.other_district_learner,
            self.other_state_learner,
        ]

    def all_sections(self) -> list[Section]:
        return [self.section, self.other_section, self.school_section, self.district_section]

    def all_organisations(self) -> list[Organisation]:
        return [
            self.state,
            self.district,
            self.school,
            self.other_school,
            self.other_district,
            self.district_school,
            self.other_state,
            self.other_state_district,
            self.other_state_school,
        ]

    def persona(self, name: str) -> User:
        user = getattr(self, name)
        assert isinstance(user, User), name
        return user


PERSONA_NAMES = (
    "teacher",
    "co_teacher",
    "teacher_elsewhere",
    "other_district_teacher",
    "student",
    "other_student",
    "guardian",
    "school_admin",
    "district_admin",
    "state_admin",
    "teacher_guardian",
    "teacher_admin",
    "ended_teacher",
    "deactivated_teacher",
    "outsider",
)


# --- the expected scope of each persona (names of Cast attributes) --------------------------------
# Other apps' permission matrices can use these: e.g. a learner-scoped endpoint must answer 200
# for exactly the learners in VISIBLE_LEARNERS[persona] and 404 for every other target.

ADMIN_SCHOOL = {"own", "same_section", "former", "other_section_learner"}
ADMIN_DISTRICT = ADMIN_SCHOOL | {"other_school_learner", "other_school_peer"}
ADMIN_STATE = ADMIN_DISTRICT | {"other_district_learner"}

VISIBLE_LEARNERS: dict[str, set[str]] = {
    "teacher": {"own", "same_section"},
    "co_teacher": {"own", "same_section"},
    "teacher_elsewhere": {"other_school_learner", "other_school_peer"},
    "other_district_teacher": {"other_district_learner"},
    "student": {"own"},
    "other_student": {"same_section"},
    "guardian": {"own"},
    "school_admin": ADMIN_SCHOOL,
    "district_admin": ADMIN_DISTRICT,
    "state_admin": ADMIN_STATE,
    "teacher_guardian": {"other_section_learner", "other_school_learner"},
    "teacher_admin": {"other_section_learner", "other_district_learner"},
    "ended_teacher": set(),
    "deactivated_teacher": set(),
    "outsider": set(),
}

CHANGEABLE_LEARNERS: dict[str, set[str]] = {
    **VISIBLE_LEARNERS,
    "student": set(),
    "other_student": set(),
    "guardian": set(),
    "teacher_guardian": {"other_section_learner"},
}

VISIBLE_SECTIONS: dict[str, set[str]] = {
    "teacher": {"section"},
    "co_teacher": {"section"},
    "teacher_elsewhere": {"school_section"},
    "other_district_teacher": {"district_section"},
    "student": set(),
    "other_student": set(),
    "guardian": set(),
    "school_admin": {"section", "other_section"},
    "district_admin": {"section", "other_section", "school_section"},
    "state_admin": {"section", "other_section", "school_section", "district_section"},
    "teacher_guardian": {"other_section"},
    "teacher_admin": {"other_section", "district_section"},
    "ended_teacher": set(),
    "deactivated_teacher": set(),
    "outsider": set(),
}

HOME = {"state", "district", "school"}
VISIBLE_ORGANISATIONS: dict[str, set[str]] = {
    "teacher": HOME,
    "co_teacher": HOME,
    "teacher_elsewhere": {"state", "district", "other_school"},
    "other_district_teacher": {"state", "other_district", "district_school"},
    "student": HOME,
    "other_student": HOME,
    "guardian": HOME,
    "school_admin": HOME,
    "district_admin": HOME | {"other_school"},
    "state_admin": HOME | {"other_school", "other_district", "district_school"},
    "teacher_guardian": HOME | {"other_school"},
    "teacher_admin": HOME | {"other_district", "district_school"},
    "ended_teacher": set(),
    "deactivated_teacher": set(),
    "outsider": set(),
}

ADMINISTERED: dict[str, set[str]] = {name: set() for name in PERSONA_NAMES} | {
    "school_admin": {"school"},
    "district_admin": {"district", "school", "other_school"},
    "state_admin": {
        "state",
        "district",
        "school",
        "other_school",
        "other_district",
        "district_school",
    },
    "teacher_admin": {"district_school"},
}

ROLES: dict[str, set[str]] = {
    "teacher": {"teacher"},
    "co_teacher": {"teacher"},
    "teacher_elsewhere": {"teacher"},
    "other_district_teacher": {"teacher"},
    "student": {"student"},
    "other_student": {"student"},
    "guardian": {"guardian"},
    "school_admin": {"school_admin"},
    "district_admin": {"district_admin"},
    "state_admin": {"state_admin"},
    "teacher_guardian": {"teacher", "guardian"},
    "teacher_admin": {"teacher", "school_admin"},
    "ended_teacher": set(),
    "deactivated_teacher": set(),
    "outsider": set(),
}

LEARNER_ATTRS = {
    "own": "own",
    "same_section": "same_section",
    "former": "former",
    "other_section_learner": "other_section_learner",
    "other_school_learner": "other_school_learner",
    "other_school_peer": "other_school_peer",
    "other_district_learner": "other_district_learner",
    "other_state_learner": "other_state_learner",
}
SECTION_ATTRS = ("section", "other_section", "school_section", "district_section")
ORG_ATTRS = (
    "state",
    "district",
    "school",
    "other_school",
    "other_district",
    "district_school",
    "other_state",
    "other_state_district",
    "other_state_school",
)


def learners_visible_to(cast: Cast, persona: str) -> list[Learner]:
    """The cast's learners the persona may see."""
    return [getattr(cast, LEARNER_ATTRS[n]) for n in sorted(VISIBLE_LEARNERS[persona])]


def learners_hidden_from(cast: Cast, persona: str) -> list[Learner]:
    """The cast's learners the persona must get a 404 for."""
    hidden = set(LEARNER_ATTRS) - VISIBLE_LEARNERS[persona]
    return [getattr(cast, LEARNER_ATTRS[n]) for n in sorted(hidden)]


def build_cast(today: datetime.date | None = None) -> Cast:
    """Build the world above in the database (about 60 rows, one call per test)."""
    day = today or timezone.localdate()
    yesterday = day - datetime.timedelta(days=1)
    long_ago = day - datetime.timedelta(days=60)

    state = StateFactory(name="Stateland", sourced_id="cast-state")
    district = DistrictFactory(name="North District", parent=state, sourced_id="cast-district")
    school = SchoolFactory(name="Hill School", parent=district, sourced_id="cast-school")
    other_school = SchoolFactory(name="Lake School", parent=district, sourced_id="cast-school-2")
    other_district = DistrictFactory(
        name="South District", parent=state, sourced_id="cast-district-2"
    )
    district_school = SchoolFactory(
        name="River School", parent=other_district, sourced_id="cast-school-3"
    )
    other_state = StateFactory(name="Otherland", sourced_id="cast-state-2")
    other_state_district = DistrictFactory(
        name="Far District", parent=other_state, sourced_id="cast-district-3"
    )
    other_state_school = SchoolFactory(
        name="Far School", parent=other_state_district, sourced_id="cast-school-4"
    )

    term = TermFactory(
        title="This term",
        start_date=long_ago,
        end_date=day + datetime.timedelta(days=120),
        sourced_id="cast-term",
    )
    section = SectionFactory(title="Maths 5A", school=school, term=term)
    other_section = SectionFactory(title="Science 5B", school=school, term=term)
    school_section = SectionFactory(title="Maths 5L", school=other_school, term=term)
    district_section = SectionFactory(title="Maths 5R", school=district_school, term=term)

    def user(username: str, **fields: object) -> User:
        return UserFactory(username=username, **fields)

    student = user("student")
    other_student = user("other_student")
    own = LearnerFactory(school=school, user=student, given_name="Ada", family_name="Own")
    same_section = LearnerFactory(
        school=school, user=other_student, given_name="Ben", family_name="Same"
    )
    former = LearnerFactory(school=school, given_name="Cy", family_name="Former")
    other_section_learner = LearnerFactory(school=school, given_name="Di", family_name="Other")
    other_school_learner = LearnerFactory(
        school=other_school, given_name="Ed", family_name="Elsewhere"
    )
    other_school_peer = LearnerFactory(school=other_school, given_name="Fay", family_name="Peer")
    other_district_learner = LearnerFactory(
        school=district_school, given_name="Gus", family_name="South"
    )
    other_state_learner = LearnerFactory(
        school=other_state_school, given_name="Hal", family_name="Far"
    )

    for learner, target in (
        (own, section),
        (same_section, section),
        (other_section_learner, other_section),
        (other_school_learner, school_section),
        (other_school_peer, school_section),
        (other_district_learner, district_section),
    ):
        EnrollmentFactory(learner=learner, section=target, begin_date=long_ago, end_date=None)
    EnrollmentFactory(learner=former, section=section, begin_date=long_ago, end_date=yesterday)

    def teach(login: User, target: Section, **dates: object) -> None:
        TeacherAssignmentFactory(user=login, section=target, begin_date=long_ago, **dates)

    def administer(login: User, organisation: Organisation) -> None:
        AdminAssignmentFactory(user=login, organisation=organisation, begin_date=long_ago)

    teacher = user("teacher")
    co_teacher = user("co_teacher")
    teacher_elsewhere = user("teacher_elsewhere")
    other_district_teacher = user("other_district_teacher")
    ended_teacher = user("ended_teacher")
    deactivated_teacher = user("deactivated_teacher", is_active=False)
    teacher_guardian = user("teacher_guardian")
    teacher_admin = user("teacher_admin")
    teach(teacher, section)
    teach(co_teacher, section)
    teach(ended_teacher, section, end_date=yesterday)
    teach(deactivated_teacher, section)
    teach(teacher_elsewhere, school_section)
    teach(other_district_teacher, district_section)
    teach(teacher_guardian, other_section)
    teach(teacher_admin, other_section)

    guardian = user("guardian")
    GuardianLinkFactory(guardian=guardian, learner=own)
    GuardianLinkFactory(guardian=teacher_guardian, learner=other_school_learner)

    school_admin = user("school_admin")
    district_admin = user("district_admin")
    state_admin = user("state_admin")
    administer(school_admin, school)
    administer(district_admin, district)
    administer(state_admin, state)
    administer(teacher_admin, district_school)

    return Cast(
        state=state,
        district=district,
        school=school,
        other_school=other_school,
        other_district=other_district,
        district_school=district_school,
        other_state=other_state,
        other_state_district=other_state_district,
        other_state_school=other_state_school,
        term=term,
        section=section,
        other_section=other_section,
        school_section=school_section,
        district_section=district_section,
        own=own,
        same_section=same_section,
        former=former,
        other_section_learner=other_section_learner,
        other_school_learner=other_school_learner,
        other_school_peer=other_school_peer,
        other_district_learner=other_district_learner,
        other_state_learner=other_state_learner,
        teacher=teacher,
        co_teacher=co_teacher,
        teacher_elsewhere=teacher_elsewhere,
        other_district_teacher=other_district_teacher,
        student=student,
        other_student=other_student,
        guardian=guardian,
        school_admin=school_admin,
        district_admin=district_admin,
        state_admin=state_admin,
        teacher_guardian=teacher_guardian,
        teacher_admin=teacher_admin,
        ended_teacher=ended_teacher,
        deactivated_teacher=deactivated_teacher,
        outsider=user("outsider"),
    )


@pytest.fixture
def cast(db: None) -> Cast:
    """The cast of personas, built fresh for the test (see the module docstring)."""
    return build_cast()


@pytest.fixture(scope="module")
def _module_cast(django_db_setup: None, django_db_blocker: Any) -> Iterator[Cast]:
    # One outer transaction per module holds the cast; each test's own transaction (the ``db``
    # fixture) nests inside it as a savepoint and is rolled back after the test, so every test
    # starts from the same cast. The outer transaction is rolled back at the end of the module.
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_cast()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def shared_cast(_module_cast: Cast, db: None) -> Cast:
    """The cast, built once per test module (much faster than ``cast`` for big matrices).

    Each test gets fresh model instances, so changes a test makes (in the database or on the
    objects) never leak into the next test. Do not use it with ``transactional_db``.
    """
    return reload_cast(_module_cast)


def reload_cast(cast: Cast) -> Cast:
    """A copy of ``cast`` whose model instances are re-read from the database (one query per
    model)."""
    wanted: dict[type[Any], set[int]] = {}
    for item in fields(cast):
        obj = getattr(cast, item.name)
        wanted.setdefault(type(obj), set()).add(obj.pk)
    fresh = {model: model._default_manager.in_bulk(pks) for model, pks in wanted.items()}
    values = {
        item.name: fresh[type(getattr(cast, item.name))][getattr(cast, item.name).pk]
        for item in fields(cast)
    }
    return Cast(**values)
