"""Who may see and change what: the one scoping mechanism every page, API, task and report uses.

Every function here derives access from rows that are *current today* (``begin_date`` on or
before today, ``end_date`` on or after today, blank meaning open-ended) and from an active user:

- a **teacher** assignment opens its section and the learners currently enrolled in it;
- a **school / district / state admin** assignment opens its organisation and every
  organisation below it, with their sections and learners;
- a **guardian** link opens that one learner, read only;
- a **student** user (``Learner.user``) opens their own learner record, read only.

A user with several roles gets exactly the union of what each grants: each grant is a separate
subquery joined with OR, never a role flag that widens another role (the Canvas union-of-roles
bug). An active superuser (the platform operator) sees and changes everything. The staff flag
grants nothing. Nothing is cached between requests, so an ended assignment or a deactivated user
loses access on the next request.

All querysets are built from subqueries (no Python loops over rows); compose them freely, e.g.
``Rating.objects.filter(learner__in=visible_learners(user))``. See
docs/decisions/0003-permission-model.md.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from common import history
from common.logging import request_id_var
from common.models import RowVersion
from learners.models import (
    ADMIN_ROLES,
    Course,
    Enrollment,
    GuardianLink,
    Learner,
    LearnerProfile,
    Organisation,
    RoleAssignment,
    RoleKind,
    RosterImport,
    Section,
    Term,
)

type AnyUser = AbstractBaseUser | AnonymousUser

GUARDIAN = "guardian"
STUDENT = "student"


def today() -> datetime.date:
    """The date every "current" test uses: today in the configured time zone."""
    return timezone.localdate()


def current_q(on: datetime.date | None = None, prefix: str = "") -> Q:
    """Rows whose ``begin_date``/``end_date`` (inclusive, blank = open) contain ``on``."""
    day = on or today()
    return (Q(**{f"{prefix}begin_date__isnull": True}) | Q(**{f"{prefix}begin_date__lte": day})) & (
        Q(**{f"{prefix}end_date__isnull": True}) | Q(**{f"{prefix}end_date__gte": day})
    )


def _is_active(user: AnyUser | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def _uid(user: AnyUser) -> int:
    return int(str(user.pk))


def _is_superuser(user: AnyUser) -> bool:
    return bool(getattr(user, "is_superuser", False))


def _current_assignments(user: AnyUser) -> QuerySet[RoleAssignment]:
    return RoleAssignment.objects.filter(current_q(), user_id=_uid(user))


def _taught_section_ids(user: AnyUser) -> QuerySet[RoleAssignment, int]:
    return (
        _current_assignments(user)
        .filter(kind=RoleKind.TEACHER)
        .values_list("section_id", flat=True)
    )


def _administered_root_ids(user: AnyUser) -> QuerySet[RoleAssignment, int]:
    return (
        _current_assignments(user)
        .filter(kind__in=ADMIN_ROLES)
        .values_list("organisation_id", flat=True)
    )


def _self_or_below(ids: QuerySet[RoleAssignment, int]) -> Q:
    # Organisation kinds rank strictly down the tree (state > district > school), so the tree is
    # at most three levels deep and two joins reach every descendant.
    return Q(pk__in=ids) | Q(parent_id__in=ids) | Q(parent__parent_id__in=ids)


def descendants_of(organisation: Organisation) -> QuerySet[Organisation]:
    """The organisation itself and every organisation below it."""
    return Organisation.objects.filter(
        Q(pk=organisation.pk) | Q(parent_id=organisation.pk) | Q(parent__parent_id=organisation.pk)
    )


def lineage_of(organisation: Organisation) -> list[Organisation]:
    """The organisation, then its parent, then its grandparent (nearest first, root last).

    For settings inherited down the tree (scales, calculation policies): the first match wins.
    """
    chain = [organisation]
    node = organisation
    while node.parent_id is not None and len(chain) < 3:
        assert node.parent is not None
        node = node.parent
        chain.append(node)
    return chain


def state_of(organisation: Organisation) -> Organisation | None:
    """The state at the top of the organisation's tree, if it has one."""
    root = lineage_of(organisation)[-1]
    return root if root.kind == "state" else None


# --- roles --------------------------------------------------------------------------------------


def roles_of(user: AnyUser | None) -> frozenset[str]:
    """The kinds of role the user holds today, in one query.

    Values: ``teacher``, ``school_admin``, ``district_admin``, ``state_admin`` (current role
    assignments), ``guardian`` (a current guardian link), ``student`` (linked to a learner).
    Empty for anonymous and inactive users. The superuser flag is not a role.
    """
    if user is None or not _is_active(user):
        return frozenset()
    # Plain SQL: every page asks (navigation, audit, the views' checks), and building the same
    # union through the ORM cost ~5 ms of CPU each time (bench/http_load.py). Within one
    # request (or task) the answer is kept on the user object, keyed by the request's id and the
    # day: a page asked two or three times (view, navigation, audit) for one statement.
    uid, day = _uid(user), today()
    request_id = request_id_var.get()
    key = (request_id, day)
    if request_id != "-":
        memo: tuple[tuple[str, datetime.date], frozenset[str]] | None = getattr(
            user, "_roles_memo", None
        )
        if memo is not None and memo[0] == key:
            return memo[1]
    with connection.cursor() as cursor:
        cursor.execute(_ROLES_SQL, [uid, day, day, uid, day, day, uid])
        roles = frozenset(kind for (kind,) in cursor.fetchall())
    if request_id != "-":
        user._roles_memo = (key, roles)  # type: ignore[union-attr]
    return roles


