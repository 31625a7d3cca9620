"""Who is who: organisations, terms, sections, learners, enrollments, roles, guardians, profiles.

Access is never stored as a flag: it is derived in ``learners.selectors`` from the *current*
role assignments, guardian links, enrollments and the student link below (see
docs/decisions/0003-permission-model.md). Rows carry the OneRoster ``sourcedId`` they were
imported from so a re-import updates them in place.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q


class OrganisationKind(models.TextChoices):
    STATE = "state", "State"
    DISTRICT = "district", "District"
    SCHOOL = "school", "School"


# A child's kind ranks strictly below its parent's, so the tree is at most three levels deep:
# the scoping selectors rely on that to find descendants with two joins instead of recursion.
KIND_RANK = {OrganisationKind.STATE: 0, OrganisationKind.DISTRICT: 1, OrganisationKind.SCHOOL: 2}


class Organisation(models.Model):
    kind = models.CharField(max_length=16, choices=OrganisationKind.choices)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    sourced_id = models.CharField(
        "OneRoster sourcedId", max_length=255, blank=True, default="", db_index=True
    )
    external_id = models.CharField(
        "external id", max_length=255, blank=True, default="", help_text="e.g. NCES or state id"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sourced_id"],
                condition=~Q(sourced_id=""),
                name="learners_organisation_unique_sourced_id",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=OrganisationKind.values),
                name="learners_organisation_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind=OrganisationKind.STATE) | Q(parent__isnull=True),
                name="learners_organisation_state_is_root",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class TermKind(models.TextChoices):
    SCHOOL_YEAR = "schoolYear", "School year"
    SEMESTER = "semester", "Semester"
    TERM = "term", "Term"
    GRADING_PERIOD = "gradingPeriod", "Grading period"


class Term(models.Model):
    """An academic session with dates (OneRoster ``academicSessions``)."""

    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=TermKind.choices, default=TermKind.TERM)
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="terms",
        help_text="The organisation whose calendar this is (usually a district).",
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    school_year = models.PositiveSmallIntegerField(null=True, blank=True)
    start_date = models.DateField()
    end_date = models.DateField()
    sourced_id = models.CharField(
        "OneRoster sourcedId", max_length=255, blank=True, default="", db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_date", "title", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sourced_id"],
                condition=~Q(sourced_id=""),
                name="learners_term_unique_sourced_id",
            ),
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")),
                name="learners_term_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def is_current(self, on: datetime.date) -> bool:
        return self.start_date <= on <= self.end_date


class Course(models.Model):
    """A course in a school's or district's catalogue (OneRoster ``courses``)."""

    title = models.CharField(max_length=200)
    course_code = models.CharField(max_length=64, blank=True, default="")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="courses")
    subjects = models.CharField(max_length=255, blank=True, default="")
    grade_levels = models.CharField(max_length=255, blank=True, default="")
    sourced_id = models.CharField(
        "OneRoster sourcedId", max_length=255, blank=True, default="", db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sourced_id"],
                condition=~Q(sourced_id=""),
                name="learners_course_unique_sourced_id",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Section(models.Model):
    """A class in a term at a school, with its teachers (role assignments) and enrollments."""

    title = models.CharField(max_length=200)
    school = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="sections")
    term = models.ForeignKey(Term, on_delete=models.PROTECT, related_name="sections")
    course = models.ForeignKey(
        Course, null=True, blank=True, on_delete=models.PROTECT, related_name="sections"
    )
    course_code = models.CharField(max_length=64, blank=True, default="")
    section_code = models.CharField(max_length=64, blank=True, default="")
    subject = models.CharField(max_length=255, blank=True, default="")
    grade_levels = models.CharField(max_length=255, blank=True, default="")
    sourced_id = models.CharField(
        "OneRoster sourcedId", max_length=255, blank=True, default="", db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sourced_id"],
                condition=~Q(sourced_id=""),
                name="learners_section_unique_sourced_id",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Learner(models.Model):
    """A student's record. ``user`` is the student's login, when they have one."""

    school = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="learners")
    # The state the school belongs to, kept here so the state student id can be unique within
    # the state by a database constraint. Services set it from the school's ancestry.
    state = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    local_id = models.CharField("local id", max_length=64, blank=True, default="")
    state_student_id = models.CharField(
        "state student id", max_length=64, blank=True, default="", db_index=True
    )
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True, default="")
    grade_level = models.CharField(
        max_length=8, blank=True, default="", help_text="CEDS grade code: PK, KG, 01..13"
    )
    active = models.BooleanField(default=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="learner",
    )
    sourced_id = models.CharField(
        "OneRoster sourcedId", max_length=255, blank=True, default="", db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sourced_id"],
                condition=~Q(sourced_id=""),
                name="learners_learner_unique_sourced_id",
            ),
            models.UniqueConstraint(
                fields=["school", "local_id"],
                condition=~Q(local_id=""),
                name="learners_learner_unique_local_id_per_school",
            ),
            models.UniqueConstraint(
                fields=["state", "state_student_id"],
                condition=~Q(state_student_id=""),
                name="learners_learner_unique_state_student_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.pk})"

    @property
    def display_name(self) -> str:
        return f"{self.preferred_name or self.given_name} {self.family_name}"


class Enrollment(models.Model):
    """A learner in a section between two dates (inclusive; open-ended when blank)."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="enrollments")
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="enrollments")
    begin_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    sourced_id = models.CharField(
        "OneRoster sourcedId", max_length=255, blank=True, default="", db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["section", "learner"]
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "section"], name="learners_enrollment_unique_learner_section"
            ),
            models.UniqueConstraint(
                fields=["sourced_id"],
                condition=~Q(sourced_id=""),
                name="learners_enrollment_unique_sourced_id",
            ),
            models.CheckConstraint(
                condition=Q(begin_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=models.F("begin_date")),
                name="learners_enrollment_ends_after_begin",
            ),
        ]
        indexes = [models.Index(fields=["section", "learner"])]

    def __str__(self) -> str:
        return f"learner {self.learner_id} in section {self.section_id}"


