"""The permission matrix's world: the persona cast plus one object of every kind per target.

Learner targets (relative to the ``teacher``): ``own`` (the student's record), ``same_section``,
``other_section``, ``other_school``, ``other_district``. Each has an evidence
with a rating and a file, a mastery record and event and an elective choice. Organisation
targets (``school``, ``other_school``, ``district_school``, ``other_state_school``) each have a
scale, a policy, a requirement, an elective group and a bulk recompute job. Section targets are
the cast's four sections. Reports are owned by the ``teacher`` and by the ``district_admin``.

Built once per module inside one outer transaction (like ``tests.personas._module_cast``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import Artifact, Evidence, Rating
from learners.models import Learner, Organisation, Section
from mastery.models import BulkRecompute, MasteryEvent, MasteryOverride, MasteryRecord
from moderation.models import CommonTask, ModerationItem, ModerationRound
from reports.models import ReportRequest
from standards.models import (
    Association,
    CalculationPolicy,
    ElectiveChoice,
    ElectiveGroup,
    Framework,
    ProficiencyScale,
    Requirement,
    ScaleLevel,
)
from tests.evidence.conftest import Standards, make_standards
from tests.evidence.files import png
from tests.factories import UserFactory
from tests.personas import Cast, build_cast

LEARNER_TARGETS = {
    "own": "own",
    "same_section": "same_section",
    "other_section": "other_section_learner",
    "other_school": "other_school_learner",
    "other_district": "other_district_learner",
}
SECTION_TARGETS = {
    "section": "section",
    "other_section": "other_section",
    "other_school": "school_section",
    "other_district": "district_section",
}
ORG_TARGETS = {
    "school": "school",
    "other_school": "other_school",
    "other_district": "district_school",
    "other_state": "other_state_school",
}
REPORT_OWNERS = ("teacher", "district_admin")
# Moderation: each learner target's piece is reviewed blind by a teacher outside its sections.
REVIEWERS = {
    "own": "teacher_elsewhere",
    "same_section": "teacher_elsewhere",
    "other_section": "teacher_elsewhere",
    "other_school": "teacher",
    "other_district": "teacher",
}
ROUND_OF = {
    "own": "school",
    "same_section": "school",
    "other_section": "school",
    "other_school": "other_school",
    "other_district": "other_district",
}


@dataclass
class World:
    cast: Cast
    standards: Standards
    operator: User
    learners: dict[str, Learner]
    sections: dict[str, Section]
    organisations: dict[str, Organisation]
    evidence: dict[str, Evidence]
    ratings: dict[str, Rating]
    artifacts: dict[str, Artifact]
    records: dict[str, MasteryRecord]
    events: dict[str, MasteryEvent]
    choices: dict[str, ElectiveChoice]
    returned: Evidence  # the student's own submission, returned for revision
    scales: dict[str, ProficiencyScale]
    policies: dict[str, CalculationPolicy]
    requirements: dict[str, Requirement]
    groups: dict[str, ElectiveGroup]
    bulks: dict[str, BulkRecompute]
    reports: dict[str, ReportRequest]
    framework: Framework
    rounds: dict[str, ModerationRound]
    pieces: dict[str, ModerationItem]
    tasks: dict[str, CommonTask]
    overrides: dict[str, MasteryOverride]

    def learner_key(self, learner_id: int) -> str | None:
        return next((k for k, v in self.learners.items() if v.pk == learner_id), None)


def _scale(organisation: Organisation) -> ProficiencyScale:
    scale = ProficiencyScale.objects.create(
        organisation=organisation, name="Four levels", mastery_threshold=3
    )
    for points, label in ((4, "Advanced"), (3, "Proficient"), (2, "Developing"), (1, "Beginning")):
        ScaleLevel.objects.create(
            scale=scale, points=points, label=label, colour="#336699", cut_point=points
        )
    return scale


def build_world(media_root: Path) -> World:
    """Build the cast and every target object (needs the database and MEDIA_ROOT set)."""
    cast = build_cast()
    standards = make_standards(identifier="matrix-fw")
    standards.framework.organisation = cast.state
    standards.framework.save()
    Association.objects.create(
        framework=standards.framework,
        identifier="matrix-link",
        association_type="isChildOf",
        origin=standards.counting,
        origin_identifier=standards.counting.identifier,
        destination=standards.domain,
        destination_identifier=standards.domain.identifier,
    )
    operator = UserFactory(username="operator", is_superuser=True, is_staff=True)
    learners = {key: getattr(cast, attr) for key, attr in LEARNER_TARGETS.items()}
    sections = {key: getattr(cast, attr) for key, attr in SECTION_TARGETS.items()}
    organisations = {key: getattr(cast, attr) for key, attr in ORG_TARGETS.items()}
    learner_section = {
        "own": cast.section,
        "same_section": cast.section,
        "other_section": cast.other_section,
        "other_school": cast.school_section,
        "other_district": cast.district_section,
        "other_state": None,
    }
    yesterday = timezone.now() - datetime.timedelta(days=1)
    evidence: dict[str, Evidence] = {}
    for key, learner in learners.items():
        evidence[key] = evidence_services.record_evidence(
            actor=operator,
            learner=learner,
            kind="observation",
            title=f"Evidence of {key}",
            demonstrated_at=yesterday,
            section=learner_section[key],
            scores={standards.counting.pk: 3},
            files=[SimpleUploadedFile(f"{key}.png", png(), content_type="image/png")],
        )
    ratings = {key: Rating.objects.get(evidence=item) for key, item in evidence.items()}
    artifacts = {key: Artifact.objects.get(evidence=item) for key, item in evidence.items()}
    now = timezone.now()
    records = {
        key: MasteryRecord.objects.create(
            learner=learner, standard=standards.counting, state="scored", score=3, computed_at=now
        )
        for key, learner in learners.items()
    }
    events = {
        key: MasteryEvent.objects.create(
            learner=learner,
            standard=standards.counting,
            from_state="not_assessed",
            to_state="scored",
            occurred_at=now,
        )
        for key, learner in learners.items()
    }
    groups = {
        key: ElectiveGroup.objects.create(
            organisation=org, term=cast.term, grade_level="05", title=f"Pick ({key})", choose=1
        )
        for key, org in organisations.items()
    }
    for group in groups.values():
        group.standards.add(standards.adding, standards.fractions)
    group_of = {
        "own": "school",
        "same_section": "school",
        "other_section": "school",
        "other_school": "other_school",
        "other_district": "other_district",
        "other_state": "other_state",
    }
    choices = {
        key: ElectiveChoice.objects.create(
            group=groups[group_of[key]],
            learner=learner,
            standard=standards.adding,
            chosen_by=learner.user,
        )
        for key, learner in learners.items()
    }
    returned = evidence_services.submit_evidence(
        actor=cast.student,
        kind="project",
        title="My project",
        description="A bridge from straws.",
        demonstrated_at=yesterday,
        section=cast.section,
    )
    evidence_services.review_submission(
        actor=cast.teacher, evidence=returned, decision="return", comment="Add a photo."
    )
    scales = {key: _scale(org) for key, org in organisations.items()}
    policies = {
        key: CalculationPolicy.objects.create(organisation=org, method="highest")
        for key, org in organisations.items()
    }
    requirements = {
        key: Requirement.objects.create(
            organisation=org, term=cast.term, grade_level="05", standard=standards.counting
        )
        for key, org in organisations.items()
    }
    overrides = {
        key: MasteryOverride.objects.create(
            learner=learner,
            standard=standards.counting,
            score=4,
            reason=f"Seen in class ({key})",
            set_by=operator,
            set_at=now,
        )
        for key, learner in learners.items()
    }
    bulks = {
        key: BulkRecompute.objects.create(organisation=org, reason="policy", status="done")
        for key, org in organisations.items()
    }
    reports = {}
    for owner in REPORT_OWNERS:
        name = f"matrix-{owner}.csv"
        reports[owner] = ReportRequest.objects.create(
            requester=cast.persona(owner),
            kind="section_export",
            file_format="csv",
            section=cast.section,
            as_of=timezone.localdate(),
            status="done",
            file_name=name,
            size=4,
        )
    rounds, pieces, tasks = _moderation(cast, standards, operator, organisations, ratings)
    return World(
        cast=cast,
        standards=standards,
        operator=operator,
        learners=learners,
        sections=sections,
        organisations=organisations,
        evidence=evidence,
        ratings=ratings,
        artifacts=artifacts,
        records=records,
        events=events,
        choices=choices,
        returned=returned,
        scales=scales,
        policies=policies,
        requirements=requirements,
        groups=groups,
        bulks=bulks,
        reports=reports,
        framework=standards.framework,
        rounds=rounds,
        pieces=pieces,
        tasks=tasks,
        overrides=overrides,
    )


def _moderation(
    cast: Cast,
    standards: Standards,
    operator: User,
    organisations: dict[str, Organisation],
    ratings: dict[str, Rating],
) -> tuple[dict[str, ModerationRound], dict[str, ModerationItem], dict[str, CommonTask]]:
    """A round per organisation target, a blind piece per learner target, a common task per
    organisation target (open today)."""
    today = timezone.localdate()
    rounds = {
        key: ModerationRound.objects.create(
            organisation=org,
            term=cast.term,
            title=f"Round of {key}",
            sample_size=1,
            seed=1,
            created_by=operator,
        )
        for key, org in organisations.items()
    }
    pieces = {
        key: ModerationItem.objects.create(
            round=rounds[ROUND_OF[key]],
            position=position,
            rating=rating,
            evidence_id=rating.evidence_id,
            learner_id=rating.learner_id,
            standard_id=rating.standard_id,
            school_id=rating.learner.school_id,
            section_id=rating.evidence.section_id,
            first_rater=operator,
            reviewer=cast.persona(REVIEWERS[key]),
        )
        for position, (key, rating) in enumerate(ratings.items(), start=1)
    }
    tasks = {}
    for key, org in organisations.items():
        tasks[key] = CommonTask.objects.create(
            organisation=org,
            title=f"Task of {key}",
            prompt="Count the beans.",
            opens_on=today - datetime.timedelta(days=7),
            closes_on=today + datetime.timedelta(days=7),
            created_by=operator,
        )
        tasks[key].standards.add(standards.counting)
    return rounds, pieces, tasks


@pytest.fixture(scope="module")
def world(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The world, built once per module and rolled back at its end."""
    from django.conf import settings

    media = tmp_path_factory.mktemp("matrix-media")
    reports_root = tmp_path_factory.mktemp("matrix-reports")
    saved = settings.MEDIA_ROOT, settings.REPORTS_ROOT
    settings.MEDIA_ROOT, settings.REPORTS_ROOT = media, reports_root
    for owner in REPORT_OWNERS:
        (reports_root / f"matrix-{owner}.csv").write_text("a,b\n")
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_world(media)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            settings.MEDIA_ROOT, settings.REPORTS_ROOT = saved
