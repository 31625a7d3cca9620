"""The evidence services: who may write what, validation before writing, history kept."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from evidence import selectors, services
from evidence.models import (
    Artifact,
    Evidence,
    EvidenceKind,
    EvidenceRemoval,
    EvidenceStatus,
    EvidenceStatusChange,
    LearningSetting,
    Rating,
    RatingRemoval,
    RatingSource,
    Reflection,
)
from evidence.services import RatingEntry, ReflectionInput, ReviewDecision
from learners.models import Learner
from mastery import core
from mastery.models import StaleMastery
from tests.evidence.conftest import Standards, make_standards
from tests.factories import EnrollmentFactory, LearnerFactory
from tests.personas import Cast

pytestmark = pytest.mark.django_db

YESTERDAY = timezone.now() - datetime.timedelta(days=1)
WRITE_TABLES = (Evidence, EvidenceStatusChange, Rating, RatingRemoval, Reflection, Artifact)


def _status(evidence: Evidence) -> str:
    annotated = selectors.with_status(Evidence.objects.filter(pk=evidence.pk)).get()
    return str(annotated.status)  # type: ignore[attr-defined]


def _row_counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in WRITE_TABLES)


def _stale_pairs() -> set[tuple[int, int]]:
    return set(StaleMastery.objects.values_list("learner_id", "standard_id"))


def _submit(cast: Cast, standards: Standards, **overrides: object) -> Evidence:
    values: dict[str, object] = {
        "actor": cast.student,
        "kind": EvidenceKind.PROJECT,
        "title": "Garden fractions",
        "description": "I split the beds into eighths.",
        "demonstrated_at": YESTERDAY,
        "reflection": ReflectionInput(what_i_learned="Eighths", how_i_will_use_it="Baking"),
        "self_scores": {standards.fractions.pk: "3"},
    }
    values.update(overrides)
    return services.submit_evidence(**values)  # type: ignore[arg-type]


# --- record_evidence ----------------------------------------------------------------------------


def test_teacher_records_evidence_with_ratings_for_a_learner_in_their_section(
    cast: Cast, standards: Standards
) -> None:
    evidence = services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind=EvidenceKind.OBSERVATION,
        title="  Counted  to 20 ",
        description="Counted the beads\nwithout help.",
        demonstrated_at=YESTERDAY,
        section=cast.section,
        scores={standards.counting.pk: "3", standards.adding.pk: Decimal("2.5")},
        comment="Steady",
    )
    assert evidence.title == "Counted to 20"
    assert evidence.description == "<p>Counted the beads<br>without help.</p>"
    assert evidence.submitted_by_id == cast.teacher.pk
    assert _status(evidence) == EvidenceStatus.SCORED
    ratings = set(
        Rating.objects.filter(evidence=evidence).values_list(
            "standard_id", "score", "source", "learner_id", "demonstrated_at", "rater_id"
        )
    )
    assert ratings == {
        (
            standards.counting.pk,
            Decimal("3.00"),
            "teacher",
            cast.own.pk,
            YESTERDAY,
            cast.teacher.pk,
        ),
        (standards.adding.pk, Decimal("2.50"), "teacher", cast.own.pk, YESTERDAY, cast.teacher.pk),
    }
    assert _stale_pairs() == {
        (cast.own.pk, standards.counting.pk),
        (cast.own.pk, standards.adding.pk),
    }


def test_evidence_recorded_without_ratings_waits_for_a_review(
    cast: Cast, standards: Standards
) -> None:
    evidence = services.record_evidence(
        actor=cast.co_teacher,
        learner=cast.same_section,
        kind=EvidenceKind.PROJECT,
        title="Poster",
        demonstrated_at=YESTERDAY.date(),
        links=["https://example.org/poster"],
    )
    assert _status(evidence) == EvidenceStatus.SUBMITTED
    assert list(selectors.review_queue(cast.teacher)) == [evidence]
    assert Artifact.objects.get().url == "https://example.org/poster"
    assert _stale_pairs() == set()


@pytest.mark.parametrize(
    "persona",
    ["teacher_elsewhere", "ended_teacher", "student", "guardian", "teacher_guardian", "outsider"],
)
def test_who_may_not_change_the_learner_cannot_record_evidence(
    cast: Cast, standards: Standards, persona: str
) -> None:
    with pytest.raises(PermissionDenied):
        services.record_evidence(
            actor=cast.persona(persona),
            learner=cast.own,
            kind=EvidenceKind.OBSERVATION,
            title="Sneaky",
            demonstrated_at=YESTERDAY,
            scores={standards.counting.pk: 4},
        )
    assert _row_counts() == (0, 0, 0, 0, 0, 0)


def test_a_deactivated_teacher_cannot_record_evidence(cast: Cast, standards: Standards) -> None:
    with pytest.raises(PermissionDenied):
        services.record_evidence(
            actor=cast.deactivated_teacher,
            learner=cast.own,
            kind=EvidenceKind.OBSERVATION,
            title="x",
            demonstrated_at=YESTERDAY,
        )


def test_school_admin_records_evidence_for_any_learner_of_the_school(
    cast: Cast, standards: Standards
) -> None:
    evidence = services.record_evidence(
        actor=cast.school_admin,
        learner=cast.other_section_learner,
        kind=EvidenceKind.ASSESSMENT,
        title="Benchmark",
        demonstrated_at=YESTERDAY,
        scores={standards.adding.pk: 2},
    )
    assert evidence.learner_id == cast.other_section_learner.pk


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"kind": "gossip"}, "kind"),
        ({"setting": "moon"}, "setting"),
        ({"demonstrated_at": timezone.now() + datetime.timedelta(days=2)}, "demonstrated_at"),
        ({"scores": {"bad": 1}}, "standards"),
        ({"links": ["javascript:alert(1)"]}, "links"),
        ({"links": ["ftp://example.org/x"]}, "links"),
        ({"description": "x" * 20_001}, "description"),
    ],
)
def test_bad_evidence_input_names_the_field_and_writes_nothing(
    cast: Cast, standards: Standards, overrides: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {
        "actor": cast.teacher,
        "learner": cast.own,
        "kind": EvidenceKind.OBSERVATION,
        "title": "Fine",
        "demonstrated_at": YESTERDAY,
        "scores": {standards.counting.pk: 3},
    }
    values.update(overrides)
    if field == "standards":
        values["scores"] = {999_999: 3}
    with pytest.raises(ValidationError) as raised:
        services.record_evidence(**values)  # type: ignore[arg-type]
    assert field in raised.value.message_dict
    assert _row_counts() == (0, 0, 0, 0, 0, 0)
    assert _stale_pairs() == set()


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ("4.01", "outside the scale (1 to 4)"),
        ("0", "outside the scale (1 to 4)"),
        ("-1", "outside the scale"),
        ("2.555", "more than 2 decimals"),
        ("NaN", "not a number"),
        ("three", "not a number"),
    ],
)
def test_a_score_off_the_scale_is_refused(
    cast: Cast, standards: Standards, score: str, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        services.record_evidence(
            actor=cast.teacher,
            learner=cast.own,
            kind=EvidenceKind.OBSERVATION,
            title="x",
            demonstrated_at=YESTERDAY,
            scores={standards.counting.pk: score},
        )
    assert message in raised.value.message_dict["score"][0]
    assert Evidence.objects.count() == 0


def test_groupings_and_retired_standards_cannot_be_rated(cast: Cast, standards: Standards) -> None:
    for standard, message in (
        (standards.domain, "is a grouping"),
        (standards.retired, "is retired"),
    ):
        with pytest.raises(ValidationError) as raised:
            services.record_evidence(
                actor=cast.teacher,
                learner=cast.own,
                kind=EvidenceKind.OBSERVATION,
                title="x",
                demonstrated_at=YESTERDAY,
                scores={standard.pk: 3},
            )
        assert message in raised.value.message_dict["standards"][0]


def test_scores_follow_the_scale_in_force_at_the_learners_school(
    cast: Cast, standards: Standards
) -> None:
    from standards.models import ProficiencyScale, ScaleLevel

    scale = ProficiencyScale.objects.create(organisation=cast.district, mastery_threshold=4)
    for points in (1, 2, 3, 4, 5):
        ScaleLevel.objects.create(
            scale=scale, points=points, label=f"L{points}", colour="#000000", cut_point=points
        )
    evidence = services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind=EvidenceKind.OBSERVATION,
        title="Five-point scale",
        demonstrated_at=YESTERDAY,
        scores={standards.counting.pk: 5},
    )
    assert Rating.objects.get(evidence=evidence).score == Decimal("5.00")


def test_a_section_must_be_a_current_section_of_the_learner(
    cast: Cast, standards: Standards
) -> None:
    with pytest.raises(ValidationError) as raised:
        services.record_evidence(
            actor=cast.school_admin,
            learner=cast.own,
            kind=EvidenceKind.OBSERVATION,
            title="x",
            demonstrated_at=YESTERDAY,
            section=cast.other_section,
        )
    assert "section" in raised.value.message_dict


def test_a_refused_upload_leaves_no_row_and_no_file(
    cast: Cast, standards: Standards, media_root: Path
) -> None:
    good = SimpleUploadedFile("notes.txt", b"my notes")
    bad = SimpleUploadedFile("evil.svg", b"<svg onload=alert(1)></svg>")
    with pytest.raises(ValidationError) as raised:
        services.record_evidence(
            actor=cast.teacher,
            learner=cast.own,
            kind=EvidenceKind.OBSERVATION,
            title="x",
            demonstrated_at=YESTERDAY,
            files=[good, bad],
        )
    assert raised.value.message_dict["files"][0].startswith("File 2:")
    assert _row_counts() == (0, 0, 0, 0, 0, 0)
    assert list(media_root.rglob("*")) == []


def test_a_write_failing_after_files_were_stored_removes_them(
    cast: Cast, standards: Standards, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(**kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_status", lambda *args, **kwargs: fail())
    with pytest.raises(RuntimeError):
        services.record_evidence(
            actor=cast.teacher,
            learner=cast.own,
            kind=EvidenceKind.OBSERVATION,
            title="x",
            demonstrated_at=YESTERDAY,
            files=[SimpleUploadedFile("notes.txt", b"my notes")],
        )
    assert [path for path in media_root.rglob("*") if path.is_file()] == []


# --- record_ratings (quick entry) ---------------------------------------------------------------


def test_quick_entry_rates_many_learners_on_many_standards_with_one_evidence_each(
    cast: Cast, standards: Standards
) -> None:
    learners = [cast.own, cast.same_section]
    recorded = services.record_ratings(
        actor=cast.teacher,
        entries=[
            RatingEntry(learner.pk, standard.pk, 3)
            for learner in learners
            for standard in standards.ratable()
        ],
        title="Exit ticket",
        demonstrated_at=YESTERDAY,
        section=cast.section,
    )
    assert len(recorded.evidence) == 2
    assert len(recorded.ratings) == 6
    assert {e.learner_id for e in recorded.evidence} == {cast.own.pk, cast.same_section.pk}
    for evidence in recorded.evidence:
        assert _status(evidence) == EvidenceStatus.SCORED
        assert Rating.objects.filter(evidence=evidence, learner_id=evidence.learner_id).count() == 3
    assert len(_stale_pairs()) == 6


def test_quick_entry_runs_a_constant_number_of_queries(cast: Cast) -> None:
    standards = [make_standards(f"fw-{n}").counting for n in range(6)]
    learners = [cast.own, cast.same_section]
    for _ in range(8):
        learner = LearnerFactory(school=cast.school)
        EnrollmentFactory(learner=learner, section=cast.section)
        learners.append(learner)

    def run(count: int, title: str) -> int:
        entries = [
            RatingEntry(learner.pk, standard.pk, "2.5")
            for learner in learners[:count]
            for standard in standards[:count]
        ]
        with CaptureQueriesContext(connection) as queries:
            services.record_ratings(
                actor=cast.teacher,
                entries=entries,
                title=title,
                demonstrated_at=YESTERDAY,
                section=cast.section,
            )
        return len(queries)

    small = run(1, "one")
    large = run(6, "thirty-six")
    assert Rating.objects.count() == 1 + 36
    assert large == small
    assert small <= 14


def test_quick_entry_refuses_the_whole_batch_for_one_learner_out_of_scope(
    cast: Cast, standards: Standards
) -> None:
    with pytest.raises(ValidationError) as raised:
        services.record_ratings(
            actor=cast.teacher,
            entries=[
                RatingEntry(cast.own.pk, standards.counting.pk, 3),
                RatingEntry(cast.other_school_learner.pk, standards.counting.pk, 3),
            ],
            title="x",
            demonstrated_at=YESTERDAY,
        )
    assert raised.value.message_dict == {
        "entries[1]": [f"Learner {cast.other_school_learner.pk} is not one of yours."]
    }
    assert _row_counts() == (0, 0, 0, 0, 0, 0)


def test_quick_entry_says_the_same_for_a_missing_learner_and_one_out_of_scope(
    cast: Cast, standards: Standards
) -> None:
    messages = []
    for learner_id in (cast.other_state_learner.pk, 987_654_321):
        with pytest.raises(ValidationError) as raised:
            services.record_ratings(
                actor=cast.teacher,
                entries=[RatingEntry(learner_id, standards.counting.pk, 3)],
                title="x",
                demonstrated_at=YESTERDAY,
            )
        messages.append(raised.value.messages[0].replace(str(learner_id), "N"))
    assert messages[0] == messages[1]


@pytest.mark.parametrize(
    ("entries", "key", "message"),
    [
        ([], "entries", "Choose at least one learner and one standard."),
        ([(0, "counting", 3), (0, "counting", 2)], "entries[1]", "appear twice"),
        ([(0, "domain", 3)], "entries[0]", "is a grouping"),
        ([(0, "counting", 9)], "entries[0]", "outside the scale"),
        ([(0, "missing", 3)], "entries[0]", "No standard with id"),
    ],
)
def test_bad_quick_entry_names_the_entry(
    cast: Cast,
    standards: Standards,
    entries: list[tuple[int, str, int]],
    key: str,
    message: str,
) -> None:
    def standard_id(name: str) -> int:
        return 10**12 if name == "missing" else int(getattr(standards, name).pk)

    with pytest.raises(ValidationError) as raised:
        services.record_ratings(
            actor=cast.teacher,
            entries=[
                RatingEntry(cast.own.pk, standard_id(name), score) for _i, name, score in entries
            ],
            title="x",
            demonstrated_at=YESTERDAY,
        )
    assert message in raised.value.message_dict[key][0]
    assert _row_counts() == (0, 0, 0, 0, 0, 0)


def test_a_former_learner_cannot_be_rated_by_their_old_teacher(
    cast: Cast, standards: Standards
) -> None:
    with pytest.raises(ValidationError):
        services.record_ratings(
            actor=cast.teacher,
            entries=[RatingEntry(cast.former.pk, standards.counting.pk, 3)],
            title="x",
            demonstrated_at=YESTERDAY,
        )


# --- submissions and reviews --------------------------------------------------------------------


def test_student_submits_evidence_with_reflection_and_self_ratings(
    cast: Cast, standards: Standards
) -> None:
    evidence = _submit(
        cast,
        standards,
        setting=LearningSetting.COMMUNITY,
        section=cast.section,
        links=["https://example.org/garden"],
        files=[SimpleUploadedFile("plan.txt", b"bed 1: 1/8")],
    )
    assert evidence.learner_id == cast.own.pk
    assert evidence.submitted_by_id == cast.student.pk
    assert evidence.setting == "community"
    assert _status(evidence) == EvidenceStatus.SUBMITTED
    reflection = Reflection.objects.get(evidence=evidence)
    assert (reflection.what_i_learned, reflection.how_i_got_there) == ("<p>Eighths</p>", "")
    assert reflection.author_id == cast.student.pk
    rating = Rating.objects.get(evidence=evidence)
    assert (rating.source, rating.score, rating.rater_id) == (
        "self",
        Decimal("3.00"),
        cast.student.pk,
    )
    assert sorted(Artifact.objects.values_list("kind", flat=True)) == ["file", "link"]
    assert list(core.counted_ratings()) == []
    assert list(selectors.review_queue(cast.teacher)) == [evidence]
    assert list(selectors.review_queue(cast.teacher_elsewhere)) == []


@pytest.mark.parametrize("persona", ["teacher", "guardian", "outsider", "school_admin"])
def test_only_a_student_submits_evidence_for_themselves(
    cast: Cast, standards: Standards, persona: str
) -> None:
    with pytest.raises(PermissionDenied):
        _submit(cast, standards, actor=cast.persona(persona))
    assert Evidence.objects.count() == 0


def test_a_student_cannot_submit_to_a_section_they_are_not_in(
    cast: Cast, standards: Standards
) -> None:
    with pytest.raises(ValidationError) as raised:
        _submit(cast, standards, section=cast.other_section)
    assert "section" in raised.value.message_dict


def test_a_submission_needs_a_description_a_file_or_a_link(
    cast: Cast, standards: Standards
) -> None:
    with pytest.raises(ValidationError) as raised:
        _submit(cast, standards, description="  ")
    assert "description" in raised.value.message_dict


def test_script_in_a_reflection_is_removed(cast: Cast, standards: Standards) -> None:
    evidence = _submit(
        cast,
        standards,
        description='<p onclick="x()">Look</p><script>alert(1)</script>',
        reflection=ReflectionInput(
            how_i_showed_it='<a href="javascript:alert(1)">me</a><img src=x onerror=alert(1)>'
        ),
    )
    assert evidence.description == "<p>Look</p>"
    assert (
        Reflection.objects.get().how_i_showed_it == '<a rel="noopener noreferrer nofollow">me</a>'
    )


def test_teacher_scores_a_submission_and_the_ratings_count(
    cast: Cast, standards: Standards
) -> None:
    evidence = _submit(cast, standards)
    services.review_submission(
        actor=cast.teacher,
        evidence=evidence,
        decision=ReviewDecision.SCORE,
        scores={standards.fractions.pk: "2", standards.adding.pk: 3},
        comment="Good start",
    )
    assert _status(evidence) == EvidenceStatus.SCORED
    counted = core.counted_ratings().values_list("standard_id", "score", "source")
    assert set(counted) == {
        (standards.fractions.pk, Decimal("2.00"), "teacher"),
        (standards.adding.pk, Decimal("3.00"), "teacher"),
    }
    assert list(selectors.review_queue(cast.teacher)) == []


def test_teacher_returns_a_submission_with_a_required_comment(
    cast: Cast, standards: Standards
) -> None:
    evidence = _submit(cast, standards)
    with pytest.raises(ValidationError) as raised:
        services.review_submission(
            actor=cast.teacher, evidence=evidence, decision=ReviewDecision.RETURN
        )
    assert "comment" in raised.value.message_dict
    services.review_submission(
        actor=cast.teacher,
        evidence=evidence,
        decision=ReviewDecision.RETURN,
        comment="Add your working",
    )
    assert _status(evidence) == EvidenceStatus.RETURNED
    assert EvidenceStatusChange.objects.filter(evidence=evidence).count() == 2


def test_a_returned_submission_is_revised_and_scored_again_without_doubling_ratings(
    cast: Cast, standards: Standards
) -> None:
    evidence = _submit(cast, standards)
    services.review_submission(
        actor=cast.teacher, evidence=evidence, decision=ReviewDecision.RETURN, comment="More"
    )
    services.resubmit_evidence(
        actor=cast.student,
        evidence=evidence,
        note="Added a photo",
        reflection=ReflectionInput(what_i_learned="Eighths and quarters"),
        self_scores={standards.fractions.pk: "4"},
        links=["https://example.org/photo"],
    )
    assert _status(evidence) == EvidenceStatus.SUBMITTED
    assert Reflection.objects.filter(evidence=evidence).count() == 2
    self_ratings = Rating.objects.filter(evidence=evidence, source=RatingSource.SELF)
    current_self = selectors.current_ratings().filter(evidence=evidence, source="self")
    assert [r.score for r in current_self] == [Decimal("4.00")]
    assert self_ratings.count() == 2
    services.review_submission(
        actor=cast.teacher,
        evidence=evidence,
        decision=ReviewDecision.SCORE,
        scores={standards.fractions.pk: 3},
    )
    assert [r.score for r in core.counted_ratings()] == [Decimal("3.00")]


def test_only_returned_evidence_is_revised_and_only_by_its_learner(
    cast: Cast, standards: Standards
) -> None:
    evidence = _submit(cast, standards)
    with pytest.raises(ValidationError):
        services.resubmit_evidence(actor=cast.student, evidence=evidence, note="early")
    services.review_submission(
        actor=cast.teacher, evidence=evidence, decision=ReviewDecision.RETURN, comment="More"
    )
    with pytest.raises(PermissionDenied):
        services.resubmit_evidence(actor=cast.other_student, evidence=evidence, note="mine now")


def test_a_submission_is_reviewed_once(cast: Cast, standards: Standards) -> None:
    evidence = _submit(cast, standards)
    services.review_submission(
        actor=cast.teacher,
        evidence=evidence,
        decision=ReviewDecision.SCORE,
        scores={standards.fractions.pk: 3},
    )
    with pytest.raises(ValidationError) as raised:
        services.review_submission(
            actor=cast.co_teacher,
            evidence=evidence,
            decision=ReviewDecision.SCORE,
            scores={standards.fractions.pk: 1},
        )
    assert raised.value.message_dict == {"evidence": ["This evidence is not waiting for a review."]}


@pytest.mark.parametrize("persona", ["teacher_elsewhere", "guardian", "student", "other_student"])
def test_who_may_not_change_the_learner_cannot_review(
    cast: Cast, standards: Standards, persona: str
) -> None:
    evidence = _submit(cast, standards)
    with pytest.raises(PermissionDenied):
        services.review_submission(
            actor=cast.persona(persona),
            evidence=evidence,
            decision=ReviewDecision.SCORE,
            scores={standards.fractions.pk: 4},
        )
    assert Rating.objects.filter(source=RatingSource.TEACHER).count() == 0


# --- corrections, removals, overrides -----------------------------------------------------------


def _rated(cast: Cast, standards: Standards, score: int = 2) -> Rating:
    services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind=EvidenceKind.ASSESSMENT,
        title="Quiz",
        demonstrated_at=YESTERDAY,
        scores={standards.counting.pk: score},
    )
    return Rating.objects.get(source=RatingSource.TEACHER)


def test_a_correction_supersedes_and_keeps_the_old_rating(cast: Cast, standards: Standards) -> None:
    old = _rated(cast, standards)
    StaleMastery.objects.all().delete()
    new = services.supersede_rating(
        actor=cast.co_teacher, rating=old, score="3.5", comment="Marked the wrong column"
    )
    assert new.supersedes_id == old.pk
    assert (new.evidence_id, new.learner_id, new.standard_id) == (
        old.evidence_id,
        old.learner_id,
        old.standard_id,
    )
    assert new.demonstrated_at == old.demonstrated_at
    old.refresh_from_db()
    assert old.score == Decimal("2.00")
    assert list(core.counted_ratings()) == [new]
    assert selectors.rating_chain(old) == [old, new]
    assert _stale_pairs() == {(cast.own.pk, standards.counting.pk)}


def test_only_the_newest_rating_of_a_chain_is_corrected(cast: Cast, standards: Standards) -> None:
    old = _rated(cast, standards)
    services.supersede_rating(actor=cast.teacher, rating=old, score=3, comment="typo")
    with pytest.raises(ValidationError) as raised:
        services.supersede_rating(actor=cast.teacher, rating=old, score=4, comment="again")
    assert "already corrected" in raised.value.messages[0]
    assert Rating.objects.count() == 2


def test_a_teacher_correction_needs_a_comment(cast: Cast, standards: Standards) -> None:
    with pytest.raises(ValidationError) as raised:
        services.supersede_rating(
            actor=cast.teacher, rating=_rated(cast, standards), score=3, comment=""
        )
    assert "comment" in raised.value.message_dict


@pytest.mark.parametrize("persona", ["teacher_elsewhere", "guardian", "student", "outsider"])
def test_who_may_not_change_the_learner_cannot_correct_or_remove_a_rating(
    cast: Cast, standards: Standards, persona: str
) -> None:
    rating = _rated(cast, standards)
    with pytest.raises(PermissionDenied):
        services.supersede_rating(actor=cast.persona(persona), rating=rating, score=4, comment="x")
    with pytest.raises(PermissionDenied):
        services.remove_rating(actor=cast.persona(persona), rating=rating, reason="x")
    assert Rating.objects.count() == 1
    assert RatingRemoval.objects.count() == 0


def test_a_student_corrects_their_own_self_rating_but_no_teacher_does(
    cast: Cast, standards: Standards
) -> None:
    _submit(cast, standards)
    self_rating = Rating.objects.get(source=RatingSource.SELF)
    with pytest.raises(PermissionDenied):
        services.supersede_rating(actor=cast.teacher, rating=self_rating, score=1, comment="no")
    corrected = services.supersede_rating(
        actor=cast.student, rating=self_rating, score=2, comment=""
    )
    assert corrected.source == RatingSource.SELF
    assert corrected.rater_id == cast.student.pk


def test_removing_a_rating_needs_a_reason_and_keeps_its_history(
    cast: Cast, standards: Standards
) -> None:
    rating = _rated(cast, standards)
    with pytest.raises(ValidationError):
        services.remove_rating(actor=cast.teacher, rating=rating, reason=" ")
    removal = services.remove_rating(actor=cast.teacher, rating=rating, reason="Wrong learner")
    assert removal.reason == "<p>Wrong learner</p>"
    assert Rating.objects.filter(pk=rating.pk).exists()
    assert list(core.counted_ratings()) == []
    with pytest.raises(ValidationError):
        services.remove_rating(actor=cast.teacher, rating=rating, reason="again")


def test_removing_evidence_removes_its_current_ratings(cast: Cast, standards: Standards) -> None:
    evidence = services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind=EvidenceKind.ASSESSMENT,
        title="Quiz",
        demonstrated_at=YESTERDAY,
        scores={standards.counting.pk: 2, standards.adding.pk: 3},
    )
    StaleMastery.objects.all().delete()
    services.remove_evidence(actor=cast.teacher, evidence=evidence, reason="Duplicate entry")
    assert EvidenceRemoval.objects.filter(evidence=evidence).exists()
    assert RatingRemoval.objects.count() == 2
    assert list(core.counted_ratings()) == []
    assert list(selectors.visible_evidence(cast.teacher)) == []
    assert list(selectors.visible_evidence(cast.teacher, include_removed=True)) == [evidence]
    assert _stale_pairs() == {
        (cast.own.pk, standards.counting.pk),
        (cast.own.pk, standards.adding.pk),
    }


def test_a_student_withdraws_their_own_unscored_submission_but_not_a_scored_one(
    cast: Cast, standards: Standards
) -> None:
    first = _submit(cast, standards)
    services.remove_evidence(actor=cast.student, evidence=first, reason="Wrong file")
    second = _submit(cast, standards, title="Again")
    services.review_submission(
        actor=cast.teacher,
        evidence=second,
        decision=ReviewDecision.SCORE,
        scores={standards.fractions.pk: 3},
    )
    with pytest.raises(PermissionDenied):
        services.remove_evidence(actor=cast.student, evidence=second, reason="Don't like it")
    with pytest.raises(PermissionDenied):
        services.remove_evidence(actor=cast.guardian, evidence=second, reason="Don't like it")


def test_artifacts_are_added_by_staff_or_by_the_learner_before_scoring(
    cast: Cast, standards: Standards
) -> None:
    evidence = _submit(cast, standards)
    services.add_artifacts(actor=cast.student, evidence=evidence, links=["https://example.org/a"])
    services.add_artifacts(actor=cast.teacher, evidence=evidence, links=["https://example.org/b"])
    with pytest.raises(PermissionDenied):
        services.add_artifacts(
            actor=cast.guardian, evidence=evidence, links=["https://example.org/c"]
        )
    with pytest.raises(PermissionDenied):
        services.add_artifacts(
            actor=cast.other_student, evidence=evidence, links=["https://example.org/c"]
        )
    assert Artifact.objects.count() == 2


def test_the_rolled_back_write_marks_nothing_stale(cast: Cast, standards: Standards) -> None:
    from django.db import transaction

    def write_then_fail() -> None:
        with transaction.atomic():
            _rated(cast, standards)
            assert _stale_pairs() == {(cast.own.pk, standards.counting.pk)}
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert _stale_pairs() == set()
    assert Rating.objects.count() == 0


def test_learners_elsewhere_are_untouched_by_a_teachers_writes(
    cast: Cast, standards: Standards
) -> None:
    _rated(cast, standards)
    assert set(Rating.objects.values_list("learner_id", flat=True)) == {cast.own.pk}
    assert Learner.objects.count() == len(cast.all_learners())
