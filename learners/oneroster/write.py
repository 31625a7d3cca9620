"""Writing a validated roster in bulk: upserts by sourcedId, counted."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from learners import selectors
from learners.models import (
    ADMIN_ROLE_FOR_KIND,
    Course,
    Enrollment,
    GuardianLink,
    GuardianRelationship,
    Learner,
    Organisation,
    OrganisationKind,
    RoleAssignment,
    RoleKind,
    RosterIdentity,
    Section,
    Term,
)
from learners.oneroster.base import ENTITIES, GUARDIAN_ROLES, EntityCounts
from learners.oneroster.demographics import apply_demographics
from learners.oneroster.records import EnrollmentRecord, Roster
from learners.oneroster.validate import _by_sid, _chunks, _school_of
from learners.sessions import end_sessions

logger = logging.getLogger(__name__)


# --- writing ------------------------------------------------------------------------------------


@dataclass
class _Upsert[M: models.Model]:
    """Compares wanted field values with existing rows; creates and updates in bulk."""

    model: type[M]
    existing: dict[str, M]
    created: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    unchanged: set[str] = field(default_factory=set)
    objects: dict[str, M] = field(default_factory=dict)

    def apply(self, wanted: dict[str, dict[str, Any]], *, key_field: str = "sourced_id") -> None:
        to_create: list[M] = []
        to_update: list[M] = []
        fields: set[str] = set()
        now = timezone.now()
        for key, values in wanted.items():
            obj = self.existing.get(key)
            if obj is None:
                obj = self.model(**values, **({key_field: key} if key_field else {}))
                to_create.append(obj)
                self.created.add(key)
            else:
                diff = [name for name, value in values.items() if getattr(obj, name) != value]
                if diff:
                    for name in diff:
                        setattr(obj, name, values[name])
                    fields.update(diff)
                    to_update.append(obj)
                    self.changed.add(key)
                else:
                    self.unchanged.add(key)
            self.objects[key] = obj
        self.model._default_manager.bulk_create(to_create, batch_size=1000)
        if to_update:
            if any(f.name == "updated_at" for f in self.model._meta.get_fields()):
                for obj in to_update:
                    obj.updated_at = now  # type: ignore[attr-defined]
                fields.add("updated_at")
            self.model._default_manager.bulk_update(to_update, sorted(fields), batch_size=1000)


def _counts(upsert: _Upsert[Any]) -> EntityCounts:
    return EntityCounts(
        created=len(upsert.created), updated=len(upsert.changed), unchanged=len(upsert.unchanged)
    )


def apply(roster: Roster) -> dict[str, EntityCounts]:
    """Write a validated roster. Call inside a transaction, after :func:`validate` found nothing."""
    counts = {name: EntityCounts() for name in ENTITIES}
    org_ids = _apply_orgs(roster, counts)
    term_ids = _apply_terms(roster, counts)
    course_objects = _apply_courses(roster, counts, org_ids)
    sections = _apply_classes(roster, counts, org_ids, term_ids, course_objects)
    users, learners = _apply_users(roster, counts, org_ids)
    _apply_enrollments(roster, counts, sections, users, learners)
    _apply_deletions(roster, counts)
    apply_demographics(roster, learners, counts)
    for entity, number in roster.skipped.items():
        counts[entity].skipped += number
    return counts


def _apply_deletions(roster: Roster, counts: dict[str, EntityCounts]) -> None:
    """``tobedeleted`` sessions, classes and bare user rows, and the learners a bulk users.csv
    no longer lists. Nothing that holds evidence is deleted: a class loses its enrollments and
    teachers (its ratings keep their section), a user or learner is deactivated, a session is
    removed only when nothing uses it (else kept, counted as unchanged)."""
    for sid in roster.deleted_terms:
        term = roster.db_terms[sid]
        try:
            with transaction.atomic():
                term.delete()
        except (ProtectedError, RestrictedError):
            counts["academicSessions"].unchanged += 1
        else:
            counts["academicSessions"].deleted += 1
    section_ids = [roster.db_sections[sid].pk for sid in roster.deleted_classes]
    for chunk in _chunks(section_ids):
        Enrollment.objects.filter(section_id__in=chunk).exclude(sourced_id="").delete()
        RoleAssignment.objects.filter(section_id__in=chunk, kind=RoleKind.TEACHER).delete()
    counts["classes"].deleted += len(section_ids)
    users = [roster.db_identities[sid].user_id for sid in roster.deleted_users]
    users += [learner.user_id for learner in roster.missing_learners if learner.user_id]
    learner_ids = [
        roster.db_learners[sid].pk for sid in roster.deleted_users if sid in roster.db_learners
    ]
    learner_ids += [learner.pk for learner in roster.missing_learners]
    for chunk in _chunks(users):
        User.objects.filter(pk__in=chunk, is_active=True).update(is_active=False)
    for chunk in _chunks(learner_ids):
        Learner.objects.filter(pk__in=chunk).update(active=False)
    end_sessions(users)  # deactivated logins lose their sessions at once (S4)
    counts["users"].deleted += len(roster.deleted_users) + len(roster.missing_learners)


def _apply_orgs(roster: Roster, counts: dict[str, EntityCounts]) -> dict[str, int]:
    ids = {sid: org.pk for sid, org in roster.db_orgs.items()}
    upsert = _Upsert(Organisation, dict(roster.db_orgs))
    for kind in ("state", "district", "school"):
        wanted = {
            sid: {
                "kind": r.kind,
                "name": r.name,
                "external_id": r.external_id,
                "parent_id": ids[r.parent_sid] if r.parent_sid else None,
            }
            for sid, r in roster.orgs.items()
            if r.kind == kind
        }
        upsert.apply(wanted)
        ids.update({sid: upsert.objects[sid].pk for sid in wanted})
    counts["orgs"] = _counts(upsert)
    return ids


def _apply_terms(roster: Roster, counts: dict[str, EntityCounts]) -> dict[str, int]:
    ids = {sid: t.pk for sid, t in roster.db_terms.items()}
    upsert = _Upsert(Term, dict(roster.db_terms))
    pending = dict(roster.terms)
    while pending:
        # Parents first: a level is every session whose parent is already written or outside.
        level = {
            sid: r for sid, r in pending.items() if not r.parent_sid or r.parent_sid not in pending
        }
        upsert.apply(
            {
                sid: {
                    "title": r.title,
                    "kind": r.kind,
                    "start_date": r.start,
                    "end_date": r.end,
                    "school_year": r.school_year,
                    "parent_id": ids[r.parent_sid] if r.parent_sid else None,
                }
                for sid, r in level.items()
            }
        )
        for sid in level:
            ids[sid] = upsert.objects[sid].pk
            del pending[sid]
    counts["academicSessions"] = _counts(upsert)
    return ids


def _apply_courses(
    roster: Roster, counts: dict[str, EntityCounts], org_ids: dict[str, int]
) -> dict[str, Course]:
    upsert = _Upsert(Course, dict(roster.db_courses))
    upsert.apply(
        {
            sid: {
                "title": r.title,
                "course_code": r.code,
                "organisation_id": org_ids[r.org_sid],
                "subjects": r.subjects[:255],
                "grade_levels": r.grades[:255],
            }
            for sid, r in roster.courses.items()
        }
    )
    counts["courses"] = _counts(upsert)
    return {**roster.db_courses, **upsert.objects}


def _apply_classes(
    roster: Roster,
    counts: dict[str, EntityCounts],
    org_ids: dict[str, int],
    term_ids: dict[str, int],
    courses: dict[str, Course],
) -> dict[str, Section]:
    upsert = _Upsert(Section, dict(roster.db_sections))
    upsert.apply(
        {
            sid: {
                "title": r.title,
                "school_id": org_ids[r.school_sid],
                "term_id": term_ids[r.term_sids[0]],
                "course_id": courses[r.course_sid].pk,
                "course_code": courses[r.course_sid].course_code,
                "section_code": r.code,
                "subject": (r.subjects or courses[r.course_sid].subjects)[:255],
                "grade_levels": r.grades[:255],
            }
            for sid, r in roster.classes.items()
        }
    )
    counts["classes"] = _counts(upsert)
    return {**roster.db_sections, **upsert.objects}


def _apply_users(
    roster: Roster, counts: dict[str, EntityCounts], org_ids: dict[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """Logins, learners, guardian links and admin roles; returns user and learner ids by sid."""
    existing_users = {sid: identity.user for sid, identity in roster.db_identities.items()}
    user_upsert = _Upsert(User, existing_users)
    unusable = make_password(None)
    wanted_users: dict[str, dict[str, Any]] = {}
    for sid, r in roster.users.items():
        values: dict[str, Any] = {
            "username": r.username,
            "first_name": r.given[:150],
            "last_name": r.family[:150],
            "email": r.email,
            "is_active": r.enabled and not r.deleted,
        }
        if sid not in existing_users:
            # Never a password from the file: new logins sign in by a reset or single sign-on.
            values["password"] = unusable
        wanted_users[sid] = values
    was_active = {sid for sid, user in existing_users.items() if user.is_active}
    user_upsert.apply(wanted_users, key_field="")
    # Logins the file deactivates lose their sessions at once (S4); bulk writes send no signal.
    end_sessions(
        [
            existing_users[sid].pk
            for sid, values in wanted_users.items()
            if sid in was_active and not values["is_active"]
        ]
    )
    user_ids = {sid: u.pk for sid, u in existing_users.items()}
    user_ids.update({sid: u.pk for sid, u in user_upsert.objects.items()})
    RosterIdentity.objects.bulk_create(
        [RosterIdentity(user_id=user_ids[sid], sourced_id=sid) for sid in user_upsert.created],
        batch_size=1000,
    )
    touched: set[str] = set(user_upsert.changed)

    org_by_sid = {
        o.sourced_id: o for o in Organisation.objects.filter(pk__in=set(org_ids.values()))
    }
    kinds = {sid: o.kind for sid, o in org_by_sid.items()}
    state_by_school: dict[int, Organisation | None] = {}

    # Learners.
    learner_upsert = _Upsert(Learner, dict(roster.db_learners))
    wanted_learners: dict[str, dict[str, Any]] = {}
    for sid, r in roster.users.items():
        if r.role != "student":
            continue
        school = org_by_sid[_school_of(r, kinds)]
        if school.pk not in state_by_school:
            state_by_school[school.pk] = selectors.state_of(school)
        state = state_by_school[school.pk]
        wanted_learners[sid] = {
            "school_id": school.pk,
            "state_id": state.pk if state is not None else None,
            "local_id": r.local_id,
            "state_student_id": r.state_id,
            "given_name": r.given,
            "family_name": r.family,
            "grade_level": r.grade,
            "active": r.enabled and not r.deleted,
            "user_id": user_ids[sid],
        }
    learner_upsert.apply(wanted_learners)
    touched |= learner_upsert.changed | (learner_upsert.created - user_upsert.created)
    learner_ids = {sid: lr.pk for sid, lr in roster.db_learners.items()}
    learner_ids.update({sid: lr.pk for sid, lr in learner_upsert.objects.items()})

    touched |= _apply_guardian_links(roster, user_ids, learner_ids)
    touched |= _apply_admin_roles(roster, user_ids, org_by_sid)

    deleted = {sid for sid, r in roster.users.items() if r.deleted}
    created = user_upsert.created - deleted
    counts["users"] = EntityCounts(
        created=len(created),
        updated=len((touched - user_upsert.created) - deleted),
        unchanged=len(set(roster.users) - created - touched - deleted),
        deleted=len(deleted),
    )
    return user_ids, learner_ids


def _apply_guardian_links(
    roster: Roster, user_ids: dict[str, int], learner_ids: dict[str, int]
) -> set[str]:
    wanted: dict[tuple[int, int], tuple[str, str]] = {}
    for sid, r in roster.users.items():
        for agent_sid in r.agent_sids:
            if r.role in GUARDIAN_ROLES:
                guardian_sid, student_sid, relation = sid, agent_sid, GUARDIAN_ROLES[r.role]
            elif r.role == "student":
                guardian_record = roster.users.get(agent_sid)
                relation = (
                    GUARDIAN_ROLES.get(guardian_record.role, "guardian")
                    if guardian_record is not None
                    else GuardianRelationship.GUARDIAN
                )
                guardian_sid, student_sid = agent_sid, sid
            else:
                continue
            pair = (user_ids[guardian_sid], learner_ids[student_sid])
            wanted.setdefault(pair, (relation, guardian_sid))
    if not wanted:
        return set()
    existing = {
        (link.guardian_id, link.learner_id): link
        for chunk in _chunks(p[0] for p in wanted)
        for link in GuardianLink.objects.filter(guardian_id__in=chunk)
    }
    touched: set[str] = set()
    to_create: list[GuardianLink] = []
    to_update: list[GuardianLink] = []
    for (guardian_id, learner_id), (relation, guardian_sid) in wanted.items():
        link = existing.get((guardian_id, learner_id))
        if link is None:
            to_create.append(
                GuardianLink(guardian_id=guardian_id, learner_id=learner_id, relationship=relation)
            )
            touched.add(guardian_sid)
        elif link.relationship != relation:
            link.relationship = relation
            to_update.append(link)
            touched.add(guardian_sid)
    GuardianLink.objects.bulk_create(to_create, batch_size=1000)
    GuardianLink.objects.bulk_update(to_update, ["relationship"], batch_size=1000)
    return touched


def _admin_key(user_sid: str, org_sid: str) -> str:
    return f"admin:{user_sid}:{org_sid}"


def _apply_admin_roles(
    roster: Roster, user_ids: dict[str, int], org_by_sid: dict[str, Organisation]
) -> set[str]:
    wanted: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for sid, r in roster.users.items():
        if r.role != "administrator" or r.deleted:
            continue
        for org_sid in r.org_sids:
            org = org_by_sid[org_sid]
            key = _admin_key(sid, org_sid)
            wanted[key] = {
                "user_id": user_ids[sid],
                "kind": ADMIN_ROLE_FOR_KIND[OrganisationKind(org.kind)],
                "organisation_id": org.pk,
                "section_id": None,
                "end_date": None,
            }
            owner[key] = sid
    prefixes = [_admin_key(sid, "") for sid in roster.users]
    existing = {
        ra.sourced_id: ra
        for chunk in _chunks(user_ids[s] for s in roster.users)
        for ra in RoleAssignment.objects.filter(user_id__in=chunk, sourced_id__startswith="admin:")
        if any(ra.sourced_id.startswith(p) for p in prefixes)
    }
    upsert = _Upsert(RoleAssignment, existing)
    upsert.apply(wanted)
    touched = {owner[k] for k in upsert.created | upsert.changed}
    # Admin roles the SIS no longer lists for the user end yesterday: they grant nothing today.
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    for key, assignment in existing.items():
        if key in wanted or assignment.end_date is not None:
            continue
        user_sid = key.split(":", 2)[1]
        if assignment.begin_date is not None and assignment.begin_date > yesterday:
            assignment.delete()
        else:
            assignment.end_date = yesterday
            assignment.save(update_fields=["end_date", "updated_at"])
        touched.add(user_sid)
    return touched


def _apply_enrollments(
    roster: Roster,
    counts: dict[str, EntityCounts],
    sections: dict[str, Section],
    user_ids: dict[str, int],
    learner_ids: dict[str, int],
) -> None:
    all_user_ids = {sid: i.user_id for sid, i in roster.db_identities.items()} | user_ids
    all_learner_ids = {sid: lr.pk for sid, lr in roster.db_learners.items()} | learner_ids
    dates_by_term_id = {
        t.pk: (t.start_date, t.end_date)
        for t in Term.objects.filter(pk__in={s.term_id for s in sections.values()})
    }

    counts_e = counts["enrollments"]
    students = {sid: r for sid, r in roster.enrollments.items() if r.role == "student"}
    teachers = {sid: r for sid, r in roster.enrollments.items() if r.role == "teacher"}
    counts_e.skipped = len(roster.enrollments) - len(students) - len(teachers)

    def dates_for(r: EnrollmentRecord) -> tuple[datetime.date | None, datetime.date | None]:
        section = sections[r.class_sid]
        start, end = dates_by_term_id[section.term_id]
        begin = r.begin or start
        finish = r.end or end
        if finish < begin:  # explicit begin after the term's end: keep the row valid
            finish = begin
        return begin, finish

    # Students: by sourcedId, else by (learner, section) pair (rows made by hand adopt the id).
    existing_enrollments = _by_sid(Enrollment, students)
    pair_index = {
        (e.learner_id, e.section_id): e
        for chunk in _chunks(all_learner_ids[r.user_sid] for r in students.values())
        for e in Enrollment.objects.filter(learner_id__in=chunk)
    }
    wanted: dict[str, dict[str, Any]] = {}
    to_delete: list[int] = []
    for sid, r in students.items():
        learner_id = all_learner_ids[r.user_sid]
        section_id = sections[r.class_sid].pk
        match = existing_enrollments.get(sid) or pair_index.get((learner_id, section_id))
        if r.deleted:
            if match is not None:
                to_delete.append(match.pk)
                counts_e.deleted += 1
            else:
                counts_e.skipped += 1
            continue
        if match is not None:
            existing_enrollments[sid] = match
        begin, end = dates_for(r)
        wanted[sid] = {
            "learner_id": learner_id,
            "section_id": section_id,
            "begin_date": begin,
            "end_date": end,
            "sourced_id": sid,
        }
    for chunk in _chunks(to_delete):
        Enrollment.objects.filter(pk__in=chunk).delete()
    upsert = _Upsert(Enrollment, existing_enrollments)
    upsert.apply(wanted, key_field="")

    existing_roles = _by_sid(RoleAssignment, teachers)
    role_wanted: dict[str, dict[str, Any]] = {}
    role_delete: list[int] = []
    for sid, r in teachers.items():
        match_role = existing_roles.get(sid)
        if r.deleted:
            if match_role is not None:
                role_delete.append(match_role.pk)
                counts_e.deleted += 1
            else:
                counts_e.skipped += 1
            continue
        section = sections[r.class_sid]
        begin, end = dates_for(r)
        role_wanted[sid] = {
            "user_id": all_user_ids[r.user_sid],
            "kind": RoleKind.TEACHER,
            "section_id": section.pk,
            "organisation_id": section.school_id,
            "begin_date": begin,
            "end_date": end,
        }
    for chunk in _chunks(role_delete):
        RoleAssignment.objects.filter(pk__in=chunk).delete()
    role_upsert = _Upsert(RoleAssignment, existing_roles)
    role_upsert.apply(role_wanted)
    counts_e.created += len(upsert.created) + len(role_upsert.created)
    counts_e.updated += len(upsert.changed) + len(role_upsert.changed)
    counts_e.unchanged += len(upsert.unchanged) + len(role_upsert.unchanged)
