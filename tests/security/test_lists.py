"""Every API list returns exactly the scoped set (S2), all pages followed, for every persona.

The expected set is computed from the persona tables of ``tests.personas`` and the world's
objects (an independent statement of each role's scope), never from the selectors under test.
Filters never widen the set; ids in request bodies do not tell "out of scope" from "missing".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from learners.models import Learner
from tests.personas import (
    ADMINISTERED,
    PERSONA_NAMES,
    VISIBLE_LEARNERS,
    VISIBLE_ORGANISATIONS,
    VISIBLE_SECTIONS,
)
from tests.security.matrix import GATES, OPERATOR, SCOPES, clients
from tests.security.world import ORG_TARGETS, REVIEWERS, World, world

__all__ = ["world"]

# Every persona with a working login (the deactivated one is signed out: see the matrix).
LIST_PERSONAS = (*(p for p in PERSONA_NAMES if p != "deactivated_teacher"), OPERATOR)


@pytest.fixture(scope="module")
def persona_clients(world: World) -> dict[str, Client]:
    return clients(world)


@pytest.fixture(scope="module", autouse=True)
def _no_throttles() -> Iterator[None]:
    with override_settings(API_THROTTLE_RATES={}):
        yield


def _all_pages(client: Client, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, (url, response.status_code)
        body = response.json()
        items += body["results"]
        next_url = body["next"]
    return items


def _visible_learner_ids(world: World, persona: str) -> set[int]:
    if persona == OPERATOR:
        return set(Learner.objects.values_list("pk", flat=True))
    return {getattr(world.cast, name).pk for name in VISIBLE_LEARNERS[persona]}


def _visible_org_ids(world: World, persona: str) -> set[int]:
    if persona == OPERATOR:
        return {org.pk for org in world.cast.all_organisations()}
    return {getattr(world.cast, name).pk for name in VISIBLE_ORGANISATIONS[persona]}


def _of_learners(objects: dict[str, Any], world: World, persona: str) -> set[int]:
    visible = _visible_learner_ids(world, persona)
    return {obj.pk for key, obj in objects.items() if world.learners[key].pk in visible}


def _expected_evidence(world: World, persona: str) -> set[int]:
    found = _of_learners(world.evidence, world, persona)
    if world.returned.learner_id in _visible_learner_ids(world, persona):
        found.add(world.returned.pk)
    return found


def _of_orgs(objects: dict[str, Any], world: World, persona: str) -> set[int]:
    visible = _visible_org_ids(world, persona)
    return {obj.pk for key, obj in objects.items() if world.organisations[key].pk in visible}


def _administered(objects: dict[str, Any], world: World, persona: str) -> set[int]:
    if persona == OPERATOR:
        return {obj.pk for obj in objects.values()}
    names = ADMINISTERED[persona]
    return {obj.pk for key, obj in objects.items() if ORG_TARGETS[key] in names}


EXPECTED: dict[str, Callable[[World, str], set[int]]] = {
    "/api/v1/learners/": _visible_learner_ids,
    "/api/v1/organisations/": _visible_org_ids,
    "/api/v1/sections/": lambda w, p: (
        {s.pk for s in w.cast.all_sections()}
        if p == OPERATOR
        else {getattr(w.cast, name).pk for name in VISIBLE_SECTIONS[p]}
    ),
    "/api/v1/evidence/": _expected_evidence,
    "/api/v1/ratings/": lambda w, p: _of_learners(w.ratings, w, p),
    "/api/v1/artifacts/": lambda w, p: _of_learners(w.artifacts, w, p),
    "/api/v1/mastery/records/": lambda w, p: _of_learners(w.records, w, p),
    "/api/v1/mastery/events/": lambda w, p: _of_learners(w.events, w, p),
    "/api/v1/elective-choices/": lambda w, p: _of_learners(w.choices, w, p),
    "/api/v1/scales/": lambda w, p: _of_orgs(w.scales, w, p),
    "/api/v1/policies/": lambda w, p: _of_orgs(w.policies, w, p),
    "/api/v1/requirements/": lambda w, p: _of_orgs(w.requirements, w, p),
    "/api/v1/elective-groups/": lambda w, p: _of_orgs(w.groups, w, p),
    "/api/v1/mastery/bulk-recomputes/": lambda w, p: _administered(w.bulks, w, p),
    "/api/v1/reports/": lambda w, p: {r.pk for owner, r in w.reports.items() if owner == p},
}


@pytest.mark.parametrize("url", sorted(EXPECTED))
def test_each_list_returns_exactly_the_scoped_set_for_every_persona(
    url: str, world: World, persona_clients: dict[str, Client], db: None
) -> None:
    wrong = {}
    for persona in LIST_PERSONAS:
        got = [item["id"] for item in _all_pages(persona_clients[persona], url)]
        assert len(got) == len(set(got)), (persona, "duplicates across pages")
        expected = EXPECTED[url](world, persona)
        if set(got) != expected:
            wrong[persona] = (sorted(set(got) - expected), sorted(expected - set(got)))
    assert wrong == {}


# Moderation lists a role never uses answer 403 (the matrix's gates); the others list exactly
# the persona's rounds (administered), pieces (assigned to them) and tasks (where they work).
GATED: dict[str, tuple[str, Callable[[World, str], set[int]]]] = {
    "/api/v1/moderation/rounds/": ("admin", lambda w, p: _administered(w.rounds, w, p)),
    "/api/v1/moderation/reviews/": (
        "teacher",
        lambda w, p: {item.pk for key, item in w.pieces.items() if REVIEWERS[key] == p},
    ),
    "/api/v1/moderation/tasks/": (
        "staff",
        lambda w, p: {task.pk for key, task in w.tasks.items() if SCOPES["task"](p, key)},
    ),
}


@pytest.mark.parametrize("url", sorted(GATED))
def test_each_gated_list_refuses_other_roles_and_lists_exactly_the_scope(
    url: str, world: World, persona_clients: dict[str, Client], db: None
) -> None:
    gate, expect = GATED[url]
    wrong = {}
    for persona in LIST_PERSONAS:
        if not GATES[gate](persona):
            status = persona_clients[persona].get(url).status_code
            if status != 403:
                wrong[persona] = status
            continue
        got = {item["id"] for item in _all_pages(persona_clients[persona], url)}
        if got != expect(world, persona):
            wrong[persona] = (sorted(got), sorted(expect(world, persona)))
    assert wrong == {}


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/v1/learners/", "school"),
        ("/api/v1/evidence/", "learner"),
        ("/api/v1/ratings/", "learner"),
        ("/api/v1/mastery/records/", "learner"),
        ("/api/v1/elective-choices/", "learner"),
        ("/api/v1/sections/", "school"),
        ("/api/v1/scales/", "organisation"),
    ],
)
def test_filters_never_widen_the_scoped_set(
    url: str, param: str, world: World, persona_clients: dict[str, Client], db: None
) -> None:
    values = (
        [learner.pk for learner in world.learners.values()]
        if param == "learner"
        else [org.pk for org in world.cast.all_organisations()]
    )
    for persona in ("teacher", "guardian", "student", "teacher_guardian", "school_admin"):
        allowed = EXPECTED[url](world, persona)
        for value in values:
            got = {
                item["id"]
                for item in _all_pages(persona_clients[persona], f"{url}?{param}={value}")
            }
            assert got <= allowed, (persona, param, value)


def test_section_rosters_list_exactly_the_current_learners(
    world: World, persona_clients: dict[str, Client], db: None
) -> None:
    cast = world.cast
    current = {
        cast.section.pk: {cast.own.pk, cast.same_section.pk},
        cast.other_section.pk: {cast.other_section_learner.pk},
        cast.school_section.pk: {cast.other_school_learner.pk, cast.other_school_peer.pk},
        cast.district_section.pk: {cast.other_district_learner.pk},
    }
    for persona in ("teacher", "school_admin", "district_admin", "teacher_admin", OPERATOR):
        client = persona_clients[persona]
        for section in EXPECTED["/api/v1/sections/"](world, persona):
            got = {i["id"] for i in _all_pages(client, f"/api/v1/sections/{section}/learners/")}
            assert got == current[section], (persona, section)


def _evidence_with(learner: int) -> dict[str, Any]:
    return {
        "learner": learner,
        "kind": "observation",
        "title": "x",
        "demonstrated_at": "2026-01-01T00:00:00Z",
    }


def _override_with(learner: int) -> dict[str, Any]:
    return {"learner": learner, "standard": 1, "level": 1, "reason": "x"}


def _transcript_for(learner: int) -> dict[str, Any]:
    return {"kind": "transcript", "format": "pdf", "as_of": "2026-01-01", "learner": learner}


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/evidence/", _evidence_with),
        ("/api/v1/mastery/overrides/", _override_with),
        ("/api/v1/reports/", _transcript_for),
    ],
)
def test_body_ids_do_not_tell_apart_out_of_scope_and_missing(
    url: str,
    body: Callable[[int], dict[str, Any]],
    world: World,
    persona_clients: dict[str, Client],
    db: None,
) -> None:
    client = persona_clients["teacher"]
    hidden_id = world.learners["other_school"].pk
    hidden = client.post(url, body(hidden_id), content_type="application/json")
    missing = client.post(url, body(2**40), content_type="application/json")
    assert hidden.status_code == missing.status_code
    assert hidden.status_code in {400, 404}
    # The same message, the id it echoes aside.
    said = json.dumps(hidden.json()).replace(str(hidden_id), "ID")
    assert said == json.dumps(missing.json()).replace(str(2**40), "ID")