def _current_sql(alias: str) -> str:
    """SQL for :func:`current_q` on table ``alias`` (parameters: the day, twice)."""
    return (
        f"({alias}.begin_date IS NULL OR {alias}.begin_date <= %s)"
        f" AND ({alias}.end_date IS NULL OR {alias}.end_date >= %s)"
    )


# Table names are the models' own; every value is a parameter.
_ROLES_SQL = (
    f"SELECT ra.kind FROM {RoleAssignment._meta.db_table} ra"  # noqa: S608
    f" WHERE ra.user_id = %s AND {_current_sql('ra')}"
    f" UNION SELECT '{GUARDIAN}' FROM {GuardianLink._meta.db_table} g"
    f" WHERE g.guardian_id = %s AND {_current_sql('g')}"
    f" UNION SELECT '{STUDENT}' FROM {Learner._meta.db_table} l WHERE l.user_id = %s"
)


# --- organisations ------------------------------------------------------------------------------


def administered_organisations(user: AnyUser | None) -> QuerySet[Organisation]:
    """Organisations where the user holds a current admin assignment, plus all their descendants.

    This is what the user may *change* at organisation level (policies, requirements, rosters).
    """
    if user is None or not _is_active(user):
        return Organisation.objects.none()
    if _is_superuser(user):
        return Organisation.objects.all()
    return Organisation.objects.filter(_self_or_below(_administered_root_ids(user)))


def visible_organisations(user: AnyUser | None) -> QuerySet[Organisation]:
    """Organisations the user may see: the administered ones, the schools of their current
    sections and visible learners, and the ancestors of all of these (names for breadcrumbs and
    inherited settings). Never a sibling or a cousin."""
    if user is None or not _is_active(user):
        return Organisation.objects.none()
    if _is_superuser(user):
        return Organisation.objects.all()
    reachable = Organisation.objects.filter(
        _self_or_below(_administered_root_ids(user))
        | Q(pk__in=Section.objects.filter(pk__in=_taught_section_ids(user)).values("school_id"))
        | Q(pk__in=_own_learners(user).values("school_id"))
    )
    return Organisation.objects.filter(
        Q(pk__in=reachable.values("pk"))
        | Q(pk__in=reachable.values("parent_id"))
        | Q(pk__in=reachable.values("parent__parent_id"))
    )


def get_visible_organisation_or_404(user: AnyUser | None, pk: object) -> Organisation:
    return _get_or_404(visible_organisations(user), pk)


def get_administered_organisation_or_404(user: AnyUser | None, pk: object) -> Organisation:
    return _get_or_404(administered_organisations(user), pk)


# --- sections -----------------------------------------------------------------------------------


def visible_sections(user: AnyUser | None) -> QuerySet[Section]:
    """Sections whose whole roster the user may see: the ones they currently teach and every
    section of a school they administer.

    Students and guardians see no section here (a section opens its other learners); their
    learners' classes come from :func:`current_sections_of_learner`.
    """
    return _sections_in_scope(user)


def changeable_sections(user: AnyUser | None) -> QuerySet[Section]:
    """Sections the user may change (log evidence, ratings, rosters): the ones they currently
    teach and every section of a school they administer. Today equal to :func:`visible_sections`;
    callers that write must still call this one."""
    return _sections_in_scope(user)


def _sections_in_scope(user: AnyUser | None) -> QuerySet[Section]:
    if user is None or not _is_active(user):
        return Section.objects.none()
    if _is_superuser(user):
        return Section.objects.all()
    administered = Organisation.objects.filter(_self_or_below(_administered_root_ids(user)))
    return Section.objects.filter(
        Q(pk__in=_taught_section_ids(user)) | Q(school_id__in=administered.values("pk"))
    )


def get_visible_section_or_404(user: AnyUser | None, pk: object) -> Section:
    return _get_or_404(visible_sections(user).select_related("school", "term", "course"), pk)


def get_changeable_section_or_404(user: AnyUser | None, pk: object) -> Section:
    return _get_or_404(changeable_sections(user).select_related("school", "term", "course"), pk)


@dataclass(frozen=True)
class SectionAccess:
    """A section the user may see (school, term and course loaded), and whether the user sees
    its whole current roster because they teach it (or run the platform)."""

    section: Section
    whole_roster: bool


