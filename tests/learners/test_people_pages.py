"""People and classes: a school's administrators add and edit learners, sections, terms and
enrollments on pages, by name (no database id typed), validated, audited, through the
learners services. Who may use each page is in tests/security/test_matrix.py."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from learners.models import Enrollment, Learner, RoleAssignment, Section, Term
from learners.selectors import section_roster, today
from mastery.grid import list_section_grid
from tests.factories import LearnerFactory
from tests.personas import Cast

pytestmark = pytest.mark.django_db


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _learner(**extra: object) -> dict[str, object]:
    return {
        "school": "",
        "given_name": "Noor",
        "family_name": "Haddad",
        "preferred_name": "",
        "local_id": "N-501",
        "state_student_id": "",
        "grade_level": "05",
        **extra,
    }


def test_an_administrator_adds_a_learner_enrolled_in_a_section_who_appears_in_the_grid(
    cast: Cast,
) -> None:
    client = _client(cast.school_admin)
    page = client.get(reverse("learners:learner_add")).content.decode()
    assert "Maths 5A (Hill School, This term)" in page
    response = client.post(
        reverse("learners:learner_add"),
        _learner(school=cast.school.pk, sections=[cast.section.pk]),
    )
    assert response.status_code == 302
    learner = Learner.objects.get(local_id="N-501")
    assert (learner.school, learner.state, learner.grade_level) == (cast.school, cast.state, "05")
    assert learner in section_roster(cast.teacher, cast.section)
    grid = list_section_grid(cast.teacher, cast.section)
    assert "Noor" in [row.learner.given_name for row in grid.rows]
    # The request audit records the change (one audit mechanism for every page).
    assert AuditEntry.objects.filter(
        action="record.change", actor_id=cast.school_admin.pk, outcome="allowed"
    ).exists()


def test_a_learner_with_a_taken_local_id_is_refused_on_the_field_and_nothing_is_written(
    cast: Cast,
) -> None:
    client = _client(cast.school_admin)
    response = client.post(
        reverse("learners:learner_add"),
        _learner(school=cast.school.pk, local_id=cast.own.local_id, grade_level="05"),
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["local_id"] == ["Another learner at this school has this local id."]
    assert not Learner.objects.filter(given_name="Noor").exists()
    blank = client.post(reverse("learners:learner_add"), _learner(given_name=""))
    assert blank.context["form"].errors["given_name"] == ["This field is required."]
    assert "school" in blank.context["form"].errors


def test_an_administrator_edits_a_learner_and_a_teacher_may_not(cast: Cast) -> None:
    url = reverse("learners:learner_edit", args=[cast.same_section.pk])
    assert _client(cast.teacher).get(url).status_code == 403
    client = _client(cast.school_admin)
    response = client.post(
        url,
        _learner(
            given_name="Benedict",
            family_name=cast.same_section.family_name,
            local_id=cast.same_section.local_id,
            state_student_id=cast.same_section.state_student_id,
            active="on",
        ),
    )
    assert response.status_code == 302
    cast.same_section.refresh_from_db()
    assert (cast.same_section.given_name, cast.same_section.grade_level) == ("Benedict", "05")
    taken = client.post(
        url, _learner(local_id=cast.own.local_id, given_name="Ben", family_name="X")
    )
    assert taken.context["form"].errors["local_id"]


def test_a_section_is_added_with_its_teachers_then_learners_are_enrolled_by_name(
    cast: Cast,
) -> None:
    client = _client(cast.school_admin)
    response = client.post(
        reverse("learners:section_add"),
        {
            "school": cast.school.pk,
            "term": cast.term.pk,
            "title": "Maths 5C",
            "course_code": "M5",
            "section_code": "",
            "subject": "Mathematics",
            "grade_levels": ["05"],
            "teachers": cast.co_teacher.username,
        },
    )
    section = Section.objects.get(title="Maths 5C")
    assert response["Location"] == reverse("learners:section_enrollments", args=[section.pk])
    assert RoleAssignment.objects.filter(
        user=cast.co_teacher, section=section, kind="teacher"
    ).exists()
    enrollments = reverse("learners:section_enrollments", args=[section.pk])
    found = client.post(enrollments, {"enroll": "1", "learner": cast.own.display_name})
    assert found.status_code == 302
    assert cast.own in section_roster(cast.co_teacher, section)
    LearnerFactory(school=cast.school, given_name="Zed", family_name="Lee", local_id="S1")
    LearnerFactory(school=cast.school, given_name="Zed", family_name="Park", local_id="S2")
    ambiguous = client.post(enrollments, {"enroll": "1", "learner": "zed"})
    assert (
        "Several learners match “zed”: Zed Lee (S1); Zed Park (S2). Choose one from the list,"
        " or type more of its name." in ambiguous.content.decode()
    )
    assert client.post(enrollments, {"enroll": "1", "learner": "Zed Park (S2)"}).status_code == 302
    outside = client.post(
        enrollments, {"enroll": "1", "learner": cast.other_school_learner.display_name}
    )
    assert "No learner of yours matches" in outside.content.decode()
    unknown = client.post(
        reverse("learners:section_add"),
        {"school": cast.school.pk, "term": cast.term.pk, "title": "X", "teachers": "nobody"},
    )
    assert unknown.context["form"].errors["teachers"] == ["No active login is called nobody."]


def test_ending_an_enrollment_removes_the_learner_from_the_grid_from_today(cast: Cast) -> None:
    client = _client(cast.school_admin)
    enrollment = Enrollment.objects.get(learner=cast.same_section, section=cast.section)
    response = client.post(
        reverse("learners:section_enrollments", args=[cast.section.pk]), {"end": enrollment.pk}
    )
    assert response.status_code == 302
    enrollment.refresh_from_db()
    assert enrollment.end_date == today() - datetime.timedelta(days=1)
    assert cast.same_section not in section_roster(cast.teacher, cast.section)


def test_a_term_is_added_and_its_dates_checked(cast: Cast) -> None:
    client = _client(cast.district_admin)
    start = today()
    bad = client.post(
        reverse("learners:term_add"),
        {
            "organisation": cast.district.pk,
            "title": "Spring",
            "start_date": start.isoformat(),
            "end_date": (start - datetime.timedelta(days=1)).isoformat(),
        },
    )
    assert bad.context["form"].errors["end_date"] == ["The end date is before the start date."]
    good = client.post(
        reverse("learners:term_add"),
        {
            "organisation": cast.district.pk,
            "title": "Spring",
            "start_date": start.isoformat(),
            "end_date": (start + datetime.timedelta(days=90)).isoformat(),
        },
    )
    assert good.status_code == 302
    term = Term.objects.get(title="Spring")
    edit = client.post(
        reverse("learners:term_edit", args=[term.pk]),
        {
            "title": "Spring term",
            "start_date": start.isoformat(),
            "end_date": (start + datetime.timedelta(days=91)).isoformat(),
        },
    )
    assert edit.status_code == 302
    term.refresh_from_db()
    assert term.title == "Spring term"


def test_the_people_page_lists_sections_and_finds_learners_by_name_or_id(cast: Cast) -> None:
    client = _client(cast.school_admin)
    page = client.get(reverse("learners:people"), {"q": cast.own.local_id}).content.decode()
    assert "Learners of Maths 5A" in page
    assert f"Edit {cast.own.display_name}" in page
    assert f"Edit {cast.same_section.display_name}" not in page
