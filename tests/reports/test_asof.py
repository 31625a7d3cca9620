"""Mastery as of a day, in bulk: the reads equal ADR 5's rule, the results equal the engine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mastery import asof, rules
from mastery.asof import Ratings, ReportDataError, RulesBook
from mastery.core import counted_ratings
from mastery.policy import load_rules
from mastery.selectors import mastery_as_of
from standards.models import CalculationPolicy, Framework, Standard
from tests.factories import SchoolFactory
from tests.reports.world import World, end_of, expected_digest


def _all_pairs(world: World) -> tuple[list[int], list[int]]:
    cast = world.cast
    learners = sorted(
        learner.pk
        for learner in (cast.own, cast.same_section, cast.former, cast.other_section_learner,
                        cast.other_school_learner, cast.other_school_peer, world.inactive)
    )  # fmt: skip
    standards = sorted(s.pk for s in (world.a, world.b, world.c, world.d, world.e1, world.e2))
    return learners, standards


@pytest.mark.parametrize("packed", [True, False])
def test_the_read_counts_exactly_the_ratings_adr5_counts(world: World, packed: bool) -> None:
    learners, standards = _all_pairs(world)
    at = end_of(world.day)
    got = asof.fetch_counted_ratings(learners, standards, at, packed=packed)
    expected = sorted(
        (
            (r.learner_id, r.standard_id, r.demonstrated_at, r.recorded_at, r.pk),
            int(r.score * 100),
            asof.day_number(r.demonstrated_at),
        )
        for r in counted_ratings(as_of=at, learner_ids=learners, standard_ids=standards)
    )
    assert list(zip(got.learner.tolist(), got.standard.tolist(), strict=True)) == [
        key[:2] for key, _, _ in expected
    ]
    assert got.score_hundredths.tolist() == [score for _, score, _ in expected]
    assert got.day.tolist() == [day for _, _, day in expected]


def test_ratings_out_of_the_engine_order_fail_loudly() -> None:
    learner = np.array([1, 1, 1], np.int64)
    standard = np.array([5, 5, 5], np.int64)
    with pytest.raises(ReportDataError, match="out of the engine's order"):
        asof._check_order(learner, standard, np.array([10, 12, 11], np.int64))
    with pytest.raises(ReportDataError):
        asof._check_order(np.array([2, 1], np.int64), standard[:2], np.array([1, 1], np.int64))
    asof._check_order(learner, standard, np.array([10, 10, 11], np.int64))


def test_bulk_results_equal_masterys_own_as_of_selector(world: World) -> None:
    cast, at = world.cast, end_of(world.day)
    learners = [cast.own, cast.same_section, cast.other_section_learner, cast.other_school_learner]
    standards = [world.a, world.b, world.c, world.d, world.domain]
    results = asof.mastery_of(
        {learner.pk: [s.pk for s in standards] for learner in learners},
        school_of={learner.pk: learner.school_id for learner in learners},
        framework_of={s.pk: s.framework_id for s in [*standards]},
        children_of={world.domain.pk: (world.a.pk, world.b.pk)},
        at=at,
        book=RulesBook(),
    )
    for learner in learners:
        for standard in standards:
            theirs = mastery_as_of(learner, standard, at)
            ours = results[(learner.pk, standard.pk)]
            first = theirs.first_mastered_at
            assert (
                ours.score,
                ours.level,
                ours.mastered,
                ours.first_mastered,
                ours.evidence_count,
            ) == (
                "" if theirs.score is None else f"{theirs.score:.2f}",
                theirs.level_label,
                theirs.mastered,
                None if first is None else asof.day_of(asof.day_number(first)),
                theirs.evidence_count,
            ), (learner.pk, standard.human_code)


POLICIES: list[dict[str, Any]] = [
    {"method": "decaying_average", "params": {"weight": 70}},
    {"method": "average", "min_evidence": 2},
    {"method": "n_times", "params": {"n": 2}},
    {"method": "mode"},
    {"method": "weighted_average"},
    {"method": "highest"},
    {"method": "latest"},
    {"method": "power_law"},
    {"method": "bkt"},
]
SCORES = [100, 150, 200, 250, 275, 300, 325, 350, 375, 400]


@pytest.mark.django_db
def test_bulk_evaluation_equals_the_engine_per_record_for_every_method() -> None:
    framework = Framework.objects.create(identifier="fw-asof", title="F", source_format="csv")
    standard = Standard.objects.create(
        framework=framework, identifier="s-asof", human_code="S", statement="S"
    )
    schools = []
    for policy in POLICIES:
        school = SchoolFactory()
        CalculationPolicy.objects.create(organisation=school, **policy)
        schools.append(school.pk)
    book = RulesBook()
    engines = [load_rules(school, framework.pk) for school in schools]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.lists(st.lists(st.sampled_from(SCORES), min_size=1, max_size=7), min_size=1, max_size=12)
    )
    def check(groups: list[list[int]]) -> None:
        learner = np.repeat(np.arange(1, len(groups) + 1), [len(g) for g in groups])
        days = np.concatenate([np.arange(len(g)) * 3 for g in groups])
        ratings = Ratings(
            learner=learner.astype(np.int64),
            standard=np.full(learner.shape[0], standard.pk, np.int64),
            score_hundredths=np.array([s for g in groups for s in g], np.int64),
            day=days.astype(np.int64),
            ids=np.arange(1, learner.shape[0] + 1, dtype=np.int64),
        )
        school_of = {i + 1: schools[i % len(schools)] for i in range(len(groups))}
        got = asof.evaluate(
            ratings, school_of=school_of, framework_of={standard.pk: framework.pk}, book=book
        )
        first_id = 1
        for index, scores in enumerate(groups):
            ids = range(first_id, first_id + len(scores))
            first_id += len(scores)
            digest = expected_digest(
                [(i, Decimal(s) / 100) for i, s in zip(ids, scores, strict=True)]
            )
            assert asof.digest_text(int(got.digest[index])) == f"{digest:016x}"
            engine = engines[index % len(schools)]
            ordered = [rules.Rating(score=Decimal(s) / 100, id=i) for i, s in enumerate(scores)]
            result = rules.evaluate(ordered, engine.policy, engine.scale)
            params = engine.policy.resolve(engine.scale)
            first = 0
            for end in range(params.min_evidence, len(ordered) + 1):
                step = rules.calculate_with(params, ordered[:end])
                if rules.level_and_mastery(step.score, step.p_known, params, engine.scale)[1]:
                    first = end
                    break
            assert int(got.state[index]) == rules.STATES.index(result.state)
            assert int(got.score_hundredths[index]) == (
                -1 if result.score is None else int(result.score * 100)
            )
            label = int(got.label[index])
            assert (book.labels[label] if label >= 0 else None) == (
                None if result.level is None else result.level.label
            )
            assert bool(got.mastered[index]) == result.mastered
            assert int(got.first_day[index]) == (3 * (first - 1) if first else asof.NO_DAY)

    check()


def test_a_score_off_the_scale_names_the_learner_and_standard(world: World) -> None:
    book = RulesBook()
    ratings = Ratings(
        learner=np.array([world.cast.own.pk], np.int64),
        standard=np.array([world.a.pk], np.int64),
        score_hundredths=np.array([900], np.int64),
        day=np.array([0], np.int64),
        ids=np.array([1], np.int64),
    )
    with pytest.raises(
        ReportDataError, match=f"learner {world.cast.own.pk}, standard {world.a.pk}"
    ):
        asof.evaluate(
            ratings,
            school_of={world.cast.own.pk: world.cast.school.pk},
            framework_of={world.a.pk: world.framework.pk},
            book=book,
        )
