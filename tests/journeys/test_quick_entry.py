"""Quick entry in the teacher's journey (the evidence app's page, improved) and the review queue
with each submission's files, reflection and self-ratings."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import Evidence, Rating
from mastery.models import StaleMastery
from standards.models import Priority
from tests.journeys.helpers import make_tree, require
from tests.personas import Cast

pytestmark = pytest.mark.django_db

YESTERDAY = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _entry(**extra: object) -> dict[str, object]:
    return {
        "score": "3",
        "title": "Fractions warm-up",
        "kind": "observation",
        "setting": "in_school",
        "demonstrated_on": YESTERDAY,
        "description": "",
        **extra,
    }


def test_quick_entry_offers_the_sections_standards_and_preselects_from_the_grid(
    cast: Cast,
) -> None:
    tree = make_tree(domains=1, per_domain=2)
    require(cast.school, cast.term, tree.standards, priority=Priority.POWER)
    url = reverse("evidence:record_ratings", args=[cast.section.pk])
    page = (
        _client(cast.teacher)
        .get(f"{url}?learner={cast.own.pk}&standard={tree.standards[1].pk}&next=/x/")
        .content.decode()
    )
    assert f"{tree.standards[0].human_code}: Statement 1" in page
    assert f'value="{tree.standards[1].pk}" id="id_section_standards_1" checked' in page
    assert f'value="{cast.own.pk}" id="id_learners_0" checked' in page
    assert 'name="next" value="/x/"' in page
    assert "<legend>Level for every ticked learner</legend>" in page


def test_one_submit_rates_every_learner_on_every_ticked_standard_and_returns_to_the_grid(
    cast: Cast,
) -> None:
    tree = make_tree(domains=2, per_domain=3)
    require(cast.school, cast.term, tree.standards)
    grid = reverse("mastery:section_grid", args=[cast.section.pk])
    response = _client(cast.teacher).post(
        reverse("evidence:record_ratings", args=[cast.section.pk]),
        _entry(
            all_learners="on",
            section_standards=[s.pk for s in tree.standards],
            standards=tree.standards[0].human_code,  # typed too: counted once
            next=f"{grid}?power=on",
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == f"{grid}?power=on"
    assert Rating.objects.count() == 12  # 2 learners x 6 standards, one evidence each
    assert Evidence.objects.filter(section=cast.section, title="Fractions warm-up").count() == 2
    assert StaleMastery.objects.count() == 12


def test_quick_entry_never_redirects_to_another_site(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=1)
    url = reverse("evidence:record_ratings", args=[cast.section.pk])
    response = _client(cast.teacher).post(
        url,
        _entry(
            learners=[cast.own.pk],
            section_standards=[],
            standards=tree.standards[0].human_code,
            next="https://evil.example/",
        ),
    )
    assert response["Location"] == url


def test_quick_entry_needs_a_learner_and_a_standard_and_writes_nothing_without(
    cast: Cast,
) -> None:
    response = _client(cast.teacher).post(
        reverse("evidence:record_ratings", args=[cast.section.pk]), _entry()
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose at least one learner, or every learner." in page
    assert "Choose at least one standard, or type its code." in page
    assert not Rating.objects.exists()


def test_a_standard_of_another_section_cannot_be_ticked(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=2)
    require(cast.school, cast.term, tree.standards[:1])
    response = _client(cast.teacher).post(
        reverse("evidence:record_ratings", args=[cast.section.pk]),
        _entry(learners=[cast.own.pk], section_standards=[tree.standards[1].pk]),
    )
    assert response.status_code == 200
    assert "is not one of the available choices" in response.content.decode()
    assert not Rating.objects.exists()


def test_the_review_queue_shows_each_submissions_file_reflection_and_self_ratings(
    cast: Cast,
) -> None:
    tree = make_tree(domains=1, per_domain=1)
    evidence_services.submit_evidence(
        actor=cast.student,
        kind="project",
        title="Bridge model",
        description="I built a bridge.",
        demonstrated_at=timezone.now() - datetime.timedelta(days=1),
        reflection=evidence_services.ReflectionInput(what_i_learned="Triangles are strong."),
        self_scores={tree.standards[0].pk: "3"},
        files=[SimpleUploadedFile("bridge.txt", b"span 30 cm\n", content_type="text/plain")],
    )
    page = _client(cast.teacher).get(reverse("evidence:review_queue")).content.decode()
    assert "Bridge model" in page
    assert "Download bridge.txt" in page
    assert "Triangles are strong." in page
    assert f"{tree.standards[0].human_code} 3" in page
    assert "Review and score Bridge model" in page
    elsewhere = _client(cast.teacher_elsewhere).get(reverse("evidence:review_queue"))
    assert "Bridge model" not in elsewhere.content.decode()


def _submit(cast: Cast, title: str, standard: object, section: object = None) -> Evidence:
    return evidence_services.submit_evidence(
        actor=cast.student,
        kind="project",
        title=title,
        description="My work.",
        demonstrated_at=timezone.now() - datetime.timedelta(days=1),
        section=section,
        self_scores={standard.pk: "3"},  # type: ignore[attr-defined]
    )


def test_the_review_queue_narrows_to_a_section_and_pages(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=1)
    _submit(cast, "In Maths 5A", tree.standards[0], cast.section)
    _submit(cast, "No class named", tree.standards[0])
    client = _client(cast.teacher)
    url = reverse("evidence:review_queue")
    every = client.get(url).content.decode()
    assert "In Maths 5A" in every
    assert "No class named" in every
    narrowed = client.get(url, {"section": cast.section.pk}).content.decode()
    assert "2 submissions waiting in Maths 5A." in narrowed  # the learner is in Maths 5A
    elsewhere = _client(cast.school_admin).get(url, {"section": cast.other_section.pk})
    assert "Nothing to review in Science 5B." in elsewhere.content.decode()


def test_ticked_submissions_are_scored_at_their_self_ratings_or_returned_in_one_go(
    cast: Cast,
) -> None:
    tree = make_tree(domains=1, per_domain=1)
    first = _submit(cast, "Bridge", tree.standards[0], cast.section)
    second = _submit(cast, "Tower", tree.standards[0], cast.section)
    client = _client(cast.teacher)
    scored = client.post(
        reverse("evidence:review_bulk"),
        {"evidence": [first.pk], "action": "score", "comment": "Agreed."},
        follow=True,
    )
    assert "Scored 1 submission." in scored.content.decode()
    rating = Rating.objects.get(evidence=first, source="teacher")
    assert (rating.standard_id, int(rating.score)) == (tree.standards[0].pk, 3)
    returned = client.post(
        reverse("evidence:review_bulk"),
        {"evidence": [second.pk, first.pk], "action": "return", "comment": "Add a photo."},
        follow=True,
    )
    assert "Returned 1 submission." in returned.content.decode()  # the first was scored
    nothing = client.post(reverse("evidence:review_bulk"), {"action": "return"}, follow=True)
    assert "Tick at least one submission." in nothing.content.decode()
    outsider = _client(cast.teacher_elsewhere).post(
        reverse("evidence:review_bulk"), {"evidence": [second.pk], "action": "score"}, follow=True
    )
    assert "None of the ticked submissions is waiting for a review." in (outsider.content.decode())
