"""The sweep (lost messages, forgotten markers) and verify_mastery (stale and wrong records)."""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from mastery import services
from mastery.models import MasteryRecord, StaleMastery, SweepCursor
from tests.mastery.conftest import Queues
from tests.mastery.helpers import T0, World, rate

type Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]
GRACE = services.SWEEP_GRACE


def _verify(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_mastery", *args, stdout=out)
    except SystemExit as exc:
        return int(str(exc.code)), out.getvalue()
    return 0, out.getvalue()


def _settle(world: World) -> None:
    pending = list(StaleMastery.objects.values_list("learner_id", "standard_id"))
    services.recompute_pairs(pairs=pending)


def test_the_sweep_requeues_markers_whose_message_was_lost(
    world: World, queues: Queues, django_capture_on_commit_callbacks: Capture
) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "3", rater=world.teacher)
    queues.purge()  # the message is lost
    with django_capture_on_commit_callbacks(execute=True):
        early = services.sweep_stale_mastery(now=timezone.now() + GRACE / 2)
    assert early == services.SweepOutcome(marked=0, requeued=0)
    with django_capture_on_commit_callbacks(execute=True):
        late = services.sweep_stale_mastery(now=timezone.now() + GRACE * 2)
    assert late == services.SweepOutcome(marked=0, requeued=1)
    assert queues.waiting() == 1


def test_a_requeued_marker_is_not_requeued_again_within_the_grace(
    world: World, queues: Queues, django_capture_on_commit_callbacks: Capture
) -> None:
    rate(world.learners[0], world.a, "3", rater=world.teacher)
    later = timezone.now() + GRACE * 2
    with django_capture_on_commit_callbacks(execute=True):
        services.sweep_stale_mastery(now=later)
        again = services.sweep_stale_mastery(now=later + GRACE / 2)
    assert again.requeued == 0


