"""The demo district that ``seed_demo`` loads: realistic, deterministic, fast, idempotent.

One state, one district, schools by level (elementary KG-05, middle 06-08, high 09-12), the
current school year as a term (dates follow today, so the demo is always "current"), groups of at
most 25 learners per grade each taking two sections with their teacher, a student login per
learner, guardians (some with two children), an admin per school, a district admin, a state admin,
and named demo logins for every role. Names come from ``random.Random(seed)``: the same seed and
size give the same district. Everything is written with bulk inserts in one transaction.
"""

from __future__ import annotations

import datetime
import math
import random
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from learners.models import (
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

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (public demo login, printed on purpose)
STATE_SOURCED_ID = "demo-state"
GROUP_SIZE = 25
LEARNERS_PER_SCHOOL = 500


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


GIVEN_NAMES = _words(
    "Aaliyah Aarav Abigail Ada Adrian Aiko Alejandro Amara Amir Ana Andre Anika Arjun Ava "
    "Ayesha Beatriz Ben Camila Carlos Chen Chloe Daniel Daria Dev Diego Elena Eli Emeka Emma "
    "Eva Fatima Finn Gabriel Grace Hana Hassan Imani Isaac Isabella Jamal Jasmine Javier Jin "
    "Jonah Kai Kofi Layla Leo Lucia Malik Maria Mateo Maya Mei Mohammed Nadia Naomi Noah Nia "
    "Omar Priya Rafael Riya Rosa Samuel Sara Sofia Tariq Theo Uma Valentina Wei Yara Yusuf "
    "Zara Zoe"
)
FAMILY_NAMES = _words(
    "Abara Adeyemi Alvarez Andersen Bailey Banerjee Bauer Brooks Castillo Chen Cohen Costa "
    "Diaz Dubois Edwards Fernandes Fischer Garcia Gomez Gupta Haddad Hansen Hernandez Ito "
    "Jackson Jones Kaur Kim Kowalski Kumar Larsen Lee Lopez Martin Mensah Moreno Müller "
    "Nakamura Nguyen Novak Okafor O'Brien Okoro Patel Petrov Quinn Rahman Reyes Rossi Santos "
    "Schmidt Silva Singh Smith Sousa Tanaka Taylor Torres Tran Walker Wang Williams Wilson "
    "Yamamoto Yilmaz Zhang"
)
LEVELS = (
    ("Elementary School", ["KG", "01", "02", "03", "04", "05"], "English Language Arts"),
    ("Middle School", ["06", "07", "08"], "Science"),
    ("High School", ["09", "10", "11", "12"], "Science"),
)
PLACES = _words(
    "Riverside Maple Lincoln Cedar Oakwood Hillcrest Lakeview Pinecrest Brookside Westfield "
    "Sunnyvale Fairview Kingsley Harbor Meadow Ridgeway Willow Summit Granite Valley "
    "Birchwood Elmwood Northgate Southport Eastwood Greenfield Highland Ashford Bayside "
    "Clearwater"
)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    note: str


DEMO_LOGINS = (
    DemoLogin("teacher", "teacher", "teaches two sections (one co-taught with 'coteacher')"),
    DemoLogin("coteacher", "teacher", "co-teaches the 'teacher' maths section"),
    DemoLogin("student", "student", "a learner in the 'teacher' sections"),
    DemoLogin("guardian", "guardian", "parent of 'student' and a sibling"),
    DemoLogin("schooladmin", "school admin", "admin of the first school"),
    DemoLogin("districtadmin", "district admin", "admin of the district"),
    DemoLogin("stateadmin", "state admin", "admin of the state"),
    DemoLogin("admin", "platform operator", "superuser: the Django admin, everything"),
)


@dataclass
class DemoResult:
    created: bool
    learners: int
    schools: int
    sections: int
    teachers: int
    guardians: int
    logins: tuple[DemoLogin, ...] = field(default=DEMO_LOGINS)


def school_year_bounds(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The school year containing ``today``: mid-August to mid-June, summer counts as next."""
    start_year = today.year if today.month >= 7 else today.year - 1
    return datetime.date(start_year, 8, 15), datetime.date(start_year + 1, 6, 15)


def demo_is_loaded() -> bool:
    return Organisation.objects.filter(sourced_id=STATE_SOURCED_ID).exists()


@transaction.atomic
def seed_demo_district(*, learners: int = 300, seed: int = 2026) -> DemoResult:
    """Load the demo district once. Idempotent: when it is already loaded, writes nothing and
    returns its current size (``created`` False), whatever ``learners`` asks for."""
    if learners < 1:
        raise ValueError("The demo needs at least one learner.")
    if demo_is_loaded():
        return _existing_summary()
    rng = random.Random(seed)  # noqa: S311  (demo names, not security)
    today = timezone.localdate()
    start, end = school_year_bounds(today)
    password = make_password(DEMO_PASSWORD)
    unusable = make_password(None)

    state = Organisation.objects.create(
        kind=OrganisationKind.STATE,
        name="Demo State",
        sourced_id=STATE_SOURCED_ID,
        external_id="DS",
    )
    district = Organisation.objects.create(
        kind=OrganisationKind.DISTRICT,
        name="Riverside Unified School District",
        parent=state,
        sourced_id="demo-district",
        external_id="9900001",
    )
    school_count = max(2, math.ceil(learners / LEARNERS_PER_SCHOOL))
    schools = Organisation.objects.bulk_create(
        [
            Organisation(
                kind=OrganisationKind.SCHOOL,
                name=f"{PLACES[i % len(PLACES)]} {LEVELS[i % len(LEVELS)][0]}"
                + (f" {i // len(PLACES) + 1}" if i >= len(PLACES) else ""),
                parent=district,
                sourced_id=f"demo-school-{i}",
                external_id=f"99000010{i:04d}",
            )
            for i in range(school_count)
        ]
    )
    term = Term.objects.create(
        title=f"{start.year}-{end.year}",
        kind=TermKind.SCHOOL_YEAR,
        organisation=district,
        school_year=end.year,
        start_date=start,
        end_date=end,
        sourced_id=f"demo-year-{end.year}",
    )

    # Learners, spread over schools and their grades.
    learner_rows: list[Learner] = []
    per_school = [learners // school_count] * school_count
    for i in range(learners % school_count):
        per_school[i] += 1
    number = 0
    for index, school in enumerate(schools):
        grades = LEVELS[index % len(LEVELS)][1]
        for k in range(per_school[index]):
            grade = grades[k * len(grades) // per_school[index]]
            learner_rows.append(
                Learner(
                    school=school,
                    state=state,
                    local_id=f"{index + 1:02d}{number:06d}",
                    state_student_id=f"DS{number:08d}",
                    given_name=rng.choice(GIVEN_NAMES),
                    family_name=rng.choice(FAMILY_NAMES),
                    grade_level=grade,
                    sourced_id=f"demo-learner-{number}",
                )
            )
            number += 1

    # Student logins, one per learner; the first learner is the named "student".
    student_users = [
        User(
            username="student" if n == 0 else f"s{row.local_id}",
            first_name=row.given_name,
            last_name=row.family_name,
            password=password if n == 0 else unusable,
        )
        for n, row in enumerate(learner_rows)
    ]
    User.objects.bulk_create(student_users, batch_size=2000)
    student_users = _reload_users([u.username for u in student_users])
    for row, login in zip(learner_rows, student_users, strict=True):
        row.user = login
    Learner.objects.bulk_create(learner_rows, batch_size=2000)
    learner_rows = list(
        Learner.objects.filter(state=state).order_by("pk").only("pk", "school_id", "grade_level")
    )

    # Groups of at most 25 learners of one grade at one school, two sections each.
    groups: list[tuple[Organisation, str, list[Learner]]] = []
    by_school_grade: dict[tuple[int, str], list[Learner]] = {}
    for row in learner_rows:
        by_school_grade.setdefault((row.school_id, row.grade_level), []).append(row)
    school_by_pk = {school.pk: school for school in schools}
    for (school_pk, grade), members in by_school_grade.items():
        for offset in range(0, len(members), GROUP_SIZE):
            groups.append((school_by_pk[school_pk], grade, members[offset : offset + GROUP_SIZE]))

    teacher_users = [
        User(
            username="teacher" if g == 0 else f"t{g:05d}",
            first_name=rng.choice(GIVEN_NAMES),
            last_name=rng.choice(FAMILY_NAMES),
            password=password if g == 0 else unusable,
        )
        for g in range(len(groups))
    ]
    teacher_users.append(
        User(username="coteacher", first_name="Corey", last_name="Teacher", password=password)
    )
    User.objects.bulk_create(teacher_users, batch_size=2000)
    teacher_users = _reload_users([u.username for u in teacher_users])
    coteacher = teacher_users.pop()

    sections: list[Section] = []
    for g, (school, grade, _members) in enumerate(groups):
        other = LEVELS[schools.index(school) % len(LEVELS)][2]
        letter = chr(ord("A") + g % 26)
        for subject, code in (("Mathematics", "MATH"), (other, other[:3].upper())):
            sections.append(
                Section(
                    title=f"{subject} {grade}{letter}",
                    school=school,
                    term=term,
                    course_code=f"{code}{grade}",
                    section_code=f"{code}{grade}-{g}",
                    subject=subject,
                    grade_levels=grade,
                    sourced_id=f"demo-section-{g}-{code}",
                )
            )
    Section.objects.bulk_create(sections, batch_size=2000)
    sections = list(Section.objects.filter(term=term).order_by("pk"))
    section_pairs = [sections[2 * g : 2 * g + 2] for g in range(len(groups))]

    assignments: list[RoleAssignment] = []
    enrollments: list[Enrollment] = []
    for g, (school, _grade, members) in enumerate(groups):
        for section in section_pairs[g]:
            assignments.append(
                RoleAssignment(
                    user=teacher_users[g],
                    kind=RoleKind.TEACHER,
                    organisation=school,
                    section=section,
                    begin_date=start,
                    end_date=end,
                )
            )
            enrollments.extend(
                Enrollment(learner=m, section=section, begin_date=start) for m in members
            )
    assignments.append(
        RoleAssignment(
            user=coteacher,
            kind=RoleKind.TEACHER,
            organisation=groups[0][0],
            section=section_pairs[0][0],
            begin_date=start,
            end_date=end,
        )
    )

    # Admins: one per school, the district, the state (staff, so the scoped Django admin opens).
    admins = [
        User(username="schooladmin", first_name="Sam", last_name="Admin", password=password),
        User(username="districtadmin", first_name="Dana", last_name="Admin", password=password),
        User(username="stateadmin", first_name="Stacy", last_name="Admin", password=password),
    ] + [
        User(
            username=f"a{i:04d}",
            first_name=rng.choice(GIVEN_NAMES),
            last_name=rng.choice(FAMILY_NAMES),
            password=unusable,
        )
        for i in range(1, len(schools))
    ]
    for admin in admins:
        admin.is_staff = True
    User.objects.bulk_create(admins)
    admins = _reload_users([u.username for u in admins])
    assignments.append(
        RoleAssignment(user=admins[1], kind=RoleKind.DISTRICT_ADMIN, organisation=district)
    )
    assignments.append(
        RoleAssignment(user=admins[2], kind=RoleKind.STATE_ADMIN, organisation=state)
    )
    school_admins = [admins[0], *admins[3:]]
    assignments.extend(
        RoleAssignment(user=login, kind=RoleKind.SCHOOL_ADMIN, organisation=school)
        for login, school in zip(school_admins, schools, strict=True)
    )
    RoleAssignment.objects.bulk_create(assignments, batch_size=2000)
    Enrollment.objects.bulk_create(enrollments, batch_size=5000)

    guardian_count = _seed_guardians(rng, learner_rows, password, unusable)
    first = learner_rows[0]
    LearnerProfile.objects.create(
        learner=first,
        strengths="I keep trying when a problem is hard, and I like explaining my thinking.",
        interests="Football, drawing comics, and how bridges stay up.",
        how_i_learn_best="Seeing an example first, then trying one with a partner.",
        goals="Multiply fractions without a calculator by the end of the term.",
        updated_by_id=first.user_id,
    )
    _ensure_operator(password)
    return DemoResult(
        created=True,
        learners=len(learner_rows),
        schools=len(schools),
        sections=len(sections),
        teachers=len(teacher_users) + 1,
        guardians=guardian_count,
    )


def _seed_guardians(
    rng: random.Random, learner_rows: list[Learner], password: str, unusable: str
) -> int:
    """About four learners in five get a guardian; one guardian in ten has a second child at the
    same school. The first learner's guardian is the named "guardian", with a sibling."""
    links: list[tuple[int, list[Learner]]] = []
    index = 0
    while index < len(learner_rows):
        learner = learner_rows[index]
        children = [learner]
        nxt = learner_rows[index + 1] if index + 1 < len(learner_rows) else None
        sibling = index == 0 or rng.random() < 0.1
        if nxt is not None and sibling and nxt.school_id == learner.school_id:
            children.append(nxt)
            index += 1
        if index < 2 or rng.random() < 0.8:
            links.append((len(links), children))
        index += 1
    guardians = [
        User(
            username="guardian" if n == 0 else f"g{n:06d}",
            first_name=rng.choice(GIVEN_NAMES),
            last_name=rng.choice(FAMILY_NAMES),
            password=password if n == 0 else unusable,
        )
        for n, _children in links
    ]
    User.objects.bulk_create(guardians, batch_size=2000)
    guardians = _reload_users([u.username for u in guardians])
    GuardianLink.objects.bulk_create(
        [
            GuardianLink(
                guardian=guardians[n],
                learner=child,
                relationship=GuardianRelationship.PARENT,
            )
            for n, children in links
            for child in children
        ],
        batch_size=5000,
    )
    return len(guardians)


def _reload_users(usernames: list[str]) -> list[User]:
    """The users in the given order, with their ids (bulk_create leaves them unset on some
    databases)."""
    by_name: dict[str, User] = {}
    for offset in range(0, len(usernames), 5000):
        chunk = usernames[offset : offset + 5000]
        by_name.update({u.username: u for u in User.objects.filter(username__in=chunk)})
    return [by_name[name] for name in usernames]


def _ensure_operator(password: str) -> None:
    operator, created = User.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        operator.password = password
        operator.save(update_fields=["password"])


def _existing_summary() -> DemoResult:
    state = Organisation.objects.get(sourced_id=STATE_SOURCED_ID)
    learners = Learner.objects.filter(state=state)
    return DemoResult(
        created=False,
        learners=learners.count(),
        schools=Organisation.objects.filter(
            kind=OrganisationKind.SCHOOL, parent__parent=state
        ).count(),
        sections=Section.objects.filter(school__parent__parent=state).count(),
        teachers=RoleAssignment.objects.filter(
            kind=RoleKind.TEACHER, organisation__parent__parent=state
        )
        .values("user")
        .distinct()
        .count(),
        guardians=GuardianLink.objects.filter(learner__in=learners)
        .values("guardian")
        .distinct()
        .count(),
    )