def get_section_access_or_404(user: AnyUser | None, pk: object) -> SectionAccess:
    """What :func:`get_visible_section_or_404` answers (the same 404s), for pages served many
    times a minute (the section grid): the scope is one short SQL statement instead of the role
    querysets, which cost more CPU to compose than the grid's own reads (bench/http_load.py).
    tests/learners/test_section_access.py holds it to :func:`visible_sections` per persona."""
    text = str(pk)
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_PK:
        raise Http404("Not found.")
    section_id = int(text)
    if user is None or not _is_active(user):
        raise Http404("Not found.")
    if _is_superuser(user):
        return SectionAccess(_get_or_404(_sections_with_names(), section_id), whole_roster=True)
    uid, day = _uid(user), today()
    # The section, its school, term and course come in the same statement (the driver's values
    # need no conversion).
    with connection.cursor() as cursor:
        cursor.execute(
            _SECTION_ACCESS_SQL.format(columns=_SECTION_COLUMNS),
            [uid, RoleKind.TEACHER, day, day, uid, day, day, section_id],
        )
        row = cursor.fetchone()
    if row is None or not (row[0] or row[1]):
        raise Http404("Not found.")
    return SectionAccess(_section_from_row(row[2:]), whole_roster=bool(row[0]))


def _section_from_row(values: tuple[Any, ...]) -> Section:
    """The section of an access row, with its school, term and course set as ``select_related``
    sets them."""
    objects: list[Any] = []
    for model in (Section, Organisation, Term, Course):
        names = [field.attname for field in model._meta.concrete_fields]
        chunk, values = values[: len(names)], values[len(names) :]
        objects.append(None if chunk[0] is None else model.from_db(connection.alias, names, chunk))
    section: Section = objects[0]
    section.school, section.term, section.course = objects[1:]
    return section


def roster_of(user: AnyUser | None, access: SectionAccess) -> list[Learner]:
    """:func:`section_roster` as a list in name order (family, given, id). A section's teacher
    sees every learner currently enrolled in it, so that case is one plain statement."""
    if not access.whole_roster:
        return list(
            section_roster(user, access.section).order_by("family_name", "given_name", "pk")
        )
    day = today()
    with connection.cursor() as cursor:
        cursor.execute(_WHOLE_ROSTER_SQL, [access.section.pk, day, day])
        rows = cursor.fetchall()
    return [Learner.from_db(connection.alias, _LEARNER_FIELDS, row) for row in rows]


def _sections_with_names() -> QuerySet[Section]:
    return Section.objects.select_related("school", "term", "course")


_ADMIN_KINDS_SQL = ", ".join(f"'{kind!s}'" for kind in sorted(ADMIN_ROLES))
_ORGANISATION_TABLE = Organisation._meta.db_table
# (teaches, administers, {columns}) for one section: a current teacher assignment on it, a
# current admin assignment on its school or an organisation above it (see _self_or_below).
_SECTION_COLUMNS = ", ".join(
    f"{alias}.{field.column}"
    for alias, model in (("s", Section), ("o", Organisation), ("t", Term), ("c", Course))
    for field in model._meta.concrete_fields
)
_SECTION_ACCESS_SQL = (
    f"SELECT EXISTS (SELECT 1 FROM {RoleAssignment._meta.db_table} ra"  # noqa: S608
    f"  WHERE ra.user_id = %s AND ra.kind = %s AND ra.section_id = s.id"
    f"  AND {_current_sql('ra')}),"
    f" EXISTS (SELECT 1 FROM {RoleAssignment._meta.db_table} ra"
    f"  WHERE ra.user_id = %s AND ra.kind IN ({_ADMIN_KINDS_SQL}) AND {_current_sql('ra')}"
    f"  AND ra.organisation_id IN (o.id, o.parent_id, p.parent_id)), {{columns}}"
    f" FROM {Section._meta.db_table} s"
    f" JOIN {_ORGANISATION_TABLE} o ON o.id = s.school_id"
    f" LEFT JOIN {_ORGANISATION_TABLE} p ON p.id = o.parent_id"
    f" JOIN {Term._meta.db_table} t ON t.id = s.term_id"
    f" LEFT JOIN {Course._meta.db_table} c ON c.id = s.course_id"
    f" WHERE s.id = %s"
)
_LEARNER_FIELDS = [field.attname for field in Learner._meta.concrete_fields]
_WHOLE_ROSTER_SQL = (
    f"SELECT {', '.join(f'l.{field.column}' for field in Learner._meta.concrete_fields)}"  # noqa: S608
    f" FROM {Learner._meta.db_table} l WHERE l.id IN ("
    f" SELECT e.learner_id FROM {Enrollment._meta.db_table} e"
    f" WHERE e.section_id = %s AND {_current_sql('e')})"
    f" ORDER BY l.family_name, l.given_name, l.id"
)
# (taught, administered, guarded, own, {columns}) for one learner: a current teacher assignment
# on a section the learner is currently enrolled in; a current admin assignment on the
# learner's school or an organisation above it; a current guardian link; the student.
_LEARNER_COLUMNS = ", ".join(
    f"{alias}.{field.column}"
    for alias, model in (("l", Learner), ("o", Organisation))
    for field in model._meta.concrete_fields
)
_LEARNER_ACCESS_SQL = (
    f"SELECT EXISTS (SELECT 1 FROM {Enrollment._meta.db_table} e"  # noqa: S608
    f"  JOIN {RoleAssignment._meta.db_table} ra ON ra.section_id = e.section_id"
    f"  WHERE ra.user_id = %s AND ra.kind = %s AND {_current_sql('ra')}"
    f"  AND e.learner_id = l.id AND {_current_sql('e')}),"
    f" EXISTS (SELECT 1 FROM {RoleAssignment._meta.db_table} ra"
    f"  WHERE ra.user_id = %s AND ra.kind IN ({_ADMIN_KINDS_SQL}) AND {_current_sql('ra')}"
    f"  AND ra.organisation_id IN (o.id, o.parent_id, p.parent_id)),"
    f" EXISTS (SELECT 1 FROM {GuardianLink._meta.db_table} g"
    f"  WHERE g.guardian_id = %s AND g.learner_id = l.id AND {_current_sql('g')}),"
    f" l.user_id IS NOT NULL AND l.user_id = %s, {{columns}}"
    f" FROM {Learner._meta.db_table} l"
    f" JOIN {_ORGANISATION_TABLE} o ON o.id = l.school_id"
    f" LEFT JOIN {_ORGANISATION_TABLE} p ON p.id = o.parent_id"
    f" WHERE l.id = %s"
)
# (teaches, administers, {columns}) for each section the learner is currently enrolled in.
_SECTION_TERM_COLUMNS = ", ".join(
    f"{alias}.{field.column}"
    for alias, model in (("s", Section), ("t", Term))
    for field in model._meta.concrete_fields
)
_LEARNER_SECTIONS_SQL = (
    f"SELECT EXISTS (SELECT 1 FROM {RoleAssignment._meta.db_table} ra"  # noqa: S608
    f"  WHERE ra.user_id = %s AND ra.kind = %s AND ra.section_id = s.id"
    f"  AND {_current_sql('ra')}),"
    f" EXISTS (SELECT 1 FROM {RoleAssignment._meta.db_table} ra"
    f"  WHERE ra.user_id = %s AND ra.kind IN ({_ADMIN_KINDS_SQL}) AND {_current_sql('ra')}"
    f"  AND ra.organisation_id IN (o.id, o.parent_id, p.parent_id)), {{columns}}"
    f" FROM {Section._meta.db_table} s"
    f" JOIN {_ORGANISATION_TABLE} o ON o.id = s.school_id"
    f" LEFT JOIN {_ORGANISATION_TABLE} p ON p.id = o.parent_id"
    f" JOIN {Term._meta.db_table} t ON t.id = s.term_id"
    f" WHERE s.id IN (SELECT e.section_id FROM {Enrollment._meta.db_table} e"
    f"  WHERE e.learner_id = %s AND {_current_sql('e')})"
    f" ORDER BY s.title, s.id"
)


