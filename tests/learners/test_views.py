"""The learners pages: who is allowed, who is refused, and 404 outside scope."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from learners.models import LearnerProfile, Organisation, RosterImport
from tests.factories import AdminAssignmentFactory, LearnerProfileFactory, UserFactory
from tests.learners.rosters import BAD_ROWS, VALID, zip_roster
from tests.personas import PERSONA_NAMES, Cast

pytestmark = pytest.mark.django_db


def login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


# --- My sections ----------------------------------------------------------------------------------

SECTION_LIST_STATUS = {name: 403 for name in PERSONA_NAMES} | {
    "teacher": 200,
    "co_teacher": 200,
    "teacher_elsewhere": 200,
    "other_district_teacher": 200,
    "school_admin": 200,
    "district_admin": 200,
    "state_admin": 200,
    "teacher_guardian": 200,
    "teacher_admin": 200,
}


# An inactive login cannot sign in at all: see test_a_deactivated_login_is_refused_...
SIGNED_IN = [name for name in PERSONA_NAMES if name != "deactivated_teacher"]


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_my_sections_is_for_current_teachers_and_admins(
    client: Client, cast: Cast, persona: str
) -> None:
    response = login(client, cast.persona(persona)).get(reverse("learners:section_list"))
    assert response.status_code == SECTION_LIST_STATUS[persona]


def test_my_sections_lists_only_the_teachers_sections_with_learner_counts(
    client: Client, cast: Cast
) -> None:
    response = login(client, cast.teacher).get(reverse("learners:section_list"))
    assert [s.title for s in response.context["sections"]] == ["Maths 5A"]
    assert response.context["sections"][0].learner_count == 2
    html = response.content.decode()
    assert "Maths 5A" in html
    assert "Science 5B" not in html


def test_anonymous_users_are_sent_to_login(client: Client, cast: Cast) -> None:
    for name in ("section_list", "learner_list", "my_profile", "roster_import"):
        response = client.get(reverse(f"learners:{name}"))
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_a_deactivated_login_is_refused_on_its_next_request(client: Client, cast: Cast) -> None:
    login(client, cast.teacher)
    assert client.get(reverse("learners:section_list")).status_code == 200
    User.objects.filter(pk=cast.teacher.pk).update(is_active=False)
    assert client.get(reverse("learners:section_list")).status_code == 302


def test_a_teacher_whose_assignment_ends_today_loses_the_section_tomorrow(
    client: Client, cast: Cast
) -> None:
    today = datetime.date.today()
    assignment = cast.teacher.role_assignments.get()
    assignment.end_date = today
    assignment.save()
    url = reverse("learners:section_detail", args=[cast.section.pk])
    login(client, cast.teacher)
    assert client.get(url).status_code == 200
    with time_machine.travel(today + datetime.timedelta(days=1, hours=12), tick=False):
        # A fresh sign-in tomorrow: the idle timeout would end yesterday's session anyway, and
        # the rule under test is the assignment's end date, not the session's age.
        login(client, cast.teacher)
        assert client.get(url).status_code == 404
        assert client.get(reverse("learners:section_list")).status_code == 403


# --- section detail -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "target", "status"),
    [
        ("teacher", "section", 200),
        ("co_teacher", "section", 200),
        ("teacher", "other_section", 404),
        ("teacher", "school_section", 404),
        ("teacher_elsewhere", "section", 404),
        ("student", "section", 404),
        ("guardian", "section", 404),
        ("teacher_guardian", "school_section", 404),
        ("teacher_guardian", "other_section", 200),
        ("ended_teacher", "section", 404),
        ("school_admin", "other_section", 200),
        ("school_admin", "school_section", 404),
        ("district_admin", "school_section", 200),
        ("district_admin", "district_section", 404),
        ("state_admin", "district_section", 200),
        ("teacher_admin", "district_section", 200),
        ("outsider", "section", 404),
    ],
)
def test_section_page_answers_404_outside_scope(
    client: Client, cast: Cast, persona: str, target: str, status: int
) -> None:
    section = getattr(cast, target)
    response = login(client, cast.persona(persona)).get(
        reverse("learners:section_detail", args=[section.pk])
    )
    assert response.status_code == status


def test_section_page_lists_current_learners_only(client: Client, cast: Cast) -> None:
    response = login(client, cast.teacher).get(
        reverse("learners:section_detail", args=[cast.section.pk])
    )
    assert {learner.given_name for learner in response.context["roster"]} == {"Ada", "Ben"}
    # The page's words only: a random CSRF token or nonce may hold the letters "Cy".
    words = re.sub(r'"[^"]*"', '""', response.content.decode())
    assert re.search(r"\bCy\b", words) is None
    assert {t.username for t in response.context["teachers"]} == {"teacher", "co_teacher"}


def test_a_missing_section_answers_404(client: Client, cast: Cast) -> None:
    response = login(client, cast.state_admin).get("/learners/sections/999999999/")
    assert response.status_code == 404


# --- learners -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "names"),
    [
        ("teacher", {"Ada", "Ben"}),
        ("guardian", {"Ada"}),
        ("student", {"Ada"}),
        ("teacher_guardian", {"Di", "Ed"}),
        ("school_admin", {"Ada", "Ben", "Cy", "Di"}),
        ("ended_teacher", set()),
        ("outsider", set()),
    ],
)
def test_learner_list_shows_exactly_the_visible_learners(
    client: Client, cast: Cast, persona: str, names: set[str]
) -> None:
    response = login(client, cast.persona(persona)).get(reverse("learners:learner_list"))
    assert response.status_code == 200
    assert {learner.given_name for learner in response.context["page"].object_list} == names


def test_learner_search_stays_within_scope(client: Client, cast: Cast) -> None:
    login(client, cast.teacher)
    found = client.get(reverse("learners:learner_list"), {"q": "Ben"}).context["page"]
    assert [learner.given_name for learner in found.object_list] == ["Ben"]
    outside = client.get(reverse("learners:learner_list"), {"q": "Fay"}).context["page"]
    assert list(outside.object_list) == []
    by_id = client.get(reverse("learners:learner_list"), {"q": cast.own.local_id})
    assert [learner.pk for learner in by_id.context["page"].object_list] == [cast.own.pk]


@pytest.mark.parametrize(
    ("persona", "target", "status"),
    [
        ("teacher", "own", 200),
        ("teacher", "same_section", 200),
        ("teacher", "former", 404),
        ("teacher", "other_section_learner", 404),
        ("teacher", "other_school_learner", 404),
        ("co_teacher", "own", 200),
        ("teacher_elsewhere", "own", 404),
        ("student", "own", 200),
        ("student", "same_section", 404),
        ("other_student", "own", 404),
        ("guardian", "own", 200),
        ("guardian", "same_section", 404),
        ("teacher_guardian", "other_school_learner", 200),
        ("teacher_guardian", "other_school_peer", 404),
        ("ended_teacher", "own", 404),
        ("school_admin", "former", 200),
        ("school_admin", "other_school_learner", 404),
        ("district_admin", "other_school_peer", 200),
        ("district_admin", "other_district_learner", 404),
        ("state_admin", "other_district_learner", 200),
        ("state_admin", "other_state_learner", 404),
        ("outsider", "own", 404),
    ],
)
def test_learner_page_answers_404_outside_scope(
    client: Client, cast: Cast, persona: str, target: str, status: int
) -> None:
    learner = getattr(cast, target)
    response = login(client, cast.persona(persona)).get(
        reverse("learners:learner_detail", args=[learner.pk])
    )
    assert response.status_code == status


def test_learner_page_shows_the_profile_to_teachers_and_guardians(
    client: Client, cast: Cast
) -> None:
    LearnerProfileFactory(learner=cast.own, strengths="Patterns and puzzles")
    url = reverse("learners:learner_detail", args=[cast.own.pk])
    for persona in ("teacher", "guardian", "student"):
        assert (
            "Patterns and puzzles" in login(client, cast.persona(persona)).get(url).content.decode()
        )
    teacher_page = login(client, cast.teacher).get(url)
    assert teacher_page.context["can_edit_profile"] is False


# --- my profile -----------------------------------------------------------------------------------


def test_a_student_writes_their_profile(client: Client, cast: Cast) -> None:
    login(client, cast.student)
    response = client.post(
        reverse("learners:my_profile"),
        {
            "strengths": "Drawing",
            "interests": "Space",
            "how_i_learn_best": "With examples",
            "goals": "Long division",
        },
    )
    assert response.status_code == 302
    profile = LearnerProfile.objects.get(learner=cast.own)
    assert (profile.strengths, profile.goals, profile.updated_by) == (
        "Drawing",
        "Long division",
        cast.student,
    )


def test_a_profile_answer_too_long_is_refused_with_a_message(client: Client, cast: Cast) -> None:
    login(client, cast.student)
    response = client.post(reverse("learners:my_profile"), {"strengths": "x" * 5001})
    assert response.status_code == 200
    assert "at most 5000 characters" in response.content.decode()
    assert not LearnerProfile.objects.exists()


def test_profile_form_labels_every_input(client: Client, cast: Cast) -> None:
    html = login(client, cast.student).get(reverse("learners:my_profile")).content.decode()
    for field in ("strengths", "interests", "how_i_learn_best", "goals"):
        assert f'<label for="id_{field}">' in html


@pytest.mark.parametrize("persona", ["teacher", "guardian", "school_admin", "outsider"])
def test_only_a_student_has_a_profile_page(client: Client, cast: Cast, persona: str) -> None:
    response = login(client, cast.persona(persona)).post(
        reverse("learners:my_profile"), {"strengths": "not mine to write"}
    )
    assert response.status_code == 403
    assert not LearnerProfile.objects.exists()


# --- roster import page ---------------------------------------------------------------------------


def _upload(folder: Path, tmp_path: Path) -> SimpleUploadedFile:
    archive = zip_roster(folder, tmp_path / "roster.zip")
    return SimpleUploadedFile("roster.zip", archive.read_bytes(), "application/zip")


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("teacher", 403),
        ("student", 403),
        ("guardian", 403),
        ("outsider", 403),
        ("ended_teacher", 403),
        ("school_admin", 200),
        ("district_admin", 200),
        ("state_admin", 200),
        ("teacher_admin", 200),
    ],
)
def test_roster_import_page_is_for_admins(
    client: Client, cast: Cast, persona: str, status: int
) -> None:
    response = login(client, cast.persona(persona)).get(reverse("learners:roster_import"))
    assert response.status_code == status


def test_staff_flag_alone_does_not_open_the_roster_import(client: Client, cast: Cast) -> None:
    staff = UserFactory(username="staff_only", is_staff=True)
    assert login(client, staff).get(reverse("learners:roster_import")).status_code == 403


def test_a_superuser_uploads_a_roster_and_sees_the_counts(client: Client, tmp_path: Path) -> None:
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    response = login(client, root).post(
        reverse("learners:roster_import"), {"roster": _upload(VALID, tmp_path)}
    )
    assert response.status_code == 200
    assert response.context["result"].counts["users"].created == 13
    assert "Roster imported" in response.content.decode()
    assert RosterImport.objects.get().imported_by == root


def test_a_bad_upload_lists_every_bad_row_and_writes_nothing(
    client: Client, tmp_path: Path
) -> None:
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    before = Organisation.objects.count()
    response = login(client, root).post(
        reverse("learners:roster_import"), {"roster": _upload(BAD_ROWS, tmp_path)}
    )
    assert response.status_code == 400
    assert len(response.context["refused"].errors) == 6
    html = response.content.decode()
    assert "nothing was written" in html
    assert "No user has sourcedId &#x27;usr-ghost&#x27;." in html
    assert Organisation.objects.count() == before


def test_a_file_that_is_not_a_zip_gets_a_clear_error(client: Client, cast: Cast) -> None:
    upload = SimpleUploadedFile("roster.zip", b"not a zip at all", "application/zip")
    response = login(client, cast.district_admin).post(
        reverse("learners:roster_import"), {"roster": upload}
    )
    assert response.status_code == 400
    assert "Not a readable zip file" in response.content.decode()


def test_a_post_without_a_file_is_refused(client: Client, cast: Cast) -> None:
    response = login(client, cast.district_admin).post(reverse("learners:roster_import"), {})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_an_admin_upload_outside_their_organisations_is_refused_row_by_row(
    client: Client, tmp_path: Path
) -> None:
    elsewhere = UserFactory(username="far_admin")
    AdminAssignmentFactory(user=elsewhere)
    response = login(client, elsewhere).post(
        reverse("learners:roster_import"), {"roster": _upload(VALID, tmp_path)}
    )
    assert response.status_code == 400
    assert ("orgs.csv", 2, "parentSourcedId") in {
        (e.file, e.row, e.column) for e in response.context["refused"].errors
    }
    assert Organisation.objects.filter(sourced_id="org-st").count() == 0


def test_an_admin_sees_only_their_own_recent_imports(
    client: Client, cast: Cast, tmp_path: Path
) -> None:
    RosterImport.objects.create(imported_by=cast.school_admin, status="applied", source_name="a")
    RosterImport.objects.create(imported_by=cast.district_admin, status="applied", source_name="b")
    response = login(client, cast.school_admin).get(reverse("learners:roster_import"))
    assert [i.source_name for i in response.context["imports"]] == ["a"]


def test_roster_upload_form_labels_its_input(client: Client, cast: Cast) -> None:
    html = login(client, cast.school_admin).get(reverse("learners:roster_import")).content.decode()
    assert '<label for="id_roster">' in html


# --- navigation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "labels"),
    [
        (
            "teacher",
            [
                "Home",
                "My sections",
                "Learners",
                "Quick entry",
                "Review queue",
                "Moderation",
                "Standards",
                "Reports",
            ],
        ),
        (
            "student",
            [
                "Home",
                "My mastery",
                "Submit evidence",
                "My goals",
                "My profile",
                "Standards",
                "Reports",
            ],
        ),
        ("guardian", ["Home", "Learners", "Standards", "Reports"]),
        (
            "school_admin",
            [
                "Home",
                "My sections",
                "Learners",
                "Quick entry",
                "Review queue",
                "Moderation",
                "Standards",
                "Reports",
                "Settings",
                "Recomputes",
                "People and classes",
                "Roster import",
                "Privacy",
            ],
        ),
        (
            "teacher_guardian",
            [
                "Home",
                "My sections",
                "Learners",
                "Quick entry",
                "Review queue",
                "Moderation",
                "Standards",
                "Reports",
            ],
        ),
        ("ended_teacher", ["Home", "Standards", "Reports"]),
        ("outsider", ["Home", "Standards", "Reports"]),
    ],
)
def test_navigation_shows_what_the_roles_allow(
    client: Client, cast: Cast, persona: str, labels: list[str]
) -> None:
    response = login(client, cast.persona(persona)).get("/")
    assert [item.label for item in response.context["navigation"]] == labels
