"""Common tasks (shared, results recorded the normal way, rounds drawn from one task) and the
rounds API end to end (start, detail with agreement, close by adoption)."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from evidence.models import Rating
from evidence.services import RatingEntry
from moderation import selectors, services
from moderation.models import CommonTask, CommonTaskEvidence
from tests.moderation.world import District


def _task(district: District) -> CommonTask:
    today = timezone.localdate()
    return services.create_common_task(
        actor=district.district_admin,
        organisation=district.district,
        title="Counting jars",
        prompt="Estimate, then count, the beans in the jar.",
        standards=[district.standards.counting],
        opens_on=today - datetime.timedelta(days=5),
        closes_on=today + datetime.timedelta(days=5),
        level_descriptions={Decimal(3): "Counts every bean, checks by tens.", Decimal(1): ""},
    )


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_a_task_is_shared_down_the_tree_and_only_there(district: District) -> None:
    task = _task(district)
    assert list(task.levels.values_list("points", "label")) == [(Decimal(3), "Proficient")]
    for teacher in district.teachers():
        assert selectors.visible_tasks(teacher).filter(pk=task.pk).exists()
    hill_task = services.create_common_task(
        actor=district.hill_admin,
        organisation=district.hill,
        title="Hill only",
        prompt="A hill task.",
        standards=[district.standards.adding],
        opens_on=timezone.localdate(),
        closes_on=timezone.localdate(),
    )
    assert not selectors.visible_tasks(district.t_b1).filter(pk=hill_task.pk).exists()
    assert selectors.visible_tasks(district.t_a2).filter(pk=hill_task.pk).exists()
    student = district.canary.user
    assert not selectors.visible_tasks(student).exists()
    with pytest.raises(PermissionDenied):
        services.create_common_task(
            actor=district.hill_admin,
            organisation=district.district,
            title="Not mine",
            prompt="x",
            standards=[district.standards.adding],
            opens_on=timezone.localdate(),
            closes_on=timezone.localdate(),
        )
    with pytest.raises(ValidationError, match="closes before it opens"):
        services.create_common_task(
            actor=district.district_admin,
            organisation=district.district,
            title="Backwards",
            prompt="x",
            standards=[district.standards.adding],
            opens_on=timezone.localdate(),
            closes_on=timezone.localdate() - datetime.timedelta(days=1),
        )


def test_a_teacher_records_a_sections_results_and_a_round_draws_from_the_task(
    district: District,
) -> None:
    task = _task(district)
    client = _client(district.t_b1)
    page = client.get(reverse("moderation:task_detail", args=[task.pk]))
    assert page.status_code == 200
    url = reverse("moderation:task_results", args=[task.pk, district.b1.pk])
    assert url in page.content.decode()
    form = client.get(url)
    assert form.status_code == 200
    learners = district.learners[8:12]
    data = {"demonstrated_on": timezone.localdate().isoformat()}
    for learner, score in zip(learners, ["3", "2", "", "4"], strict=True):
        data[f"score_{learner.pk}_{district.standards.counting.pk}"] = score
    response = client.post(url, data)
    assert response.status_code == 302
    links = CommonTaskEvidence.objects.filter(task=task)
    assert links.count() == 3
    assert {link.evidence.title for link in links} == {"Counting jars"}
    assert (
        Rating.objects.filter(evidence__in=links.values("evidence"), source="teacher").count() == 3
    )
    # Outside the window, or a standard the task does not show: refused, nothing written.
    with pytest.raises(ValidationError, match="choose a day within it"):
        services.record_task_results(
            actor=district.t_b1,
            task=task,
            section=district.b1,
            demonstrated_at=timezone.localdate() - datetime.timedelta(days=30),
            entries=[RatingEntry(learners[0].pk, district.standards.counting.pk, "2")],
        )
    with pytest.raises(ValidationError, match="Not a standard of this task"):
        services.record_task_results(
            actor=district.t_b1,
            task=task,
            section=district.b1,
            demonstrated_at=timezone.localdate(),
            entries=[RatingEntry(learners[0].pk, district.standards.adding.pk, "2")],
        )
    # A teacher of another school's section cannot record for b1.
    assert _client(district.t_a1).get(url).status_code == 404
    # A round drawn from the task samples only its evidence.
    round_ = services.start_round(
        actor=district.district_admin,
        organisation=district.district,
        term=district.term,
        title="Jars",
        standards=[district.standards.counting],
        sample_size=10,
        seed=3,
        common_task=task,
    )
    assert round_.population == 3
    assert set(round_.items.values_list("evidence_id", flat=True)) == set(
        links.values_list("evidence_id", flat=True)
    )


def test_the_rounds_api_starts_shows_and_closes_a_round(district: District) -> None:
    admin = _client(district.district_admin)
    started = admin.post(
        "/api/v1/moderation/rounds/",
        {
            "title": "API round",
            "organisation": district.district.pk,
            "term": district.term.pk,
            "standards": [district.standards.counting.human_code],
            "sample_size": 4,
            "seed": 11,
        },
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    body = json.loads(started.content)
    assert (body["item_count"], body["seed"], body["status"]) == (4, 11, "open")
    round_id = body["id"]
    items = list(
        selectors.administered_rounds(district.district_admin).get(pk=round_id).items.all()
    )
    for item in items:
        reviewer = _client(item.reviewer)
        answer = reviewer.post(
            f"/api/v1/moderation/reviews/{item.pk}/rate/",
            {"score": "4"},
            content_type="application/json",
        )
        assert answer.status_code == 200
    detail = json.loads(admin.get(f"/api/v1/moderation/rounds/{round_id}/").content)
    assert detail["agreement"]["overall"]["pairs"] == 4
    assert detail["rated_count"] == 4
    refused = admin.post(
        f"/api/v1/moderation/rounds/{round_id}/close/",
        {"decision": "adopt"},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "reason" in json.loads(refused.content)
    closed = admin.post(
        f"/api/v1/moderation/rounds/{round_id}/close/",
        {"decision": "adopt", "reason": "Second looks agreed"},
        content_type="application/json",
    )
    assert closed.status_code == 200
    outcome = json.loads(closed.content)
    differing = sum(1 for item in items if item.rating.score != Decimal(4))
    assert len(outcome["adopted"]) == differing
    assert outcome["unchanged"] == 4 - differing
    assert outcome["round"]["status"] == "closed"
    # A school admin does not see the district's round; a teacher may not list rounds.
    assert (
        _client(district.hill_admin).get(f"/api/v1/moderation/rounds/{round_id}/").status_code
        == 404
    )
    assert _client(district.t_a1).get("/api/v1/moderation/rounds/").status_code == 403
    mine = json.loads(_client(items[0].reviewer).get("/api/v1/moderation/agreement/").content)
    assert mine["rounds"] == 1
    assert mine["group"]["pairs"] == 4
