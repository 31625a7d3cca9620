"""The learners' and families' pages through the test client: plain words, their language,
pace, next steps, goals, settings, notifications; and who may use them."""

from __future__ import annotations

import datetime
import html
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from portal.models import Goal
from standards.models import Association, Priority
from tests.journeys.helpers import make_tree, quick_entry, require, run_worker
from tests.personas import Cast

pytestmark = pytest.mark.django_db

# Words of the engine no learner or parent should read (tests/portal/browser also uses these).
CODE_WORDS = (
    "decaying_average",
    "weighted_average",
    "min_evidence",
    "n_times",
    "power_law",
    "bkt",
    "p_known",
    "P(L)",
    "State: Scored",
    "Rating id",
    "rating id",
    "not_assessed",
    "insufficient_evidence",
    "calculation version",
    "None",
)
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def visible_text(page: str) -> str:
    body = page.split("<main", 1)[-1]
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def assert_plain(html: str) -> None:
    text = visible_text(html)
    for word in CODE_WORDS:
        at = text.find(word)
        assert at < 0, f"code word {word!r} on the page: ...{text[at - 80 : at + 80]}"
    assert not ISO_MOMENT.search(text), ISO_MOMENT.search(text)


@pytest.fixture
def world(shared_cast: Cast) -> tuple[Cast, list[object]]:
    cast = shared_cast
    tree = make_tree(domains=2, per_domain=2)
    require(cast.school, cast.term, tree.of_domain(0), priority=Priority.POWER)
    require(cast.school, cast.term, tree.of_domain(1))
    quick_entry(cast.teacher, cast.section, [cast.own], tree.of_domain(0)[:1], "4")
    quick_entry(cast.teacher, cast.section, [cast.own], tree.of_domain(0)[1:], "2")
    Association.objects.create(
        framework=tree.standards[0].framework,
        identifier="assoc-1",
        association_type="precedes",
        origin=tree.standards[0],
        origin_identifier=tree.standards[0].identifier,
        destination=tree.standards[2],
        destination_identifier=tree.standards[2].identifier,
    )
    submitted = evidence_services.submit_evidence(
        actor=cast.student, kind="project", title="Garden plot", description="Measured it.",
        demonstrated_at=timezone.now() - datetime.timedelta(days=1),
        self_scores={tree.standards[1].pk: "4"},
    )  # fmt: skip
    evidence_services.review_submission(
        actor=cast.teacher,
        evidence=submitted,
        decision="score",
        scores={tree.standards[1].pk: 2},
        comment="Check the units.",
    )
    run_worker()
    return cast, list(tree.standards)


def _get(user: object, url: str, **headers: str) -> str:
    client = Client(**headers)
    client.force_login(user)  # type: ignore[arg-type]
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def test_the_student_reads_their_progress_in_plain_words(world: tuple[Cast, list[object]]) -> None:
    cast, standards = world
    page = _get(cast.student, reverse("mastery:my_mastery"))
    assert_plain(page)
    text = visible_text(page)
    assert "You have mastered 1 of your 4 required standards this term." in text
    assert "Power standards (the most important ones): 1 of 2 mastered." in text
    assert "Advanced: your 1 piece of evidence comes to 4; mastered from 3." in text
    assert "Developing: your 2 pieces of evidence, newer ones counting more, come to 2" in text
    assert "Proficient (mastered) starts at 3" in text
    assert "You rated yourself Advanced." in text
    assert (
        "Self-ratings are on average 2 points higher than the teachers' scores (1 compared)."
        in text
    )
    assert "A power standard you have not mastered yet." in text
    assert f"Comes next after {standards[0].human_code}, which you mastered." in text  # type: ignore[attr-defined]


