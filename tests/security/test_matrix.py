"""The authorization matrix (S1): every route x method x persona x target has an expected answer.

Routes come from the URL resolver: a route without a row in :data:`ROWS` (or a family rule for
the Django admin) fails :func:`test_every_route_has_a_matrix_row`. For each route, each method
in its row is tried by every persona of ``tests.personas`` (plus the operator and an anonymous
visitor) on every target of its kind: own, same section, other section, other school, other
district, other state (learners and their records), the four sections, four organisations.
Out-of-scope objects must answer 404, roles a route is not for 403, signed-out visitors the
login page (302) or 403 (API). Each request runs in a savepoint that is rolled back, so a write
by one persona never changes what the next one sees. Methods outside a row answer 405.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.security.matrix import (
    ANONYMOUS,
    OPERATOR,
    PERSONAS,
    TARGETS,
    Expect,
    Row,
    clients,
    url_for,
)
from tests.security.routes import all_route_names
from tests.security.world import World, world

__all__ = ["world"]

P = partial(Expect, anon=302)  # pages: signed-out visitors go to the login page
A = partial(Expect, anon=403)  # API: signed-out callers get 403 (session auth has no challenge)
PUBLIC = partial(Expect, anon=200)
YESTERDAY = (timezone.now() - datetime.timedelta(days=1)).isoformat()


def _learner(world: World, target: str) -> int:
    return world.learners[target].pk


def _ratings_body(world: World, target: str) -> dict[str, Any]:
    return {
        "title": "Quick check",
        "demonstrated_at": YESTERDAY,
        "entries": [
            {"learner": _learner(world, target), "standard": world.standards.adding.pk, "score": 2}
        ],
    }


def _evidence_body(world: World, target: str) -> dict[str, Any]:
    return {
        "learner": _learner(world, target),
        "kind": "observation",
        "title": "Seen in class",
        "demonstrated_at": YESTERDAY,
    }


def _override_body(world: World, target: str) -> dict[str, Any]:
    return {
        "learner": _learner(world, target),
        "standard": world.standards.adding.pk,
        "level": 3,
        "reason": "moderated",
    }


def _report_body(world: World, target: str) -> dict[str, Any]:
    return {
        "kind": "transcript",
        "format": "pdf",
        "as_of": timezone.localdate().isoformat(),
        "learner": _learner(world, target),
    }


def _bulk_body(world: World, target: str) -> dict[str, Any]:
    return {"organisation": world.organisations[target].pk, "reason": "policy"}


def _submission_body(world: World, target: str) -> dict[str, Any]:
    return {
        "kind": "project",
        "title": "My work",
        "description": "What I made",
        "demonstrated_at": YESTERDAY,
    }


def _link_body(world: World, target: str) -> dict[str, Any]:
    return {"url": "https://example.org/work"}


def _reason_body(world: World, target: str) -> dict[str, Any]:
    return {"reason": "recorded twice"}


def _note_body(world: World, target: str) -> dict[str, Any]:
    return {"note": "added the photo"}


def _reflection_body(world: World, target: str) -> dict[str, Any]:
    return {"what_i_learned": "How to measure an angle."}


def _wrong_confirm(world: World, target: str) -> dict[str, Any]:
    return {"confirm": 2**40}


def _framework_upload(world: World, target: str) -> dict[str, Any]:
    csv = b"identifier,human_code,statement\nm-1,M.1,Count to ten\n"
    return {
        "format": "csv",
        "organisation": world.cast.district.pk,
        "identifier": "matrix-upload",
        "title": "Matrix upload",
        "dry_run": "true",
        "file": SimpleUploadedFile("standards.csv", csv, content_type="text/csv"),
    }


def _decision_form(world: World, target: str) -> dict[str, Any]:
    return {"choice": world.choices[target].pk, "decision": "approve", "note": ""}


def _supersede_form(world: World, target: str) -> dict[str, Any]:
    return {"score": "2", "comment": "moderated"}


def _org_query(world: World, target: str) -> dict[str, Any]:
    return {"organisation": world.organisations[target].pk}


def _as_of_query(world: World, target: str) -> dict[str, Any]:
    return {
        "learner": _learner(world, target),
        "standard": world.standards.counting.pk,
        "at": timezone.now().isoformat(),
    }


def _requirements_query(world: World, target: str) -> dict[str, Any]:
    return {
        "organisation": world.organisations[target].pk,
        "term": world.cast.term.pk,
        "grade_level": "05",
    }


ROWS: dict[str, Row] = {
    # --- accounts and the site -------------------------------------------------------------
    "home": Row("none", {"GET": P()}),
    "healthz": Row("none", {"GET": PUBLIC()}),
    # Django's form views answer PUT as POST (the form again): still CSRF-checked, no data.
    "login": Row("none", {"GET": PUBLIC(), "POST": PUBLIC(), "PUT": PUBLIC()}),
    "logout": Row("none", {"POST": PUBLIC(ok=302, anon=302)}),
    "password_change": Row("none", {"GET": P(), "POST": P(), "PUT": P()}),
    "password_change_done": Row("none", {"GET": P()}),
    "password_reset": Row("none", {"GET": PUBLIC(), "POST": PUBLIC(), "PUT": PUBLIC()}),
    "password_reset_done": Row("none", {"GET": PUBLIC()}),
    # A link with a bad token shows "invalid link" whatever the method.
    "password_reset_confirm": Row(
        "none", {m: PUBLIC() for m in ("GET", "POST", "PUT", "PATCH", "DELETE")}
    ),
    "password_reset_complete": Row("none", {"GET": PUBLIC()}),
    # The schema is the same public document for everyone and costs a second to build: it is
    # checked for the signed-out visitor, one persona of each kind and the operator.
    "schema": Row("none", {"GET": PUBLIC()}),
    "api-docs": Row("none", {"GET": PUBLIC()}),
    # --- learners API ----------------------------------------------------------------------
    "organisation-list": Row("none", {"GET": A()}),
    "organisation-detail": Row("org", {"GET": A(scope="org")}),
    "term-list": Row("none", {"GET": A()}),
    "term-detail": Row("term", {"GET": A()}),
    "section-list": Row("none", {"GET": A()}),
    "section-detail": Row("section", {"GET": A(scope="section")}),
    "section-learners": Row("section", {"GET": A(scope="section")}),
    "learner-list": Row("none", {"GET": A()}),
    "learner-detail": Row("learner", {"GET": A(scope="learner")}),
    "learner-profile": Row("learner", {"GET": A(scope="learner")}),
    # Administrators import rosters; a post without a file is refused with its problems.
    "roster-import-list": Row("none", {"POST": A(ok=400, gate="admin")}),
    # --- standards API ---------------------------------------------------------------------
    "framework-list": Row("none", {"GET": A()}),
    # Uploaded for the district: its administrators (and the state's) import; anyone else who
    # sees the district is refused (403), the others do not find it (404).
    "framework-import-file": Row(
        "none",
        {
            "POST": A(
                scope="district_admin",
                seen=403,
                seen_scope="sees_district",
                data=_framework_upload,
            )
        },
    ),
    "framework-detail": Row("framework", {"GET": A()}),
    "framework-case": Row("framework", {"GET": A()}),
    "standard-list": Row("none", {"GET": A()}),
    "standard-detail": Row("standard", {"GET": A()}),
    "standard-associations": Row("standard", {"GET": A()}),
    "scale-list": Row("none", {"GET": A(), "POST": A(ok=400)}),
    "scale-effective": Row("org", {"GET": A(scope="org")}, query=_org_query),
    "scale-detail": Row(
        "scale",
        {"GET": A(scope="org"), "DELETE": A(ok=204, scope="org_admin", seen=403, seen_scope="org")},
    ),
    "policy-list": Row("none", {"GET": A(), "POST": A(ok=400)}),
    "policy-effective": Row("org", {"GET": A(scope="org")}, query=_org_query),
    "policy-detail": Row(
        "policy",
        {"GET": A(scope="org"), "DELETE": A(ok=204, scope="org_admin", seen=403, seen_scope="org")},
    ),
    "requirement-list": Row("none", {"GET": A(), "POST": A(ok=400)}),
    "requirement-effective": Row("org", {"GET": A(scope="org")}, query=_requirements_query),
    "requirement-detail": Row(
        "requirement",
        {"GET": A(scope="org"), "DELETE": A(ok=204, scope="org_admin", seen=403, seen_scope="org")},
    ),
    "elective-group-list": Row("none", {"GET": A(), "POST": A(ok=400)}),
    "elective-group-detail": Row(
        "group",
        {"GET": A(scope="org"), "DELETE": A(ok=204, scope="org_admin", seen=403, seen_scope="org")},
    ),
    "elective-choice-list": Row("none", {"GET": A(), "POST": A(ok=400)}),
    "elective-choice-detail": Row("choice", {"GET": A(scope="learner")}),
    # An empty form post is a decision to decline (an unticked checkbox): allowed, 200.
    "elective-choice-decide": Row("choice", {"POST": A(ok=200, scope="learner_change")}),
    "elective-choice-withdraw": Row(
        "choice", {"POST": A(ok=200, scope="own_learner", seen=403, seen_scope="learner")}
    ),
    # --- evidence API ----------------------------------------------------------------------
    "evidence-list": Row(
        "learner",
        {
            "GET": A(),
            # The learner is named in the body: out of scope is a field error (400), the same
            # answer as for an id that does not exist (test_body_ids_do_not_tell_apart...).
            "POST": A(
                ok=201, scope="learner_change", denied=400, gate="staff", data=_evidence_body
            ),
        },
    ),
    "evidence-detail": Row("evidence", {"GET": A(scope="learner")}),
    "evidence-artifacts": Row(
        "evidence", {"POST": A(ok=201, scope="learner_change", data=_link_body)}
    ),
    "evidence-remove": Row(
        "evidence", {"POST": A(ok=204, scope="learner_change", data=_reason_body)}
    ),
    "evidence-resubmit": Row("evidence", {"POST": A(ok=400, scope="own_learner", data=_note_body)}),
    "evidence-review": Row("evidence", {"POST": A(ok=400, scope="learner_change")}),
    "submission-list": Row("none", {"POST": A(ok=201, gate="student", data=_submission_body)}),
    "rating-list": Row(
        "learner",
        {
            "GET": A(),
            "POST": A(ok=201, scope="learner_change", denied=400, gate="staff", data=_ratings_body),
        },
    ),
    "rating-import-csv": Row("none", {"POST": A(ok=400, gate="staff")}),
    "rating-detail": Row("rating", {"GET": A(scope="learner")}),
    "rating-remove": Row("rating", {"POST": A(ok=400, scope="learner_change")}),
    "rating-supersede": Row("rating", {"POST": A(ok=400, scope="learner_change")}),
    "artifact-list": Row("none", {"GET": A()}),
    "artifact-detail": Row("artifact", {"GET": A(scope="learner")}),
    "artifact-download": Row("artifact", {"GET": A(scope="learner")}),
    # --- mastery API -----------------------------------------------------------------------
    "mastery-as-of": Row("learner", {"GET": A(scope="learner")}, query=_as_of_query),
    "mastery-record-list": Row("none", {"GET": A()}),
    "mastery-record-detail": Row("record", {"GET": A(scope="learner")}),
    "mastery-event-list": Row("none", {"GET": A()}),
    "mastery-event-detail": Row("event", {"GET": A(scope="learner")}),
    "bulk-recompute-list": Row(
        "org", {"GET": A(), "POST": A(ok=201, scope="org_admin", data=_bulk_body)}
    ),
    "bulk-recompute-detail": Row("bulk", {"GET": A(scope="org_admin")}),
    # The learner is named in the body: out of scope is a field error (400), as for evidence.
    "mastery-override-list": Row(
        "learner",
        {
            "GET": A(),
            "POST": A(
                ok=201, scope="learner_change", denied=400, gate="staff", data=_override_body
            ),
        },
    ),
    "mastery-override-detail": Row("mastery_override", {"GET": A(scope="learner")}),
    # Seen but not changeable (a guardian, the student): 404, as the evidence writes.
    "mastery-override-clear": Row("mastery_override", {"POST": A(ok=200, scope="learner_change")}),
    # --- reports API -----------------------------------------------------------------------
    "reports-api:download": Row("token", {"GET": A(scope="requester")}),
    "reports-api:report-list": Row(
        "learner", {"GET": A(), "POST": A(ok=201, scope="learner", data=_report_body)}
    ),
    "reports-api:report-detail": Row("report", {"GET": A(scope="requester")}),
    # --- privacy API -----------------------------------------------------------------------
    "privacy-learner-export": Row("learner", {"GET": A(scope="learner_admin")}),
    "privacy-learner-erase": Row(
        "learner", {"POST": A(ok=400, scope="learner_admin", data=_wrong_confirm)}
    ),
    "privacy-access-log-list": Row("none", {"GET": A(gate="admin")}),
    # --- CASE 1.1 REST read endpoints: public documents (no learner data) -------------------
    "case:documents": Row("none", {"GET": PUBLIC()}),
    "case:document": Row("case_framework", {"GET": PUBLIC()}),
    "case:package": Row("case_framework", {"GET": PUBLIC()}),
    "case:item": Row("case_standard", {"GET": PUBLIC()}),
    "case:item_associations": Row("case_standard", {"GET": PUBLIC()}),
    "case:association": Row("case_association", {"GET": PUBLIC()}),
    # --- learners pages --------------------------------------------------------------------
    "learners:learner_list": Row("none", {"GET": P()}),
    "learners:learner_detail": Row("learner", {"GET": P(scope="learner")}),
    "learners:my_profile": Row(
        "none", {"GET": P(gate="student"), "POST": P(ok=302, gate="student")}
    ),
    "learners:section_list": Row("none", {"GET": P(gate="staff")}),
    "learners:section_detail": Row("section", {"GET": P(scope="section")}),
    # Pickers' suggestions: scoped lists of names (empty for a role that sees none).
    "learners:learner_search": Row("none", {"GET": P()}),
    "learners:section_search": Row("none", {"GET": P()}),
    # People and classes (school administrators): a learner or section seen but not administered
    # answers 403 (a teacher's own), one out of sight 404; the shared cast term has no
    # organisation: only the operator changes it.
    "learners:people": Row("none", {"GET": P(gate="admin")}),
    "learners:learner_add": Row("none", {"GET": P(gate="admin"), "POST": P(gate="admin")}),
    "learners:learner_edit": Row(
        "learner",
        {
            "GET": P(scope="learner_admin", seen=403, seen_scope="learner"),
            "POST": P(scope="learner_admin", seen=403, seen_scope="learner"),
        },
    ),
    "learners:section_add": Row("none", {"GET": P(gate="admin"), "POST": P(gate="admin")}),
    "learners:section_edit": Row(
        "section",
        {
            "GET": P(scope="section_admin", seen=403, seen_scope="section"),
            "POST": P(scope="section_admin", seen=403, seen_scope="section"),
        },
    ),
    "learners:section_enrollments": Row(
        "section",
        {
            "GET": P(scope="section_admin", seen=403, seen_scope="section"),
            "POST": P(scope="section_admin", seen=403, seen_scope="section"),
        },
    ),
    "learners:term_add": Row("none", {"GET": P(gate="admin"), "POST": P(gate="admin")}),
    "learners:term_edit": Row(
        "term",
        {
            "GET": P(gate="admin", scope="operator", seen=403, seen_scope="all"),
            "POST": P(gate="admin", scope="operator", seen=403, seen_scope="all"),
        },
    ),
    "learners:roster_import": Row(
        "none", {"GET": P(gate="admin"), "POST": P(ok=400, gate="admin")}
    ),
    # --- standards pages -------------------------------------------------------------------
    "standards:framework_list": Row("none", {"GET": P()}),
    "standards:framework_detail": Row("framework", {"GET": P()}),
    "standards:standard_search": Row("none", {"GET": P()}),
    "standards:framework_export": Row("framework", {"GET": P()}),
    "standards:framework_import": Row(
        "none", {"GET": P(gate="importer"), "POST": P(ok=400, gate="importer")}
    ),
    "standards:settings_index": Row("none", {"GET": P(gate="admin")}),
    "standards:scale_edit": Row(
        "org",
        {
            "GET": P(scope="org_admin", seen=403, seen_scope="org"),
            "POST": P(ok=400, scope="org_admin", seen=403, seen_scope="org"),
        },
    ),
    "standards:scale_remove": Row(
        "org", {"POST": P(ok=302, scope="org_admin", seen=403, seen_scope="org")}
    ),
    "standards:policy_edit": Row(
        "org",
        {
            "GET": P(scope="org_admin", seen=403, seen_scope="org"),
            "POST": P(ok=400, scope="org_admin", seen=403, seen_scope="org"),
        },
    ),
    "standards:policy_remove": Row(
        "org", {"POST": P(ok=302, scope="org_admin", seen=403, seen_scope="org")}
    ),
    "standards:policy_override": Row(
        "override",
        {
            "GET": P(scope="org_admin", seen=403, seen_scope="org"),
            "POST": P(ok=400, scope="org_admin", seen=403, seen_scope="org"),
        },
    ),
    "standards:policy_override_remove": Row(
        "override", {"POST": P(ok=302, scope="org_admin", seen=403, seen_scope="org")}
    ),
    "standards:requirements": Row(
        "org",
        {
            "GET": P(scope="org_admin", seen=403, seen_scope="org"),
            "POST": P(ok=400, scope="org_admin", seen=403, seen_scope="org"),
        },
    ),
    "standards:requirement_remove": Row(
        "requirement", {"POST": P(ok=302, scope="org_admin", seen=403, seen_scope="org")}
    ),
    "standards:elective_group_delete": Row(
        "group", {"POST": P(ok=302, scope="org_admin", seen=403, seen_scope="org")}
    ),
    "standards:my_electives": Row(
        "none", {"GET": P(gate="student"), "POST": P(ok=400, gate="student")}
    ),
    "standards:elective_review": Row(
        "choice", {"GET": P(), "POST": P(ok=302, scope="learner_change", data=_decision_form)}
    ),
    # --- evidence pages --------------------------------------------------------------------
    "evidence:index": Row("none", {"GET": P()}),
    "evidence:record": Row("none", {"GET": P(gate="staff")}),
    "evidence:record_ratings": Row(
        "section", {"GET": P(scope="section"), "POST": P(scope="section")}
    ),
    # Nothing typed: back to the grid with the reason (302); out of scope: 404.
    "evidence:grid_ratings": Row("section", {"POST": P(ok=302, scope="section")}),
    "evidence:submit": Row("none", {"GET": P(gate="student"), "POST": P(gate="student")}),
    "evidence:review_queue": Row("none", {"GET": P(gate="staff")}),
    # Nothing ticked: back to the queue with the reason.
    "evidence:review_bulk": Row("none", {"POST": P(ok=302, gate="staff")}),
    "evidence:import": Row("none", {"GET": P(gate="staff"), "POST": P(gate="staff")}),
    "evidence:learner": Row("learner", {"GET": P(scope="learner")}),
    "evidence:detail": Row("evidence", {"GET": P(scope="learner")}),
    "evidence:review": Row("evidence", {"POST": P(ok=400, scope="learner_change")}),
    "evidence:revise": Row(
        "returned", {"GET": P(scope="own_learner"), "POST": P(scope="own_learner")}
    ),
    "evidence:remove": Row(
        "evidence", {"POST": P(ok=302, scope="learner_change", data=_reason_body)}
    ),
    "evidence:supersede_rating": Row(
        "rating", {"POST": P(ok=302, scope="learner_change", data=_supersede_form)}
    ),
    "evidence:remove_rating": Row(
        "rating", {"POST": P(ok=302, scope="learner_change", data=_reason_body)}
    ),
    "evidence:download": Row("artifact", {"GET": P(scope="learner")}),
    "evidence:preview": Row("artifact", {"GET": P(scope="learner")}),
    # Only the learner reflects on their evidence (whoever recorded it); other roles 403.
    "evidence:reflect": Row(
        "evidence",
        {"POST": P(ok=302, scope="own_learner", gate="student", data=_reflection_body)},
    ),
    # --- mastery pages ---------------------------------------------------------------------
    "mastery:bulk_list": Row("none", {"GET": P(gate="admin"), "POST": P(gate="admin")}),
    "mastery:bulk_detail": Row("bulk", {"GET": P(scope="org_admin")}),
    "mastery:record_detail": Row("record", {"GET": P(scope="learner")}),
    "mastery:section_grid": Row("section", {"GET": P(scope="section", gate="staff")}),
    "mastery:learner_page": Row("learner", {"GET": P(scope="learner")}),
    "mastery:cell_detail": Row("cell", {"GET": P(scope="learner")}),
    # Overrides from the cell panel and the learner page: staff who may change the learner.
    "mastery:override_set": Row(
        "learner",
        {"POST": P(ok=302, scope="learner_change", seen=403, gate="staff", data=_override_body)},
    ),
    "mastery:override_clear": Row(
        "mastery_override", {"POST": P(ok=302, scope="learner_change", seen=403)}
    ),
    "mastery:my_mastery": Row("none", {"GET": P(gate="student")}),
    "mastery:scale_css": Row("org", {"GET": P(scope="org")}),
    # --- reports pages ---------------------------------------------------------------------
    "reports:report_list": Row("none", {"GET": P(), "POST": P()}),
    "reports:report_detail": Row("report", {"GET": P(scope="requester")}),
    # The grid's export and the learner page's transcript: requested, then its progress (302).
    "reports:section_export": Row("section", {"POST": P(ok=302, scope="section")}),
    "reports:learner_transcript": Row("learner", {"POST": P(ok=302, scope="learner")}),
    "reports:download": Row("token", {"GET": P(scope="requester")}),
    # --- privacy pages ---------------------------------------------------------------------
    "privacy:index": Row("none", {"GET": P(gate="admin"), "POST": P(gate="admin")}),
    "privacy:learner_export": Row("learner", {"GET": P(scope="learner_admin")}),
    "privacy:learner_erase": Row(
        "learner",
        {"GET": P(scope="learner_admin"), "POST": P(scope="learner_admin", data=_wrong_confirm)},
    ),
    "privacy:access_log": Row("none", {"GET": P(gate="admin")}),
    # --- identity: sign-in and launches ----------------------------------------------------
    "identity:jwks": Row("none", {"GET": PUBLIC()}),
    # Sample ids name no provider and no refusal (404 for everyone); a callback without a
    # sign-in started in this browser goes to the "expired" refusal page.
    "identity:sso_start": Row("none", {"GET": Expect(ok=404, anon=404)}),
    "identity:sso_callback": Row("none", {"GET": Expect(ok=302, anon=302)}),
    "identity:refused": Row("none", {"GET": Expect(ok=404, anon=404)}),
    # LTI: a login or launch without a registered platform's parameters goes to the refusal
    # page (for everyone: the platform's browser is nobody here yet); the course link page has
    # nothing to do without a launch waiting in the session (404).
    "identity:lti_login": Row(
        "none", {"GET": Expect(ok=302, anon=302), "POST": Expect(ok=302, anon=302)}
    ),
    "identity:lti_launch": Row("none", {"POST": Expect(ok=302, anon=302)}),
    "identity:lti_course_link": Row("none", {"GET": P(ok=404), "POST": P(ok=404)}),
    "identity:lti_deep_link": Row("none", {"GET": P(ok=404), "POST": P(ok=404)}),
    # --- portal: learners' goals, everyone's settings and notifications --------------------
    "portal:goals": Row("none", {"GET": P(gate="student"), "POST": P(ok=400, gate="student")}),
    # The world has no goals: goal 1 is nobody's (404) for every student.
    "portal:goal_edit": Row(
        "none", {"GET": P(ok=404, gate="student"), "POST": P(ok=404, gate="student")}
    ),
    "portal:settings": Row("none", {"GET": P(), "POST": P(ok=302)}),
    "portal:notifications": Row("none", {"GET": P(), "POST": P(ok=302)}),
    # --- badges: Open Badges credentials of mastered standards ----------------------------
    "badges:learner_credentials": Row("learner", {"GET": P(scope="learner")}),
    # The world's records are not mastered: no credential for anyone (404, in scope or not);
    # tests/badges covers the credential itself, for the learner and their guardian.
    "badges:download": Row("cell", {"GET": P(ok=404, scope="learner")}),
    "badges:issuer": Row("org", {"GET": PUBLIC()}),
    # --- moderation pages ------------------------------------------------------------------
    # Invalid (empty) posts: the form again (200), or 400 where the page answers a refusal.
    "moderation:index": Row("none", {"GET": P(gate="staff")}),
    "moderation:round_new": Row("none", {"GET": P(gate="admin"), "POST": P(gate="admin")}),
    "moderation:round_detail": Row("round", {"GET": P(scope="org_admin")}),
    "moderation:round_close": Row("round", {"POST": P(ok=400, scope="org_admin")}),
    "moderation:review_list": Row("none", {"GET": P(gate="teacher")}),
    # A blind piece: its reviewer only, whoever else asks (the operator too) gets 404.
    "moderation:review_detail": Row(
        "piece", {"GET": P(scope="reviewer"), "POST": P(ok=400, scope="reviewer")}
    ),
    "moderation:review_file": Row("piece_file", {"GET": P(scope="reviewer")}),
    "moderation:equity": Row("none", {"GET": P(gate="admin"), "POST": P(gate="admin")}),
    # An empty post turns keeping demographics off (a redirect) for an administered org.
    "moderation:demographics": Row("org", {"POST": P(ok=302, scope="org_admin")}),
    "moderation:task_list": Row("none", {"GET": P(gate="staff")}),
    "moderation:task_new": Row("none", {"GET": P(gate="admin"), "POST": P(gate="admin")}),
    "moderation:task_detail": Row("task", {"GET": P(scope="task")}),
    "moderation:task_results": Row(
        "task_section", {"GET": P(scope="section"), "POST": P(scope="section")}
    ),
    # --- moderation API --------------------------------------------------------------------
    "moderation-round-list": Row("none", {"GET": A(gate="admin"), "POST": A(ok=400, gate="admin")}),
    "moderation-round-detail": Row("round", {"GET": A(scope="org_admin")}),
    "moderation-round-close": Row("round", {"POST": A(ok=400, scope="org_admin")}),
    "moderation-review-list": Row("none", {"GET": A(gate="teacher")}),
    "moderation-review-detail": Row("piece", {"GET": A(scope="reviewer")}),
    "moderation-review-rate": Row("piece", {"POST": A(ok=400, scope="reviewer")}),
    "moderation-review-file": Row("piece_file", {"GET": A(scope="reviewer")}),
    "moderation-agreement": Row("none", {"GET": A(gate="staff")}),
    "moderation-demographics": Row(
        "none", {"GET": A(gate="admin"), "POST": A(ok=400, gate="admin")}
    ),
    "common-task-list": Row("none", {"GET": A(gate="staff"), "POST": A(ok=400, gate="admin")}),
    "common-task-detail": Row("task", {"GET": A(scope="task")}),
    "common-task-results": Row("task", {"POST": A(ok=400, scope="task")}),
}

# The Django admin: nobody in the cast is staff (the staff flag grants nothing anyway, see the
# learners app's admin tests); every admin page sends every persona to the admin login, and the
# operator (a superuser) gets its pages. One GET per admin route, checked for every persona.
ADMIN_PREFIX = "admin:"


def _admin_routes() -> dict[str, str]:
    """Every admin route with a sample URL (ids of 1: the answer for others comes first)."""
    found: dict[str, str] = {}

    def walk(patterns: list[URLPattern | URLResolver], namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, inner)
            elif entry.name and namespace.startswith(ADMIN_PREFIX):
                regex = entry.pattern.regex
                names = {
                    name: "learners" if name == "app_label" else "1" for name in regex.groupindex
                }
                positional = ["1"] * (regex.groups - len(names))
                full = f"{namespace}{entry.name}"
                found[full] = (
                    reverse(full, args=positional) if positional else reverse(full, kwargs=names)
                )

    walk(get_resolver().url_patterns, "")
    return found


def test_every_route_has_a_matrix_row() -> None:
    missing = sorted(
        name for name in all_route_names() if name not in ROWS and not name.startswith(ADMIN_PREFIX)
    )
    assert missing == []
    assert sorted(set(ROWS) - all_route_names()) == []


@pytest.fixture(scope="module")
def persona_clients(world: World) -> dict[str, Client]:
    return clients(world)


@pytest.fixture(scope="module", autouse=True)
def _matrix_settings() -> Iterator[None]:
    # Thousands of requests per persona within a minute: the throttles are tested on their own.
    # Sessions in signed cookies spare a query per request; the session backend is not under
    # test here (tests/security/test_sessions_and_logins.py covers it).
    with override_settings(
        API_THROTTLE_RATES={},
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    ):
        yield


OTHER_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
SCHEMA_PERSONAS = (ANONYMOUS, "teacher", "student", "guardian", "state_admin", OPERATOR)
CASES: list[int] = []
FOUND: dict[tuple[str, str, str, str], int] = {}
DISCOVER = os.environ.get("MATRIX_DISCOVER") == "1"


def _request(client: Client, method: str, url: str, data: dict[str, Any] | None) -> int:
    # The database is rolled back after each request; the client's cookies must be too (a
    # logout or a login would otherwise leave the persona signed out for the next routes).
    cookies = client.cookies
    client.cookies = copy.deepcopy(cookies)
    try:
        return _send(client, method, url, data)
    finally:
        client.cookies = cookies


def _send(client: Client, method: str, url: str, data: dict[str, Any] | None) -> int:
    if method == "GET":
        # Reads change nothing another case could see (audit rows, session activity only).
        return int(client.get(url).status_code)
    with transaction.atomic():
        if method == "POST" and (not url.startswith("/api/") or not data or _has_file(data)):
            response = client.post(url, data=data or {})  # a form post
        else:
            response = getattr(client, method.lower())(
                url, data=data or {}, content_type="application/json"
            )
        transaction.set_rollback(True)
    return int(response.status_code)


def _has_file(data: dict[str, Any]) -> bool:
    return any(isinstance(value, SimpleUploadedFile) for value in data.values())


def _route_args(name: str) -> list[str]:
    import re

    from tests.security.routes import all_routes

    pattern = next(route.pattern for route in all_routes() if route.name == name)
    return re.findall(r"\(\?P<(\w+)>", pattern) + re.findall(r"<(?:\w+:)?(\w+)>", pattern)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_route_answers_every_persona_and_target_as_the_matrix_says(
    name: str, world: World, persona_clients: dict[str, Client], db: None
) -> None:
    row = ROWS[name]
    args = _route_args(name)
    wrong = []
    for method, expect in row.methods.items():
        for target in TARGETS[row.kind]:
            url = url_for(world, name, row.kind, target, args)
            if row.query is not None:
                from urllib.parse import urlencode

                url = f"{url}?{urlencode(row.query(world, target))}"
            for persona in SCHEMA_PERSONAS if name == "schema" else PERSONAS:
                # A fresh body per request: an uploaded file is read once.
                body = expect.data(world, target) if expect.data else None
                status = _request(persona_clients[persona], method, url, body)
                CASES.append(1)
                wanted = expect.status(persona, target)
                FOUND[(name, method, persona, target)] = status
                if status != wanted:
                    wrong.append(f"{method} {persona} -> {target}: {status}, expected {wanted}")
    # Every other method: the operator (who may do anything there is to do) gets 405.
    first = TARGETS[row.kind][0]
    url = url_for(world, name, row.kind, first, args)
    for method in sorted(OTHER_METHODS - set(row.methods)):
        status = _request(persona_clients[OPERATOR], method, url, None)
        CASES.append(1)
        FOUND[(name, method, OPERATOR, first)] = status
        if status != 405:
            wrong.append(f"{method} (not in the row) operator -> {first}: {status}, expected 405")
    if DISCOVER:
        with open("/tmp/matrix-found.jsonl", "a") as out:
            for (route, method, persona, target), status in FOUND.items():
                if route == name:
                    expect = row.methods.get(method)
                    wanted = expect.status(persona, target) if expect else 405
                    out.write(json.dumps([route, method, persona, target, status, wanted]) + "\n")
    assert wrong == []


def test_the_admin_is_closed_to_every_persona_and_open_to_the_operator(
    world: World, persona_clients: dict[str, Client], db: None
) -> None:
    """Every admin route: every persona (none is staff; the staff flag grants nothing) is sent
    to the admin login; the operator is served without an error (a page, a redirect for a
    missing id, 403 on the read-only admins' add and delete pages, 405 for a GET logout)."""
    wrong = []
    for name, url in sorted(_admin_routes().items()):
        for persona in PERSONAS:
            response = persona_clients[persona].get(url)
            CASES.append(1)
            if persona == OPERATOR:
                if response.status_code >= 500:
                    wrong.append(f"{name} {persona}: {response.status_code}")
            elif name in {"admin:login", "admin:logout"}:
                if response.status_code not in {200, 302, 405}:
                    wrong.append(f"{name} {persona}: {response.status_code}")
            elif response.status_code != 302 or "/admin/login/" not in response["Location"]:
                wrong.append(f"{name} {persona}: {response.status_code}")
    assert wrong == []
    assert len(_admin_routes()) > 50


def test_zz_report_the_number_of_cases() -> None:
    """Prints how many cases the matrix ran (for the closing note); runs last in the module."""
    print(f"\nauthorization matrix: {len(CASES)} cases")
