"""LTI 1.3 launches signed by a test platform's key (the platform is the boundary we do not
own; its key set is served on loopback): the right page opens for each role, and a launch with
a bad signature, a replayed nonce, a wrong audience, an expired token (and the other checks of
the security framework) is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from audit.models import AuditEntry
from identity.models import LtiCourseLink, LtiDeployment, LtiPlatform
from learners.models import RosterIdentity
from tests.identity.platform import (
    CLIENT_ID,
    DEPLOYMENT,
    ISSUER,
    MEMBERSHIP,
    LoopbackPlatform,
    running_platform,
)
from tests.personas import Cast, _module_cast, shared_cast

__all__ = ["_module_cast", "shared_cast"]

INSTRUCTOR = [MEMBERSHIP + "Instructor"]
LEARNER = [MEMBERSHIP + "Learner"]
MENTOR = [MEMBERSHIP + "Mentor"]


@pytest.fixture(scope="module")
def lms() -> Iterator[LoopbackPlatform]:
    with running_platform() as platform:
        yield platform


@pytest.fixture
def cast(shared_cast: Cast) -> Cast:
    for user, sourced_id in (
        (shared_cast.teacher, "or-teacher"),
        (shared_cast.student, "or-student"),
        (shared_cast.guardian, "or-guardian"),
        (shared_cast.teacher_elsewhere, "or-elsewhere"),
        (shared_cast.deactivated_teacher, "or-gone"),
        (shared_cast.school_admin, "or-admin"),
    ):
        RosterIdentity.objects.create(user=user, sourced_id=sourced_id)
    shared_cast.section.sourced_id = "or-section-1"
    shared_cast.section.save(update_fields=["sourced_id"])
    return shared_cast


@pytest.fixture
def platform(cast: Cast, lms: LoopbackPlatform) -> LtiPlatform:
    registered = LtiPlatform.objects.create(
        organisation=cast.district, name="District LMS", issuer=ISSUER, client_id=CLIENT_ID,
        auth_login_url=lms.auth_url, key_set_url=lms.key_set_url,
    )  # fmt: skip
    LtiDeployment.objects.create(platform=registered, deployment_id=DEPLOYMENT)
    return registered


def _login(client: Client, **params: str) -> dict[str, str]:
    sent = {"iss": ISSUER, "login_hint": "hint-1", "target_link_uri": "https://tool.test/",
            "client_id": CLIENT_ID, "lti_deployment_id": DEPLOYMENT, **params}  # fmt: skip
    answer = client.post("/identity/lti/login/", sent)
    assert answer.status_code == 302
    location = urlsplit(answer["Location"])
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    if location.path.startswith("/identity/refused/"):
        return {"refused": location.path}
    assert query["response_type"] == "id_token"
    assert query["response_mode"] == "form_post"
    assert query["prompt"] == "none"
    assert query["redirect_uri"] == "http://testserver/identity/lti/launch/"
    return query


def _launch(
    client: Client,
    lms: LoopbackPlatform,
    *,
    roles: list[str],
    person: str,
    key: RSAKey | None = None,
    overrides: dict[str, Any] | None = None,
    **fields: Any,
) -> tuple[Any, dict[str, str]]:
    query = _login(client)
    claims = lms.claims(nonce=query["nonce"], roles=roles, person=person, **fields)
    claims.update(overrides or {})
    token = lms.sign({name: value for name, value in claims.items() if value is not None}, key=key)
    body = {"id_token": token, "state": query["state"]}
    return client.post("/identity/lti/launch/", body), body


def _user_id(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value else None


def test_a_teacher_launch_opens_the_courses_section_grid(
    cast: Cast, lms: LoopbackPlatform, platform: LtiPlatform
) -> None:
    client = Client()
    answer, _ = _launch(
        client, lms, roles=INSTRUCTOR, person="or-teacher", course_section_sourced_id="or-section-1"
    )
    grid = reverse("mastery:section_grid", args=[cast.section.pk])
    assert answer["Location"] == grid
    assert _user_id(client) == cast.teacher.pk
    assert client.get(grid).status_code == 200
    entry = AuditEntry.objects.get(action="signin.lti")
    assert (entry.actor_id, entry.outcome) == (cast.teacher.pk, "allowed")


def test_a_course_without_roster_ids_is_linked_once_by_its_teacher(
    cast: Cast, lms: LoopbackPlatform, platform: LtiPlatform
) -> None:
    client = Client()
    answer, _ = _launch(client, lms, roles=INSTRUCTOR, person="or-teacher", context_id="c-42")
    assert answer["Location"] == "/identity/lti/link/"
    page = client.get("/identity/lti/link/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Grade 5 maths" in text
    assert cast.section.title in text
    assert cast.other_section.title not in text  # only the classes they teach
    refused = client.post("/identity/lti/link/", {"section": cast.other_section.pk})
    assert refused.status_code == 400
    linked = client.post("/identity/lti/link/", {"section": cast.section.pk})
    grid = reverse("mastery:section_grid", args=[cast.section.pk])
    assert linked["Location"] == grid
    assert LtiCourseLink.objects.get(context_id="c-42").section == cast.section
    # Next time (any teacher of the course), the grid opens directly.
    again, _ = _launch(Client(), lms, roles=INSTRUCTOR, person="or-teacher", context_id="c-42")
    assert again["Location"] == grid
    # Without a launch waiting, the page has nothing to do.
    assert client.get("/identity/lti/link/").status_code == 404


def test_a_teacher_of_another_school_gets_the_same_answer_as_on_any_page(
    cast: Cast, lms: LoopbackPlatform, platform: LtiPlatform
) -> None:
    client = Client()
    answer, _ = _launch(
        client,
        lms,
        roles=INSTRUCTOR,
        person="or-elsewhere",
        course_section_sourced_id="or-section-1",
    )
    assert _user_id(client) == cast.teacher_elsewhere.pk
    assert client.get(answer["Location"]).status_code == 404


def test_learner_admin_and_parent_launches_open_their_pages_or_nothing(
    cast: Cast, lms: LoopbackPlatform, platform: LtiPlatform
) -> None:
    student = Client()
    answer, _ = _launch(student, lms, roles=LEARNER, person="or-student")
    assert answer["Location"] == reverse("mastery:my_mastery")
    assert student.get(answer["Location"]).status_code == 200
    assert _user_id(student) == cast.student.pk

    admin = Client()
    answer, _ = _launch(admin, lms, roles=[MEMBERSHIP + "Administrator"], person="or-admin")
    assert answer["Location"] == "/"
    assert _user_id(admin) == cast.school_admin.pk

    parent = Client()
    answer, _ = _launch(parent, lms, roles=MENTOR, person="or-guardian")
    assert answer["Location"] == "/identity/refused/families/"
    assert "Nothing to open here for families" in parent.get(answer["Location"]).content.decode()
    assert _user_id(parent) is None


@pytest.mark.parametrize(
    ("person", "refusal"),
    [("or-nobody", "/identity/refused/unknown/"), ("or-gone", "/identity/refused/deactivated/")],
)
def test_people_the_roster_does_not_have_or_turned_off_are_refused(
    cast: Cast, lms: LoopbackPlatform, platform: LtiPlatform, person: str, refusal: str
) -> None:
    client = Client()
    answer, _ = _launch(client, lms, roles=INSTRUCTOR, person=person)
    assert answer["Location"] == refusal
    assert _user_id(client) is None


LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
BAD_LAUNCHES: dict[str, dict[str, Any]] = {
    "wrong audience": {"aud": "another-tool"},
    "expired": {"exp": 1_000_000_000, "iat": 999_999_000},
    "wrong issuer": {"iss": "https://other-lms.example.test"},
    "unknown deployment": {LTI + "deployment_id": "deployment-9"},
    "another nonce": {"nonce": "not-the-one-we-made"},
    "no subject": {"sub": None},
    "not LTI 1.3": {LTI + "version": "1.1"},
    "not a resource link launch": {LTI + "message_type": "LtiSomethingElse"},
}
OTHER_KEY = RSAKey.generate_key(2048)


@pytest.mark.parametrize("case", [*sorted(BAD_LAUNCHES), "signed by another key"])
def test_a_launch_that_fails_a_check_is_refused(
    cast: Cast, lms: LoopbackPlatform, platform: LtiPlatform, case: str
) -> None:
    client = Client()
    answer, _ = _launch(
        client, lms, roles=INSTRUCTOR, person="or-teacher", overrides=BAD_LAUNCHES.get(case),
        key=OTHER_KEY if case == "signed by another key" else None,
    )  # fmt: skip
    assert answer["Location"] == "/identity/refused/launch/"
    assert _user_id(client) is None
    page = client.get(answer["Location"])
    assert page.status_code == 400
    assert "could not be checked" in page.content.decode()


def test_a_replayed_launch_is_refused_even_with_the_state_cookie(
    cast: Cast, lms: LoopbackPlatform, platform: LtiPlatform
) -> None:
    client = Client()
    query = _login(client)
    cookie = client.cookies["lti1p3_state"].value
    token = lms.sign(lms.claims(nonce=query["nonce"], roles=INSTRUCTOR, person="or-teacher"))
    body = {"id_token": token, "state": query["state"]}
    assert client.post("/identity/lti/launch/", body)["Location"] == "/identity/lti/link/"
    # An attacker replays the same post with a copy of the browser's state cookie.
    attacker = Client()
    attacker.cookies["lti1p3_state"] = cookie
    replay = attacker.post("/identity/lti/launch/", body)
    assert replay["Location"] == "/identity/refused/launch/"
    assert _user_id(attacker) is None
    # Without the cookie (another browser), a launch is refused too.
    other = Client()
    assert other.post("/identity/lti/launch/", body)["Location"] == "/identity/refused/launch/"


def test_a_login_from_an_unregistered_platform_or_deployment_is_refused(
    cast: Cast, lms: LoopbackPlatform, platform: LtiPlatform
) -> None:
    assert _login(Client(), iss="https://unknown.example.test") == {
        "refused": "/identity/refused/launch/"
    }
    assert _login(Client(), lti_deployment_id="nope") == {"refused": "/identity/refused/launch/"}
    platform.enabled = False
    platform.save(update_fields=["enabled"])
    assert _login(Client()) == {"refused": "/identity/refused/launch/"}


def test_a_teacher_adds_the_tool_to_a_course_by_deep_linking(
    cast: Cast, lms: LoopbackPlatform, platform: LtiPlatform
) -> None:
    return_url = f"{lms.url}/deep-link-return"
    client = Client()
    answer, _ = _launch(
        client, lms, roles=INSTRUCTOR, person="or-teacher", context_id="c-77",
        overrides={
            LTI + "message_type": "LtiDeepLinkingRequest", LTI + "resource_link": None,
            DL + "deep_linking_settings": {
                "deep_link_return_url": return_url, "accept_types": ["ltiResourceLink"],
                "data": "opaque-platform-data",
            },
        },
    )  # fmt: skip
    assert answer["Location"] == "/identity/lti/deep-link/"
    assert client.get(answer["Location"]).status_code == 200
    sent = client.post(answer["Location"], {"section": cast.section.pk})
    assert sent.status_code == 200
    page = sent.content.decode()
    assert f'action="{return_url}"' in page
    # Only this form may post to the platform's origin; the rest of the policy is unchanged.
    assert f"form-action 'self' {lms.url}" in sent["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in sent["Content-Security-Policy"]
    token = re.search(r'name="JWT" value="([^"]+)"', page)
    assert token
    published = KeySet.import_key_set(Client().get("/.well-known/jwks.json").json())
    claims = jwt.decode(token.group(1), published, algorithms=["RS256"]).claims
    assert claims["iss"] == CLIENT_ID
    assert claims["aud"] == ISSUER
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[LTI + "deployment_id"] == DEPLOYMENT
    assert claims[DL + "data"] == "opaque-platform-data"
    assert claims[DL + "content_items"][0]["type"] == "ltiResourceLink"
    # The course is now linked: its launches open the grid.
    again, _ = _launch(Client(), lms, roles=INSTRUCTOR, person="or-teacher", context_id="c-77")
    assert again["Location"] == reverse("mastery:section_grid", args=[cast.section.pk])
    # A student cannot add the tool to a course.
    student, _ = _launch(
        Client(), lms, roles=LEARNER, person="or-student",
        overrides={LTI + "message_type": "LtiDeepLinkingRequest", LTI + "resource_link": None,
                   DL + "deep_linking_settings": {"deep_link_return_url": return_url,
                                                  "accept_types": ["ltiResourceLink"]}},
    )  # fmt: skip
    assert student["Location"] == "/identity/refused/launch_role/"