class RoleKind(models.TextChoices):
    TEACHER = "teacher", "Teacher"
    SCHOOL_ADMIN = "school_admin", "School admin"
    DISTRICT_ADMIN = "district_admin", "District admin"
    STATE_ADMIN = "state_admin", "State admin"


# Which organisation kind each admin role is held at.
ADMIN_ROLE_FOR_KIND = {
    OrganisationKind.SCHOOL: RoleKind.SCHOOL_ADMIN,
    OrganisationKind.DISTRICT: RoleKind.DISTRICT_ADMIN,
    OrganisationKind.STATE: RoleKind.STATE_ADMIN,
}
ADMIN_ROLES = frozenset(ADMIN_ROLE_FOR_KIND.values())


class RoleAssignment(models.Model):
    """A user's role between two dates: teacher of one section, or admin of one organisation.

    A teacher assignment names its section (and the section's school as ``organisation``); an
    admin assignment names its organisation and no section.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments"
    )
    kind = models.CharField(max_length=16, choices=RoleKind.choices)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="role_assignments"
    )
    section = models.ForeignKey(
        Section, null=True, blank=True, on_delete=models.CASCADE, related_name="role_assignments"
    )
    begin_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    sourced_id = models.CharField(
        "OneRoster sourcedId", max_length=255, blank=True, default="", db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "kind", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=RoleKind.TEACHER, section__isnull=False)
                | Q(~Q(kind=RoleKind.TEACHER), section__isnull=True),
                name="learners_roleassignment_teacher_has_section",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=RoleKind.values), name="learners_roleassignment_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(begin_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=models.F("begin_date")),
                name="learners_roleassignment_ends_after_begin",
            ),
            models.UniqueConstraint(
                fields=["sourced_id"],
                condition=~Q(sourced_id=""),
                name="learners_roleassignment_unique_sourced_id",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "kind"]),
            models.Index(fields=["section", "kind"]),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} {self.kind} at organisation {self.organisation_id}"


class GuardianRelationship(models.TextChoices):
    PARENT = "parent", "Parent"
    GUARDIAN = "guardian", "Guardian"
    RELATIVE = "relative", "Relative"


class GuardianLink(models.Model):
    """A guardian user linked to a learner, read-only access between two dates."""

    guardian = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guardian_links"
    )
    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="guardian_links")
    relationship = models.CharField(
        max_length=16, choices=GuardianRelationship.choices, default=GuardianRelationship.GUARDIAN
    )
    begin_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["guardian", "learner"]
        constraints = [
            models.UniqueConstraint(
                fields=["guardian", "learner"], name="learners_guardianlink_unique_pair"
            ),
            models.CheckConstraint(
                condition=Q(begin_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=models.F("begin_date")),
                name="learners_guardianlink_ends_after_begin",
            ),
        ]

    def __str__(self) -> str:
        return f"guardian {self.guardian_id} of learner {self.learner_id}"


class RosterIdentity(models.Model):
    """The OneRoster ``sourcedId`` of a user (teachers, admins, guardians and students)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="roster_identity"
    )
    sourced_id = models.CharField("OneRoster sourcedId", max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "roster identities"

    def __str__(self) -> str:
        return self.sourced_id


class LearnerProfile(models.Model):
    """What the learner writes about themselves; seen by their teachers and guardians."""

    learner = models.OneToOneField(Learner, on_delete=models.CASCADE, related_name="profile")
    strengths = models.TextField(blank=True, default="")
    interests = models.TextField(blank=True, default="")
    how_i_learn_best = models.TextField("how I learn best", blank=True, default="")
    goals = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"profile of learner {self.learner_id}"


class RosterImportStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    CHECKED = "checked", "Checked (dry run, nothing written)"


class RosterImport(models.Model):
    """One OneRoster import attempt, kept for audit (who, when, outcome, counts; no file)."""

    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_name = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=RosterImportStatus.choices)
    counts = models.JSONField(default=dict, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"roster import {self.pk} ({self.status})"


class DemographicsImport(models.Model):
    """An administrator's choice to keep OneRoster demographics for the learners of an
    organisation and below (the equity audit's subgroups). Without one covering a learner's
    school, ``demographics.csv`` is validated and never stored (data minimisation)."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="demographics_import"
    )
    enabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enabled_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"demographics kept for organisation {self.organisation_id}"


class Sex(models.TextChoices):
    """OneRoster's ``sex`` vocabulary (1.1: male, female; 1.2 adds other, unspecified)."""

    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNSPECIFIED = "unspecified", "Unspecified"


class LearnerDemographics(models.Model):
    """The subgroups a learner belongs to, from OneRoster ``demographics.csv`` (only where a
    ``DemographicsImport`` covers their school). Only what the equity audit counts by is kept:
    no birth date, place of birth or residence status. A flag is None when the file left it
    blank."""

    learner = models.OneToOneField(Learner, on_delete=models.CASCADE, related_name="demographics")
    sex = models.CharField(max_length=12, choices=Sex.choices, blank=True, default="")
    american_indian_or_alaska_native = models.BooleanField(null=True)
    asian = models.BooleanField(null=True)
    black_or_african_american = models.BooleanField(null=True)
    native_hawaiian_or_other_pacific_islander = models.BooleanField(null=True)
    white = models.BooleanField(null=True)
    two_or_more_races = models.BooleanField(null=True)
    hispanic_or_latino = models.BooleanField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "learner demographics"
        constraints = [
            models.CheckConstraint(
                condition=Q(sex__in=[*Sex.values, ""]), name="learners_demographics_sex_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"demographics of learner {self.learner_id}"
