"""The standards pages: what each persona may see and do, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

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
from standards.services import choose_elective, create_elective_group
from tests.personas import Cast, cast
from tests.standards.conftest import FIXTURES, SMALL_IDENTIFIER, uid

__all__ = ["cast"]


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def _scale_post(threshold: str = "3", colour: str = "#2e7d32") -> dict[str, str]:
    data = {"name": "Four levels", "mastery_threshold": threshold}
    for index, (points, label) in enumerate(
        [("4", "Advanced"), ("3", "Proficient"), ("2", "Developing"), ("1", "Beginning")]
    ):
        data.update(
            {
                f"points_{index}": points,
                f"label_{index}": label,
                f"colour_{index}": colour,
                f"cut_point_{index}": "",
                f"description_{index}": "",
            }
        )
    return data


def _requirements_url(cast: Cast) -> str:
    base = f"/standards/organisations/{cast.school.pk}/requirements/"
    return f"{base}?term={cast.term.pk}&grade_level=05"


# --- Browsing frameworks ------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_login(client: Client, db: None) -> None:
    response = client.get("/standards/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("persona", ["student", "guardian", "teacher", "outsider"])
def test_any_signed_in_user_browses_frameworks(
    client: Client, cast: Cast, small_framework: Framework, persona: str
) -> None:
    login(client, cast.persona(persona))
    listing = client.get("/standards/")
    assert listing.status_code == 200
    assert "Example Local Mathematics" in listing.content.decode()
    page = client.get(f"/standards/frameworks/{small_framework.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<code>NS.C.1</code>" in html
    assert "Count to 20 by ones." in html


def test_tree_search_finds_by_code_and_text_with_the_path(
    client: Client, cast: Cast, small_framework: Framework
) -> None:
    login(client, cast.teacher)
    by_code = client.get(f"/standards/frameworks/{small_framework.pk}/", {"q": "ns.c.2"})
    html = by_code.content.decode()
    assert "1 match</h2>" in html
    assert "<mark>Count to 100 by ones and by tens.</mark>" in html
    assert "Name two-dimensional shapes" not in html
    by_text = client.get(f"/standards/frameworks/{small_framework.pk}/", {"q": "SHAPES"})
    assert "<mark>Name two-dimensional shapes regardless of size.</mark>" in (
        by_text.content.decode()
    )
    by_grade = client.get(f"/standards/frameworks/{small_framework.pk}/", {"grade": "01"})
    assert "5 matches</h2>" in by_grade.content.decode()


def test_unknown_framework_answers_404(client: Client, cast: Cast) -> None:
    login(client, cast.teacher)
    assert client.get("/standards/frameworks/999999/").status_code == 404
    assert client.get("/standards/frameworks/999999/export/").status_code == 404


def test_export_downloads_a_case_package(
    client: Client, cast: Cast, small_framework: Framework
) -> None:
    response = login(client, cast.student).get(
        f"/standards/frameworks/{small_framework.pk}/export/"
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    package = json.loads(response.content)
    assert package["CFDocument"]["identifier"] == SMALL_IDENTIFIER
    assert len(package["CFItems"]) == 6


# --- Import page ---------------------------------------------------------------------------------


def _upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.mark.parametrize("persona", ["teacher", "student", "school_admin", "outsider"])
def test_import_page_is_for_state_and_district_admins(
    client: Client, cast: Cast, persona: str
) -> None:
    assert login(client, cast.persona(persona)).get("/standards/import/").status_code == 403


def test_district_admin_imports_a_case_package_owned_by_their_district(
    client: Client, cast: Cast
) -> None:
    login(client, cast.district_admin)
    response = client.post(
        "/standards/import/",
        {
            "format": "case",
            "organisation": cast.district.pk,
            "file": _upload("small.json", (FIXTURES / "small_case_1_1.json").read_bytes()),
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Imported" in html
    assert "Example Local Mathematics" in html
    framework = Framework.objects.get(identifier=SMALL_IDENTIFIER)
    assert framework.organisation == cast.district
    assert framework.imported_by == cast.district_admin


def test_import_page_lists_every_problem_and_writes_nothing(
    client: Client, cast: Cast, small_package: dict[str, Any]
) -> None:
    small_package["CFItems"][1]["fullStatement"] = ""
    small_package["CFAssociations"][0]["destinationNodeURI"]["identifier"] = uid(12)
    login(client, cast.state_admin)
    response = client.post(
        "/standards/import/",
        {
            "format": "case",
            "organisation": cast.state.pk,
            "file": _upload("bad.json", json.dumps(small_package).encode()),
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The file was refused: 1 problem, nothing was written" in html
    assert "fullStatement" in html
    assert Framework.objects.count() == 0


def test_import_page_refuses_bad_json(client: Client, cast: Cast) -> None:
    login(client, cast.state_admin)
    response = client.post(
        "/standards/import/",
        {"format": "case", "organisation": cast.state.pk, "file": _upload("x.json", b"{oops")},
    )
    assert response.status_code == 400
    assert "is not valid JSON" in response.content.decode()


def test_import_csv_needs_identifier_and_title(client: Client, cast: Cast) -> None:
    login(client, cast.state_admin)
    data = (FIXTURES / "local_standards.csv").read_bytes()
    refused = client.post(
        "/standards/import/",
        {"format": "csv", "organisation": cast.state.pk, "file": _upload("l.csv", data)},
    )
    assert refused.status_code == 400
    assert Framework.objects.count() == 0
    accepted = client.post(
        "/standards/import/",
        {
            "format": "csv",
            "organisation": cast.state.pk,
            "identifier": "local-ela",
            "title": "Local ELA",
            "file": _upload("l.csv", data),
        },
    )
    assert accepted.status_code == 200
    assert Framework.objects.get(identifier="local-ela").standards.count() == 5


def test_admin_may_not_own_a_framework_for_another_organisation(client: Client, cast: Cast) -> None:
    login(client, cast.district_admin)
    response = client.post(
        "/standards/import/",
        {
            "format": "case",
            "organisation": cast.other_district.pk,
            "file": _upload("small.json", (FIXTURES / "small_case_1_1.json").read_bytes()),
        },
    )
    assert response.status_code == 400  # not one of the form's choices
    assert Framework.objects.count() == 0


def test_only_the_owner_may_reimport(
    client: Client, cast: Cast, small_framework: Framework
) -> None:
    Framework.objects.filter(pk=small_framework.pk).update(organisation=cast.district)
    data = (FIXTURES / "small_case_1_1.json").read_bytes()
    login(client, cast.teacher_admin)  # administers a school of the other district: no owner
    assert client.get("/standards/import/").status_code == 403
    login(client, cast.state_admin)  # administers the district's state: allowed
    response = client.post(
        "/standards/import/",
        {"format": "case", "organisation": cast.state.pk, "file": _upload("s.json", data)},
    )
    assert response.status_code == 200
    assert "6</td>" in response.content.decode()


def test_admin_elsewhere_cannot_reimport_another_owners_framework(
    client: Client, cast: Cast, small_framework: Framework
) -> None:
    Framework.objects.filter(pk=small_framework.pk).update(organisation=cast.other_state)
    login(client, cast.state_admin)
    response = client.post(
        "/standards/import/",
        {
            "format": "case",
            "organisation": cast.state.pk,
            "file": _upload("s.json", (FIXTURES / "small_case_1_1.json").read_bytes()),
        },
    )
    assert response.status_code == 403


# --- Settings pages ------------------------------------------------------------------------------


def test_settings_index_lists_administered_organisations(client: Client, cast: Cast) -> None:
    html = login(client, cast.district_admin).get("/standards/settings/").content.decode()
    assert "North District" in html
    assert "Hill School" in html
    assert "South District" not in html
    assert login(client, cast.teacher).get("/standards/settings/").status_code == 403


def test_scale_page_shows_the_inherited_scale_and_saves_the_own(client: Client, cast: Cast) -> None:
    login(client, cast.school_admin)
    page = client.get(f"/standards/organisations/{cast.school.pk}/scale/")
    assert page.status_code == 200
    assert "(the platform default)" in page.content.decode()
    saved = client.post(f"/standards/organisations/{cast.school.pk}/scale/", _scale_post())
    assert saved.status_code == 302
    assert ProficiencyScale.objects.get(organisation=cast.school).levels.count() == 4


def test_scale_page_lists_problems_and_writes_nothing(client: Client, cast: Cast) -> None:
    login(client, cast.school_admin)
    response = client.post(
        f"/standards/organisations/{cast.school.pk}/scale/", _scale_post(threshold="7")
    )
    assert response.status_code == 400
    assert "must lie within the levels" in response.content.decode()
    assert ProficiencyScale.objects.count() == 0


@pytest.mark.parametrize(
    ("persona", "target", "status"),
    [
        ("teacher", "school", 403),
        ("student", "school", 403),
        ("school_admin", "district", 403),
        ("school_admin", "other_school", 404),
        ("district_admin", "other_district", 404),
        ("outsider", "school", 404),
    ],
)
def test_scale_page_denials(
    client: Client, cast: Cast, persona: str, target: str, status: int
) -> None:
    login(client, cast.persona(persona))
    url = f"/standards/organisations/{getattr(cast, target).pk}/scale/"
    assert client.get(url).status_code == status
    assert client.post(url, _scale_post()).status_code == status
    assert client.post(url + "remove/").status_code == status
    assert ProficiencyScale.objects.count() == 0


def test_policy_page_saves_an_override_and_refuses_a_bad_weight(
    client: Client, cast: Cast, small_framework: Framework
) -> None:
    login(client, cast.district_admin)
    url = f"/standards/organisations/{cast.district.pk}/policy/frameworks/{small_framework.pk}/"
    bad = client.post(
        url,
        {
            "method": "decaying_average",
            "weight": "45",
            "min_evidence": "1",
            "rollup_rule": "all_mastered",
        },
    )
    assert bad.status_code == 400
    assert "must be from 50 to 99, got 45" in bad.content.decode()
    good = client.post(
        url,
        {
            "method": "decaying_average",
            "weight": "75",
            "min_evidence": "2",
            "rollup_rule": "share_mastered",
            "share": "0.5",
        },
    )
    assert good.status_code == 302
    policy = CalculationPolicy.objects.get(organisation=cast.district, framework=small_framework)
    assert (policy.params, policy.min_evidence, policy.rollup_params) == (
        {"weight": 75},
        2,
        {"share": 0.5},
    )
    assert client.post(url + "remove/").status_code == 302
    assert CalculationPolicy.objects.count() == 0


def test_a_method_ignores_the_parameters_it_does_not_take_so_a_preview_works_first_time(
    client: Client, cast: Cast
) -> None:
    login(client, cast.district_admin)
    url = f"/standards/organisations/{cast.district.pk}/policy/"
    page = client.get(url).content.decode()
    assert 'data-when="method=decaying_average weighted_average"' in page
    assert "In force: <strong>Decaying average (Weight of the newest score (%) 65)" in page
    # "highest" with the weight still filled in from the decaying average: no refusal.
    preview = client.post(
        url,
        {
            "method": "highest",
            "weight": "65",
            "min_evidence": "1",
            "rollup_rule": "all_mastered",
            "share": "0.5",
            "preview": "1",
        },
    )
    assert preview.status_code == 200
    assert "What-if preview" in preview.content.decode()
    saved = client.post(
        url,
        {"method": "highest", "weight": "65", "min_evidence": "1", "rollup_rule": "all_mastered"},
    )
    assert saved.status_code == 302
    policy = CalculationPolicy.objects.get(organisation=cast.district, framework=None)
    assert (policy.method, policy.params, policy.rollup_params) == ("highest", {}, {})


def test_roll_up_points_are_edited_by_code_against_the_framework(
    client: Client, cast: Cast, small_framework: Framework
) -> None:
    login(client, cast.district_admin)
    url = f"/standards/organisations/{cast.district.pk}/policy/frameworks/{small_framework.pk}/"
    points = {
        "method": "latest",
        "min_evidence": "1",
        "rollup_rule": "points",
        "points_required": "1",
        "points": "NS.C.1 2\nNOPE 1",
        "required": "NS.C.1",
    }
    refused = client.post(url, points)
    assert refused.status_code == 400
    assert "No standard has the code NOPE in this framework." in refused.content.decode()
    # Every grouping's children can reach the points needed: NS > NS.C > NS.C.1, NS.C.2; G > G.1.
    saved = client.post(url, {**points, "points": "NS.C 1\nNS.C.1 2\nNS.C.2 1\ng.1 1"})
    assert saved.status_code == 302
    policy = CalculationPolicy.objects.get(organisation=cast.district, framework=small_framework)
    by_code = {s.human_code: s.pk for s in Standard.objects.filter(framework=small_framework)}
    assert policy.rollup_params == {
        "points_required": 1,
        "points": {
            str(by_code["NS.C"]): 1,
            str(by_code["NS.C.1"]): 2,
            str(by_code["NS.C.2"]): 1,
            str(by_code["G.1"]): 1,
        },
        "required": [by_code["NS.C.1"]],
    }
    page = client.get(url).content.decode()
    shown = page.split('name="points"')[1].split(">", 1)[1].split("</textarea>")[0].split()
    assert sorted(zip(shown[::2], shown[1::2], strict=True)) == [
        ("G.1", "1"),
        ("NS.C", "1"),
        ("NS.C.1", "2"),
        ("NS.C.2", "1"),
    ]  # fmt: skip  (shown by code, never by id)


def test_requirements_are_ticked_in_the_frameworks_tree_for_the_grade(
    client: Client, cast: Cast, small_framework: Framework
) -> None:
    login(client, cast.school_admin)
    base = f"/standards/organisations/{cast.school.pk}/requirements/"
    url = f"{base}?term={cast.term.pk}&grade_level=KG&framework={small_framework.pk}"
    page = client.get(url).content.decode()
    assert 'name="add-picked"' in page
    assert "NS.C.2" not in page  # grade 01 only
    assert page.count('id="id_add-framework"') == 1
    assert page.count('id="id_framework"') == 1  # the two forms no longer share element ids
    ns1 = Standard.objects.get(framework=small_framework, human_code="NS.C.1")
    added = client.post(
        url,
        {
            "add_requirement": "1",
            "add-framework": small_framework.pk,
            "add-picked": [ns1.pk],
            "add-codes": "",
            "add-priority": "supporting",
        },
    )
    assert added.status_code == 302
    assert list(Requirement.objects.values_list("standard__human_code", flat=True)) == ["NS.C.1"]


@pytest.mark.parametrize(
    ("persona", "target", "status"),
    [
        ("teacher", "school", 403),
        ("guardian", "school", 403),
        ("school_admin", "other_school", 404),
        ("outsider", "school", 404),
    ],
)
def test_policy_page_denials(
    client: Client, cast: Cast, persona: str, target: str, status: int
) -> None:
    login(client, cast.persona(persona))
    url = f"/standards/organisations/{getattr(cast, target).pk}/policy/"
    assert client.get(url).status_code == status
    assert client.post(url, {"method": "latest", "min_evidence": "1"}).status_code == status


def test_requirements_page_adds_by_code_and_removes(
    client: Client, cast: Cast, small_framework: Framework
) -> None:
    login(client, cast.school_admin)
    url = _requirements_url(cast)
    assert client.get(url).status_code == 200
    missing = client.post(
        url,
        {
            "add_requirement": "1",
            "add-framework": small_framework.pk,
            "add-codes": "NS.C.1 NOPE",
            "add-priority": "power",
        },
    )
    assert missing.status_code == 400
    assert "No standard has the code NOPE in this framework." in missing.content.decode()
    assert Requirement.objects.count() == 0
    added = client.post(
        url,
        {
            "add_requirement": "1",
            "add-framework": small_framework.pk,
            "add-codes": "NS.C.1, G.1",
            "add-priority": "power",
        },
    )
    assert added.status_code == 302
    assert sorted(Requirement.objects.values_list("standard__human_code", flat=True)) == [
        "G.1",
        "NS.C.1",
    ]
    requirement = Requirement.objects.get(standard__human_code="G.1")
    removed = client.post(f"/standards/requirements/{requirement.pk}/remove/")
    assert removed.status_code == 302
    assert Requirement.objects.count() == 1


def test_requirements_page_creates_and_deletes_an_elective_group(
    client: Client, cast: Cast, small_framework: Framework
) -> None:
    login(client, cast.school_admin)
    url = _requirements_url(cast)
    response = client.post(
        url,
        {
            "add_group": "1",
            "group-title": "Pick one",
            "group-framework": small_framework.pk,
            "group-codes": "NS.C.1 NS.C.2 G.1",
            "group-choose": "1",
            "group-priority": "supporting",
        },
    )
    assert response.status_code == 302
    group = ElectiveGroup.objects.get()
    assert group.standards.count() == 3
    assert client.post(f"/standards/electives/{group.pk}/delete/").status_code == 302
    assert ElectiveGroup.objects.count() == 0


@pytest.mark.parametrize(
    ("persona", "status"), [("teacher", 403), ("school_admin", 404), ("other_student", 404)]
)
def test_removing_someone_elses_requirement_is_refused(
    client: Client, cast: Cast, small_framework: Framework, persona: str, status: int
) -> None:
    requirement = Requirement.objects.create(
        organisation=cast.school if persona == "teacher" else cast.district_school,
        term=cast.term,
        grade_level="05",
        standard=Standard.objects.get(identifier=uid(12)),
    )
    login(client, cast.persona(persona))
    assert client.post(f"/standards/requirements/{requirement.pk}/remove/").status_code == status
    assert Requirement.objects.count() == 1


# --- Electives -----------------------------------------------------------------------------------


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


def test_student_chooses_on_their_page_and_the_teacher_approves(
    client: Client, cast: Cast, group: ElectiveGroup
) -> None:
    shapes = Standard.objects.get(identifier=uid(21))
    login(client, cast.student)
    assert "Pick one" in client.get("/standards/electives/mine/").content.decode()
    chosen = client.post("/standards/electives/mine/", {"group": group.pk, "standard": shapes.pk})
    assert chosen.status_code == 302
    choice = ElectiveChoice.objects.get()
    assert choice.status == ChoiceStatus.PENDING

    login(client, cast.teacher)
    review = client.get("/standards/electives/review/")
    assert "G.1" in review.content.decode()
    decided = client.post(
        "/standards/electives/review/", {"choice": choice.pk, "decision": "approve", "note": ""}
    )
    assert decided.status_code == 302
    choice.refresh_from_db()
    assert choice.status == ChoiceStatus.APPROVED


def test_student_sees_the_limit_problem(client: Client, cast: Cast, group: ElectiveGroup) -> None:
    login(client, cast.student)
    for standard in group.standards.all():
        response = client.post(
            "/standards/electives/mine/", {"group": group.pk, "standard": standard.pk}
        )
    assert response.status_code == 400
    assert "you have already chosen 1 of this group" in response.content.decode()


@pytest.mark.parametrize("persona", ["teacher", "guardian", "outsider"])
def test_my_electives_is_for_students(client: Client, cast: Cast, persona: str) -> None:
    assert login(client, cast.persona(persona)).get("/standards/electives/mine/").status_code == 403


def test_other_student_cannot_withdraw_my_choice(
    client: Client, cast: Cast, group: ElectiveGroup
) -> None:
    choice = choose_elective(
        actor=cast.student, group=group, standard=Standard.objects.get(identifier=uid(12))
    )
    login(client, cast.other_student)
    response = client.post("/standards/electives/mine/", {"withdraw": choice.pk})
    assert response.status_code == 404
    choice.refresh_from_db()
    assert choice.status == ChoiceStatus.PENDING


@pytest.mark.parametrize("persona", ["teacher_elsewhere", "guardian", "student", "ended_teacher"])
def test_others_cannot_see_or_decide_a_choice(
    client: Client, cast: Cast, group: ElectiveGroup, persona: str
) -> None:
    choice = choose_elective(
        actor=cast.student, group=group, standard=Standard.objects.get(identifier=uid(12))
    )
    login(client, cast.persona(persona))
    assert "Pick one" not in client.get("/standards/electives/review/").content.decode()
    response = client.post(
        "/standards/electives/review/", {"choice": choice.pk, "decision": "approve"}
    )
    assert response.status_code == 404
    choice.refresh_from_db()
    assert choice.status == ChoiceStatus.PENDING


def test_a_district_administrator_reimporting_a_shared_framework_is_told_why_not(
    client: Client, cast: Cast, small_framework: Framework, small_package: dict[str, Any]
) -> None:
    login(client, cast.district_admin)
    response = client.post(
        "/standards/import/",
        {
            "format": "case",
            "organisation": cast.district.pk,
            "file": _upload("again.json", json.dumps(small_package).encode()),
        },
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert f"{small_framework.title} is shared by every school on the platform" in page
    assert "only the platform&#x27;s operator updates it" in page
    assert 'name="format"' in page  # the form stays, with the reason above it