_CURRENT_ROSTER_SQL = (
    f"SELECT e.learner_id AS learner_ref FROM {Enrollment._meta.db_table} e"  # noqa: S608
    f" WHERE e.section_id = %s AND {_current_sql('e')}"
)


def current_roster_sql(section_id: int) -> tuple[str, tuple[Any, ...]]:
    """SQL (and its parameters) selecting ``learner_ref``: the learners currently enrolled in the
    section (``current_q`` on their enrollments), for set-based writes such as the read audit.
    Fixed text: nothing to compose per request."""
    day = today()
    return _CURRENT_ROSTER_SQL, (section_id, day, day)


def taught_sections(user: AnyUser | None) -> QuerySet[Section]:
    """The sections the user currently teaches (their "My sections"), whatever else they are."""
    if user is None or not _is_active(user):
        return Section.objects.none()
    return Section.objects.filter(pk__in=_taught_section_ids(user))


def section_roster(user: AnyUser | None, section: Section) -> QuerySet[Learner]:
    """The learners currently enrolled in ``section`` that the user may see."""
    enrolled = Enrollment.objects.filter(current_q(), section_id=section.pk).values_list(
        "learner_id", flat=True
    )
    return visible_learners(user).filter(pk__in=enrolled)


def current_sections_of_learner(learner: Learner) -> QuerySet[Section]:
    """The sections the learner is currently enrolled in. The caller must already have checked
    that the learner is visible (e.g. with :func:`get_visible_learner_or_404`)."""
    enrolled = Enrollment.objects.filter(current_q(), learner_id=learner.pk).values_list(
        "section_id", flat=True
    )
    return Section.objects.filter(pk__in=enrolled).select_related("term", "school")


def current_teacher_ids(section: Section) -> QuerySet[RoleAssignment, int]:
    """User ids of the section's current teachers (as a subquery-ready values queryset)."""
    return RoleAssignment.objects.filter(
        current_q(), section_id=section.pk, kind=RoleKind.TEACHER
    ).values_list("user_id", flat=True)


def list_sections_for(user: AnyUser | None) -> QuerySet[Section]:
    """The user's visible sections for a list page: school and term joined, the number of
    learners currently enrolled as ``learner_count``, current terms first."""
    return (
        visible_sections(user)
        .select_related("school", "term")
        .annotate(learner_count=Count("enrollments", filter=current_q(prefix="enrollments__")))
        .order_by("-term__start_date", "title", "pk")
    )


def section_teachers(section: Section) -> QuerySet[User]:
    """The section's current teachers (check the section is visible first)."""
    return User.objects.filter(pk__in=current_teacher_ids(section), is_active=True).order_by(
        "last_name", "first_name", "pk"
    )


