"""The evidence selectors: the counted-ratings rule (as of any moment) and scoping by persona."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence import selectors, services
from evidence.models import (
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    EvidenceStatusChange,
    Rating,
    RatingRemoval,
    RatingSource,
)
from evidence.services import ReflectionInput
from mastery import core
from mastery import sql as mastery_sql
from tests.evidence.conftest import Standards, make_standards
from tests.personas import Cast

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 9, 1, 9, 0, tzinfo=datetime.UTC)


def hours(n: float) -> datetime.datetime:
    return T0 + datetime.timedelta(hours=n)


def _evidence(cast: Cast, learner_id: int | None = None) -> Evidence:
    evidence = Evidence.objects.create(
        learner_id=learner_id or cast.own.pk,
        kind=EvidenceKind.ASSESSMENT,
        title="Quiz",
        demonstrated_at=T0,
        submitted_by=cast.teacher,
    )
    EvidenceStatusChange.objects.create(
        evidence=evidence, status=EvidenceStatus.SCORED, changed_by=cast.teacher
    )
    return evidence


def _rating(
    evidence: Evidence,
    standard_id: int,
    score: str,
    recorded: datetime.datetime,
    *,
    source: str = RatingSource.TEACHER,
    supersedes: Rating | None = None,
    demonstrated: datetime.datetime | None = None,
) -> Rating:
    return Rating.objects.create(
        evidence=evidence,
        learner_id=evidence.learner_id,
        demonstrated_at=demonstrated or evidence.demonstrated_at,
        standard_id=standard_id,
        score=Decimal(score),
        source=source,
        rater=evidence.submitted_by,
        recorded_at=recorded,
        supersedes=supersedes,
    )


# --- counted ratings ----------------------------------------------------------------------------


def test_self_ratings_corrected_and_removed_ratings_do_not_count(
    cast: Cast, standards: Standards
) -> None:
    evidence = _evidence(cast)
    sid = standards.counting.pk
    kept = _rating(evidence, sid, "3", hours(1))
    _rating(evidence, sid, "4", hours(1), source=RatingSource.SELF)
    corrected = _rating(evidence, sid, "1", hours(1))
    correction = _rating(evidence, sid, "2", hours(2), supersedes=corrected)
    removed = _rating(evidence, sid, "4", hours(1))
    RatingRemoval.objects.create(rating=removed, reason="x", removed_by=cast.teacher)
    imported = _rating(evidence, sid, "2", hours(1), source=RatingSource.IMPORT)
    override = _rating(evidence, sid, "4", hours(1), source=RatingSource.OVERRIDE)
    assert set(core.counted_ratings()) == {kept, correction, imported, override}


def test_counted_ratings_as_of_a_moment_see_the_history_as_it_stood(
    cast: Cast, standards: Standards
) -> None:
    evidence = _evidence(cast)
    sid = standards.counting.pk
    first = _rating(evidence, sid, "2", hours(1))
    second = _rating(evidence, sid, "3", hours(2), supersedes=first)
    RatingRemoval.objects.create(
        rating=second, reason="x", removed_by=cast.teacher, removed_at=hours(3)
    )
    assert list(core.counted_ratings(as_of=hours(0.5))) == []
    assert list(core.counted_ratings(as_of=hours(1))) == [first]
    assert list(core.counted_ratings(as_of=hours(2.5))) == [second]
    assert list(core.counted_ratings(as_of=hours(3))) == []
    assert list(core.counted_ratings()) == []


def test_counted_ratings_are_ordered_by_demonstration_then_recording_then_id(
    cast: Cast, standards: Standards
) -> None:
    evidence = _evidence(cast)
    sid = standards.counting.pk
    late = _rating(evidence, sid, "1", hours(1), demonstrated=hours(-1))
    early_b = _rating(evidence, sid, "2", hours(2), demonstrated=hours(-5))
    early_a = _rating(evidence, sid, "3", hours(1), demonstrated=hours(-5))
    tie = _rating(evidence, sid, "4", hours(1), demonstrated=hours(-5))
    assert list(core.counted_ratings()) == [early_a, tie, early_b, late]


def test_counted_ratings_filter_by_learner_and_standard(cast: Cast, standards: Standards) -> None:
    mine = _rating(_evidence(cast), standards.counting.pk, "2", hours(1))
    _rating(_evidence(cast), standards.adding.pk, "2", hours(1))
    _rating(_evidence(cast, cast.same_section.pk), standards.counting.pk, "2", hours(1))
    found = core.counted_ratings(learner_ids=[cast.own.pk], standard_ids=[standards.counting.pk])
    assert list(found) == [mine]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(
        st.tuples(
            st.sampled_from(["teacher", "self", "import", "override"]),
            st.integers(0, 10),  # recorded hour
            st.one_of(st.none(), st.integers(0, 10)),  # corrected after this many hours
            st.one_of(st.none(), st.integers(0, 12)),  # removed after this many hours
            st.integers(0, 3),  # demonstrated hour offset
        ),
        min_size=1,
        max_size=8,
    ),
    moments=st.lists(st.one_of(st.none(), st.integers(-1, 25)), min_size=1, max_size=4),
)
def test_counted_ratings_equal_the_mastery_apps_sql_as_of_any_moment(
    cast: Cast,
    standards: Standards,
    history: list[tuple[str, int, int | None, int | None, int]],
    moments: list[int | None],
) -> None:
    with transaction.atomic():
        evidence = _evidence(cast)
        sid = standards.counting.pk
        for source, recorded, corrected, removed, demonstrated in history:
            rating = _rating(
                evidence, sid, "2", hours(recorded), source=source, demonstrated=hours(demonstrated)
            )
            if corrected is not None:
                rating = _rating(
                    evidence,
                    sid,
                    "3",
                    hours(recorded + corrected),
                    source=source,
                    supersedes=rating,
                    demonstrated=hours(demonstrated),
                )
            if removed is not None:
                RatingRemoval.objects.create(
                    rating=rating,
                    reason="x",
                    removed_by=cast.teacher,
                    removed_at=hours(recorded + removed),
                )
        for moment in moments:
            at = None if moment is None else hours(moment)
            ours = [r.pk for r in core.counted_ratings(as_of=at, learner_ids=[cast.own.pk])]
            theirs = [r.id for r in mastery_sql.counted_ratings(cast.own.pk, sid, at)]
            assert ours == theirs
        transaction.set_rollback(True)


# --- scoping ------------------------------------------------------------------------------------


@pytest.fixture
def world(cast: Cast, standards: Standards) -> dict[str, Evidence]:
    """One evidence for each learner of the cast, recorded by an admin who sees them all."""
    made = {}
    for learner in cast.all_learners():
        made[learner.family_name] = _evidence(cast, learner.pk)
    return made


VISIBLE_FAMILIES = {
    # persona -> family names of the learners whose evidence they see
    "teacher": {"Own", "Same"},
    "co_teacher": {"Own", "Same"},
    "teacher_elsewhere": {"Elsewhere", "Peer"},
    "student": {"Own"},
    "other_student": {"Same"},
    "guardian": {"Own"},
    "teacher_guardian": {"Other", "Elsewhere"},
    "teacher_admin": {"Other", "South"},
    "school_admin": {"Own", "Same", "Former", "Other"},
    "district_admin": {"Own", "Same", "Former", "Other", "Elsewhere", "Peer"},
    "state_admin": {"Own", "Same", "Former", "Other", "Elsewhere", "Peer", "South"},
    "ended_teacher": set(),
    "deactivated_teacher": set(),
    "outsider": set(),
}
CHANGEABLE_FAMILIES = {
    **VISIBLE_FAMILIES,
    "student": set(),
    "other_student": set(),
    "guardian": set(),
    "teacher_guardian": {"Other"},
}


@pytest.mark.parametrize("persona", sorted(VISIBLE_FAMILIES))
def test_each_persona_sees_exactly_the_evidence_of_the_learners_they_may_see(
    cast: Cast, world: dict[str, Evidence], persona: str
) -> None:
    user = cast.persona(persona)
    visible = {e.learner.family_name for e in selectors.visible_evidence(user)}
    changeable = {e.learner.family_name for e in selectors.changeable_evidence(user)}
    assert visible == VISIBLE_FAMILIES[persona]
    assert changeable == CHANGEABLE_FAMILIES[persona]
    ratings_learners = set(selectors.visible_ratings(user).values_list("learner_id", flat=True))
    assert ratings_learners <= {e.learner_id for e in selectors.visible_evidence(user)}


def test_evidence_lists_carry_the_current_status(cast: Cast, standards: Standards) -> None:
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=5)):
        evidence = services.submit_evidence(
            actor=cast.student,
            kind=EvidenceKind.PROJECT,
            title="Poster",
            description="See it",
            demonstrated_at=timezone.now() - datetime.timedelta(days=1),
            reflection=ReflectionInput(what_i_learned="Lots"),
        )
    services.review_submission(
        actor=cast.teacher, evidence=evidence, decision="return", comment="Add a title"
    )
    found = selectors.visible_evidence(cast.guardian).get()
    assert (found.status, found.status_comment) == ("returned", "<p>Add a title</p>")  # type: ignore[attr-defined]


def test_find_standards_resolves_identifiers_codes_and_short_codes(db: None) -> None:
    first = make_standards("fw-a")
    second = make_standards("fw-b", prefix="")
    found = selectors.find_standards(
        ["fw-a-K.CC.A.1", "ccss.math.content.1.OA.A.1", "3.NF.A.1", "nothing", "K.CC.A.1"]
    )
    assert found["fw-a-K.CC.A.1"].standards == (first.counting,)
    assert found["ccss.math.content.1.OA.A.1"].standards == (first.adding,)
    # "3.NF.A.1" is the exact code in fw-b, which wins over fw-a's dotted suffix match
    assert found["3.NF.A.1"].standards == (second.fractions,)
    assert found["nothing"].standards == ()
    assert found["K.CC.A.1"].standards == (second.counting,)


def test_find_standards_runs_at_most_three_queries(
    db: None, django_assert_max_num_queries: object
) -> None:
    make_standards("fw-a")
    with django_assert_max_num_queries(3):  # type: ignore[operator]
        selectors.find_standards([f"X.{n}" for n in range(50)] + ["fw-a-K.CC.A.1"])