def test_the_sweep_marks_ratings_written_without_a_marker(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "3", rater=world.teacher)
    _settle(world)
    # A writer that forgot mark_stale (the contract says it must not; the sweep still repairs).
    rating = rate(learner, world.b, "4", rater=world.teacher, recorded_at=timezone.now())
    StaleMastery.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.sweep_stale_mastery()
    assert outcome.marked == 1
    assert list(StaleMastery.objects.values_list("learner_id", "standard_id")) == [
        (rating.learner_id, rating.standard_id)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep_stale_mastery().marked == 0


def test_verify_finds_nothing_when_every_record_is_current(world: World) -> None:
    for learner in world.learners:
        rate(learner, world.a, "3", rater=world.teacher)
        rate(learner, world.b, "2", rater=world.teacher, demonstrated_at=T0 + datetime.timedelta(1))
    _settle(world)
    assert _verify("--json") == (0, json.dumps({"checked": 6, "stale": 0, "wrong": 0}) + "\n")


def test_verify_counts_marked_and_missing_records_as_stale(world: World) -> None:
    first, second = world.learners
    rate(first, world.a, "3", rater=world.teacher)
    _settle(world)
    rate(first, world.a, "1", rater=world.teacher)  # marked, not yet recomputed
    rate(second, world.b, "1", rater=world.teacher)
    StaleMastery.objects.filter(learner=second).delete()  # missing record, no marker
    status, out = _verify("--json")
    # first: a (marked) and its domain; second: b (missing) and its domain (missing)
    assert (status, json.loads(out)) == (1, {"checked": 4, "stale": 4, "wrong": 0})


def test_verify_finds_a_tampered_record_wrong(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "3", rater=world.teacher)
    _settle(world)
    MasteryRecord.objects.filter(learner=learner, standard=world.a).update(score=Decimal("3.1"))
    status, out = _verify()
    assert status == 1
    assert out.splitlines() == [
        "checked 2, stale 0, wrong 1",
        f"wrong: learner {learner.pk} standard {world.a.pk}",
    ]


@pytest.mark.django_db(transaction=True)  # forked processes read committed rows only
def test_verify_in_two_processes_finds_what_one_process_finds(world: World) -> None:
    from mastery.selectors import verify_mastery

    first, second = world.learners
    for learner in world.learners:
        rate(learner, world.a, "3", rater=world.teacher)
    _settle(world)
    MasteryRecord.objects.filter(learner=second, standard=world.a).update(score=Decimal("3.1"))
    rate(first, world.b, "1", rater=world.teacher)  # marked, not yet recomputed
    one = verify_mastery(batch=1)
    two = verify_mastery(batch=1, processes=2)
    assert (one.checked, one.stale, one.wrong) == (two.checked, two.stale, two.wrong) == (5, 2, 1)
    assert two.wrong_pairs == one.wrong_pairs == [(second.pk, world.a.pk)]
    assert two.stale_pairs == one.stale_pairs
    assert _verify("--json", "--batch", "1", "--processes", "2")[1] == (
        json.dumps({"checked": 5, "stale": 2, "wrong": 1}) + "\n"
    )


def test_verify_refuses_a_bad_batch_size(db: None) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--batch must be at least 1"):
        call_command("verify_mastery", "--batch", "0")
    with pytest.raises(CommandError, match="--processes must be at least 1"):
        call_command("verify_mastery", "--processes", "0")


def test_a_sweep_checks_a_bounded_window_of_new_ratings(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Capture
) -> None:
    learner = world.learners[0]
    first_rating = rate(learner, world.a, "3", rater=world.teacher, recorded_at=timezone.now())
    rate(learner, world.b, "3", rater=world.teacher, recorded_at=timezone.now())
    StaleMastery.objects.all().delete()
    SweepCursor.objects.create(name=services.RATING_CURSOR, last_id=first_rating.pk - 1)
    monkeypatch.setattr(services, "SWEEP_ID_WINDOW", 1)  # our own knob, not a boundary mock
    with django_capture_on_commit_callbacks(execute=True):
        first = services.sweep_stale_mastery()
        second = services.sweep_stale_mastery()
        third = services.sweep_stale_mastery()
    assert [first.marked, second.marked, third.marked] == [1, 1, 0]
    assert StaleMastery.objects.count() == 2


# One field of A's record (2 then 4: scored 3.00, mastered on the second rating, the
# estimators disagree) or B's (1: scored, not mastered) changed at a time; verify compares each.
TAMPERED: dict[str, tuple[str, dict[str, Any]]] = {
    "state": ("b", {"state": "insufficient_evidence", "score": None}),
    "score": ("a", {"score": Decimal("3.01")}),
    "score emptied": ("a", {"score": None}),
    "level points": ("a", {"level_points": Decimal("2")}),
    "level points emptied": ("a", {"level_points": None}),
    "level label": ("a", {"level_label": "Advanced!"}),
    "mastered": ("a", {"mastered": False}),
    "first mastered": ("a", {"first_mastered_at": T0}),
    "first mastered emptied": ("a", {"first_mastered_at": None}),
    "first mastered on B": ("b", {"first_mastered_at": T0}),
    "evidence count": ("a", {"evidence_count": 3}),
    "calculation version": ("a", {"calculation_version": "0"}),
    "inconsistent": ("a", {"inconsistent": False}),
    "inconsistent on B": ("b", {"inconsistent": True}),
    "ratings digest": ("a", {"ratings_digest": 12345}),
    "ratings digest on B": ("b", {"ratings_digest": -1}),
}


def _rate_a_and_b(world: World) -> None:
    learner = world.learners[0]
    rate(learner, world.a, "2", rater=world.teacher, demonstrated_at=T0)
    rate(learner, world.a, "4", rater=world.teacher, demonstrated_at=T0 + datetime.timedelta(1))
    rate(learner, world.b, "1", rater=world.teacher, demonstrated_at=T0)
    _settle(world)


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_verify_finds_a_record_wrong_in_any_one_field(world: World, name: str) -> None:
    from mastery.selectors import verify_mastery

    learner = world.learners[0]
    _rate_a_and_b(world)
    assert verify_mastery().as_json() == {"checked": 3, "stale": 0, "wrong": 0}
    field, change = TAMPERED[name]
    standard = getattr(world, field)
    assert MasteryRecord.objects.filter(learner=learner, standard=standard).update(**change) == 1
    report = verify_mastery()
    assert (report.checked, report.stale, report.wrong) == (3, 0, 1)
    assert report.wrong_pairs == [(learner.pk, standard.pk)]


@pytest.mark.parametrize(
    "change", [{"rules_key": None}, {"rules_key": 12345}, {"ratings_digest": None}]
)
def test_verify_finds_a_record_under_other_rules_stale_with_its_grouping(
    world: World, change: dict[str, Any]
) -> None:
    """Computed under other rules, never keyed, or kept without a ratings digest (from before
    provenance): stale, and so is the grouping above."""
    from mastery.selectors import verify_mastery

    learner = world.learners[0]
    _rate_a_and_b(world)
    MasteryRecord.objects.filter(learner=learner, standard=world.b).update(**change)
    report = verify_mastery()
    assert (report.checked, report.stale, report.wrong) == (3, 2, 0)
    assert report.stale_pairs == sorted([(learner.pk, world.b.pk), (learner.pk, world.domain.pk)])


def test_verify_proves_current_statements_in_whole_columns(world: World) -> None:
    """The statements' current records agree column by column (only the grouping is left to
    the pair-by-pair path); a changed one does not."""
    from mastery import derive, rules, sql
    from mastery.policy import RulesCache
    from mastery.selectors import _agreement, _Catalogue, _labels

    learner = world.learners[0]
    _rate_a_and_b(world)
    catalogue, cache = _Catalogue.load(), RulesCache()

    def agreeing() -> set[int]:
        arrays = sql.read_counted_ratings(sql.BulkScope(learner.pk, learner.pk, None, None))
        results = derive.derive_pair_results(
            arrays.learner, arrays.standard, arrays.score, arrays.demonstrated_us, arrays.ids,
            {learner.pk: world.school.pk}, catalogue.frameworks, cache.get,
        )  # fmt: skip
        labels = _labels(results)
        records = sql.read_record_arrays(
            learner.pk, learner.pk, rules.STATES, list(labels), rules.CALCULATION_VERSION
        )
        agree, _ = _agreement(records, results, labels, set(), learner.pk, learner.pk, catalogue)
        return set(records.standard[agree].tolist())

    assert agreeing() == {world.a.pk, world.b.pk}
    MasteryRecord.objects.filter(learner=learner, standard=world.a).update(evidence_count=3)
    assert agreeing() == {world.b.pk}