# --- learners -----------------------------------------------------------------------------------


def _own_learners(user: AnyUser) -> QuerySet[Learner]:
    """Learners the user sees as a guardian or as the student themselves."""
    guarded = GuardianLink.objects.filter(current_q(), guardian_id=_uid(user)).values_list(
        "learner_id", flat=True
    )
    return Learner.objects.filter(Q(pk__in=guarded) | Q(user_id=_uid(user)))


def _taught_learner_ids(user: AnyUser) -> QuerySet[Enrollment, int]:
    return Enrollment.objects.filter(
        current_q(), section_id__in=_taught_section_ids(user)
    ).values_list("learner_id", flat=True)


def _administered_learner_q(user: AnyUser) -> Q:
    administered = Organisation.objects.filter(_self_or_below(_administered_root_ids(user)))
    return Q(school_id__in=administered.values("pk"))


def visible_learners(user: AnyUser | None) -> QuerySet[Learner]:
    """Learners the user may see: currently enrolled in a section they currently teach, linked
    to them as a guardian (current link), themselves as a student, or at a school at or below an
    organisation they administer. The union of these, nothing more."""
    if user is None or not _is_active(user):
        return Learner.objects.none()
    if _is_superuser(user):
        return Learner.objects.all()
    guarded = GuardianLink.objects.filter(current_q(), guardian_id=_uid(user)).values_list(
        "learner_id", flat=True
    )
    return Learner.objects.filter(
        Q(pk__in=_taught_learner_ids(user))
        | Q(pk__in=guarded)
        | Q(user_id=_uid(user))
        | _administered_learner_q(user)
    )


def changeable_learners(user: AnyUser | None) -> QuerySet[Learner]:
    """Learners whose records the user may change as staff (evidence, ratings, roster data): in
    a section they currently teach, or at a school they administer. Guardians and students
    change nothing here; a student's own writes (profile, submissions) have their own checks
    (:func:`can_edit_profile`)."""
    if user is None or not _is_active(user):
        return Learner.objects.none()
    if _is_superuser(user):
        return Learner.objects.all()
    return Learner.objects.filter(
        Q(pk__in=_taught_learner_ids(user)) | _administered_learner_q(user)
    )


def get_visible_learner_or_404(user: AnyUser | None, pk: object) -> Learner:
    return _get_or_404(visible_learners(user).select_related("school"), pk)


def get_changeable_learner_or_404(user: AnyUser | None, pk: object) -> Learner:
    return _get_or_404(changeable_learners(user).select_related("school"), pk)


@dataclass(frozen=True)
class LearnerAccess:
    """A learner the user may see (school loaded), and whether the user may also change the
    learner's records as staff (:func:`changeable_learners` holds the learner)."""

    learner: Learner
    changeable: bool


def get_learner_access_or_404(user: AnyUser | None, pk: object) -> LearnerAccess:
    """What :func:`get_visible_learner_or_404` answers (the same 404s) and whether
    :func:`changeable_learners` holds the learner, for pages served many times a minute (the
    staff learner page): one short SQL statement instead of composing the two role querysets,
    which cost more CPU than the page's own reads (bench/http_load.py).
    tests/learners/test_learner_access.py holds it to the querysets per persona."""
    text = str(pk)
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_PK:
        raise Http404("Not found.")
    if user is None or not _is_active(user):
        raise Http404("Not found.")
    if _is_superuser(user):
        learner = _get_or_404(Learner.objects.select_related("school"), int(text))
        return LearnerAccess(learner, changeable=True)
    uid, day = _uid(user), today()
    teacher: list[Any] = [uid, RoleKind.TEACHER, day, day, day, day]
    with connection.cursor() as cursor:
        cursor.execute(
            _LEARNER_ACCESS_SQL.format(columns=_LEARNER_COLUMNS),
            [*teacher, uid, day, day, uid, day, day, uid, int(text)],
        )
        row = cursor.fetchone()
    if row is None or not any(row[:4]):
        raise Http404("Not found.")
    taught, administered = bool(row[0]), bool(row[1])
    return LearnerAccess(_learner_from_row(row[4:]), changeable=taught or administered)


def _learner_from_row(values: tuple[Any, ...]) -> Learner:
    """The learner of an access row, with its school set as ``select_related`` sets it."""
    names = [field.attname for field in Learner._meta.concrete_fields]
    learner = Learner.from_db(connection.alias, names, values[: len(names)])
    school_names = [field.attname for field in Organisation._meta.concrete_fields]
    learner.school = Organisation.from_db(connection.alias, school_names, values[len(names) :])
    return learner


def current_sections_for(user: AnyUser | None, learner: Learner) -> list[tuple[Section, bool]]:
    """The sections the learner is currently enrolled in (:func:`current_sections_of_learner`,
    term loaded), each with whether the user may change it (:func:`changeable_sections`: they
    teach it or administer its school), in one statement. The caller checked that the user may
    see the learner."""
    if user is None or not _is_active(user):
        return []
    uid, day = _uid(user), today()
    with connection.cursor() as cursor:
        cursor.execute(
            _LEARNER_SECTIONS_SQL.format(columns=_SECTION_TERM_COLUMNS),
            [uid, RoleKind.TEACHER, day, day, uid, day, day, learner.pk, day, day],
        )
        rows = cursor.fetchall()
    superuser = _is_superuser(user)
    section_names = [field.attname for field in Section._meta.concrete_fields]
    term_names = [field.attname for field in Term._meta.concrete_fields]
    out = []
    for row in rows:
        values = row[2:]
        section = Section.from_db(connection.alias, section_names, values[: len(section_names)])
        section.term = Term.from_db(connection.alias, term_names, values[len(section_names) :])
        out.append((section, superuser or bool(row[0] or row[1])))
    return out


