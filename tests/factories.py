"""factory_boy factories for the learners app's models, shared by every app's tests.

Values are deterministic (sequences, no Faker) so failures reproduce. Dates are relative to
``timezone.localdate()`` at build time, so they follow time-machine when a test freezes time.
A factory-made user has an unusable password: log in with ``client.force_login(user)``.

Typical use::

    section = SectionFactory()                     # a school (in a district, in a state), a term
    learner = LearnerFactory(school=section.school)
    EnrollmentFactory(learner=learner, section=section)
    teacher = TeacherAssignmentFactory(section=section).user
"""

from __future__ import annotations

import datetime
from typing import Any

import factory
from django.contrib.auth.models import User
from django.utils import timezone

from learners import selectors
from learners.models import (
    Course,
    Enrollment,
    GuardianLink,
    GuardianRelationship,
    Learner,
    LearnerProfile,
    Organisation,
    OrganisationKind,
    RoleAssignment,
    RoleKind,
    Section,
    Term,
    TermKind,
)


def days_from_today(days: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=days)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    # Unusable (starts with "!"), and no slow hashing in tests.
    password = "!unusable"
    is_active = True


class StateFactory(factory.django.DjangoModelFactory[Organisation]):
    class Meta:
        model = Organisation

    kind = OrganisationKind.STATE
    name = factory.Sequence(lambda n: f"State {n}")
    parent = None
    sourced_id = factory.Sequence(lambda n: f"org-state-{n}")
    external_id = factory.Sequence(lambda n: f"S{n:02d}")


class DistrictFactory(StateFactory):
    kind = OrganisationKind.DISTRICT
    name = factory.Sequence(lambda n: f"District {n}")
    parent = factory.SubFactory(StateFactory)
    sourced_id = factory.Sequence(lambda n: f"org-district-{n}")
    external_id = factory.Sequence(lambda n: f"D{n:05d}")


class SchoolFactory(StateFactory):
    kind = OrganisationKind.SCHOOL
    name = factory.Sequence(lambda n: f"School {n}")
    parent = factory.SubFactory(DistrictFactory)
    sourced_id = factory.Sequence(lambda n: f"org-school-{n}")
    external_id = factory.Sequence(lambda n: f"{n:012d}")


class TermFactory(factory.django.DjangoModelFactory[Term]):
    """A term running from 60 days ago to 120 days from now (current by default)."""

    class Meta:
        model = Term

    title = factory.Sequence(lambda n: f"Term {n}")
    kind = TermKind.SEMESTER
    organisation = None
    start_date = factory.LazyFunction(lambda: days_from_today(-60))
    end_date = factory.LazyFunction(lambda: days_from_today(120))
    school_year = factory.LazyAttribute(lambda t: t.end_date.year)
    sourced_id = factory.Sequence(lambda n: f"term-{n}")


class CourseFactory(factory.django.DjangoModelFactory[Course]):
    class Meta:
        model = Course

    title = factory.Sequence(lambda n: f"Course {n}")
    course_code = factory.Sequence(lambda n: f"C{n:03d}")
    organisation = factory.SubFactory(SchoolFactory)
    subjects = "Mathematics"
    sourced_id = factory.Sequence(lambda n: f"course-{n}")


class SectionFactory(factory.django.DjangoModelFactory[Section]):
    class Meta:
        model = Section

    title = factory.Sequence(lambda n: f"Section {n}")
    school = factory.SubFactory(SchoolFactory)
    term = factory.SubFactory(TermFactory)
    course = None
    course_code = factory.Sequence(lambda n: f"MATH-{n}")
    section_code = factory.Sequence(lambda n: f"P{n}")
    subject = "Mathematics"
    sourced_id = factory.Sequence(lambda n: f"class-{n}")


class LearnerFactory(factory.django.DjangoModelFactory[Learner]):
    """A learner at a school; ``state`` follows the school's ancestry as the services set it."""

    class Meta:
        model = Learner

    school = factory.SubFactory(SchoolFactory)
    state = factory.LazyAttribute(lambda o: selectors.state_of(o.school))
    local_id = factory.Sequence(lambda n: f"L{n:06d}")
    state_student_id = factory.Sequence(lambda n: f"SSID{n:08d}")
    given_name = factory.Sequence(lambda n: f"Given{n}")
    family_name = factory.Sequence(lambda n: f"Family{n}")
    grade_level = "05"
    active = True
    user = None
    sourced_id = factory.Sequence(lambda n: f"learner-{n}")


class StudentLearnerFactory(LearnerFactory):
    """A learner with their own student login."""

    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"student{n}"))


class EnrollmentFactory(factory.django.DjangoModelFactory[Enrollment]):
    """A learner in a section, current (begun 30 days ago, open-ended) unless told otherwise."""

    class Meta:
        model = Enrollment

    section = factory.SubFactory(SectionFactory)
    learner = factory.SubFactory(LearnerFactory, school=factory.SelfAttribute("..section.school"))
    begin_date = factory.LazyFunction(lambda: days_from_today(-30))
    end_date = None


class TeacherAssignmentFactory(factory.django.DjangoModelFactory[RoleAssignment]):
    """A current teacher of a section (``organisation`` is the section's school)."""

    class Meta:
        model = RoleAssignment

    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"teacher{n}"))
    kind = RoleKind.TEACHER
    section = factory.SubFactory(SectionFactory)
    organisation = factory.SelfAttribute("section.school")
    begin_date = factory.LazyFunction(lambda: days_from_today(-30))
    end_date = None


class AdminAssignmentFactory(factory.django.DjangoModelFactory[RoleAssignment]):
    """A current admin of an organisation; ``kind`` follows the organisation's kind."""

    class Meta:
        model = RoleAssignment

    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"admin{n}"))
    organisation = factory.SubFactory(SchoolFactory)
    kind = factory.LazyAttribute(lambda o: f"{o.organisation.kind}_admin")
    section = None
    begin_date = factory.LazyFunction(lambda: days_from_today(-30))
    end_date = None


class GuardianLinkFactory(factory.django.DjangoModelFactory[GuardianLink]):
    class Meta:
        model = GuardianLink

    guardian = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"guardian{n}"))
    learner = factory.SubFactory(LearnerFactory)
    relationship = GuardianRelationship.PARENT
    begin_date = None
    end_date = None


class LearnerProfileFactory(factory.django.DjangoModelFactory[LearnerProfile]):
    class Meta:
        model = LearnerProfile

    learner = factory.SubFactory(LearnerFactory)
    strengths = "I keep going when a problem is hard."
    interests = "Robots and football."
    how_i_learn_best = "Drawing it out first."
    goals = "Explain fractions to my little brother."


def make_user(username: str, **fields: Any) -> User:
    """A user with an unusable password (log in with ``client.force_login``)."""
    return UserFactory(username=username, **fields)
