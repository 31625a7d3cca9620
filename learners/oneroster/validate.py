"""Checks across the files and against the database: references, scope, identities."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.contrib.auth.models import User
from django.db import models

from common.importing import Problem
from learners import selectors
from learners.models import (
    KIND_RANK,
    Course,
    GuardianLink,
    Learner,
    Organisation,
    OrganisationKind,
    RosterIdentity,
    Section,
    Term,
)
from learners.oneroster.base import GUARDIAN_ROLES, TEACHING_USER_ROLES
from learners.oneroster.demographics import values_of
from learners.oneroster.records import EnrollmentRecord, Roster, Row, UserRecord

logger = logging.getLogger(__name__)


# --- validation across files and against the database ------------------------------------------


CHUNK = 5000  # ids per IN (...) list: well under PostgreSQL's 65,535 parameters per statement


def _chunks[T: (int, str)](values: Iterable[T]) -> list[list[T]]:
    ordered = sorted(set(values))
    return [ordered[start : start + CHUNK] for start in range(0, len(ordered), CHUNK)]


def _by_sid[M: models.Model](model: type[M], sids: Iterable[str]) -> dict[str, M]:
    wanted = sorted(set(sids))
    found: dict[str, M] = {}
    for start in range(0, len(wanted), 5000):
        for obj in model._default_manager.filter(sourced_id__in=wanted[start : start + 5000]):
            found[str(obj.sourced_id)] = obj  # type: ignore[attr-defined]
    return found


def validate(roster: Roster, *, actor: User | None, errors: list[Problem]) -> None:
    """Check every reference and rule, against the upload and the database; add to ``errors``.

    Rows that can stand on their own are never refused for another row's sake: references to
    orgs of a type we do not keep land on the org above them, and a row left out (a skipped
    org with nothing above it, an enrollment contradicting its user's role, a deletion of
    something the platform never had) takes what depends on it out too, each with one warning.
    """
    _resolve_org_references(roster)
    _load_database_rows(roster)
    _skip_deletions_of_unknown_rows(roster)
    _skip_dependents(roster)
    org_kind = {sid: o.kind for sid, o in roster.db_orgs.items()}
    org_kind.update({sid: r.kind for sid, r in roster.orgs.items() if r.kind})
    scope = _scope_of(roster, actor)
    allowed = scope[0] if scope is not None else None
    administered_ids = scope[1] if scope is not None else None

    def check_org(row: Row, column: str, sid: str, kinds: set[str] | None = None) -> bool:
        if sid not in org_kind:
            row.error(column, f"No org has sourcedId {sid!r}.")
            return False
        if kinds is not None and org_kind[sid] not in kinds:
            row.error(column, f"{sid!r} is a {org_kind[sid]}, not a {' or '.join(sorted(kinds))}.")
            return False
        if allowed is not None and sid not in allowed:
            row.error(column, f"{sid!r} is outside the organisations you administer.")
            return False
        return True

    _validate_orgs(roster, org_kind)
    _validate_terms(roster)
    for course in roster.courses.values():
        check_org(course.row, "orgSourcedId", course.org_sid)
        existing_course = roster.db_courses.get(course.sid)
        if administered_ids is not None and existing_course is not None:
            _check_in_scope(course.row, existing_course.organisation_id, administered_ids)
    course_sids = set(roster.courses) | set(roster.db_courses)
    term_sids = set(roster.terms) | set(roster.db_terms)
    for klass in roster.classes.values():
        if klass.course_sid and klass.course_sid not in course_sids:
            klass.row.error("courseSourcedId", f"No course has sourcedId {klass.course_sid!r}.")
        if klass.school_sid:
            check_org(klass.row, "schoolSourcedId", klass.school_sid, {"school"})
        for term_sid in klass.term_sids:
            if term_sid not in term_sids:
                klass.row.error(
                    "termSourcedIds", f"No academic session has sourcedId {term_sid!r}."
                )
        existing_section = roster.db_sections.get(klass.sid)
        if administered_ids is not None and existing_section is not None:
            _check_in_scope(klass.row, existing_section.school_id, administered_ids)
    _validate_users(roster, org_kind, check_org, administered_ids)
    _validate_demographics(roster)
    _validate_enrollments(roster, org_kind, check_org, administered_ids)
    _find_missing_learners(roster, org_kind)


def _resolve_org_references(roster: Roster) -> None:
    for org in roster.orgs.values():
        if org.parent_sid:
            org.parent_sid = roster.resolve_org(org.parent_sid)
    for sid, course in list(roster.courses.items()):
        resolved = roster.resolve_org(course.org_sid)
        if not resolved:
            roster.skip(
                "courses", sid, "orgSourcedId", f"Its org {course.org_sid!r} was skipped: skipped."
            )
        course.org_sid = resolved
    for sid, klass in list(roster.classes.items()):
        resolved = roster.resolve_org(klass.school_sid)
        if not resolved:
            roster.skip(
                "classes",
                sid,
                "schoolSourcedId",
                f"Its org {klass.school_sid!r} was skipped: skipped.",
            )
        klass.school_sid = resolved
    for sid, user in list(roster.users.items()):
        orgs = list(dict.fromkeys(filter(None, map(roster.resolve_org, user.org_sids))))
        if user.org_sids and not orgs:
            roster.skip(
                "users", sid, "orgSourcedIds", "Every org of the user was skipped: skipped."
            )
        user.org_sids = orgs
    for enrollment in roster.enrollments.values():
        enrollment.school_sid = roster.resolve_org(enrollment.school_sid) or enrollment.school_sid


def _skip_deletions_of_unknown_rows(roster: Roster) -> None:
    """A deletion of something the platform never had changes nothing: a warning, not an error."""
    for entity, records, known in (
        ("academicSessions", roster.deleted_terms, roster.db_terms),
        ("classes", roster.deleted_classes, roster.db_sections),
        ("users", roster.deleted_users, roster.db_identities),
    ):
        for sid in [sid for sid in records if sid not in known]:
            records.pop(sid).row.skip("status", "Nothing to delete: the platform has no such row.")
            roster.skipped[entity] = roster.skipped.get(entity, 0) + 1
            roster.skipped_sids.setdefault(entity, set()).add(sid)


def _skip_dependents(roster: Roster) -> None:
    """Classes of a skipped course, enrollments in a skipped or deleted class or of a skipped or
    deleted user: out with their reason (one warning each, never an error)."""
    gone_courses = roster.skipped_sids.get("courses", set())
    for sid, klass in list(roster.classes.items()):
        if klass.course_sid in gone_courses:
            roster.skip(
                "classes", sid, "courseSourcedId", f"Its course {klass.course_sid!r} was skipped."
            )
    gone_classes = roster.skipped_sids.get("classes", set()) | set(roster.deleted_classes)
    gone_users = roster.skipped_sids.get("users", set()) | set(roster.deleted_users)
    for sid, enrollment in list(roster.enrollments.items()):
        if enrollment.deleted:
            continue
        if enrollment.class_sid in gone_classes:
            roster.skip(
                "enrollments",
                sid,
                "classSourcedId",
                f"Its class {enrollment.class_sid!r} was skipped or deleted.",
            )
        elif enrollment.user_sid in gone_users:
            roster.skip(
                "enrollments",
                sid,
                "userSourcedId",
                f"Its user {enrollment.user_sid!r} was skipped or deleted.",
            )


def _find_missing_learners(roster: Roster, org_kind: dict[str, str]) -> None:
    """In a bulk users.csv, learners of the roster's schools it no longer lists (the write step
    deactivates them, within the safety threshold)."""
    if not roster.bulk_users:
        return
    schools = [sid for sid, org in roster.orgs.items() if org.kind == "school"]
    if not schools:
        return
    listed = set(roster.users) | set(roster.deleted_users)
    roster.missing_learners = [
        learner
        for learner in Learner.objects.filter(school__sourced_id__in=schools, active=True).exclude(
            sourced_id=""
        )
        if learner.sourced_id not in listed
    ]


def _load_database_rows(roster: Roster) -> None:
    org_refs = set(roster.orgs) | {r.parent_sid for r in roster.orgs.values() if r.parent_sid}
    org_refs |= {r.org_sid for r in roster.courses.values()}
    org_refs |= {r.school_sid for r in roster.classes.values()}
    org_refs |= {sid for r in roster.users.values() for sid in r.org_sids}
    org_refs |= {r.school_sid for r in roster.enrollments.values()}
    roster.db_orgs = _by_sid(Organisation, org_refs)
    term_refs = set(roster.terms) | {r.parent_sid for r in roster.terms.values() if r.parent_sid}
    term_refs |= set(roster.deleted_terms)
    term_refs |= {sid for r in roster.classes.values() for sid in r.term_sids}
    roster.db_terms = _by_sid(Term, term_refs)
    course_refs = set(roster.courses) | {r.course_sid for r in roster.classes.values()}
    roster.db_courses = _by_sid(Course, course_refs)
    class_refs = set(roster.classes) | {r.class_sid for r in roster.enrollments.values()}
    class_refs |= set(roster.deleted_classes)
    roster.db_sections = _by_sid(Section, class_refs)
    user_refs = set(roster.users) | {r.user_sid for r in roster.enrollments.values()}
    user_refs |= set(roster.deleted_users)
    user_refs |= {sid for r in roster.users.values() for sid in r.agent_sids}
    user_refs |= {row.text("sourcedId") for row in roster.demographics}
    roster.db_identities = {
        identity.sourced_id: identity
        for chunk in _chunks(user_refs)
        for identity in RosterIdentity.objects.filter(sourced_id__in=chunk).select_related("user")
    }
    roster.db_learners = _by_sid(Learner, user_refs)


_RANK = {"state": 0, "district": 1, "school": 2}


def _scope_of(roster: Roster, actor: User | None) -> tuple[set[str], set[int]] | None:
    """The org sourcedIds the actor may reference and the ids of the organisations they
    administer (None: the system or a superuser, who may touch any). Each org row outside the
    actor's organisations is reported on its row."""
    if actor is None or actor.is_superuser:
        return None
    administered = dict(selectors.administered_organisations(actor).values_list("sourced_id", "pk"))
    administered_ids = set(administered.values())
    administered.pop("", None)
    allowed = {sid for sid in roster.db_orgs if sid in administered}
    for record in sorted(roster.orgs.values(), key=lambda r: _RANK.get(r.kind, 9)):
        if record.sid in roster.db_orgs:
            if record.sid not in administered:
                record.row.error(
                    "sourcedId", "This org is outside the organisations you administer."
                )
        elif record.parent_sid and record.parent_sid in allowed:
            allowed.add(record.sid)
        else:
            record.row.error(
                "parentSourcedId", "A new org must sit below an organisation you administer."
            )
    return allowed, administered_ids


