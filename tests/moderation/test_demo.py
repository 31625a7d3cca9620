"""The demo seeds one common task with results, one finished moderation round and synthetic
demographics, so every moderation page has something to show; a second run adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from evidence import demo as evidence_demo
from learners.demo import seed_demo_district
from learners.models import DemographicsImport, LearnerDemographics
from moderation import demo
from moderation.models import CommonTask, ModerationItem, ModerationRating, ModerationRound

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_finished_round_and_a_common_task(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: object
) -> None:
    monkeypatch.setattr(evidence_demo, "CCSS_PACKAGE", tmp_path / "missing.json")
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]
    seed_demo_district(learners=120)
    evidence_demo.seed_evidence()
    outcome = demo.seed_moderation()
    assert "closed round" in outcome
    task = CommonTask.objects.get(title=demo.TASK_TITLE)
    assert task.evidence_links.count() > 0
    assert task.levels.count() == 4
    round_ = ModerationRound.objects.get(title=demo.ROUND_TITLE)
    assert (round_.status, round_.decision, round_.common_task_id) == ("closed", "keep", task.pk)
    pieces = ModerationItem.objects.filter(round=round_)
    assert pieces.count() == 20
    assert ModerationRating.objects.filter(item__round=round_).count() == 20
    assert DemographicsImport.objects.count() == 1
    assert LearnerDemographics.objects.count() == 120
    assert demo.seed_moderation() == "the demo round is already there"
    assert ModerationRound.objects.count() == 1
    # The pages have something to show to the demo logins.
    from django.contrib.auth.models import User

    admin = Client()
    admin.force_login(User.objects.get(username="districtadmin"))
    detail = admin.get(f"/moderation/rounds/{round_.pk}/").content.decode()
    assert "By pair of raters" in detail
    assert "Fraction strips" in admin.get("/moderation/tasks/").content.decode()
    reviewer = Client()
    reviewer.force_login(pieces.first().reviewer)  # type: ignore[union-attr]
    assert "Given" in reviewer.get("/moderation/reviews/").content.decode()
