"""A learner with a row in every table of the personal-data registry, and files on disk.

``fill(cast, learner, media, reports)`` gives one learner evidence (recorded by the teacher,
submitted by the student with a reflection and a file), ratings with a correction and a
removal, a removed evidence, mastery rows, an elective choice, a profile, a guardian link, a
transcript (with its file) and a section report that lists them, audit entries, a disclosure
and an admin change-log entry. Names carry a canary so a scan of every table can prove an
erasure left no copy behind.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audit import services as audit
from audit.models import Disclosure
from badges.models import Credential
from evidence import services as evidence_services
from evidence.models import Artifact, Evidence, Rating
from learners.models import Learner, LearnerDemographics
from mastery import services as mastery_services
from mastery.models import MasteryEvent, MasteryRecord, StaleMastery
from moderation.models import (
    CommonTask,
    CommonTaskEvidence,
    ModerationItem,
    ModerationRating,
    ModerationRound,
)
from notifications.models import DigestSubscription, Preference
from notifications.services import notify_standard_mastered
from portal.models import Goal
from reports.models import ReportRequest
from standards.models import ElectiveChoice, ElectiveGroup
from tests.evidence.conftest import Standards
from tests.evidence.files import png
from tests.factories import GuardianLinkFactory, LearnerProfileFactory, UserFactory
from tests.personas import Cast

CANARY = "Zyxwquorble"


@dataclass(frozen=True)
class Filled:
    learner: Learner
    artifact_files: list[Path]
    report_files: list[Path]
    section_report_file: Path


def _report(
    cast: Cast, root: Path, name: str, *, learner: Learner | None = None, section: bool = False
) -> tuple[ReportRequest, Path]:
    report = ReportRequest.objects.create(
        requester=cast.teacher,
        kind="transcript" if learner is not None else "section_export",
        file_format="pdf" if learner is not None else "csv",
        learner=learner,
        section=cast.section if section else None,
        organisation=cast.school,
        as_of=timezone.localdate(),
        status="done",
        file_name=name,
        size=10,
    )
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"report about {CANARY}".encode())
    return report, path


def fill(
    cast: Cast, learner: Learner, standards: Standards, reports_root: Path, tag: str = "a"
) -> Filled:
    """Every kind of row about ``learner`` (enrolled in ``cast.section``; their login, if any,
    submits the student's evidence)."""
    learner.given_name = f"{CANARY}{tag}"
    learner.save()
    yesterday = timezone.now() - datetime.timedelta(days=1)
    recorded = evidence_services.record_evidence(
        actor=cast.teacher,
        learner=learner,
        kind="observation",
        title=f"Counting with {CANARY}",
        description=f"<p>{CANARY} counted to 20</p>",
        demonstrated_at=yesterday,
        section=cast.section,
        scores={standards.counting.pk: 3, standards.adding.pk: 2},
        comment="good",
        files=[SimpleUploadedFile(f"{CANARY}.png", png(), content_type="image/png")],
    )
    rating = Rating.objects.filter(evidence=recorded, standard=standards.counting).get()
    evidence_services.supersede_rating(actor=cast.teacher, rating=rating, score=4, comment="fix")
    other = Rating.objects.filter(evidence=recorded, standard=standards.adding).get()
    evidence_services.remove_rating(actor=cast.teacher, rating=other, reason="wrong standard")
    if learner.user is not None:
        submitted = evidence_services.submit_evidence(
            actor=learner.user,
            kind="project",
            title=f"My {CANARY} project",
            demonstrated_at=yesterday,
            section=cast.section,
            reflection=evidence_services.ReflectionInput(
                what_i_learned=f"I, {CANARY}, learned fractions",
                how_i_got_there="glue",
                how_i_showed_it="a model",
                how_i_will_use_it="baking",
            ),
            self_scores={standards.fractions.pk: 2},
            files=[SimpleUploadedFile("notes.png", png(), content_type="image/png")],
        )
        evidence_services.review_submission(
            actor=cast.teacher,
            evidence=submitted,
            decision="score",
            scores={standards.fractions.pk: 3},
            comment="ok",
        )
    evidence_services.import_ratings_csv(
        actor=cast.teacher,
        data=(
            "learner_id,standard,score,date,title,comment\n"
            f"{learner.pk},{standards.fractions.identifier},2,{yesterday.date().isoformat()},"
            f"Imported for {CANARY}{tag},{CANARY} read it\n"
        ).encode(),
    )
    spare = evidence_services.record_evidence(
        actor=cast.teacher,
        learner=learner,
        kind="observation",
        title="duplicate",
        demonstrated_at=yesterday,
        section=cast.section,
    )
    evidence_services.remove_evidence(actor=cast.teacher, evidence=spare, reason="duplicate")

    _moderation(cast, learner, standards, recorded, rating, tag)
    now = timezone.now()
    MasteryRecord.objects.create(
        learner=learner, standard=standards.counting, state="scored", score=4, computed_at=now
    )
    MasteryEvent.objects.create(
        learner=learner,
        standard=standards.counting,
        from_state="not_assessed",
        to_state="scored",
        occurred_at=now,
    )
    # The ratings above marked their pairs stale (mastery.services.mark_stale).
    assert StaleMastery.objects.filter(learner=learner).exists()
    mastery_services.set_override(
        actor=cast.teacher,
        learner=learner,
        standard=standards.adding,
        level=4,
        reason=f"{CANARY} explained it well",
    )
    group = ElectiveGroup.objects.create(
        organisation=cast.school, term=cast.term, grade_level="05", title="Pick one", choose=1
    )
    ElectiveChoice.objects.create(
        group=group, learner=learner, standard=standards.fractions, chosen_by=learner.user
    )
    LearnerProfileFactory(learner=learner, strengths=f"{CANARY} is kind")
    LearnerDemographics.objects.create(learner=learner, sex="female", asian=True)
    guardian = UserFactory()
    GuardianLinkFactory(guardian=guardian, learner=learner)
    DigestSubscription.objects.create(guardian=guardian, learner=learner)
    notify_standard_mastered(learner_id=learner.pk, standard_id=standards.counting.pk)
    if learner.user is not None:
        Preference.objects.create(user=learner.user, language="es")
    Goal.objects.create(learner=learner, title=f"{CANARY} reads a book a week")
    Credential.objects.create(
        learner=learner,
        standard=standards.counting,
        issuer_id=learner.school_id,
        credential={"name": f"{CANARY} mastered"},
        jwt="header.payload.signature",
        kid="test",
    )
    _, transcript = _report(cast, reports_root, f"t-{tag}.pdf", learner=learner)
    _, section_file = _report(cast, reports_root, f"s-{tag}.csv", section=True)
    audit.record_access(actor=cast.teacher, action="record.read", learner_id=learner.pk)
    Disclosure.objects.create(learner_id=learner.pk, recipient="state", purpose="accountability")
    LogEntry.objects.create(
        user=cast.teacher,
        content_type=ContentType.objects.get_for_model(Learner),
        object_id=str(learner.pk),
        object_repr=f"{CANARY} {learner.family_name}",
        action_flag=CHANGE,
    )
    files = [
        Path(_media(name))
        for name in Artifact.objects.filter(evidence__learner=learner)
        .exclude(storage_name="")
        .values_list("storage_name", flat=True)
    ]
    assert Evidence.objects.filter(learner=learner).count() >= 2
    return Filled(
        learner=learner,
        artifact_files=files,
        report_files=[transcript, section_file],
        section_report_file=section_file,
    )


def _moderation(
    cast: Cast, learner: Learner, standards: Standards, recorded: Evidence, rating: Rating, tag: str
) -> None:
    """The evidence recorded from a common task, sampled in a round and rated again."""
    today = timezone.localdate()
    task = CommonTask.objects.create(
        organisation=cast.school,
        title=f"Jars {tag}",
        prompt="Count the beans.",
        opens_on=today,
        closes_on=today,
        created_by=cast.school_admin,
    )
    CommonTaskEvidence.objects.create(task=task, evidence=recorded)
    round_ = ModerationRound.objects.create(
        organisation=cast.school,
        term=cast.term,
        title=f"Round {tag}",
        sample_size=1,
        seed=1,
        created_by=cast.school_admin,
    )
    item = ModerationItem.objects.create(
        round=round_,
        position=1,
        rating=rating,
        evidence=recorded,
        learner=learner,
        standard=standards.counting,
        school_id=learner.school_id,
        section=cast.section,
        first_rater=cast.teacher,
        reviewer=cast.teacher_elsewhere,
    )
    ModerationRating.objects.create(
        item=item,
        score=3,
        comment=f"{CANARY} counted well",
        rated_by=cast.teacher_elsewhere,
        rated_at=timezone.now(),
    )


def _media(storage_name: str) -> str:
    from django.conf import settings

    from evidence.uploads import storage_path

    return str(Path(settings.MEDIA_ROOT) / storage_path(storage_name))