def _check_in_scope(row: Row, org_id: int, administered_ids: set[int]) -> None:
    if org_id not in administered_ids:
        row.error("sourcedId", "This row exists outside the organisations you administer.")


def _validate_orgs(roster: Roster, org_kind: dict[str, str]) -> None:
    for record in roster.orgs.values():
        existing = roster.db_orgs.get(record.sid)
        if existing is not None and record.kind and existing.kind != record.kind:
            record.row.error(
                "type", f"The org is a {existing.kind}; its type cannot change on re-import."
            )
        if not record.parent_sid:
            continue
        parent_kind = org_kind.get(record.parent_sid)
        if parent_kind is None:
            record.row.error("parentSourcedId", f"No org has sourcedId {record.parent_sid!r}.")
        elif (
            record.kind
            and KIND_RANK[OrganisationKind(parent_kind)] >= KIND_RANK[OrganisationKind(record.kind)]
        ):
            record.row.error(
                "parentSourcedId", f"A {record.kind} cannot sit below a {parent_kind}."
            )


def _validate_terms(roster: Roster) -> None:
    for record in roster.terms.values():
        if record.parent_sid and record.parent_sid not in roster.terms | roster.db_terms:
            record.row.error(
                "parentSourcedId", f"No academic session has sourcedId {record.parent_sid!r}."
            )
    # A parent chain inside the file must end: no session is its own ancestor.
    for record in roster.terms.values():
        seen = {record.sid}
        node = record
        while node.parent_sid in roster.terms:
            if node.parent_sid in seen:
                record.row.error("parentSourcedId", "The parent chain loops back to this session.")
                break
            seen.add(node.parent_sid)
            node = roster.terms[node.parent_sid]


