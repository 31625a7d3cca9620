"""The standards API: reads for signed-in users, writes for admins of the organisation, and
every denial (404 outside the user's sight, 403 seen but not administered)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from learners.models import Learner
from standards.models import (
    CalculationPolicy,
    ChoiceStatus,
    ElectiveChoice,
    ElectiveGroup,
    Framework,
    ProficiencyScale,
    Requirement,
    Standard,
)
from standards.selectors import visible_policies
from standards.services import choose_elective, create_elective_group, set_policy, update_scale
from standards.validation import LevelInput
from tests.factories import TermFactory, UserFactory
from tests.personas import Cast, cast
from tests.standards.conftest import FIXTURES, SMALL_IDENTIFIER, uid

__all__ = ["cast"]

LEVELS = [
    {"points": "4", "label": "Advanced", "colour": "#1565c0"},
    {"points": "3", "label": "Proficient", "colour": "#2e7d32"},
    {"points": "2", "label": "Developing", "colour": "#f9a825"},
    {"points": "1", "label": "Beginning", "colour": "#c62828"},
]


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def as_user(api: APIClient, user: Any) -> APIClient:
    api.force_authenticate(user)
    return api


def _id(cast: Cast, number: int) -> int:
    return Standard.objects.get(identifier=uid(number)).pk


# --- Frameworks and standards --------------------------------------------------------------------


def test_anonymous_requests_are_refused(api: APIClient, small_framework: Framework) -> None:
    for url in ("/api/v1/frameworks/", "/api/v1/standards/", "/api/v1/scales/"):
        assert api.get(url).status_code in (401, 403)


def test_any_signed_in_user_reads_frameworks_and_their_case_package(
    api: APIClient, cast: Cast, small_framework: Framework
) -> None:
    as_user(api, cast.guardian)
    listing = api.get("/api/v1/frameworks/").json()
    assert listing["count"] == 1
    assert listing["results"][0]["identifier"] == SMALL_IDENTIFIER
    package = api.get(f"/api/v1/frameworks/{small_framework.pk}/case/").json()
    assert len(package["CFItems"]) == 6
    assert api.get("/api/v1/frameworks/999999/").status_code == 404


def test_standards_filter_by_framework_parent_and_code(
    api: APIClient, cast: Cast, small_framework: Framework
) -> None:
    as_user(api, cast.student)
    cluster = _id(cast, 11)
    by_parent = api.get("/api/v1/standards/", {"parent": cluster}).json()
    assert [row["human_code"] for row in by_parent["results"]] == ["NS.C.1", "NS.C.2"]
    by_code = api.get("/api/v1/standards/", {"framework": small_framework.pk, "code": "G.1"})
    assert [row["identifier"] for row in by_code.json()["results"]] == [uid(21)]
    top = api.get("/api/v1/standards/", {"top_level": "true"}).json()
    assert [row["human_code"] for row in top["results"]] == ["NS", "G"]
    assert api.get("/api/v1/standards/", {"framework": "abc"}).status_code == 400


def test_standard_associations_lists_every_type(
    api: APIClient, cast: Cast, small_framework: Framework
) -> None:
    as_user(api, cast.teacher)
    rows = api.get(f"/api/v1/standards/{_id(cast, 12)}/associations/").json()["results"]
    assert sorted(row["association_type"] for row in rows) == [
        "exactMatchOf",
        "isChildOf",
        "precedes",
    ]


def test_state_admin_imports_through_the_api(api: APIClient, cast: Cast) -> None:
    as_user(api, cast.state_admin)
    upload = SimpleUploadedFile("s.json", (FIXTURES / "small_case_1_1.json").read_bytes())
    response = api.post(
        "/api/v1/frameworks/import/",
        {"file": upload, "format": "case", "organisation": cast.state.pk},
        format="multipart",
    )
    assert response.status_code == 200
    assert (response.json()["created"], response.json()["associations"]) == (6, 9)
    assert Framework.objects.get().organisation == cast.state


def test_api_import_refusal_lists_problems(api: APIClient, cast: Cast) -> None:
    as_user(api, cast.state_admin)
    upload = SimpleUploadedFile("s.json", b'{"CFDocument": {"title": "x"}}')
    response = api.post(
        "/api/v1/frameworks/import/",
        {"file": upload, "format": "case", "organisation": cast.state.pk},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {
        "problems": [
            {
                "file": "CFDocument",
                "row": None,
                "column": "identifier",
                "reason": "is required and missing or empty",
                "severity": "error",
                "record": "",
            }
        ],
        "error_count": 1,
    }
    assert Framework.objects.count() == 0


@pytest.mark.parametrize(
    ("persona", "owner", "status"),
    [
        ("teacher", "school", 403),
        ("school_admin", "school", 403),
        ("state_admin", "other_state", 404),
    ],
)
def test_api_import_denials(
    api: APIClient, cast: Cast, persona: str, owner: str, status: int
) -> None:
    as_user(api, cast.persona(persona))
    upload = SimpleUploadedFile("s.json", (FIXTURES / "small_case_1_1.json").read_bytes())
    response = api.post(
        "/api/v1/frameworks/import/",
        {"file": upload, "organisation": getattr(cast, owner).pk},
        format="multipart",
    )
    assert response.status_code == status
    assert Framework.objects.count() == 0


# --- Scales ---------------------------------------------------------------------------------------


def test_school_admin_sets_the_school_scale(api: APIClient, cast: Cast) -> None:
    as_user(api, cast.school_admin)
    response = api.post(
        "/api/v1/scales/",
        {
            "organisation": cast.school.pk,
            "mastery_threshold": "3",
            "levels": LEVELS,
            "id": 999,
            "updated_by": cast.state_admin.pk,
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert [level["label"] for level in body["levels"]] == [
        "Advanced",
        "Proficient",
        "Developing",
        "Beginning",
    ]
    scale = ProficiencyScale.objects.get()
    assert scale.pk != 999
    assert scale.updated_by == cast.school_admin
    effective = api.get("/api/v1/scales/effective/", {"organisation": cast.school.pk}).json()
    assert effective["organisation_id"] == cast.school.pk


def test_invalid_scale_answers_400_with_problems(api: APIClient, cast: Cast) -> None:
    as_user(api, cast.school_admin)
    levels = [dict(LEVELS[0], colour="blue"), LEVELS[1]]
    response = api.post(
        "/api/v1/scales/",
        {"organisation": cast.school.pk, "mastery_threshold": "3", "levels": levels},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["problems"] == [
        {
            "file": "levels[0]",
            "row": None,
            "column": "colour",
            "reason": "must be a colour like #2e7d32",
            "severity": "error",
            "record": "",
        }
    ]
    assert ProficiencyScale.objects.count() == 0


@pytest.mark.parametrize(
    ("persona", "target", "status"),
    [
        ("teacher", "school", 403),
        ("guardian", "school", 403),
        ("school_admin", "district", 403),
        ("school_admin", "other_school", 404),
        ("district_admin", "other_state", 404),
        ("outsider", "school", 404),
    ],
)
def test_scale_write_denials(
    api: APIClient, cast: Cast, persona: str, target: str, status: int
) -> None:
    as_user(api, cast.persona(persona))
    response = api.post(
        "/api/v1/scales/",
        {"organisation": getattr(cast, target).pk, "mastery_threshold": "3", "levels": LEVELS},
        format="json",
    )
    assert response.status_code == status
    assert ProficiencyScale.objects.count() == 0


def test_scale_list_is_scoped_and_delete_needs_an_admin(api: APIClient, cast: Cast) -> None:
    levels = [LevelInput(**level) for level in LEVELS]
    school = update_scale(
        actor=cast.school_admin, organisation=cast.school, levels=levels, mastery_threshold=3
    )
    other_state = update_scale(
        actor=_superuser(), organisation=cast.other_state, levels=levels, mastery_threshold=3
    )
    as_user(api, cast.teacher)
    ids = [row["id"] for row in api.get("/api/v1/scales/").json()["results"]]
    assert ids == [school.pk]
    assert api.get(f"/api/v1/scales/{other_state.pk}/").status_code == 404
    assert api.delete(f"/api/v1/scales/{other_state.pk}/").status_code == 404
    assert api.delete(f"/api/v1/scales/{school.pk}/").status_code == 403
    as_user(api, cast.school_admin)
    assert api.delete(f"/api/v1/scales/{school.pk}/").status_code == 204
    assert ProficiencyScale.objects.filter(pk=school.pk).count() == 0


def _superuser() -> Any:
    return UserFactory(is_superuser=True, is_staff=True)


# --- Policies -------------------------------------------------------------------------------------


def test_district_admin_sets_an_override_and_reads_the_effective_policy(
    api: APIClient, cast: Cast, small_framework: Framework
) -> None:
    as_user(api, cast.district_admin)
    response = api.post(
        "/api/v1/policies/",
        {
            "organisation": cast.district.pk,
            "framework": small_framework.pk,
            "method": "n_times",
            "params": {"n": 3, "threshold": 3},
            "min_evidence": 2,
        },
        format="json",
    )
    assert response.status_code == 201
    as_user(api, cast.teacher)
    effective = api.get(
        "/api/v1/policies/effective/",
        {"organisation": cast.school.pk, "framework": small_framework.pk},
    ).json()
    assert (effective["method"], effective["params"], effective["organisation_id"]) == (
        "n_times",
        {"n": 3, "threshold": 3},
        cast.district.pk,
    )
    default = api.get("/api/v1/policies/effective/", {"organisation": cast.school.pk}).json()
    assert (default["method"], default["params"], default["policy_id"]) == (
        "decaying_average",
        {"weight": 65},
        None,
    )


def test_invalid_policy_answers_400(api: APIClient, cast: Cast) -> None:
    as_user(api, cast.school_admin)
    response = api.post(
        "/api/v1/policies/",
        {"organisation": cast.school.pk, "method": "decaying_average", "params": {"weight": 100}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["problems"] == [
        {
            "file": "params",
            "row": None,
            "column": "weight",
            "reason": "must be from 50 to 99, got 100",
            "severity": "error",
            "record": "",
        }
    ]
    assert CalculationPolicy.objects.count() == 0


def test_policy_list_is_exactly_the_visible_scope(api: APIClient, cast: Cast) -> None:
    admin = _superuser()
    for organisation in (cast.state, cast.district, cast.other_district, cast.other_state):
        set_policy(
            actor=admin, organisation=organisation, method="latest", params={}, min_evidence=1
        )
    for persona in ("teacher", "district_admin", "teacher_admin", "outsider"):
        user = cast.persona(persona)
        as_user(api, user)
        listed = [row["id"] for row in api.get("/api/v1/policies/").json()["results"]]
        assert listed == sorted(visible_policies(user).values_list("pk", flat=True)), persona
    as_user(api, cast.teacher)
    assert len(api.get("/api/v1/policies/").json()["results"]) == 2  # district and state


def test_policy_effective_for_an_invisible_organisation_is_404(api: APIClient, cast: Cast) -> None:
    as_user(api, cast.teacher)
    response = api.get("/api/v1/policies/effective/", {"organisation": cast.other_state.pk})
    assert response.status_code == 404
    assert api.get("/api/v1/policies/effective/", {"organisation": "x"}).status_code == 404


# --- Requirements and electives -------------------------------------------------------------------


def test_admin_requires_standards_and_everyone_in_scope_reads_them(
    api: APIClient, cast: Cast, small_framework: Framework
) -> None:
    as_user(api, cast.district_admin)
    response = api.post(
        "/api/v1/requirements/",
        {
            "organisation": cast.district.pk,
            "term": cast.term.pk,
            "grade_level": "5",
            "standards": [_id(cast, 12), _id(cast, 21)],
            "priority": "power",
        },
        format="json",
    )
    assert response.status_code == 201
    assert [row["grade_level"] for row in response.json()] == ["05", "05"]
    as_user(api, cast.teacher)
    effective = api.get(
        "/api/v1/requirements/effective/",
        {"organisation": cast.school.pk, "term": cast.term.pk, "grade_level": "05"},
    ).json()
    assert sorted(row["human_code"] for row in effective["required"]) == ["G.1", "NS.C.1"]
    assert api.get("/api/v1/requirements/", {"grade_level": "05"}).json()["count"] == 2
    as_user(api, cast.other_district_teacher)
    assert api.get("/api/v1/requirements/").json()["count"] == 0


def test_requirement_with_an_unknown_standard_is_refused(
    api: APIClient, cast: Cast, small_framework: Framework
) -> None:
    as_user(api, cast.school_admin)
    response = api.post(
        "/api/v1/requirements/",
        {
            "organisation": cast.school.pk,
            "term": cast.term.pk,
            "grade_level": "05",
            "standards": [_id(cast, 12), 987654],
            "priority": "power",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["problems"] == [
        {
            "file": "standards",
            "row": None,
            "column": "987654",
            "reason": "no standard has this id",
            "severity": "error",
            "record": "",
        }
    ]
    assert Requirement.objects.count() == 0


def test_requirement_denials(api: APIClient, cast: Cast, small_framework: Framework) -> None:
    body = {
        "organisation": cast.school.pk,
        "term": cast.term.pk,
        "grade_level": "05",
        "standards": [_id(cast, 12)],
        "priority": "power",
    }
    as_user(api, cast.teacher)
    assert api.post("/api/v1/requirements/", body, format="json").status_code == 403
    as_user(api, cast.other_district_teacher)
    assert api.post("/api/v1/requirements/", body, format="json").status_code == 404
    hidden_term = TermFactory(organisation=cast.other_state)
    as_user(api, cast.school_admin)
    response = api.post("/api/v1/requirements/", dict(body, term=hidden_term.pk), format="json")
    assert response.status_code == 404
    assert Requirement.objects.count() == 0
    requirement = Requirement.objects.create(
        organisation=cast.school, term=cast.term, grade_level="05", standard_id=_id(cast, 12)
    )
    as_user(api, cast.teacher)
    assert api.delete(f"/api/v1/requirements/{requirement.pk}/").status_code == 403
    as_user(api, cast.teacher_elsewhere)
    assert api.delete(f"/api/v1/requirements/{requirement.pk}/").status_code == 404
    as_user(api, cast.school_admin)
    assert api.delete(f"/api/v1/requirements/{requirement.pk}/").status_code == 204


@pytest.fixture
def group(cast: Cast, small_framework: Framework) -> ElectiveGroup:
    return create_elective_group(
        actor=cast.school_admin,
        organisation=cast.school,
        term=cast.term,
        grade_level="05",
        title="Pick one",
        choose=1,
        standards=list(Standard.objects.filter(identifier__in=[uid(12), uid(21)])),
    )


def test_elective_group_created_through_the_api(
    api: APIClient, cast: Cast, small_framework: Framework
) -> None:
    as_user(api, cast.school_admin)
    body = {
        "organisation": cast.school.pk,
        "term": cast.term.pk,
        "grade_level": "05",
        "title": "Two of three",
        "choose": 2,
        "standards": [_id(cast, 12), _id(cast, 13), _id(cast, 21)],
    }
    response = api.post("/api/v1/elective-groups/", body, format="json")
    assert response.status_code == 201
    assert len(response.json()["standards"]) == 3
    too_many = api.post("/api/v1/elective-groups/", dict(body, choose=3), format="json")
    assert too_many.status_code == 400
    as_user(api, cast.teacher)
    assert api.post("/api/v1/elective-groups/", body, format="json").status_code == 403


def test_student_chooses_and_teacher_decides_through_the_api(
    api: APIClient, cast: Cast, group: ElectiveGroup
) -> None:
    as_user(api, cast.student)
    created = api.post(
        "/api/v1/elective-choices/", {"group": group.pk, "standard": _id(cast, 21)}, format="json"
    )
    assert created.status_code == 201
    choice_id = created.json()["id"]
    as_user(api, cast.teacher)
    decided = api.post(
        f"/api/v1/elective-choices/{choice_id}/decide/", {"approve": True}, format="json"
    )
    assert decided.status_code == 200
    assert decided.json()["status"] == ChoiceStatus.APPROVED


def test_choice_denials(api: APIClient, cast: Cast, group: ElectiveGroup) -> None:
    as_user(api, cast.teacher)  # not a student
    body = {"group": group.pk, "standard": _id(cast, 12)}
    assert api.post("/api/v1/elective-choices/", body, format="json").status_code == 404
    other_user = UserFactory()
    Learner.objects.filter(pk=cast.other_school_learner.pk).update(
        user=other_user, grade_level="05"
    )
    as_user(api, other_user)  # a student of another school: the group is not offered
    assert api.post("/api/v1/elective-choices/", body, format="json").status_code == 404

    choice = choose_elective(
        actor=cast.student, group=group, standard=Standard.objects.get(pk=body["standard"])
    )
    for persona in ("teacher_elsewhere", "other_student"):
        as_user(api, cast.persona(persona))
        url = f"/api/v1/elective-choices/{choice.pk}/"
        assert api.get(url).status_code == 404
        assert api.post(url + "decide/", {"approve": True}, format="json").status_code == 404
        assert api.post(url + "withdraw/").status_code == 404
    as_user(api, cast.guardian)  # sees the choice, may not decide it
    assert api.get(f"/api/v1/elective-choices/{choice.pk}/").status_code == 200
    response = api.post(
        f"/api/v1/elective-choices/{choice.pk}/decide/", {"approve": True}, format="json"
    )
    assert response.status_code == 404
    assert ElectiveChoice.objects.get(pk=choice.pk).status == ChoiceStatus.PENDING


def test_student_withdraws_through_the_api(
    api: APIClient, cast: Cast, group: ElectiveGroup
) -> None:
    choice = choose_elective(
        actor=cast.student, group=group, standard=Standard.objects.get(identifier=uid(12))
    )
    as_user(api, cast.student)
    response = api.post(f"/api/v1/elective-choices/{choice.pk}/withdraw/")
    assert response.status_code == 200
    assert response.json()["status"] == ChoiceStatus.WITHDRAWN
    again = api.post(f"/api/v1/elective-choices/{choice.pk}/withdraw/")
    assert again.status_code == 400


def test_openapi_schema_lists_the_standards_endpoints(api: APIClient, cast: Cast) -> None:
    as_user(api, cast.teacher)
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for path in (
        "/api/v1/frameworks/",
        "/api/v1/frameworks/import/",
        "/api/v1/standards/",
        "/api/v1/scales/effective/",
        "/api/v1/policies/effective/",
        "/api/v1/requirements/effective/",
        "/api/v1/elective-choices/{id}/decide/",
    ):
        assert path in paths
