"""The request audit: every read, export and change of learner records leaves audit entries.

One mechanism for every page and API route: :class:`AuditMiddleware` looks up the route's
:class:`Rule` in :data:`ROUTES` after the view ran, works out which learners the request
touched (from the URL, the query string, the API response or the section's roster), and writes
one ``audit.AuditEntry`` per learner with one ``INSERT ... SELECT`` (``audit.recording``). Denied
requests (401, 403, 404, any 4xx or 5xx, anonymous visitors) are recorded as denied, with the
learner the request aimed at when it exists, so probing is visible too.

Every route of the project must be named here: in :data:`ROUTES`, in :data:`NO_LEARNER_DATA`
(pages that show no learner record: standards, settings, the login) or in
:data:`AUDITED_BY_APP` (the reports app audits its own requests and downloads). The Django
admin is classified from the model of each page through the personal-data registry. A test
fails when a route is in none of them.

Actions: ``record.read`` (GET/HEAD), ``record.change`` (other methods), ``record.export``
(file downloads and data exports). ``detail`` holds the route name, the method and the status:
ids only, never names or query strings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Final

from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch

from audit.recording import record_accesses
from learners.models import Learner
from learners.selectors import current_roster_sql
from privacy import registry

logger = logging.getLogger(__name__)

READ: Final = "record.read"
CHANGE: Final = "record.change"
EXPORT: Final = "record.export"
_MAX_ID = 2**63 - 1
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_AUDITED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Rule:
    """How a route names the learners it touches.

    ``source`` is one of: ``"kwarg"`` (the object whose id is the URL argument ``name``),
    ``"query"`` (the object whose id is the query parameter ``name``), ``"response"`` (the
    objects whose ids the API answered: a list page, a created object), ``"roster"`` (the
    current learners of the section in the URL argument ``name``), ``"own"`` (the signed-in
    student's own record) or ``"unresolved"`` (learner records without one learner to name:
    list pages, bulk imports; one entry without a learner). ``model`` is a registry label.
    """

    source: str
    model: str = "learners.Learner"
    name: str = "pk"
    export: bool = False


def _obj(model: str, name: str = "pk", *, export: bool = False) -> Rule:
    return Rule("kwarg", model, name, export)


def _listed(model: str) -> Rule:
    return Rule("response", model)


UNRESOLVED = Rule("unresolved")
OWN = Rule("own")

ROUTES: dict[str, Rule] = {
    # learners: pages
    "learners:learner_list": UNRESOLVED,
    "learners:learner_detail": _obj("learners.Learner"),
    "learners:my_profile": OWN,
    "learners:section_detail": Rule("roster", name="pk"),
    "learners:roster_import": UNRESOLVED,
    # learners: the people and classes pages, the learner picker's suggestions
    "learners:learner_search": UNRESOLVED,
    "learners:people": UNRESOLVED,
    "learners:learner_add": UNRESOLVED,
    "learners:learner_edit": _obj("learners.Learner"),
    "learners:section_enrollments": Rule("roster", name="pk"),
    # the home page names the learners that need a teacher's attention
    "home": UNRESOLVED,
    # learners: API
    "roster-import-list": UNRESOLVED,
    "section-learners": Rule("roster", name="pk"),
    "learner-list": _listed("learners.Learner"),
    "learner-detail": _obj("learners.Learner"),
    "learner-profile": _obj("learners.Learner"),
    # standards: the learners' elective choices
    "standards:my_electives": OWN,
    "standards:elective_review": UNRESOLVED,
    "elective-choice-list": _listed("standards.ElectiveChoice"),
    "elective-choice-detail": _obj("standards.ElectiveChoice"),
    "elective-choice-decide": _obj("standards.ElectiveChoice"),
    "elective-choice-withdraw": _obj("standards.ElectiveChoice"),
    # evidence: pages
    "evidence:index": UNRESOLVED,
    "evidence:record_ratings": Rule("roster", name="section_id"),
    "evidence:grid_ratings": Rule("roster", name="section_id"),
    "evidence:submit": OWN,
    "evidence:review_queue": UNRESOLVED,
    "evidence:review_bulk": UNRESOLVED,
    "evidence:import": UNRESOLVED,
    "evidence:learner": _obj("learners.Learner", "learner_id"),
    "evidence:detail": _obj("evidence.Evidence", "evidence_id"),
    "evidence:review": _obj("evidence.Evidence", "evidence_id"),
    "evidence:revise": _obj("evidence.Evidence", "evidence_id"),
    "evidence:remove": _obj("evidence.Evidence", "evidence_id"),
    "evidence:supersede_rating": _obj("evidence.Rating", "rating_id"),
    "evidence:remove_rating": _obj("evidence.Rating", "rating_id"),
    "evidence:download": _obj("evidence.Artifact", "artifact_id", export=True),
    "evidence:preview": _obj("evidence.Artifact", "artifact_id"),
    "evidence:reflect": _obj("evidence.Evidence", "evidence_id"),
    # portal: the student's goals; notifications and settings (children's names for digests)
    "portal:goals": OWN,
    "portal:goal_edit": _obj("portal.Goal"),
    "portal:settings": UNRESOLVED,
    "portal:notifications": UNRESOLVED,
    # evidence: API
    "evidence-list": _listed("evidence.Evidence"),
    "evidence-detail": _obj("evidence.Evidence"),
    "evidence-artifacts": _obj("evidence.Evidence"),
    "evidence-remove": _obj("evidence.Evidence"),
    "evidence-resubmit": _obj("evidence.Evidence"),
    "evidence-review": _obj("evidence.Evidence"),
    "submission-list": _listed("evidence.Evidence"),
    "rating-list": _listed("evidence.Rating"),
    "rating-import-csv": UNRESOLVED,
    "rating-detail": _obj("evidence.Rating"),
    "rating-remove": _obj("evidence.Rating"),
    "rating-supersede": _obj("evidence.Rating"),
    "artifact-list": _listed("evidence.Artifact"),
    "artifact-detail": _obj("evidence.Artifact"),
    "artifact-download": _obj("evidence.Artifact", export=True),
    # mastery: pages
    "mastery:record_detail": _obj("mastery.MasteryRecord"),
    "mastery:section_grid": Rule("roster", name="pk"),
    "mastery:learner_page": _obj("learners.Learner"),
    "mastery:cell_detail": _obj("learners.Learner", "learner_pk"),
    "mastery:override_set": _obj("learners.Learner", "learner_pk"),
    "mastery:override_clear": _obj("mastery.MasteryOverride"),
    "mastery:my_mastery": OWN,
    # badges: a learner's credentials (the download is an export of their record)
    "badges:learner_credentials": _obj("learners.Learner", "learner_pk"),
    "badges:download": _obj("learners.Learner", "learner_pk", export=True),
    # mastery: API
    "mastery-as-of": Rule("query", "learners.Learner", "learner"),
    "mastery-record-list": _listed("mastery.MasteryRecord"),
    "mastery-record-detail": _obj("mastery.MasteryRecord"),
    "mastery-event-list": _listed("mastery.MasteryEvent"),
    "mastery-event-detail": _obj("mastery.MasteryEvent"),
    # moderation: rounds touch many learners' evidence (closing one also audits each learner
    # whose rating an adoption corrected, from the service); a blind piece names its learner
    # through the registry; a common task's results are recorded for a section's roster.
    "moderation:round_new": UNRESOLVED,
    "moderation:round_detail": UNRESOLVED,
    "moderation:round_close": UNRESOLVED,
    "moderation:review_list": UNRESOLVED,
    "moderation:review_detail": _obj("moderation.ModerationItem"),
    "moderation:review_file": _obj("moderation.ModerationItem", export=True),
    "moderation:task_results": Rule("roster", name="section_pk"),
    "moderation-round-list": UNRESOLVED,
    "moderation-round-detail": UNRESOLVED,
    "moderation-round-close": UNRESOLVED,
    "moderation-review-list": _listed("moderation.ModerationItem"),
    "moderation-review-detail": _obj("moderation.ModerationItem"),
    "moderation-review-rate": _obj("moderation.ModerationItem"),
    "moderation-review-file": _obj("moderation.ModerationItem", export=True),
    "common-task-results": _listed("evidence.Evidence"),
    "mastery-override-list": _listed("mastery.MasteryOverride"),
    "mastery-override-detail": _obj("mastery.MasteryOverride"),
    "mastery-override-clear": _obj("mastery.MasteryOverride"),
    # the equity audit: the page queues a report (the reports app audits it); the subgroups'
    # choice deletes learners' demographics when turned off
    "moderation:demographics": UNRESOLVED,
    "moderation-demographics": UNRESOLVED,
}

NO_LEARNER_DATA: frozenset[str] = frozenset(
    {
        "healthz",
        "login",
        "logout",
        "password_change",
        "password_change_done",
        "password_reset",
        "password_reset_done",
        "password_reset_confirm",
        "password_reset_complete",
        "schema",
        "api-docs",
        # learners: organisations, terms and sections carry no learner record (a section's
        # roster is its own route)
        "learners:section_list",
        "learners:section_search",
        "learners:section_add",
        "learners:section_edit",
        "learners:term_add",
        "learners:term_edit",
        "organisation-list",
        "organisation-detail",
        "term-list",
        "term-detail",
        "section-list",
        "section-detail",
        # standards: frameworks and settings
        "standards:framework_list",
        "standards:framework_detail",
        "standards:standard_search",
        "standards:framework_export",
        "standards:framework_import",
        "standards:settings_index",
        "standards:scale_edit",
        "standards:scale_remove",
        "standards:policy_edit",
        "standards:policy_remove",
        "standards:policy_override",
        "standards:policy_override_remove",
        "standards:requirements",
        "standards:requirement_remove",
        "standards:elective_group_delete",
        "framework-list",
        "framework-import-file",
        "framework-detail",
        "framework-case",
        # the CASE 1.1 REST read endpoints: published frameworks, no learner data
        "case:documents",
        "case:document",
        "case:package",
        "case:item",
        "case:item_associations",
        "case:association",
        "standard-list",
        "standard-detail",
        "standard-associations",
        "scale-list",
        "scale-effective",
        "scale-detail",
        "policy-list",
        "policy-effective",
        "policy-detail",
        "requirement-list",
        "requirement-effective",
        "requirement-detail",
        "elective-group-list",
        "elective-group-detail",
        # evidence: choosing a section to record for lists sections only
        "evidence:record",
        # mastery: bulk recompute jobs and the scale's colours
        "mastery:bulk_list",
        "mastery:bulk_detail",
        "mastery:scale_css",
        "bulk-recompute-list",
        "bulk-recompute-detail",
        # identity: our public key set, single sign-on's round trip and refusal page
        "identity:jwks",
        "identity:sso_start",
        "identity:sso_callback",
        "identity:refused",
        "identity:lti_login",
        "identity:lti_launch",
        "identity:lti_course_link",
        "identity:lti_deep_link",
        # badges: a school's public issuer profile
        "badges:issuer",
        # moderation: the index (one's own agreement, counts), common tasks, own agreement
        "moderation:index",
        "moderation:task_list",
        "moderation:task_new",
        "moderation:task_detail",
        "moderation:equity",
        "moderation-agreement",
        "common-task-list",
        "common-task-detail",
    }
)

# The reports app records ``report.request`` and ``report.download`` entries itself (allowed and
# denied, with the learner of a transcript) and one disclosure per learner of a state export;
# the privacy pages record ``privacy.*`` entries (exports and erasures, allowed or denied) from
# their services and views; their index and access log show no learner record.
AUDITED_BY_APP: frozenset[str] = frozenset(
    {
        "reports:report_list",
        "reports:report_detail",
        "reports:download",
        "reports:section_export",
        "reports:learner_transcript",
        "reports-api:download",
        "reports-api:report-list",
        "reports-api:report-detail",
        "privacy:index",
        "privacy:learner_export",
        "privacy:learner_erase",
        "privacy:access_log",
        "privacy-access-log-list",
        "privacy-learner-export",
        "privacy-learner-erase",
    }
)

_ADMIN_OBJECT_VIEWS = ("change", "delete", "history")


def rule_for(view_name: str) -> Rule | None:
    """The audit rule of a route name (``None``: the route touches no learner record, or its
    app audits it). Raises ``KeyError`` for a route nobody classified."""
    if view_name in ROUTES:
        return ROUTES[view_name]
    if view_name in NO_LEARNER_DATA or view_name in AUDITED_BY_APP:
        return None
    if view_name.startswith("admin:"):
        return _admin_rule(view_name)
    raise KeyError(view_name)


def _admin_rule(view_name: str) -> Rule | None:
    """Admin pages of a registered model are audited (its change list and add form as
    unresolved reads/changes, its object pages by object); other admin pages hold none."""
    name = view_name.removeprefix("admin:")
    for entry in registry.entries():
        model = entry.model_class._meta
        prefix = f"{model.app_label}_{model.model_name}_"
        if name.startswith(prefix):
            view = name.removeprefix(prefix)
            if view in _ADMIN_OBJECT_VIEWS:
                return _obj(entry.model, "object_id")
            return UNRESOLVED
    return None


def is_classified(view_name: str) -> bool:
    try:
        rule_for(view_name)
    except KeyError:
        return False
    return True


# --- resolving the learners ---------------------------------------------------------------------


def _as_id(value: object) -> int | None:
    text = str(value) if value is not None else ""
    if text.isascii() and text.isdigit() and 0 < len(text) <= 19 and int(text) <= _MAX_ID:
        return int(text)
    return None


def _response_ids(response: HttpResponse) -> list[int]:
    data = getattr(response, "data", None)
    items: Iterable[Any]
    if isinstance(data, dict):
        results = data.get("results")
        items = results if isinstance(results, list) else [data]
    elif isinstance(data, list):
        items = data
    else:
        return []
    found = (_as_id(item.get("id")) for item in items if isinstance(item, dict))
    return [pk for pk in found if pk is not None]


def _object_ids(
    rule: Rule, match: ResolverMatch, request: HttpRequest, response: HttpResponse
) -> list[int]:
    if rule.source == "kwarg":
        pk = _as_id(match.kwargs.get(rule.name))
    elif rule.source == "query":
        pk = _as_id(request.GET.get(rule.name))
    else:
        return _response_ids(response)
    return [pk] if pk is not None else []


# The signed-in student's own learner record.
_OWN_SQL: Final = f"SELECT l.id AS learner_ref FROM {Learner._meta.db_table} l WHERE l.user_id = %s"  # noqa: S608


def _learner_source(
    rule: Rule,
    match: ResolverMatch,
    request: HttpRequest,
    response: HttpResponse,
    allowed: bool,
) -> tuple[str | None, tuple[Any, ...], str]:
    """The SQL selecting the learners (or ``None``), its parameters and the object id."""
    if rule.source == "unresolved":
        return None, (), ""
    if rule.source == "own":
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None, (), ""
        return _OWN_SQL, (user.pk,), ""
    if rule.source == "roster":
        section_id = _as_id(match.kwargs.get(rule.name))
        if section_id is None or not allowed:
            return None, (), str(section_id or "")
        sql, params = current_roster_sql(section_id)
        return sql, params, str(section_id)
    ids = _object_ids(rule, match, request, response)
    if not ids:
        return None, (), ""
    entry = registry.BY_MODEL[rule.model]
    sql, params = entry.learner_ids_sql(ids)
    return sql, params, str(ids[0]) if len(ids) == 1 else ""


def _object_type(rule: Rule) -> str:
    if rule.source == "roster":
        return "learners.section"
    if rule.source in {"own", "unresolved"}:
        return "learners.learner"
    return rule.model.lower()


# --- the middleware -----------------------------------------------------------------------------


class AuditMiddleware:
    """Writes the request's audit entries after the view ran (one INSERT at most)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is None or request.method not in _AUDITED_METHODS:
            return response
        try:
            rule = rule_for(match.view_name)
        except KeyError:
            # An unclassified route is a programming error the route test catches; in
            # production record it rather than lose the access.
            rule = UNRESOLVED
        if rule is not None:
            record_request(request, response, match, rule)
        return response


def record_request(
    request: HttpRequest, response: HttpResponse, match: ResolverMatch, rule: Rule
) -> int:
    """Record one request under ``rule`` (see the module docstring); returns the entry count.

    A database failure here is logged (ids only) and swallowed: the response is already made,
    and the failure that broke the audit write broke the request's own work too."""
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    allowed = signed_in and response.status_code < 400
    action = EXPORT if rule.export else READ if request.method in _SAFE_METHODS else CHANGE
    try:
        sql, params, object_id = _learner_source(rule, match, request, response, allowed)
        # Outside a transaction the one INSERT is atomic by itself; inside one (a test, a view
        # that kept its transaction open) a savepoint keeps a failure from breaking it.
        guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with guard:
            return record_accesses(
                actor=user if signed_in else None,
                role=None if signed_in else "anonymous",
                action=action,
                allowed=allowed,
                learner_ids_sql=sql,
                params=params,
                object_type=_object_type(rule),
                object_id=object_id,
                detail={
                    "route": match.view_name,
                    "method": request.method,
                    "status": response.status_code,
                },
            )
    except DatabaseError:
        logger.exception("audit.write_failed", extra={"route": match.view_name})
        return 0