def _validate_users(
    roster: Roster,
    org_kind: dict[str, str],
    check_org: Callable[..., bool],
    administered_ids: set[int] | None,
) -> None:
    usernames: dict[str, UserRecord] = {}
    student_user_ids = [
        roster.db_identities[r.sid].user_id
        for r in roster.users.values()
        if r.role == "student" and r.sid in roster.db_identities
    ]
    guardian_user_ids = {
        guardian_id
        for chunk in _chunks(student_user_ids)
        for guardian_id in GuardianLink.objects.filter(guardian_id__in=chunk).values_list(
            "guardian_id", flat=True
        )
    }
    for record in roster.users.values():
        for org_sid in record.org_sids:
            check_org(record.row, "orgSourcedIds", org_sid)
        if record.role == "student" and not any(
            org_kind.get(sid) == "school" for sid in record.org_sids
        ):
            record.row.error("orgSourcedIds", "A student needs a school among their orgs.")
        if record.username:
            other = usernames.get(record.username.lower())
            if other is not None:
                record.row.error(
                    "username", f"{record.username!r} is also used on row {other.row.number}."
                )
            else:
                usernames[record.username.lower()] = record
        learner = roster.db_learners.get(record.sid)
        if learner is not None and administered_ids is not None:
            _check_in_scope(record.row, learner.school_id, administered_ids)
        identity = roster.db_identities.get(record.sid)
        if (
            record.role == "student"
            and identity is not None
            and identity.user_id in guardian_user_ids
        ):
            record.row.error("role", "This user is a guardian; a student login cannot be one.")
        if record.role in GUARDIAN_ROLES and learner is not None:
            record.row.error("role", "This user is a learner; a guardian login cannot be one.")
    # Usernames already taken in the database by another user.
    if usernames:
        taken = [
            user
            for chunk in _chunks(r.username for r in usernames.values())
            for user in User.objects.filter(username__in=chunk)
        ]
        owner_sid = {
            user_id: sid
            for chunk in _chunks(u.pk for u in taken)
            for user_id, sid in RosterIdentity.objects.filter(user_id__in=chunk).values_list(
                "user_id", "sourced_id"
            )
        }
        for user in taken:
            record = usernames[user.username.lower()]
            if owner_sid.get(user.pk) != record.sid:
                record.row.error("username", f"{record.username!r} belongs to another login.")
    _validate_learner_ids(roster, org_kind)
    _validate_agents(roster)


