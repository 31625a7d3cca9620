"""The authorization matrix's machinery: targets, URLs, clients and expected answers.

A :class:`Row` says, for one route, what its URL names (``kind``) and, per method, what each
persona must get for each target (:class:`Expect`). The expectation is computed from the
persona tables of ``tests.personas`` (an independent statement of each role's scope), never
from the selectors under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from reports import selectors as report_selectors
from tests.personas import (
    ADMINISTERED,
    CHANGEABLE_LEARNERS,
    PERSONA_NAMES,
    ROLES,
    VISIBLE_LEARNERS,
    VISIBLE_ORGANISATIONS,
    VISIBLE_SECTIONS,
)
from tests.security.world import (
    LEARNER_TARGETS,
    ORG_TARGETS,
    REPORT_OWNERS,
    REVIEWERS,
    SECTION_TARGETS,
    World,
)

ANONYMOUS = "anonymous"
OPERATOR = "operator"
PERSONAS = (*PERSONA_NAMES, OPERATOR, ANONYMOUS)
# Signed-out (or deactivated) visitors: pages send them to the login page, the API answers 403.
SIGNED_OUT = {ANONYMOUS, "deactivated_teacher"}
ADMIN_ROLES = {"school_admin", "district_admin", "state_admin"}


def roles(persona: str) -> set[str]:
    return set(ROLES.get(persona, set()))


# --- scopes: may this persona reach this target? (from the persona tables) ---------------------

Scope = Callable[[str, str], bool]


def _learner_visible(persona: str, target: str) -> bool:
    return persona == OPERATOR or LEARNER_TARGETS[target] in VISIBLE_LEARNERS.get(persona, set())


def _learner_changeable(persona: str, target: str) -> bool:
    return persona == OPERATOR or LEARNER_TARGETS[target] in CHANGEABLE_LEARNERS.get(persona, set())


def _learner_administered(persona: str, target: str) -> bool:
    if persona == OPERATOR:
        return True
    school = {
        "own": "school",
        "same_section": "school",
        "other_section": "school",
        "other_school": "other_school",
        "other_district": "district_school",
        "other_state": "other_state_school",
    }[target]
    return school in ADMINISTERED.get(persona, set())


def _section_visible(persona: str, target: str) -> bool:
    return persona == OPERATOR or SECTION_TARGETS[target] in VISIBLE_SECTIONS.get(persona, set())


def _section_administered(persona: str, target: str) -> bool:
    if persona == OPERATOR:
        return True
    school = {
        "section": "school",
        "other_section": "school",
        "other_school": "other_school",
        "other_district": "district_school",
    }[target]
    return school in ADMINISTERED.get(persona, set())


def _operator(persona: str, target: str) -> bool:
    return persona == OPERATOR


def _org_visible(persona: str, target: str) -> bool:
    return persona == OPERATOR or ORG_TARGETS[target] in VISIBLE_ORGANISATIONS.get(persona, set())


def _org_administered(persona: str, target: str) -> bool:
    return persona == OPERATOR or ORG_TARGETS[target] in ADMINISTERED.get(persona, set())


# The students' own records: the ``student`` is the ``own`` learner, ``other_student`` is the
# ``same_section`` one.
OWN_LEARNER = {"student": "own", "other_student": "same_section"}


def _own_learner(persona: str, target: str) -> bool:
    return OWN_LEARNER.get(persona) == target


def _requester(persona: str, target: str) -> bool:
    return persona == target


def _always(persona: str, target: str) -> bool:
    return True


def _administers_district(persona: str, target: str) -> bool:
    return persona == OPERATOR or "district" in ADMINISTERED.get(persona, set())


def _sees_district(persona: str, target: str) -> bool:
    return persona == OPERATOR or "district" in VISIBLE_ORGANISATIONS.get(persona, set())


# The schools where each persona teaches a section (from tests.personas' world).
TAUGHT_SCHOOLS: dict[str, set[str]] = {
    "teacher": {"school"},
    "co_teacher": {"school"},
    "teacher_elsewhere": {"other_school"},
    "other_district_teacher": {"district_school"},
    "teacher_guardian": {"school"},
    "teacher_admin": {"school"},
}


def _reviewer(persona: str, target: str) -> bool:
    """A blind piece: its assigned reviewer only (not even the operator)."""
    return REVIEWERS.get(target) == persona


def _task_visible(persona: str, target: str) -> bool:
    """A common task of a school: who works there as staff (teaches or administers it)."""
    if persona == OPERATOR:
        return True
    school = ORG_TARGETS[target]
    return school in ADMINISTERED.get(persona, set()) | TAUGHT_SCHOOLS.get(persona, set())


SCOPES: dict[str, Scope] = {
    "learner": _learner_visible,
    "learner_change": _learner_changeable,
    "learner_admin": _learner_administered,
    "section": _section_visible,
    "section_admin": _section_administered,
    "operator": _operator,
    "org": _org_visible,
    "org_admin": _org_administered,
    "own_learner": _own_learner,
    "requester": _requester,
    "all": _always,
    "district_admin": _administers_district,
    "sees_district": _sees_district,
    "reviewer": _reviewer,
    "task": _task_visible,
}

# --- gates: roles that may use a route at all (others get 403 before any lookup) ---------------

Gate = Callable[[str], bool]


def _staff(persona: str) -> bool:
    return persona == OPERATOR or bool(roles(persona) & ({"teacher"} | ADMIN_ROLES))


def _admin(persona: str) -> bool:
    return persona == OPERATOR or bool(roles(persona) & ADMIN_ROLES)


def _teacher(persona: str) -> bool:
    return persona == OPERATOR or "teacher" in roles(persona)


def _student(persona: str) -> bool:
    return "student" in roles(persona)


def _importer(persona: str) -> bool:
    return persona == OPERATOR or bool(roles(persona) & {"district_admin", "state_admin"})


def _any_role(persona: str) -> bool:
    return persona == OPERATOR or bool(roles(persona))


def _staff_or_guardian(persona: str) -> bool:
    return _staff(persona) or "guardian" in roles(persona)


GATES: dict[str, Gate] = {
    "staff": _staff,
    "admin": _admin,
    "teacher": _teacher,
    "student": _student,
    "importer": _importer,
    "any_role": _any_role,
    "staff_or_guardian": _staff_or_guardian,
}


@dataclass(frozen=True)
class Expect:
    """What one method of a route answers: ``ok`` within ``scope``; ``seen`` (when set) for a
    target the persona may see (``seen_scope``) but not act on; ``denied`` for anything else
    (404: out of scope is not found); ``gated`` for personas the ``gate`` refuses before any
    lookup; ``anon`` for signed-out visitors. ``data`` builds the body for a target (without
    one, an allowed write answers its validation error: ``ok`` is then 400, or 200 for a page
    showing the form again)."""

    ok: int = 200
    scope: str = "all"
    denied: int = 404
    seen: int | None = None
    seen_scope: str = "learner"
    gate: str | None = None
    gated: int = 403
    anon: int = 302
    data: Callable[[World, str], dict[str, Any]] | None = None

    def status(self, persona: str, target: str) -> int:
        if persona in SIGNED_OUT:
            return self.anon
        if self.gate is not None and not GATES[self.gate](persona):
            return self.gated
        if SCOPES[self.scope](persona, target):
            return self.ok
        if self.seen is not None and SCOPES[self.seen_scope](persona, target):
            return self.seen
        return self.denied


@dataclass(frozen=True)
class Row:
    """One route: ``kind`` names what its URL points at (its targets), then one
    :class:`Expect` per method tried."""

    kind: str
    methods: dict[str, Expect]
    # The target's id in the query string (``{name: id}``) instead of the URL, plus fixed values.
    query: Callable[[World, str], dict[str, Any]] | None = None


# --- targets and URLs ---------------------------------------------------------------------------

TARGETS: dict[str, tuple[str, ...]] = {
    "none": ("-",),
    "learner": tuple(LEARNER_TARGETS),
    "section": tuple(SECTION_TARGETS),
    "org": tuple(ORG_TARGETS),
    "report": REPORT_OWNERS,
    "token": REPORT_OWNERS,
    "returned": ("own",),
    "framework": ("-",),
    "case_framework": ("-",),
    "case_standard": ("-",),
    "case_association": ("-",),
    "standard": ("-",),
    "term": ("-",),
}
for _kind in (
    "evidence", "rating", "artifact", "record", "event", "choice", "cell", "mastery_override",
):  # fmt: skip
    TARGETS[_kind] = tuple(LEARNER_TARGETS)
for _kind in ("scale", "policy", "requirement", "group", "bulk", "override", "round", "task"):
    TARGETS[_kind] = tuple(ORG_TARGETS)
TARGETS["piece"] = TARGETS["piece_file"] = tuple(REVIEWERS)
TARGETS["task_section"] = tuple(SECTION_TARGETS)
# The organisation target of each section target's school (for a task and a section).
SECTION_SCHOOL = {
    "section": "school",
    "other_section": "school",
    "other_school": "other_school",
    "other_district": "other_district",
}


def object_for(world: World, kind: str, target: str) -> Any:
    table: dict[str, Any] = {
        "learner": world.learners,
        "section": world.sections,
        "org": world.organisations,
        "evidence": world.evidence,
        "rating": world.ratings,
        "artifact": world.artifacts,
        "record": world.records,
        "event": world.events,
        "choice": world.choices,
        "scale": world.scales,
        "policy": world.policies,
        "requirement": world.requirements,
        "group": world.groups,
        "bulk": world.bulks,
        "report": world.reports,
        "round": world.rounds,
        "task": world.tasks,
        "piece": world.pieces,
        "mastery_override": world.overrides,
    }
    return table[kind][target]


def url_for(world: World, name: str, kind: str, target: str, arg_names: list[str]) -> str:
    """The route's URL for the target (every URL argument filled from the target)."""
    if kind == "none":
        values: dict[str, Any] = {arg: _sample(arg) for arg in arg_names}
    elif kind == "cell":
        values = {
            "learner_pk": world.learners[target].pk,
            "standard_pk": world.standards.counting.pk,
        }
    elif kind == "override":
        values = {
            "organisation_pk": world.organisations[target].pk,
            "framework_pk": world.framework.pk,
        }
    elif kind == "piece_file":
        values = {"pk": world.pieces[target].pk, "number": 1}
    elif kind == "task_section":
        values = {
            "pk": world.tasks[SECTION_SCHOOL[target]].pk,
            "section_pk": world.sections[target].pk,
        }
    elif kind == "token":
        values = {"token": report_selectors.download_token(world.reports[target])}
    elif kind == "returned":
        values = {arg: world.returned.pk for arg in arg_names}
    elif kind.startswith("case_"):
        # The CASE REST endpoints name records by their CASE identifier (a UUID).
        from standards.exporters import mint_identifier
        from standards.models import Association

        record: Any = {
            "case_framework": world.framework,
            "case_standard": world.standards.counting,
            "case_association": Association.objects.filter(framework=world.framework).first(),
        }[kind]
        values = {arg: mint_identifier(record.identifier) for arg in arg_names}
    elif kind in {"framework", "standard", "term"}:
        single = {
            "framework": world.framework,
            "standard": world.standards.counting,
            "term": world.cast.term,
        }[kind]
        values = {arg: single.pk for arg in arg_names}
    else:
        obj = object_for(world, kind, target)
        values = {arg: obj.pk for arg in arg_names}
    return reverse(name, kwargs=values)


def _sample(arg: str) -> str:
    return {"uidb64": "MQ", "token": "abc-123"}.get(arg, "1")


def clients(world: World) -> dict[str, Client]:
    """One signed-in test client per persona (sessions made once, inside the world)."""
    made: dict[str, Client] = {ANONYMOUS: Client()}
    for persona in PERSONAS:
        if persona == ANONYMOUS:
            continue
        client = Client()
        user: User = world.operator if persona == OPERATOR else world.cast.persona(persona)
        client.force_login(user)
        made[persona] = client
    return made