def search_visible_learners(user: AnyUser | None, query: str = "") -> QuerySet[Learner]:
    """Visible learners matching ``query`` (in a name, the local id or the state student id),
    with their school joined, in name order."""
    learners = visible_learners(user).select_related("school")
    for word in query.split()[:5]:
        learners = learners.filter(
            Q(given_name__icontains=word)
            | Q(family_name__icontains=word)
            | Q(preferred_name__icontains=word)
            | Q(local_id__iexact=word)
            | Q(state_student_id__iexact=word)
        )
    return learners.order_by("family_name", "given_name", "pk")


def can_import_roster(user: AnyUser | None) -> bool:
    """Admins of any organisation (and the platform operator) may upload a roster; the import
    itself then checks every row against the organisations they administer."""
    if user is None or not _is_active(user):
        return False
    return _is_superuser(user) or bool(roles_of(user) & ADMIN_ROLES)


def list_roster_imports(user: AnyUser | None) -> QuerySet[RosterImport]:
    """Recent roster imports the user may see: their own (all of them for the operator)."""
    if user is None or not _is_active(user):
        return RosterImport.objects.none()
    imports = RosterImport.objects.all()
    if not _is_superuser(user):
        imports = imports.filter(imported_by_id=_uid(user))
    return imports.order_by("-created_at", "-pk")


def learner_of(user: AnyUser | None) -> Learner | None:
    """The learner record of a student user, or None."""
    if user is None or not _is_active(user):
        return None
    return Learner.objects.filter(user_id=_uid(user)).select_related("school").first()


def can_edit_profile(user: AnyUser | None, learner: Learner) -> bool:
    """Only the learner writes their profile (it is *their* voice)."""
    return _is_active(user) and user is not None and learner.user_id == user.pk


def profile_of(learner: Learner) -> LearnerProfile | None:
    """The learner's profile, if written. Check visibility of the learner first. One plain
    statement (every learner page asks)."""
    with connection.cursor() as cursor:
        cursor.execute(_PROFILE_SQL, [learner.pk])
        row = cursor.fetchone()
    return None if row is None else LearnerProfile.from_db(connection.alias, _PROFILE_FIELDS, row)


_PROFILE_FIELDS = [field.attname for field in LearnerProfile._meta.concrete_fields]
_PROFILE_SQL = (
    "SELECT "  # noqa: S608
    + ", ".join(str(field.column) for field in LearnerProfile._meta.concrete_fields)
    + f" FROM {LearnerProfile._meta.db_table} WHERE learner_id = %s ORDER BY id LIMIT 1"
)


# --- terms --------------------------------------------------------------------------------------


def visible_terms(user: AnyUser | None) -> QuerySet[Term]:
    """Terms of organisations the user may see, terms without an organisation, and the terms of
    sections the user may see. Term dates carry no personal data."""
    if user is None or not _is_active(user):
        return Term.objects.none()
    if _is_superuser(user):
        return Term.objects.all()
    return Term.objects.filter(
        Q(organisation__isnull=True)
        | Q(organisation_id__in=visible_organisations(user).values("pk"))
        | Q(pk__in=visible_sections(user).values("term_id"))
    )


_MAX_PK = 2**63 - 1


def _get_or_404[M: (Organisation, Section, Learner)](queryset: QuerySet[M], pk: object) -> M:
    """The same 404 for a missing object, one out of scope and a malformed id."""
    text = str(pk)
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_PK:
        raise Http404("Not found.")
    try:
        return queryset.get(pk=int(text))
    except queryset.model.DoesNotExist as exc:
        raise Http404("Not found.") from exc


# --- the roster as it stood at a moment (ADR 8) -------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a learner stood at a moment: their school, grade and whether they were active."""

    learner_id: int
    school_id: int
    grade_level: str
    active: bool


_ROSTER_TABLES = ("learners_learner",)
_ENROLLMENT_TABLES = ("learners_enrollment",)
_TREE_TABLES = ("learners_organisation",)


def descendant_ids_as_of(organisation: Organisation, at: datetime.datetime | None) -> list[int]:
    """The ids of the organisation and of every organisation below it (:func:`descendants_of`),
    ascending, as the tree stood at ``at`` (``None``: now; a school moved to another district
    later is still below its district then). One query (the live table when no organisation
    changed since ``at``)."""
    if at is None or not history.changed_after(_TREE_TABLES, at):
        return list(descendants_of(organisation).order_by("pk").values_list("pk", flat=True))
    rows = history.rows_as_of("learners_organisation", at)
    if organisation.pk not in rows:
        return []
    found, level = {organisation.pk}, {organisation.pk}
    for _depth in range(2):  # state > district > school
        level = {pk for pk, row in rows.items() if row.get("parent_id") in level}
        found |= level
    return sorted(found)