def _school_of(record: UserRecord, org_kind: dict[str, str]) -> str:
    return next((sid for sid in record.org_sids if org_kind.get(sid) == "school"), "")


def _state_sid_of(school_sid: str, roster: Roster) -> str:
    """The sourcedId of the state above a school (file first, then database), or ''."""
    cached = roster.state_of_school.get(school_sid)
    if cached is not None:
        return cached
    result = ""
    node_sid = school_sid
    for _ in range(3):
        record = roster.orgs.get(node_sid)
        if record is None:
            org = roster.db_orgs.get(node_sid)
            state = selectors.state_of(org) if org is not None else None
            result = state.sourced_id if state is not None else ""
            break
        if record.kind == "state":
            result = node_sid
            break
        if not record.parent_sid:
            break
        node_sid = record.parent_sid
    roster.state_of_school[school_sid] = result
    return result


def _validate_learner_ids(roster: Roster, org_kind: dict[str, str]) -> None:
    students = [r for r in roster.users.values() if r.role == "student" and not r.deleted]
    local: dict[tuple[str, str], UserRecord] = {}
    state: dict[tuple[str, str], UserRecord] = {}
    for record in students:
        school = _school_of(record, org_kind)
        if record.local_id:
            key = (school, record.local_id)
            if key in local:
                record.row.error(
                    "identifier",
                    f"Local id {record.local_id!r} is also used at this school on row "
                    f"{local[key].row.number}.",
                )
            local[key] = record
        if record.state_id:
            state_key = (_state_sid_of(school, roster), record.state_id)
            if state_key in state:
                record.row.error(
                    "userIds",
                    f"State student id {record.state_id!r} is also used on row "
                    f"{state[state_key].row.number}.",
                )
            state[state_key] = record
    if local:
        clashes = [
            learner
            for chunk in _chunks(k[1] for k in local)
            for learner in Learner.objects.filter(local_id__in=chunk).select_related("school")
        ]
        for learner in clashes:
            clash = local.get((learner.school.sourced_id, learner.local_id))
            if clash is not None and learner.sourced_id != clash.sid:
                clash.row.error(
                    "identifier", f"Local id {clash.local_id!r} belongs to another learner."
                )
    if state:
        clashes = [
            learner
            for chunk in _chunks(k[1] for k in state)
            for learner in Learner.objects.filter(state_student_id__in=chunk).select_related(
                "state"
            )
        ]
        for learner in clashes:
            state_sid = learner.state.sourced_id if learner.state is not None else ""
            clash = state.get((state_sid, learner.state_student_id))
            if clash is not None and learner.sourced_id != clash.sid:
                clash.row.error(
                    "userIds", f"State student id {clash.state_id!r} belongs to another learner."
                )


