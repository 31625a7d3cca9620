"""Overrides (ADR 8): a teacher's professional judgement, with who and why, through the service
and the API. How an override moves the record is tested with the core (test_core_overrides)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from audit.models import AuditEntry
from mastery import services
from mastery.models import MasteryOverride, StaleMastery
from tests.evidence.conftest import Standards, make_standards
from tests.personas import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def standards(db: None) -> Standards:
    return make_standards(identifier="fw-overrides")


def _set(cast: Cast, standards: Standards, **kwargs: object) -> MasteryOverride:
    values: dict[str, object] = {
        "actor": cast.teacher,
        "learner": cast.own,
        "standard": standards.counting,
        "level": 4,
        "reason": "Explained it to the class, unprompted",
    }
    return services.set_override(**{**values, **kwargs})  # type: ignore[arg-type]


def test_an_override_keeps_its_level_reason_and_author_and_marks_the_pair(
    cast: Cast, standards: Standards
) -> None:
    override = _set(cast, standards)
    assert (override.score, override.set_by_id, override.cleared_at) == (
        Decimal(4), cast.teacher.pk, None
    )  # fmt: skip
    assert override.reason == "<p>Explained it to the class, unprompted</p>"
    assert StaleMastery.objects.filter(
        learner_id=cast.own.pk, standard_id=standards.counting.pk
    ).exists()
    entry = AuditEntry.objects.get(action="mastery.override.set")
    assert (entry.actor_id, entry.learner_id, entry.object_id) == (
        cast.teacher.pk, cast.own.pk, str(override.pk)
    )  # fmt: skip


def test_a_score_must_fall_in_the_level_given(cast: Cast, standards: Standards) -> None:
    assert _set(cast, standards, level=None, score="3.5").score == Decimal("3.5")
    with pytest.raises(ValidationError) as raised:
        _set(cast, standards, level=4, score="3.5")
    assert "Proficient, not Advanced" in str(raised.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"level": 7}, "level"),
        ({"level": None, "score": None}, "level"),
        ({"level": None, "score": "9"}, "score"),
        ({"level": None, "score": "2.555"}, "score"),
    ],
)
def test_bad_overrides_are_refused_naming_the_field(
    cast: Cast, standards: Standards, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        _set(cast, standards, **changes)
    assert field in raised.value.message_dict
    assert not MasteryOverride.objects.exists()


def test_groupings_and_retired_standards_are_not_overridden(
    cast: Cast, standards: Standards
) -> None:
    for standard in (standards.domain, standards.retired):
        with pytest.raises(ValidationError) as raised:
            _set(cast, standards, standard=standard)
        assert "standard" in raised.value.message_dict


@pytest.mark.parametrize("persona", ["teacher_elsewhere", "guardian", "student", "outsider"])
def test_only_who_may_change_the_learner_overrides(
    cast: Cast, standards: Standards, persona: str
) -> None:
    with pytest.raises(PermissionDenied):
        _set(cast, standards, actor=cast.persona(persona))
    override = _set(cast, standards)
    with pytest.raises(PermissionDenied):
        services.clear_override(actor=cast.persona(persona), override=override)


def test_a_new_override_clears_the_one_in_force_and_clearing_is_once(
    cast: Cast, standards: Standards
) -> None:
    first = _set(cast, standards)
    second = _set(cast, standards, actor=cast.co_teacher, level=2, reason="Moderated down")
    first.refresh_from_db()
    assert (first.cleared_by_id, first.clear_reason) == (
        cast.co_teacher.pk, "Replaced by a new override."
    )  # fmt: skip
    cleared = services.clear_override(actor=cast.teacher, override=second, reason="New evidence")
    assert (cleared.cleared_by_id, cleared.clear_reason) == (cast.teacher.pk, "<p>New evidence</p>")
    with pytest.raises(ValidationError):
        services.clear_override(actor=cast.teacher, override=second)
    assert AuditEntry.objects.filter(action="mastery.override.clear").count() == 2


def test_the_api_sets_lists_and_clears_overrides_with_who_and_why(
    cast: Cast, standards: Standards
) -> None:
    api = APIClient()
    api.force_authenticate(cast.teacher)
    made = api.post(
        "/api/v1/mastery/overrides/",
        {"learner": cast.own.pk, "standard": standards.counting.pk, "level": 4, "reason": "Seen"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert (body["score"], body["reason"], body["in_force"]) == ("4.0000", "<p>Seen</p>", True)
    assert body["set_by_name"] == cast.teacher.get_full_name()
    guardian = APIClient()
    guardian.force_authenticate(cast.guardian)
    listed = guardian.get(f"/api/v1/mastery/overrides/?learner={cast.own.pk}").json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]
    assert guardian.post(f"/api/v1/mastery/overrides/{body['id']}/clear/").status_code == 404
    cleared = api.post(
        f"/api/v1/mastery/overrides/{body['id']}/clear/", {"reason": "Re-assessed"}, format="json"
    )
    assert cleared.status_code == 200
    assert (cleared.json()["in_force"], cleared.json()["cleared_by"]) == (False, cast.teacher.pk)
    refused = api.post(
        "/api/v1/mastery/overrides/",
        {"learner": cast.own.pk, "standard": standards.counting.pk, "level": 4, "reason": ""},
        format="json",
    )
    assert refused.status_code == 400
    assert "reason" in refused.json()
