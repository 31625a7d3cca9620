"""Every record carries the digest of the counted ratings it was computed from (ADR 8,
provenance): written by the per-pair recompute and the bulk recompute alike (a grouping's is the
wrapping sum of its children's), compared by ``verify_mastery`` (a record whose digest differs
is wrong), and a record kept without one (from before provenance) is stale like a record never
keyed: pages say it is being recomputed, and the sweep finds and repairs it."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client

from learners.models import Learner
from mastery import core, derive, selectors, services
from mastery.models import MasteryRecord, StaleMastery, SweepCursor
from mastery.policy import RulesCache, RulesKeys
from standards.models import Framework, Standard
from tests.mastery.helpers import T0, World, rate, remove
from tests.reports.world import expected_digest

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
WRAP = 1 << 64


def _settle() -> None:
    services.recompute_pairs(
        pairs=list(StaleMastery.objects.values_list("learner_id", "standard_id"))
    )


def _counted_digest(learner: Learner, standard: Standard) -> int:
    """The digest of the pair's counted ratings, computed here independently (unsigned)."""
    ratings = core.counted_ratings(learner_ids=[learner.pk], standard_ids=[standard.pk])
    return expected_digest([(r.pk, r.score) for r in ratings])


def _digests() -> dict[tuple[int, int], int | None]:
    return {(r.learner_id, r.standard_id): r.ratings_digest for r in MasteryRecord.objects.all()}


@pytest.fixture
def rated(world: World) -> World:
    first, second = world.learners
    rate(first, world.a, "2", rater=world.teacher, demonstrated_at=T0)
    wrong = rate(first, world.a, "1", rater=world.teacher, demonstrated_at=T0 + DAY)
    rate(first, world.a, "4", rater=world.teacher, supersedes=wrong)  # the correction counts
    gone = rate(first, world.b, "3", rater=world.teacher, demonstrated_at=T0)
    rate(first, world.b, "2.5", rater=world.teacher, demonstrated_at=T0 + DAY)
    remove(gone, by=world.teacher)
    rate(second, world.a, "3.25", rater=world.teacher, demonstrated_at=T0)
    _settle()
    return world


def test_the_recompute_writes_the_digest_of_the_counted_ratings(rated: World) -> None:
    digests = _digests()
    assert len(digests) == 5  # a, b and the domain of the first learner; a and the domain
    for learner in rated.learners:
        leaves = [s for s in (rated.a, rated.b) if (learner.pk, s.pk) in digests]
        for standard in leaves:
            stored = digests[(learner.pk, standard.pk)]
            assert stored is not None
            assert stored % WRAP == _counted_digest(learner, standard), standard.human_code
        # A grouping's is the sum of its children's (a child without a record gives 0).
        domain = digests[(learner.pk, rated.domain.pk)]
        assert domain is not None
        assert domain % WRAP == sum(_counted_digest(learner, s) for s in leaves) % WRAP
    # The digest moves with the counted ratings: a removal changes it.
    first = rated.learners[0]
    before = digests[(first.pk, rated.a.pk)]
    [latest] = core.counted_ratings(learner_ids=[first.pk], standard_ids=[rated.a.pk]).filter(
        score=4
    )
    remove(latest, by=rated.teacher)
    _settle()
    after = MasteryRecord.objects.get(learner=first, standard=rated.a).ratings_digest
    assert after is not None
    assert after != before
    assert after % WRAP == _counted_digest(first, rated.a)


def test_the_bulk_recompute_writes_the_same_digests_in_its_upsert(rated: World) -> None:
    single = _digests()
    MasteryRecord.objects.update(ratings_digest=None)
    job = services.start_bulk_recompute(
        actor=rated.teacher, organisation=rated.school, reason="organisation"
    )
    for batch in job.batches.all():
        services.run_bulk_batch(batch_id=batch.pk)
    assert _digests() == single
    assert selectors.verify_mastery().as_json() == {"checked": 5, "stale": 0, "wrong": 0}
    # Equal digests (and everything else): a second bulk recompute writes nothing.
    again = services.start_bulk_recompute(
        actor=rated.teacher, organisation=rated.school, reason="organisation"
    )
    for batch in again.batches.all():
        services.run_bulk_batch(batch_id=batch.pk)
    assert sum(b.records_written for b in again.batches.all()) == 0


def test_verify_counts_a_record_whose_digest_differs_as_wrong(rated: World) -> None:
    first = rated.learners[0]
    record = MasteryRecord.objects.get(learner=first, standard=rated.b)
    MasteryRecord.objects.filter(pk=record.pk).update(
        ratings_digest=derive.signed64((record.ratings_digest or 0) + 1)
    )
    report = selectors.verify_mastery()
    assert (report.stale, report.wrong, report.wrong_pairs) == (0, 1, [(first.pk, rated.b.pk)])
    # The recompute puts it right.
    services.recompute_mastery(learner_id=first.pk, standard_id=rated.b.pk, force=True)
    assert selectors.verify_mastery().as_json()["wrong"] == 0


def _cursor_of_the_version_before() -> int:
    """The rules cursor as the sweep before digests left it after a clean scan: the digest of
    the keys in force alone (no scan version)."""
    keys = RulesKeys(RulesCache())
    schools = sorted(set(Learner.objects.values_list("school_id", flat=True)))
    frameworks = list(Framework.objects.order_by("pk").values_list("pk", flat=True))
    rows = [
        (school, framework, keys.current(school, framework, False),
         keys.current(school, framework, True))
        for school in schools
        for framework in frameworks
    ]  # fmt: skip
    return derive.summary_key({"keys": rows})


def test_records_kept_without_a_digest_are_stale_until_the_sweep_repairs_them(
    rated: World,
) -> None:
    digests = _digests()
    assert services.sweep_stale_mastery().marked == 0  # a clean scan
    # As the records stood before digests were written, with the cursor that version left.
    MasteryRecord.objects.update(ratings_digest=None)
    SweepCursor.objects.filter(name=services.RULES_CURSOR).update(
        last_id=_cursor_of_the_version_before()
    )
    report = selectors.verify_mastery()
    assert (report.checked, report.stale, report.wrong) == (5, 5, 0)
    client = Client()
    client.force_login(rated.teacher)
    record = MasteryRecord.objects.get(learner=rated.learners[0], standard=rated.a)
    page = client.get(f"/mastery/records/{record.pk}/").content.decode()
    assert "Up to date with every counted rating." not in page
    # The first sweep after the upgrade scans although the rules did not change, and marks them.
    assert services.sweep_stale_mastery().marked == 5
    _settle()
    assert _digests() == digests
    assert selectors.verify_mastery().as_json() == {"checked": 5, "stale": 0, "wrong": 0}
    page = client.get(f"/mastery/records/{record.pk}/").content.decode()
    assert "Up to date with every counted rating." in page
    assert services.sweep_stale_mastery().marked == 0