def _validate_agents(roster: Roster) -> None:
    for record in roster.users.values():
        for agent_sid in record.agent_sids:
            agent = roster.users.get(agent_sid)
            if record.role in GUARDIAN_ROLES:
                is_student = (agent is not None and agent.role == "student") or (
                    agent is None and agent_sid in roster.db_learners
                )
                if not is_student:
                    record.row.error(
                        "agentSourcedIds", f"{agent_sid!r} is not a student in the roster."
                    )
            elif record.role == "student":
                is_guardian = (agent is not None and agent.role in GUARDIAN_ROLES) or (
                    agent is None
                    and agent_sid in roster.db_identities
                    and agent_sid not in roster.db_learners
                )
                if not is_guardian:
                    record.row.error(
                        "agentSourcedIds", f"{agent_sid!r} is not a parent, guardian or relative."
                    )


def _validate_demographics(roster: Roster) -> None:
    for row in roster.demographics:
        values_of(row)  # every value checked, stored or not
        sid = row.values.get("sourcedId", "").strip()
        known = sid in roster.users or sid in roster.db_identities or sid in roster.db_learners
        if sid and not known:
            row.error("sourcedId", f"No user has sourcedId {sid!r}.")


def _validate_enrollments(
    roster: Roster,
    org_kind: dict[str, str],
    check_org: Callable[..., bool],
    administered_ids: set[int] | None,
) -> None:
    org_sid_of = dict(
        Organisation.objects.filter(
            pk__in={s.school_id for s in roster.db_sections.values()}
        ).values_list("pk", "sourced_id")
    )
    class_school = {sid: org_sid_of.get(s.school_id, "") for sid, s in roster.db_sections.items()}
    class_school.update({sid: r.school_sid for sid, r in roster.classes.items()})
    pairs: dict[tuple[str, str, str], EnrollmentRecord] = {}
    contradictions: list[tuple[str, str]] = []
    for record in roster.enrollments.values():
        row = record.row
        if record.class_sid and record.class_sid not in class_school:
            row.error("classSourcedId", f"No class has sourcedId {record.class_sid!r}.")
        elif record.school_sid != class_school.get(record.class_sid):
            row.error("schoolSourcedId", "The class belongs to another school.")
        if record.school_sid:
            check_org(row, "schoolSourcedId", record.school_sid, {"school"})
        db_learner = roster.db_learners.get(record.user_sid)
        if (
            administered_ids is not None
            and record.user_sid not in roster.users
            and db_learner is not None
        ):
            _check_in_scope(row, db_learner.school_id, administered_ids)
        user = roster.users.get(record.user_sid)
        known = user is not None or record.user_sid in roster.db_identities
        if record.user_sid and not known and record.user_sid not in roster.db_learners:
            row.error("userSourcedId", f"No user has sourcedId {record.user_sid!r}.")
            continue
        if record.role == "student":
            if (user is not None and user.role != "student") or (
                user is None and record.user_sid not in roster.db_learners
            ):
                contradictions.append(
                    (record.sid, "The user's role is not student: this enrollment is skipped.")
                )
                continue
        elif record.role == "teacher" and (
            (user is not None and user.role not in TEACHING_USER_ROLES)
            or (user is None and record.user_sid in roster.db_learners)
        ):
            contradictions.append(
                (record.sid, "The user is a student or parent: this teacher enrollment is skipped.")
            )
            continue
        if record.deleted or record.role not in {"student", "teacher"}:
            continue
        key = (record.user_sid, record.class_sid, record.role)
        if key in pairs:
            row.error(
                "userSourcedId",
                f"The user is already enrolled in this class on row {pairs[key].row.number}.",
            )
        pairs[key] = record
    for sid, reason in contradictions:
        roster.skip("enrollments", sid, "role", reason)
