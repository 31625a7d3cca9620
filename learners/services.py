"""Writes with business meaning for the learners app.

Every service is keyword-only, atomic, validates all input before writing and raises
``django.core.exceptions.ValidationError`` naming the field when input is bad. ``actor`` is the
user acting; ``None`` means the system itself (management commands, the demo seed), which is
trusted. An actor must hold the scope the write touches (see ``learners.selectors``); a write
outside it raises ``PermissionDenied`` after nothing was written.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from learners import oneroster, selectors
from learners.models import (
    ADMIN_ROLE_FOR_KIND,
    KIND_RANK,
    DemographicsImport,
    Enrollment,
    GuardianLink,
    GuardianRelationship,
    Learner,
    LearnerDemographics,
    LearnerProfile,
    Organisation,
    OrganisationKind,
    RoleAssignment,
    RoleKind,
    Section,
    Term,
)
from learners.sessions import end_sessions

logger = logging.getLogger(__name__)

PROFILE_MAX_CHARS = 5000


def _check_dates(begin: datetime.date | None, end: datetime.date | None) -> None:
    if begin is not None and end is not None and end < begin:
        raise ValidationError({"end_date": "The end date is before the begin date."})


def _require_administers(actor: User | None, organisation: Organisation) -> None:
    if actor is None:
        return
    if not selectors.administered_organisations(actor).filter(pk=organisation.pk).exists():
        raise PermissionDenied("You do not administer this organisation.")


@transaction.atomic
def create_organisation(
    *,
    actor: User | None,
    kind: str,
    name: str,
    parent: Organisation | None = None,
    sourced_id: str = "",
    external_id: str = "",
) -> Organisation:
    """Create an organisation below ``parent``; a child's kind ranks below its parent's
    (state > district > school). A root organisation needs a superuser or the system."""
    if kind not in OrganisationKind.values:
        raise ValidationError({"kind": f"{kind!r} is not one of state, district, school."})
    if not name.strip():
        raise ValidationError({"name": "A name is required."})
    if (
        parent is not None
        and KIND_RANK[OrganisationKind(parent.kind)] >= KIND_RANK[OrganisationKind(kind)]
    ):
        raise ValidationError({"parent": f"A {kind} cannot sit below a {parent.kind}."})
    if kind == OrganisationKind.STATE and parent is not None:
        raise ValidationError({"parent": "A state has no parent."})
    if parent is None:
        if actor is not None and not actor.is_superuser:
            raise PermissionDenied("Only a platform administrator creates a root organisation.")
    else:
        _require_administers(actor, parent)
    return Organisation.objects.create(
        kind=kind,
        name=name.strip(),
        parent=parent,
        sourced_id=sourced_id,
        external_id=external_id,
    )


@transaction.atomic
def create_term(
    *,
    actor: User | None,
    title: str,
    start_date: datetime.date,
    end_date: datetime.date,
    organisation: Organisation | None = None,
    kind: str = "term",
    parent: Term | None = None,
    school_year: int | None = None,
    sourced_id: str = "",
) -> Term:
    """Create a term (academic session). Its end date is on or after its start date."""
    if end_date < start_date:
        raise ValidationError({"end_date": "The end date is before the start date."})
    if not title.strip():
        raise ValidationError({"title": "A title is required."})
    if organisation is not None:
        _require_administers(actor, organisation)
    elif actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only a platform administrator creates a term for no organisation.")
    return Term.objects.create(
        title=title.strip(),
        start_date=start_date,
        end_date=end_date,
        organisation=organisation,
        kind=kind,
        parent=parent,
        school_year=school_year,
        sourced_id=sourced_id,
    )


@transaction.atomic
def create_section(
    *,
    actor: User | None,
    school: Organisation,
    term: Term,
    title: str,
    course_code: str = "",
    subject: str = "",
    section_code: str = "",
    grade_levels: str = "",
    sourced_id: str = "",
) -> Section:
    """Create a section (a class in a term) at a school the actor administers."""
    if school.kind != OrganisationKind.SCHOOL:
        raise ValidationError({"school": "A section belongs to a school."})
    if not title.strip():
        raise ValidationError({"title": "A title is required."})
    _require_administers(actor, school)
    return Section.objects.create(
        school=school,
        term=term,
        title=title.strip(),
        course_code=course_code,
        subject=subject,
        section_code=section_code,
        grade_levels=grade_levels,
        sourced_id=sourced_id,
    )


@transaction.atomic
def create_learner(
    *,
    actor: User | None,
    school: Organisation,
    given_name: str,
    family_name: str,
    local_id: str = "",
    state_student_id: str = "",
    grade_level: str = "",
    user: User | None = None,
    sourced_id: str = "",
) -> Learner:
    """Create a learner at a school. The state student id is unique within the school's state,
    the local id within the school; both are checked here with a clear message."""
    if school.kind != OrganisationKind.SCHOOL:
        raise ValidationError({"school": "A learner belongs to a school."})
    if not given_name.strip() or not family_name.strip():
        raise ValidationError({"given_name": "Given and family names are required."})
    _require_administers(actor, school)
    state = selectors.state_of(school)
    if (
        state_student_id
        and Learner.objects.filter(state=state, state_student_id=state_student_id).exists()
    ):
        raise ValidationError({"state_student_id": "Another learner in this state has this id."})
    if local_id and Learner.objects.filter(school=school, local_id=local_id).exists():
        raise ValidationError({"local_id": "Another learner at this school has this local id."})
    if user is not None and Learner.objects.filter(user=user).exists():
        raise ValidationError({"user": "This user is already linked to a learner."})
    return Learner.objects.create(
        school=school,
        state=state,
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        local_id=local_id,
        state_student_id=state_student_id,
        grade_level=grade_level,
        user=user,
        sourced_id=sourced_id,
    )


@transaction.atomic
def enroll_learner(
    *,
    actor: User | None,
    learner: Learner,
    section: Section,
    begin_date: datetime.date | None = None,
    end_date: datetime.date | None = None,
) -> Enrollment:
    """Enroll a learner in a section of their own school (idempotent: an existing enrollment of
    the pair gets the new dates)."""
    _check_dates(begin_date, end_date)
    if learner.school_id != section.school_id:
        raise ValidationError({"section": "The section is at another school than the learner."})
    _require_administers(actor, section.school)
    enrollment, _ = Enrollment.objects.update_or_create(
        learner=learner, section=section, defaults={"begin_date": begin_date, "end_date": end_date}
    )
    return enrollment


@transaction.atomic
def assign_role(
    *,
    actor: User | None,
    user: User,
    kind: str,
    organisation: Organisation | None = None,
    section: Section | None = None,
    begin_date: datetime.date | None = None,
    end_date: datetime.date | None = None,
) -> RoleAssignment:
    """Give ``user`` a role: ``teacher`` of ``section``, or an admin role at ``organisation``
    whose kind matches (school_admin at a school, district_admin at a district, state_admin at a
    state). The actor must administer the organisation (or the section's school)."""
    _check_dates(begin_date, end_date)
    if kind == RoleKind.TEACHER:
        if section is None:
            raise ValidationError({"section": "A teacher assignment names its section."})
        organisation = section.school
    elif kind in ADMIN_ROLE_FOR_KIND.values():
        if organisation is None or section is not None:
            raise ValidationError({"organisation": "An admin assignment names an organisation."})
        if ADMIN_ROLE_FOR_KIND[OrganisationKind(organisation.kind)] != kind:
            raise ValidationError({"kind": f"A {kind} is held at a {organisation.kind}, not here."})
    else:
        raise ValidationError({"kind": f"{kind!r} is not a role."})
    _require_administers(actor, organisation)
    return RoleAssignment.objects.create(
        user=user,
        kind=kind,
        organisation=organisation,
        section=section,
        begin_date=begin_date,
        end_date=end_date,
    )


@transaction.atomic
def end_role_assignment(
    *, actor: User | None, assignment: RoleAssignment, end_date: datetime.date
) -> RoleAssignment:
    """End an assignment on ``end_date`` (inclusive). From the day after, it grants nothing."""
    _require_administers(actor, assignment.organisation)
    if assignment.begin_date is not None and end_date < assignment.begin_date:
        raise ValidationError({"end_date": "The end date is before the begin date."})
    assignment.end_date = end_date
    assignment.save(update_fields=["end_date", "updated_at"])
    logger.info("role assignment ended", extra={"assignment_id": assignment.pk})
    return assignment


@transaction.atomic
def link_guardian(
    *,
    actor: User | None,
    guardian: User,
    learner: Learner,
    relationship: str = GuardianRelationship.GUARDIAN,
    begin_date: datetime.date | None = None,
    end_date: datetime.date | None = None,
) -> GuardianLink:
    """Link a guardian user to a learner (read-only access), idempotent per pair."""
    _check_dates(begin_date, end_date)
    if relationship not in GuardianRelationship.values:
        raise ValidationError({"relationship": f"{relationship!r} is not a relationship."})
    if Learner.objects.filter(user=guardian).exists():
        raise ValidationError({"guardian": "A student login cannot be a guardian."})
    _require_administers(actor, learner.school)
    link, _ = GuardianLink.objects.update_or_create(
        guardian=guardian,
        learner=learner,
        defaults={"relationship": relationship, "begin_date": begin_date, "end_date": end_date},
    )
    return link


@transaction.atomic
def link_student_user(*, actor: User | None, learner: Learner, user: User) -> Learner:
    """Make ``user`` the learner's own login (one user, one learner)."""
    _require_administers(actor, learner.school)
    if Learner.objects.filter(user=user).exclude(pk=learner.pk).exists():
        raise ValidationError({"user": "This user is already linked to another learner."})
    if GuardianLink.objects.filter(guardian=user).exists():
        raise ValidationError({"user": "A guardian login cannot be a student login."})
    learner.user = user
    learner.save(update_fields=["user", "updated_at"])
    return learner


@transaction.atomic
def update_learner_profile(
    *,
    actor: User,
    learner: Learner,
    strengths: str,
    interests: str,
    how_i_learn_best: str,
    goals: str,
) -> LearnerProfile:
    """Write the learner's profile. Only the learner themselves may (it is their own voice);
    anyone else gets ``PermissionDenied``. Each answer is at most 5000 characters."""
    if not selectors.can_edit_profile(actor, learner):
        raise PermissionDenied("Only the learner writes their profile.")
    answers = {
        "strengths": strengths,
        "interests": interests,
        "how_i_learn_best": how_i_learn_best,
        "goals": goals,
    }
    too_long = {k: f"At most {PROFILE_MAX_CHARS} characters." for k, v in answers.items()}
    too_long = {k: m for k, m in too_long.items() if len(answers[k]) > PROFILE_MAX_CHARS}
    if too_long:
        raise ValidationError(too_long)
    profile, _ = LearnerProfile.objects.update_or_create(
        learner=learner,
        defaults={**{k: v.strip() for k, v in answers.items()}, "updated_by": actor},
    )
    return profile


@transaction.atomic
def deactivate_users(*, actor: User | None, users: Sequence[User]) -> int:
    """Deactivate logins: they are refused on their next request (Django's auth backends reject
    inactive users), every selector returns nothing for them and their stored sessions are
    deleted. Returns how many changed."""
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only a platform administrator deactivates logins.")
    ids = [u.pk for u in users]
    changed = User.objects.filter(pk__in=ids, is_active=True).update(is_active=False)
    end_sessions(ids)
    return changed


def import_roster(
    *,
    actor: User | None,
    source: oneroster.RosterSource,
    source_name: str = "",
    dry_run: bool = False,
    safety_share: float | None = None,
) -> oneroster.ImportResult:
    """Import a OneRoster 1.1 CSV roster (folder, zip path or open zip), all or nothing.

    Validates everything first and raises ``oneroster.RosterInvalid`` listing every problem
    (file, row, column, reason) with nothing written; otherwise writes in one transaction and
    returns counts per file, with warnings for the rows left out on purpose (refused whole past
    the safety share). ``dry_run`` writes nothing. Idempotent by ``sourcedId``. A
    non-superuser ``actor`` may only touch organisations they administer. See
    ``learners.oneroster`` for the mapping.
    """
    return oneroster.import_roster(
        actor=actor,
        source=source,
        source_name=source_name,
        dry_run=dry_run,
        safety_share=safety_share,
    )


@transaction.atomic
def set_demographics_import(
    *, actor: User | None, organisation: Organisation, enabled: bool
) -> bool:
    """Turn on (or off) keeping OneRoster demographics for the learners at or below
    ``organisation`` (the equity audit's subgroups); the actor must administer it. Turning it
    off deletes the stored demographics of every learner no longer covered by another
    organisation's choice (data minimisation). Returns whether it is now on. Idempotent."""
    _require_administers(actor, organisation)
    if enabled:
        DemographicsImport.objects.get_or_create(
            organisation=organisation, defaults={"enabled_by": actor}
        )
    else:
        DemographicsImport.objects.filter(organisation=organisation).delete()
        removed, _ = (
            LearnerDemographics.objects.filter(
                learner__school__in=selectors.descendants_of(organisation)
            )
            .exclude(learner__school__in=oneroster.demographics.covered_schools())
            .delete()
        )
        logger.info(
            "demographics turned off",
            extra={"organisation_id": organisation.pk, "removed": removed},
        )
    return enabled


# --- people and classes pages: changes by a school's administrators ---------------------------

GRADE_CODES = frozenset(
    {"IT", "PR", "PK", "TK", "KG", "PS", "UG", "Other", *(f"{n:02d}" for n in range(1, 14))}
)
NAME_MAX = 100
CODE_MAX = 64


def _clean_learner_fields(
    *,
    school: Organisation,
    given_name: str,
    family_name: str,
    preferred_name: str,
    local_id: str,
    state_student_id: str,
    grade_level: str,
    exclude: int | None = None,
) -> dict[str, str]:
    """Every problem of a learner's fields at once (ValidationError by field), else the values
    cleaned."""
    values = {
        "given_name": given_name.strip(),
        "family_name": family_name.strip(),
        "preferred_name": preferred_name.strip(),
        "local_id": local_id.strip(),
        "state_student_id": state_student_id.strip(),
        "grade_level": grade_level.strip(),
    }
    problems: dict[str, str] = {}
    for name in ("given_name", "family_name"):
        if not values[name]:
            problems[name] = "A name is required."
    for name in ("given_name", "family_name", "preferred_name"):
        if len(values[name]) > NAME_MAX:
            problems[name] = f"Keep it under {NAME_MAX} characters."
    for name in ("local_id", "state_student_id"):
        if len(values[name]) > CODE_MAX:
            problems[name] = f"Keep it under {CODE_MAX} characters."
    if values["grade_level"] and values["grade_level"] not in GRADE_CODES:
        problems["grade_level"] = f"{values['grade_level']} is not a grade level."
    others = Learner.objects.exclude(pk=exclude) if exclude else Learner.objects.all()
    state = selectors.state_of(school)
    if (
        values["state_student_id"]
        and others.filter(state=state, state_student_id=values["state_student_id"]).exists()
    ):
        problems["state_student_id"] = "Another learner in this state has this state id."
    if values["local_id"] and others.filter(school=school, local_id=values["local_id"]).exists():
        problems["local_id"] = "Another learner at this school has this local id."
    if problems:
        raise ValidationError(problems)
    return values


@transaction.atomic
def add_learner(
    *,
    actor: User,
    school: Organisation,
    given_name: str,
    family_name: str,
    preferred_name: str = "",
    local_id: str = "",
    state_student_id: str = "",
    grade_level: str = "",
    sections: Sequence[Section] = (),
) -> Learner:
    """A learner added on the people pages, enrolled from today in ``sections`` (of their
    school). Every problem is raised at once and nothing is written. (Pages are audited by the
    request audit, ``privacy.audit_reads``, like every other change.)"""
    if school.kind != OrganisationKind.SCHOOL:
        raise ValidationError({"school": "A learner belongs to a school."})
    _require_administers(actor, school)
    values = _clean_learner_fields(
        school=school,
        given_name=given_name,
        family_name=family_name,
        preferred_name=preferred_name,
        local_id=local_id,
        state_student_id=state_student_id,
        grade_level=grade_level,
    )
    elsewhere = [section.title for section in sections if section.school_id != school.pk]
    if elsewhere:
        raise ValidationError({"sections": f"{', '.join(elsewhere)}: at another school."})
    learner = Learner.objects.create(school=school, state=selectors.state_of(school), **values)
    for section in sections:
        enroll_learner(actor=actor, learner=learner, section=section, begin_date=selectors.today())
    return learner


@transaction.atomic
def update_learner(
    *,
    actor: User,
    learner: Learner,
    given_name: str,
    family_name: str,
    preferred_name: str = "",
    local_id: str = "",
    state_student_id: str = "",
    grade_level: str = "",
    active: bool = True,
) -> Learner:
    """Change a learner's names, ids, grade level or whether they are active (their school's
    administrators). Every problem at once, nothing written."""
    _require_administers(actor, learner.school)
    values = _clean_learner_fields(
        school=learner.school,
        given_name=given_name,
        family_name=family_name,
        preferred_name=preferred_name,
        local_id=local_id,
        state_student_id=state_student_id,
        grade_level=grade_level,
        exclude=learner.pk,
    )
    for name, value in values.items():
        setattr(learner, name, value)
    learner.active = active
    learner.save(update_fields=[*values, "active", "updated_at"])
    return learner


def _clean_section_fields(
    *, title: str, course_code: str, section_code: str, subject: str, grade_levels: str
) -> dict[str, str]:
    values = {
        "title": title.strip(),
        "course_code": course_code.strip(),
        "section_code": section_code.strip(),
        "subject": subject.strip(),
        "grade_levels": ",".join(
            part for part in grade_levels.replace(" ", ",").split(",") if part
        ),
    }
    problems: dict[str, str] = {}
    if not values["title"]:
        problems["title"] = "A title is required."
    elif len(values["title"]) > 200:
        problems["title"] = "Keep the title under 200 characters."
    for name in ("course_code", "section_code"):
        if len(values[name]) > CODE_MAX:
            problems[name] = f"Keep it under {CODE_MAX} characters."
    wrong = [g for g in values["grade_levels"].split(",") if g and g not in GRADE_CODES]
    if wrong:
        problems["grade_levels"] = f"{', '.join(wrong)}: not grade levels."
    if problems:
        raise ValidationError(problems)
    return values


@transaction.atomic
def add_section(
    *,
    actor: User,
    school: Organisation,
    term: Term,
    title: str,
    course_code: str = "",
    section_code: str = "",
    subject: str = "",
    grade_levels: str = "",
    teachers: Sequence[User] = (),
) -> Section:
    """A section added on the classes pages, with its teachers from today."""
    values = _clean_section_fields(
        title=title,
        course_code=course_code,
        section_code=section_code,
        subject=subject,
        grade_levels=grade_levels,
    )
    section = create_section(actor=actor, school=school, term=term, **values)
    for teacher in teachers:
        assign_role(
            actor=actor,
            user=teacher,
            kind=RoleKind.TEACHER,
            section=section,
            begin_date=selectors.today(),
        )
    return section


@transaction.atomic
def update_section(
    *,
    actor: User,
    section: Section,
    title: str,
    term: Term,
    course_code: str = "",
    section_code: str = "",
    subject: str = "",
    grade_levels: str = "",
) -> Section:
    """Change a section's title, term, codes, subject or grade levels."""
    _require_administers(actor, section.school)
    values = _clean_section_fields(
        title=title,
        course_code=course_code,
        section_code=section_code,
        subject=subject,
        grade_levels=grade_levels,
    )
    for name, value in values.items():
        setattr(section, name, value)
    section.term = term
    section.save(update_fields=[*values, "term", "updated_at"])
    return section


@transaction.atomic
def update_term(
    *, actor: User, term: Term, title: str, start_date: datetime.date, end_date: datetime.date
) -> Term:
    """Change a term's title or dates (its organisation's administrators)."""
    if term.organisation is None:
        if not actor.is_superuser:
            raise PermissionDenied("Only a platform administrator changes a shared term.")
    else:
        _require_administers(actor, term.organisation)
    problems: dict[str, str] = {}
    if not title.strip():
        problems["title"] = "A title is required."
    if end_date < start_date:
        problems["end_date"] = "The end date is before the start date."
    if problems:
        raise ValidationError(problems)
    term.title, term.start_date, term.end_date = title.strip(), start_date, end_date
    term.save(update_fields=["title", "start_date", "end_date", "updated_at"])
    return term


@transaction.atomic
def end_enrollment(*, actor: User, enrollment: Enrollment, last_day: datetime.date) -> Enrollment:
    """End a learner's enrollment on ``last_day`` (inclusive): from the next day the section's
    teachers no longer see the learner."""
    _require_administers(actor, enrollment.section.school)
    if enrollment.begin_date is not None and last_day < enrollment.begin_date:
        raise ValidationError({"end_date": "The last day is before the enrollment began."})
    enrollment.end_date = last_day
    enrollment.save(update_fields=["end_date", "updated_at"])
    return enrollment
