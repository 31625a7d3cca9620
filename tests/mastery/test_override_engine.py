"""How an override moves the record (ADR 8): the per-pair recompute, the bulk recompute, verify
and "as of" all give the override's level (not an average with the ratings), with who and why;
clearing it (or, where the policy says so, newer evidence) gives the evidence back."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from mastery import selectors, services
from mastery.models import BulkRecompute, MasteryRecord, StaleMastery
from standards.models import CalculationPolicy
from tests.mastery.helpers import T0, World, rate

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def _settle() -> None:
    services.recompute_pairs(
        pairs=list(StaleMastery.objects.values_list("learner_id", "standard_id"))
    )


def _bulk(world: World) -> BulkRecompute:
    job = services.start_bulk_recompute(
        actor=world.teacher, organisation=world.school, reason="policy"
    )
    for batch in job.batches.order_by("number"):
        services.run_bulk_batch(batch_id=batch.pk)
    return job


def _record(world: World, learner_index: int = 0) -> MasteryRecord:
    return MasteryRecord.objects.get(learner=world.learners[learner_index], standard=world.a)


def _override(world: World, level: int = 4, learner_index: int = 0) -> services.MasteryOverride:
    return services.set_override(
        actor=world.teacher,
        learner=world.learners[learner_index],
        standard=world.a,
        level=level,
        reason="Explained it to the class, unprompted",
    )


def _key(record: MasteryRecord) -> tuple[object, ...]:
    return (record.state, record.score, record.level_points, record.mastered, record.evidence_count)


def _clean() -> None:
    report = selectors.verify_mastery()
    assert (report.stale, report.wrong) == (0, 0), report.as_json()


def test_an_override_of_4_reads_4_not_an_average_with_who_and_why(world: World) -> None:
    for score in ("2", "2", "3"):
        rate(world.learners[0], world.a, score, rater=world.teacher, demonstrated_at=T0)
    _settle()
    assert _record(world).level_points == Decimal(2)
    override = _override(world)
    _settle()
    record = _record(world)
    assert _key(record) == ("scored", Decimal(4), Decimal(4), True, 3)
    assert record.level_label == "Advanced"
    assert record.first_mastered_at == override.set_at
    told = record.explanation
    assert told["method"] == "override"
    assert told["override"]["set_by"] == world.teacher.get_full_name()
    assert "unprompted" in told["override"]["reason"]
    assert told["evidence_alone"]["level"] == "Developing"
    _clean()
    # The grouping above rolls the override up like any child's level.
    rate(world.learners[0], world.b, "4", rater=world.teacher, demonstrated_at=T0)
    _settle()
    assert MasteryRecord.objects.get(learner=world.learners[0], standard=world.domain).mastered
    _clean()


def test_the_bulk_recompute_gives_the_same_and_then_writes_nothing(world: World) -> None:
    rate(world.learners[0], world.a, "1", rater=world.teacher, demonstrated_at=T0)
    _override(world, level=4)
    _override(world, level=3, learner_index=1)  # no ratings at all
    _settle()
    per_pair = {(r.learner_id, r.standard_id): _key(r) for r in MasteryRecord.objects.all()}
    assert per_pair[(world.learners[1].pk, world.a.pk)] == (
        "scored",
        Decimal(3),
        Decimal(3),
        True,
        0,
    )
    MasteryRecord.objects.all().delete()
    job = _bulk(world)
    bulk = {(r.learner_id, r.standard_id): _key(r) for r in MasteryRecord.objects.all()}
    assert bulk == per_pair
    assert _record(world).explanation["override"]["level"] == "Advanced"
    _clean()
    again = _bulk(world)
    assert job.pk != again.pk
    assert sum(b.records_written for b in again.batches.all()) == 0


def test_verify_finds_an_override_that_was_not_applied_wrong(world: World) -> None:
    rate(world.learners[0], world.a, "1", rater=world.teacher, demonstrated_at=T0)
    _override(world)
    _settle()
    MasteryRecord.objects.filter(pk=_record(world).pk).update(
        score=Decimal(1), level_points=Decimal(1), level_label="Beginning", mastered=False
    )
    assert selectors.verify_mastery().wrong_pairs == [(world.learners[0].pk, world.a.pk)]


def test_clearing_gives_the_evidence_back(world: World) -> None:
    rate(world.learners[0], world.a, "2", rater=world.teacher, demonstrated_at=T0)
    override = _override(world)
    _settle()
    services.clear_override(actor=world.teacher, override=override, reason="Re-assessed")
    _settle()
    record = _record(world)
    assert _key(record) == ("scored", Decimal(2), Decimal(2), False, 1)
    assert "override" not in record.explanation
    _clean()


@pytest.mark.parametrize("ends", [False, True])
def test_newer_evidence_ends_an_override_only_where_the_policy_says_so(
    world: World, ends: bool
) -> None:
    CalculationPolicy.objects.filter(organisation=world.school).update(
        overrides_end_with_new_evidence=ends
    )
    rate(world.learners[0], world.a, "2", rater=world.teacher, demonstrated_at=T0)
    _override(world)
    # Recorded after the override but demonstrated before it: never ends it.
    rate(world.learners[0], world.a, "2", rater=world.teacher, demonstrated_at=T0 + DAY)
    _settle()
    assert _record(world).score == Decimal(4)
    rate(
        world.learners[0], world.a, "1", rater=world.teacher,
        demonstrated_at=timezone.now() + datetime.timedelta(minutes=1),
    )  # fmt: skip
    _settle()
    record = _record(world)
    assert record.score == (Decimal(4) if not ends else Decimal("1.67"))
    assert ("override_ended" in record.explanation) is ends
    _clean()
    MasteryRecord.objects.all().delete()
    _bulk(world)
    assert _record(world).score == record.score
    _clean()


def test_as_of_reads_the_override_in_force_then(world: World) -> None:
    rate(
        world.learners[0], world.a, "2", rater=world.teacher, demonstrated_at=T0,
        recorded_at=timezone.now() - datetime.timedelta(hours=1),
    )  # fmt: skip
    override = _override(world)
    set_at = override.set_at
    services.clear_override(actor=world.teacher, override=override, reason="Re-assessed")
    learner = world.learners[0]
    before = selectors.mastery_as_of(learner, world.a, set_at - datetime.timedelta(seconds=1))
    during = selectors.mastery_as_of(learner, world.a, set_at)
    after = selectors.mastery_as_of(learner, world.a, timezone.now())
    assert (before.score, during.score, after.score) == (Decimal(2), Decimal(4), Decimal(2))
    assert during.explanation["method"] == "override"