def roster_changed_after(at: datetime.datetime) -> bool:
    """Whether a learner's school, grade or active flag changed after ``at`` (if not, the live
    table is what stood then)."""
    return history.changed_after(_ROSTER_TABLES, at)


def active_learners(school_ids: list[int]) -> QuerySet[Learner]:
    """The learners active now at one of ``school_ids`` (the live form of the roster's rule)."""
    return Learner.objects.filter(school_id__in=school_ids, active=True)


def placements_as_of(learner_ids: list[int], at: datetime.datetime) -> dict[int, Placement]:
    """Learner id -> their school, grade and active flag as they stood at ``at`` (row
    versions; a learner created later is absent). One query (two when a learner row changed
    since ``at``: the check, then the versions)."""
    if not roster_changed_after(at):
        return {
            pk: Placement(pk, school, grade, active)
            for pk, school, grade, active in Learner.objects.filter(pk__in=learner_ids).values_list(
                "pk", "school_id", "grade_level", "active"
            )
        }
    rows = history.rows_as_of("learners_learner", at, row_ids=learner_ids)
    return {
        pk: Placement(pk, int(row["school_id"]), str(row["grade_level"]), bool(row["active"]))
        for pk, row in rows.items()
    }


def active_learner_page_as_of(
    school_ids: list[int], at: datetime.datetime | None, *, after: int, size: int
) -> list[Placement]:
    """The next ``size`` learners (by id, after ``after``) who were active at one of
    ``school_ids`` at ``at`` (``None``: now, from the live table). When no learner row changed
    since ``at`` the live table is read (the same rows, cheaper). One query per page."""
    if at is None or not roster_changed_after(at):
        return [
            Placement(pk, school, grade, True)
            for pk, school, grade in active_learners(school_ids)
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "school_id", "grade_level")[:size]
        ]
    latest = history.latest_versions_sql(row_filter="AND v.row_id > %(after)s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT latest.row_id, (latest.data ->> 'school_id')::bigint,"  # noqa: S608
            f" latest.data ->> 'grade_level' FROM ({latest}) AS latest"
            " WHERE NOT latest.deleted AND (latest.data ->> 'active')::boolean"
            " AND (latest.data ->> 'school_id')::bigint = ANY(%(schools)s)"
            " ORDER BY latest.row_id LIMIT %(size)s",
            {
                "table": "learners_learner",
                "at": at,
                "after": after,
                "schools": list(school_ids),
                "size": size,
            },
        )
        return [Placement(int(pk), int(school), str(grade), True) for pk, school, grade in cursor]


def placement_counts_as_of(
    school_ids: list[int], at: datetime.datetime | None
) -> dict[tuple[int, str], int]:
    """(school id, grade) -> how many learners were active there at ``at`` (``None``: now).
    One grouped query (the live table when no learner row changed since ``at``)."""
    if at is None or not roster_changed_after(at):
        counts = (
            active_learners(school_ids)
            .order_by()
            .values("school_id", "grade_level")
            .annotate(n=Count("pk"))
        )
        return {(row["school_id"], row["grade_level"]): row["n"] for row in counts}
    latest = history.latest_versions_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (latest.data ->> 'school_id')::bigint, latest.data ->> 'grade_level',"  # noqa: S608
            f" count(*) FROM ({latest}) AS latest"
            " WHERE NOT latest.deleted AND (latest.data ->> 'active')::boolean"
            " AND (latest.data ->> 'school_id')::bigint = ANY(%(schools)s)"
            " GROUP BY 1, 2",
            {"table": "learners_learner", "at": at, "schools": list(school_ids)},
        )
        return {(int(school), str(grade)): int(n) for school, grade, n in cursor}


def enrolled_learner_ids_as_of(
    section_id: int, day: datetime.date, at: datetime.datetime | None
) -> list[int]:
    """The learners enrolled in the section on ``day`` (its dates include the day), as the
    enrollments stood at ``at`` (``None``: now): an enrollment ended or removed later still
    counts. The live table when no enrollment changed since ``at``."""
    if at is None or not history.changed_after(_ENROLLMENT_TABLES, at):
        return sorted(
            set(
                Enrollment.objects.filter(current_q(day), section_id=section_id).values_list(
                    "learner_id", flat=True
                )
            )
        )
    wanted = list(
        RowVersion.objects.filter(
            table_name="learners_enrollment", data__section_id=section_id
        ).values_list("row_id", flat=True)
    )
    rows = history.rows_as_of("learners_enrollment", at, row_ids=wanted)
    out = [
        int(row["learner_id"])
        for row in rows.values()
        if row["section_id"] == section_id and _enrolled_on(row, day)
    ]
    return sorted(set(out))


def _enrolled_on(row: dict[str, Any], day: datetime.date) -> bool:
    """Whether an enrollment's version holds ``day`` (as ``current_q``: inclusive, blank open)."""
    begin, end = history.as_date(row["begin_date"]), history.as_date(row["end_date"])
    return (begin is None or begin <= day) and (end is None or day <= end)


