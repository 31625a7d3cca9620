"""A small district for the moderation tests: two schools, three sections, their teachers,
twelve learners rated on two standards through the evidence services, and a canary learner
whose submission carries their name everywhere a name can hide.

    district                      district_admin
      hill (school)               hill_admin
        a1  t_a1, co_a1           learners 0-3 (learner 0 is the canary, with a student login)
        a2  t_a2                  learners 4-7
      lake (school)
        b1  t_b1                  learners 8-11

Every learner is rated on ``counting`` and ``adding`` by their section's teacher (quick entry);
the canary's submission is scored on ``counting`` at 2.75 by ``t_a1`` with ``FIRST_COMMENT``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import Evidence, Rating
from evidence.services import RatingEntry, ReflectionInput
from learners.models import Learner, Organisation, Section, Term
from tests.evidence.conftest import Standards, make_standards
from tests.evidence.files import png
from tests.factories import (
    AdminAssignmentFactory,
    DistrictFactory,
    EnrollmentFactory,
    LearnerFactory,
    SchoolFactory,
    SectionFactory,
    TeacherAssignmentFactory,
    TermFactory,
    UserFactory,
)

CANARY_GIVEN = "Zqxcanary"
CANARY_FAMILY = "Vwplearner"
FIRST_COMMENT = "Zqxfirstcomment: fine counting"
FIRST_SCORE = Decimal("2.75")
# Scores of learners 0..11 on counting and adding (learner 0's counting is the canary's 2.75).
SCORES = [
    ("1", "2"), ("2", "2"), ("3", "3"), ("4", "3"),
    ("2", "1"), ("3", "4"), ("3", "3"), ("1", "2"),
    ("4", "4"), ("2", "3"), ("3", "2"), ("2", "2"),
]  # fmt: skip


@dataclass
class District:
    district: Organisation
    hill: Organisation
    lake: Organisation
    term: Term
    a1: Section
    a2: Section
    b1: Section
    t_a1: User
    co_a1: User
    t_a2: User
    t_b1: User
    district_admin: User
    hill_admin: User
    learners: list[Learner]
    standards: Standards
    canary_evidence: Evidence
    canary_rating: Rating

    @property
    def canary(self) -> Learner:
        return self.learners[0]

    def teachers(self) -> list[User]:
        return [self.t_a1, self.co_a1, self.t_a2, self.t_b1]


def build_district(identifier: str = "mod-fw") -> District:
    district = DistrictFactory(name="Moderation District")
    hill = SchoolFactory(name="Hill School", parent=district)
    lake = SchoolFactory(name="Lake School", parent=district)
    term = TermFactory(title="This term")
    a1 = SectionFactory(title="Maths A1", school=hill, term=term)
    a2 = SectionFactory(title="Maths A2", school=hill, term=term)
    b1 = SectionFactory(title="Maths B1", school=lake, term=term)
    long_ago = timezone.localdate() - datetime.timedelta(days=50)

    def teacher(username: str, section: Section) -> User:
        user = UserFactory(username=username, first_name=username.upper(), last_name="Teacher")
        TeacherAssignmentFactory(user=user, section=section, begin_date=long_ago)
        return user

    t_a1, co_a1, t_a2, t_b1 = (
        teacher("t_a1", a1),
        teacher("co_a1", a1),
        teacher("t_a2", a2),
        teacher("t_b1", b1),
    )
    district_admin = UserFactory(username="district_admin_m")
    AdminAssignmentFactory(user=district_admin, organisation=district, begin_date=long_ago)
    hill_admin = UserFactory(username="hill_admin_m")
    AdminAssignmentFactory(user=hill_admin, organisation=hill, begin_date=long_ago)
    student = UserFactory(username="canary_student")
    learners = [
        LearnerFactory(
            school=hill, user=student, given_name=CANARY_GIVEN, family_name=CANARY_FAMILY
        )
    ]
    learners += [LearnerFactory(school=hill) for _ in range(7)]
    learners += [LearnerFactory(school=lake) for _ in range(4)]
    section_of = [a1] * 4 + [a2] * 4 + [b1] * 4
    for learner, section in zip(learners, section_of, strict=True):
        EnrollmentFactory(learner=learner, section=section, begin_date=long_ago)
    standards = make_standards(identifier=identifier)
    day = timezone.localdate() - datetime.timedelta(days=10)
    canary_evidence = evidence_services.submit_evidence(
        actor=student,
        kind="project",
        title=f"{CANARY_GIVEN}'s counting poster",
        description=f"<p>Made by <strong>{CANARY_GIVEN} {CANARY_FAMILY}</strong>.</p>",
        demonstrated_at=day,
        section=a1,
        reflection=ReflectionInput(
            what_i_learned=f"I, {CANARY_GIVEN}, learned to count to 100.",
            how_i_got_there="Practice.",
        ),
        links=[f"https://example.org/{CANARY_GIVEN.lower()}-poster"],
        files=[SimpleUploadedFile(f"{CANARY_GIVEN}.png", png(), content_type="image/png")],
    )
    evidence_services.review_submission(
        actor=t_a1,
        evidence=canary_evidence,
        decision="score",
        scores={standards.counting.pk: FIRST_SCORE},
        comment=FIRST_COMMENT,
    )
    canary_rating = Rating.objects.get(evidence=canary_evidence, standard=standards.counting)
    teacher_of = {a1.pk: t_a1, a2.pk: t_a2, b1.pk: t_b1}
    for section in (a1, a2, b1):
        members = [i for i, s in enumerate(section_of) if s == section]
        entries = []
        for index in members:
            counting, adding = SCORES[index]
            if index != 0:
                entries.append(RatingEntry(learners[index].pk, standards.counting.pk, counting))
            entries.append(RatingEntry(learners[index].pk, standards.adding.pk, adding))
        evidence_services.record_ratings(
            actor=teacher_of[section.pk],
            entries=entries,
            title="Unit check",
            demonstrated_at=day,
            section=section,
        )
    return District(
        district=district,
        hill=hill,
        lake=lake,
        term=term,
        a1=a1,
        a2=a2,
        b1=b1,
        t_a1=t_a1,
        co_a1=co_a1,
        t_a2=t_a2,
        t_b1=t_b1,
        district_admin=district_admin,
        hill_admin=hill_admin,
        learners=learners,
        standards=standards,
        canary_evidence=canary_evidence,
        canary_rating=canary_rating,
    )
