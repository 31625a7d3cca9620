"""The demo's evidence: lifelike, complete for every demo learner, consistent, idempotent."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.db.models import Count, F

from evidence import demo, selectors
from evidence.models import Artifact, Evidence, EvidenceStatus, Rating, RatingSource, Reflection
from mastery import core
from mastery.models import StaleMastery
from standards.models import Framework
from tests.personas import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_framework(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Pretend ../shared is absent: the built-in framework is used."""
    monkeypatch.setattr(demo, "CCSS_PACKAGE", tmp_path / "missing.json")


@pytest.mark.usefixtures("local_framework")
def test_every_learner_of_a_taught_section_gets_a_term_of_evidence(cast: Cast) -> None:
    report = demo.seed_evidence()
    framework = Framework.objects.get()
    assert framework.identifier == demo.LOCAL_IDENTIFIER
    taught = {cast.own.pk, cast.same_section.pk, cast.other_section_learner.pk}
    taught |= {cast.other_school_learner.pk, cast.other_school_peer.pk}
    taught |= {cast.other_district_learner.pk}
    assert (report.sections, report.learners) == (4, len(taught))
    rated = set(
        Rating.objects.filter(source=RatingSource.TEACHER).values_list("learner", flat=True)
    )
    assert rated == taught
    per_learner = Evidence.objects.values("learner").annotate(n=Count("id"))
    assert min(row["n"] for row in per_learner) >= 8
    reflections = set(Reflection.objects.values_list("evidence__learner", flat=True))
    self_rated = set(
        Rating.objects.filter(source=RatingSource.SELF).values_list("learner", flat=True)
    )
    assert reflections == self_rated == taught
    assert Rating.objects.filter(standard__is_grouping=True).count() == 0


@pytest.mark.usefixtures("local_framework")
def test_demo_rows_keep_the_invariants_the_services_keep(cast: Cast) -> None:
    demo.seed_evidence()
    assert not Rating.objects.exclude(learner=F("evidence__learner")).exists()
    assert not Rating.objects.exclude(demonstrated_at=F("evidence__demonstrated_at")).exists()
    assert not Evidence.objects.filter(recorded_at__lt=F("demonstrated_at")).exists()
    assert not Evidence.objects.filter(status_changes__isnull=True).exists()
    scores = set(Rating.objects.values_list("score", flat=True))
    assert scores <= {1, 2, 3, 4}
    assert len(scores) >= 3
    statuses = {e.status for e in selectors.with_status(Evidence.objects.all())}  # type: ignore[attr-defined]
    assert statuses == {EvidenceStatus.SCORED, EvidenceStatus.SUBMITTED, EvidenceStatus.RETURNED}
    assert selectors.review_queue(cast.teacher).exists()
    pairs = set(Rating.objects.values_list("learner_id", "standard_id"))
    assert set(StaleMastery.objects.values_list("learner_id", "standard_id")) == pairs


@pytest.mark.usefixtures("local_framework")
def test_learners_grow_over_the_term(cast: Cast) -> None:
    demo.seed_evidence()
    ratings = list(core.counted_ratings().filter(source=RatingSource.TEACHER))
    cut = (
        min(r.demonstrated_at for r in ratings)
        + (max(r.demonstrated_at for r in ratings) - min(r.demonstrated_at for r in ratings)) / 2
    )
    early = [r.score for r in ratings if r.demonstrated_at < cut]
    late = [r.score for r in ratings if r.demonstrated_at >= cut]
    assert sum(late) / len(late) > sum(early) / len(early)


@pytest.mark.usefixtures("local_framework")
def test_seeding_twice_changes_nothing(cast: Cast, media_root: Path) -> None:
    first = demo.seed_evidence()
    counts = (Evidence.objects.count(), Rating.objects.count(), Artifact.objects.count())
    second = demo.seed_evidence()
    assert (first.skipped, second.skipped) == (False, True)
    assert (Evidence.objects.count(), Rating.objects.count(), Artifact.objects.count()) == counts
    stored = {p.name for p in (media_root / "artifacts").iterdir()}
    assert stored == set(
        Artifact.objects.filter(kind="file").values_list("storage_name", flat=True)
    )


@pytest.mark.usefixtures("local_framework")
def test_the_same_seed_gives_the_same_demo(cast: Cast) -> None:
    from django.db import transaction

    def snapshot() -> list[tuple[object, ...]]:
        return list(
            Rating.objects.order_by(
                "learner_id", "standard_id", "demonstrated_at", "source"
            ).values_list("learner_id", "standard__human_code", "score", "source")
        )

    with transaction.atomic():
        demo.seed_evidence(today=datetime.date.today())
        first = snapshot()
        transaction.set_rollback(True)
    demo.seed_evidence(today=datetime.date.today())
    assert snapshot() == first


def test_the_real_common_core_framework_is_used_when_shared_data_is_there(cast: Cast) -> None:
    if not demo.CCSS_PACKAGE.exists():
        pytest.skip(f"shared test data not found: {demo.CCSS_PACKAGE}")
    report = demo.seed_evidence(events_per_section=2)
    assert report.framework == "Common Core State Standards for Mathematics"
    codes = set(Rating.objects.values_list("standard__human_code", flat=True))
    # the cast's learners are in grade 05: their standards are grade 5 ones
    assert codes
    assert all(".5." in code for code in codes), codes


@pytest.mark.usefixtures("local_framework")
def test_the_demo_requires_power_and_supporting_standards_of_every_grade_so_reports_have_rows(
    cast: Cast,
) -> None:
    import io

    from learners.models import Learner
    from reports.state_export import write_state_export
    from standards.models import Requirement

    report = demo.seed_evidence()
    district = cast.district
    grades = set(
        Learner.objects.filter(active=True, school__parent=district).values_list(
            "grade_level", flat=True
        )
    )
    required = Requirement.objects.filter(organisation=district, term=cast.term)
    assert report.requirements == required.count() > 0
    assert {(r.grade_level, r.priority) for r in required} == {
        (grade, priority) for grade in grades for priority in ("power", "supporting")
    }
    out = io.StringIO()
    written = write_state_export(
        organisation=district, term=cast.term, as_of=datetime.date.today(), file_format="csv",
        out=out,
    )  # fmt: skip
    assert written.rows > 0
    assert demo.seed_evidence().requirements == report.requirements  # idempotent