def enrollments_as_of(
    learner_ids: list[int], day: datetime.date, at: datetime.datetime | None
) -> list[tuple[int, int]]:
    """(learner id, section id) of the enrollments of ``learner_ids`` holding ``day``, as they
    stood at ``at`` (``None``: now). One query (the live table when no enrollment changed
    since ``at``; else the versions, through their learner index)."""
    if at is None or not history.changed_after(_ENROLLMENT_TABLES, at):
        return list(
            Enrollment.objects.filter(current_q(day), learner_id__in=learner_ids).values_list(
                "learner_id", "section_id"
            )
        )
    rows = history.rows_as_of("learners_enrollment", at, learner_ids=learner_ids)
    return [
        (int(row["learner_id"]), int(row["section_id"]))
        for row in rows.values()
        if _enrolled_on(row, day)
    ]


# --- pickers: learners and sections chosen by name or code, never by a database id -------------

PICKER_LIMIT = 20
_LABEL_KEY = re.compile(r"^(?P<name>.*?)\s*\((?P<key>[^()]*)\)\s*$")


def learner_label(learner: Learner) -> str:
    """How a picker names a learner: the name with the local id (else the state student id),
    e.g. ``Ada Own (L000123)``; typing it back finds exactly that learner."""
    key = learner.local_id or learner.state_student_id
    return f"{learner.display_name} ({key})" if key else learner.display_name


def section_label(section: Section) -> str:
    """How a picker names a section: ``Maths 5A · Hill School · Fall 2026`` (school and term
    joined by the caller)."""
    return f"{section.title} · {section.school.name} · {section.term.title}"


@dataclass(frozen=True)
class Picked[M]:
    """What a typed name or code found: one object, or why not (``problem``, plain words)."""

    found: M | None
    problem: str = ""


def _several(kind: str, text: str, labels: list[str]) -> str:
    shown = "; ".join(labels[:5])
    more = f" and {len(labels) - 5} more" if len(labels) > 5 else ""
    return (
        f"Several {kind} match “{text}”: {shown}{more}. Choose one from the list, or type more"
        f" of its name."
    )


def search_learners(learners: QuerySet[Learner], text: str) -> QuerySet[Learner]:
    """``learners`` matching typed text: every word in a name, or the local or state student
    id; a label ``Name (key)`` (:func:`learner_label`) narrows to the key."""
    text = text.strip()[:200]
    labelled = _LABEL_KEY.match(text)
    if labelled and labelled.group("key").strip():
        key = labelled.group("key").strip()
        learners = learners.filter(Q(local_id=key) | Q(state_student_id=key))
        text = labelled.group("name")
    for word in text.split()[:5]:
        learners = learners.filter(
            Q(given_name__icontains=word)
            | Q(family_name__icontains=word)
            | Q(preferred_name__icontains=word)
            | Q(local_id__iexact=word)
            | Q(state_student_id__iexact=word)
        )
    return learners.order_by("family_name", "given_name", "pk")


def pick_learner(learners: QuerySet[Learner], text: str) -> Picked[Learner]:
    """The one learner of ``learners`` (already scoped to the user) that typed text names."""
    text = text.strip()
    if not text:
        return Picked(None, "Type a learner's name or local id.")
    found = list(search_learners(learners, text)[: PICKER_LIMIT + 1])
    if len(found) == 1:
        return Picked(found[0])
    if not found:
        return Picked(None, f"No learner of yours matches “{text}”.")
    exact = [lr for lr in found if learner_label(lr).lower() == text.lower()]
    if len(exact) == 1:
        return Picked(exact[0])
    return Picked(None, _several("learners", text, [learner_label(lr) for lr in found]))


def search_sections(sections: QuerySet[Section], text: str) -> QuerySet[Section]:
    """``sections`` matching typed text: a label (:func:`section_label`) exactly, else every
    word in the title, course code, section code, school or term."""
    sections = sections.select_related("school", "term")
    parts = [part.strip() for part in text.split("·")]
    if len(parts) == 3 and all(parts):
        return sections.filter(
            title__iexact=parts[0], school__name__iexact=parts[1], term__title__iexact=parts[2]
        ).order_by("title", "pk")
    for word in text.split()[:5]:
        sections = sections.filter(
            Q(title__icontains=word)
            | Q(course_code__iexact=word)
            | Q(section_code__iexact=word)
            | Q(school__name__icontains=word)
            | Q(term__title__icontains=word)
        )
    return sections.order_by("-term__start_date", "title", "pk")


def pick_section(sections: QuerySet[Section], text: str) -> Picked[Section]:
    """The one section of ``sections`` (already scoped to the user) that typed text names."""
    text = text.strip()[:300]
    if not text:
        return Picked(None, "Type a section's name.")
    found = list(search_sections(sections, text)[: PICKER_LIMIT + 1])
    if len(found) == 1:
        return Picked(found[0])
    if not found:
        return Picked(None, f"No section of yours matches “{text}”.")
    exact = [s for s in found if s.title.lower() == text.lower()]
    if len(exact) == 1:
        return Picked(exact[0])
    return Picked(None, _several("sections", text, [section_label(s) for s in found]))
