"""The home page: one panel per role, with what needs the user, in a fixed number of queries."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from common.home import role_groups
from evidence import services as evidence_services
from mastery.home import admin_home, teacher_home
from standards.models import Priority
from tests.factories import EnrollmentFactory, LearnerFactory, SectionFactory
from tests.factories import TeacherAssignmentFactory as Teaches
from tests.journeys.helpers import make_tree, quick_entry, require, run_worker
from tests.personas import PERSONA_NAMES, Cast

pytestmark = pytest.mark.django_db

HEADINGS = {
    "teacher": ["Your sections"],
    "co_teacher": ["Your sections"],
    "teacher_elsewhere": ["Your sections"],
    "other_district_teacher": ["Your sections"],
    "student": ["Your learning"],
    "other_student": ["Your learning"],
    "guardian": ["Your children"],
    "school_admin": ["Setting up and running your organisation"],
    "district_admin": ["Setting up and running your organisation"],
    "state_admin": ["Setting up and running your organisation"],
    "teacher_guardian": ["Your sections", "Your children"],
    "teacher_admin": ["Your sections", "Setting up and running your organisation"],
    "outsider": [],
}


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.mark.parametrize("persona", [p for p in PERSONA_NAMES if p in HEADINGS])
def test_every_persona_gets_one_panel_per_role(shared_cast: Cast, persona: str) -> None:
    response = _client(shared_cast.persona(persona)).get(reverse("home"))
    assert response.status_code == 200
    assert [panel.title for panel in response.context["panels"]] == HEADINGS[persona]
    if not HEADINGS[persona]:
        assert "Your account has no role today" in response.content.decode()


def test_the_operator_counts_as_an_administrator() -> None:
    assert role_groups(frozenset(), superuser=True) == {"admin"}
    assert role_groups(frozenset({"teacher", "school_admin"})) == {"teacher", "admin"}


def test_a_teacher_sees_what_needs_attention_in_each_section(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=2)
    require(cast.school, cast.term, tree.standards[:1], priority=Priority.POWER)
    require(cast.school, cast.term, tree.standards[1:])
    # Ada masters the power standard; Ben has old evidence only and a submission waiting.
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards[:1], "4")
    quick_entry(
        cast.teacher,
        cast.section,
        [cast.same_section],
        tree.standards[1:],
        "2",
        when=timezone.now() - datetime.timedelta(days=30),
    )
    evidence_services.submit_evidence(
        actor=cast.other_student,
        kind="project",
        title="Fraction strips",
        description="Strips folded in halves and quarters.",
        demonstrated_at=timezone.now() - datetime.timedelta(days=20),
        section=cast.section,
    )
    run_worker()

    home = teacher_home(cast.teacher)

    assert [item.section.title for item in home.sections] == [cast.section.title]
    item = home.sections[0]
    assert item.learner_count == 2
    assert item.waiting == 1
    assert home.waiting_total == 1
    assert [lr.given_name for lr in item.quiet] == ["Ben"]
    assert item.power_standards == 1
    assert [lr.given_name for lr in item.power_open] == ["Ben"]
    page = _client(cast.teacher).get(reverse("home")).content.decode()
    assert "1 submission to review" in page
    assert "1 learner without evidence in the last 14 days" in page
    assert "1 learner with power standards not yet mastered" in page


def _home_queries(client: Client) -> int:
    client.get(reverse("home"))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("home")).status_code == 200
    return len(queries)


def test_the_teachers_home_runs_the_same_queries_for_more_sections_and_learners(
    cast: Cast,
) -> None:
    tree = make_tree(domains=1, per_domain=2)
    require(cast.school, cast.term, tree.standards[:1], priority=Priority.POWER)
    client = _client(cast.teacher)
    small = _home_queries(client)
    for _ in range(3):
        section = SectionFactory(school=cast.school, term=cast.term)
        Teaches(user=cast.teacher, section=section)
        for _ in range(4):
            EnrollmentFactory(learner=LearnerFactory(school=cast.school), section=section)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "3")
    large = _home_queries(client)
    assert len(teacher_home(cast.teacher).sections) == 4
    assert small == large


def test_an_administrator_sees_the_set_up_checklist_and_recent_work(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=1)
    home = admin_home(cast.school_admin)
    (checklist,) = home.checklists
    assert checklist.organisation == cast.school
    steps = {step.label: (step.done, step.status) for step in checklist.steps}
    assert steps["Proficiency scale"] == (False, "4 levels, the platform's default")
    assert steps["Requirements"] == (False, "No standard is required this term")
    assert steps["Roster"][0] is True
    require(cast.district, cast.term, tree.standards)
    steps = {step.label: step for step in admin_home(cast.school_admin).checklists[0].steps}
    assert steps["Requirements"].done
    page = _client(cast.school_admin).get(reverse("home")).content.decode()
    assert f"{cast.school.name}: set-up," in page
    assert "No report yet." in page