def test_the_guardian_reads_the_same_in_spanish_without_any_form(
    world: tuple[Cast, list[object]],
) -> None:
    cast, _standards = world
    page = _get(
        cast.guardian,
        reverse("mastery:learner_page", args=[cast.own.pk]),
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert_plain(page)
    assert '<html lang="es">' in page
    text = visible_text(page)
    assert "Esta página es de solo lectura." in text
    # About the child, never "you": the guardian did not master anything.
    name = cast.own.given_name
    assert f"Un estándar prioritario que {name} todavía no domina." in text
    assert f"Viene después de {_standards[0].human_code}, que {name} ya domina." in text  # type: ignore[attr-defined]
    assert "dominas" not in text
    assert "(comparaciones: 1)" in text
    assert re.findall(r'<form method="post" action="([^"]+)"', page) == [reverse("logout")]


def test_the_teacher_keeps_the_detailed_page(world: tuple[Cast, list[object]]) -> None:
    cast, _standards = world
    page = _get(cast.teacher, reverse("mastery:learner_page", args=[cast.own.pk]))
    assert "Self-rating" in page  # the teacher's table, with the self-ratings column
    assert "Self-ratings are on average 2 points higher than the teachers" in page


def test_the_homes_show_next_steps_and_pace(world: tuple[Cast, list[object]]) -> None:
    cast, _standards = world
    student = _get(cast.student, reverse("home"))
    assert_plain(student)
    assert "What to work on next" in student
    assert "Your work was scored: Garden plot" in student
    guardian = _get(cast.guardian, reverse("home"))
    assert_plain(guardian)
    assert cast.own.display_name in guardian


def test_a_student_sets_and_changes_a_goal(world: tuple[Cast, list[object]]) -> None:
    cast, standards = world
    client = Client()
    client.force_login(cast.student)
    code = standards[2].human_code  # type: ignore[attr-defined]
    response = client.post(
        reverse("portal:goals"),
        {"title": "Measure the garden", "standards": code, "target_date": "2027-03-01",
         "status": "working", "reflection": ""},
    )  # fmt: skip
    assert response.status_code == 302
    goal = Goal.objects.get(learner=cast.own)
    assert goal.standard_ids == [standards[2].pk]  # type: ignore[attr-defined]
    bad = client.post(
        reverse("portal:goals"), {"title": "x", "standards": "NOPE.1", "status": "working"}
    )
    assert bad.status_code == 400
    assert "NOPE.1" in bad.content.decode()
    response = client.post(
        reverse("portal:goal_edit", args=[goal.pk]),
        {"title": "Measure the garden", "standards": code, "status": "reached",
         "reflection": "Done with a tape."},
    )  # fmt: skip
    assert response.status_code == 302
    goal.refresh_from_db()
    assert (goal.status, goal.reflection) == ("reached", "Done with a tape.")
    other = Client()
    other.force_login(cast.other_student)
    assert other.get(reverse("portal:goal_edit", args=[goal.pk])).status_code == 404
    guardian = Client()
    guardian.force_login(cast.guardian)
    assert guardian.get(reverse("portal:goals")).status_code == 403
    page = guardian.get(reverse("mastery:learner_page", args=[cast.own.pk])).content.decode()
    assert "Measure the garden" in page


def test_settings_choose_the_language_of_every_page(world: tuple[Cast, list[object]]) -> None:
    cast, _standards = world
    client = Client()
    client.force_login(cast.guardian)
    response = client.post(
        reverse("portal:settings"),
        {"language": "es", "in_app_work": "on", "digests": [cast.own.pk]},
    )
    assert response.status_code == 302
    assert '<html lang="es">' in client.get(reverse("home")).content.decode()
    assert list(cast.guardian.digest_subscriptions.values_list("learner_id", flat=True)) == [
        cast.own.pk
    ]
    # The choice follows the person to their next sign-in, whatever their browser says.
    fresh = Client(HTTP_ACCEPT_LANGUAGE="en")
    fresh.force_login(cast.guardian)
    assert '<html lang="es">' in fresh.get(reverse("home")).content.decode()


def test_notifications_are_listed_and_marked_read(world: tuple[Cast, list[object]]) -> None:
    cast, _standards = world
    client = Client()
    client.force_login(cast.student)
    page = client.get(reverse("portal:notifications")).content.decode()
    assert "Your work was scored: Garden plot" in page
    assert "New:" in page
    client.post(reverse("portal:notifications"))
    assert "New:" not in client.get(reverse("portal:notifications")).content.decode()
