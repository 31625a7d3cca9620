"""The Django admin of the learners app is scoped to the admin's organisations."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from learners.models import Learner, Organisation, RoleAssignment
from tests.factories import UserFactory
from tests.personas import Cast

pytestmark = pytest.mark.django_db


def staff(user: User) -> User:
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.refresh_from_db()
    return user


def admin_client(client: Client, user: User) -> Client:
    client.force_login(staff(user))
    return client


def changelist_pks(client: Client, model: str) -> set[int]:
    response = client.get(f"/admin/learners/{model}/")
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].queryset}


def test_staff_flag_alone_grants_nothing_in_the_admin(client: Client, cast: Cast) -> None:
    client.force_login(UserFactory(username="staff_only", is_staff=True))
    assert client.get("/admin/learners/learner/").status_code == 403
    assert "learners" not in client.get("/admin/").content.decode().lower()


def test_a_staff_teacher_is_refused_the_learners_admin(client: Client, cast: Cast) -> None:
    assert admin_client(client, cast.teacher).get("/admin/learners/learner/").status_code == 403


def test_a_school_admin_sees_only_their_school_learners(client: Client, cast: Cast) -> None:
    pks = changelist_pks(admin_client(client, cast.school_admin), "learner")
    assert pks == {cast.own.pk, cast.same_section.pk, cast.former.pk, cast.other_section_learner.pk}


def test_a_district_admin_sees_their_district_organisations(client: Client, cast: Cast) -> None:
    pks = changelist_pks(admin_client(client, cast.district_admin), "organisation")
    assert pks == {cast.district.pk, cast.school.pk, cast.other_school.pk}


def test_scoped_changelists_for_sections_and_enrollments(client: Client, cast: Cast) -> None:
    client = admin_client(client, cast.school_admin)
    assert changelist_pks(client, "section") == {cast.section.pk, cast.other_section.pk}
    enrolled = changelist_pks(client, "enrollment")
    assert enrolled == set(cast.section.enrollments.values_list("pk", flat=True)) | set(
        cast.other_section.enrollments.values_list("pk", flat=True)
    )


def test_an_out_of_scope_learner_cannot_be_opened_or_changed(client: Client, cast: Cast) -> None:
    client = admin_client(client, cast.school_admin)
    url = f"/admin/learners/learner/{cast.other_school_learner.pk}/change/"
    assert client.get(url).status_code == 302  # Django admin: "does not exist", back to index
    response = client.post(url, {"given_name": "Hacked"})
    assert response.status_code == 302
    assert Learner.objects.get(pk=cast.other_school_learner.pk).given_name == "Ed"


def test_foreign_key_choices_are_limited_to_the_scope(client: Client, cast: Cast) -> None:
    response = admin_client(client, cast.school_admin).get("/admin/learners/learner/add/")
    field = response.context["adminform"].form.fields["school"]
    assert set(field.queryset) == {cast.school}


def test_an_admin_adds_a_learner_at_their_school_with_the_state_set(
    client: Client, cast: Cast
) -> None:
    response = admin_client(client, cast.school_admin).post(
        "/admin/learners/learner/add/",
        {
            "school": cast.school.pk,
            "given_name": "Nia",
            "family_name": "New",
            "local_id": "NEW-1",
            "state_student_id": "SSID-NEW-1",
            "grade_level": "05",
            "active": "on",
        },
    )
    assert response.status_code == 302
    learner = Learner.objects.get(local_id="NEW-1")
    assert learner.state == cast.state


def test_an_admin_cannot_add_a_learner_at_another_school(client: Client, cast: Cast) -> None:
    response = admin_client(client, cast.school_admin).post(
        "/admin/learners/learner/add/",
        {"school": cast.other_school.pk, "given_name": "Nia", "family_name": "New"},
    )
    assert response.status_code == 200
    assert "school" in response.context["adminform"].form.errors
    assert not Learner.objects.filter(given_name="Nia").exists()


def test_a_duplicate_state_student_id_is_refused_with_a_message(client: Client, cast: Cast) -> None:
    response = admin_client(client, cast.school_admin).post(
        "/admin/learners/learner/add/",
        {
            "school": cast.school.pk,
            "given_name": "Nia",
            "family_name": "New",
            "state_student_id": cast.other_school_learner.state_student_id,
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert "state_student_id" in response.context["adminform"].form.errors


def test_an_admin_cannot_grant_a_role_above_their_organisation(client: Client, cast: Cast) -> None:
    response = admin_client(client, cast.school_admin).post(
        "/admin/learners/roleassignment/add/",
        {"user": cast.outsider.pk, "kind": "district_admin", "organisation": cast.district.pk},
    )
    assert response.status_code == 200
    assert not RoleAssignment.objects.filter(user=cast.outsider).exists()


def test_an_admin_role_must_match_the_organisation_kind(client: Client, cast: Cast) -> None:
    response = admin_client(client, cast.district_admin).post(
        "/admin/learners/roleassignment/add/",
        {"user": cast.outsider.pk, "kind": "district_admin", "organisation": cast.school.pk},
    )
    assert response.status_code == 200
    assert "kind" in response.context["adminform"].form.errors


def test_a_school_admin_cannot_create_a_root_organisation(client: Client, cast: Cast) -> None:
    response = admin_client(client, cast.school_admin).post(
        "/admin/learners/organisation/add/", {"kind": "state", "name": "Rogue State"}
    )
    assert response.status_code == 200
    assert not Organisation.objects.filter(name="Rogue State").exists()


def test_a_superuser_sees_every_learner(client: Client, cast: Cast) -> None:
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(root)
    assert changelist_pks(client, "learner") == {learner.pk for learner in cast.all_learners()}


def test_the_learner_profile_is_read_only_in_the_admin(client: Client, cast: Cast) -> None:
    from tests.factories import LearnerProfileFactory

    profile = LearnerProfileFactory(learner=cast.own)
    client = admin_client(client, cast.school_admin)
    response = client.post(
        f"/admin/learners/learnerprofile/{profile.pk}/change/", {"strengths": "Overwritten"}
    )
    assert response.status_code == 403
    profile.refresh_from_db()
    assert profile.strengths == "I keep going when a problem is hard."
