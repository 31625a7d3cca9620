"""The demo's evidence: a term of lifelike evidence, ratings and submissions (``seed_demo``).

``seed_evidence()`` is called at the end of ``learners``' ``seed_demo`` command, after the demo
district, sections, teachers and learners exist. It

- imports a real framework: the Common Core maths CASE package from ``../shared/data`` when it
  is there, otherwise a small built-in framework (the demo works without ``../shared``);
- gives every section with a current teacher a term of teacher ratings (quick-entry style
  observations and assessments on the standards of its grade), each learner with their own
  ability and growth, so mastery differs between learners and rises over the term;
- gives every learner submissions with a reflection on the four prompts and self-ratings: one
  scored by the teacher, one waiting in the review queue, and for some one returned for
  revision.

Rows are written set-based (``bulk_create``) with ``recorded_at`` a day or two after
``demonstrated_at`` (a hand-entered term looks like that), keeping every invariant the services
keep; then every touched (learner, standard) pair is marked stale in the same transaction so
the mastery workers rebuild the records. Deterministic for a given seed; idempotent (a second
run finds the demo evidence and does nothing).
"""

from __future__ import annotations

import datetime
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from common.importing import Location
from evidence import selectors, uploads
from evidence.models import (
    Artifact,
    ArtifactKind,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    EvidenceStatusChange,
    LearningSetting,
    Rating,
    RatingSource,
    Reflection,
)
from evidence.text import clean_text
from learners import selectors as learner_selectors
from learners.models import Enrollment, Learner, RoleAssignment, RoleKind, Section, Term
from mastery.services import mark_stale
from standards import services as standards_services
from standards.importers.base import (
    ParsedAssociation,
    ParsedDocument,
    ParsedFramework,
    ParsedItem,
)
from standards.importers.case import parse_case_bytes
from standards.models import Framework, Priority, Standard, StandardStatus
from standards.services import import_framework

logger = logging.getLogger(__name__)

CCSS_PACKAGE = (
    Path(settings.BASE_DIR).parent
    / "shared"
    / "data"
    / "standards"
    / "ccss-math-case-opensalt-2016"
    / "ccss_math_cfpackage.json"
)
CCSS_IDENTIFIER = "http://purl.org/ASN/resources/D10003FB"
LOCAL_IDENTIFIER = "5eed0000-de70-4000-8000-000000000000"
DEMO_KEY = "demo:"

ASSESSMENT_TITLES = (
    "Exit ticket",
    "Warm-up check",
    "Unit quiz",
    "Small-group conference",
    "Math talk observation",
    "Problem of the week",
    "Performance task",
    "Station rotation check",
)
PROJECTS = (
    ("Garden plot plan", LearningSetting.COMMUNITY, "I measured our community garden beds"),
    ("Bake sale budget", LearningSetting.IN_SCHOOL, "I planned what to buy for the bake sale"),
    ("Bike ride log", LearningSetting.ONLINE, "I tracked my rides in a spreadsheet"),
    ("Shop shift tally", LearningSetting.WORK_BASED, "I counted stock at my aunt's shop"),
    ("Board game design", LearningSetting.IN_SCHOOL, "I designed a board game with dice"),
    ("Recipe scaling", LearningSetting.COMMUNITY, "I doubled a recipe for a family dinner"),
)


@dataclass
class SeedReport:
    framework: str
    sections: int = 0
    learners: int = 0
    evidence: int = 0
    ratings: int = 0
    submissions: int = 0
    requirements: int = 0
    skipped: bool = False

    def __str__(self) -> str:
        if self.skipped:
            return f"demo evidence already seeded ({self.requirements} requirements)"
        return (
            f"{self.requirements} requirements (power and supporting, every grade), "
            f"{self.evidence} evidence and {self.ratings} ratings for {self.learners} learners "
            f"in {self.sections} sections ({self.submissions} submissions with reflections), "
            f"against {self.framework}"
        )


def demo_framework() -> Framework:
    """The Common Core maths package when ../shared has it, else the built-in framework."""
    if CCSS_PACKAGE.exists():
        existing = Framework.objects.filter(identifier=CCSS_IDENTIFIER).first()
        if existing is not None:
            return existing
        import_framework(parsed=parse_case_bytes(CCSS_PACKAGE.read_bytes()), actor=None)
        return Framework.objects.get(identifier=CCSS_IDENTIFIER)
    existing = Framework.objects.filter(identifier=LOCAL_IDENTIFIER).first()
    if existing is not None:
        return existing
    import_framework(parsed=_local_framework(), actor=None)
    return Framework.objects.get(identifier=LOCAL_IDENTIFIER)


_LOCAL_ITEMS: tuple[tuple[str, str, str, str], ...] = (
    # (code, parent code, grade, statement); a blank grade marks a grouping
    ("OA", "", "", "Operations and Algebraic Thinking"),
    ("3.OA.A.1", "OA", "03", "Interpret products of whole numbers as equal groups."),
    ("3.OA.A.3", "OA", "03", "Use multiplication and division within 100 to solve problems."),
    ("4.OA.A.3", "OA", "04", "Solve multistep word problems with whole numbers."),
    ("5.OA.A.1", "OA", "05", "Use parentheses and brackets in numerical expressions."),
    ("NBT", "", "", "Number and Operations in Base Ten"),
    ("3.NBT.A.2", "NBT", "03", "Fluently add and subtract within 1000."),
    ("4.NBT.B.5", "NBT", "04", "Multiply a whole number of up to four digits by one digit."),
    ("5.NBT.B.5", "NBT", "05", "Fluently multiply multi-digit whole numbers."),
    ("5.NBT.A.3", "NBT", "05", "Read, write and compare decimals to thousandths."),
    ("NF", "", "", "Number and Operations: Fractions"),
    ("3.NF.A.1", "NF", "03", "Understand a fraction 1/b as one part of a whole."),
    ("4.NF.A.1", "NF", "04", "Explain why fractions are equivalent using visual models."),
    ("5.NF.A.1", "NF", "05", "Add and subtract fractions with unlike denominators."),
    ("5.NF.B.4", "NF", "05", "Multiply a fraction or whole number by a fraction."),
    ("MD", "", "", "Measurement and Data"),
    ("3.MD.C.7", "MD", "03", "Relate area to multiplication and addition."),
    ("4.MD.A.3", "MD", "04", "Apply the area and perimeter formulas for rectangles."),
    ("5.MD.C.5", "MD", "05", "Relate volume to multiplication and addition."),
)


def _local_framework() -> ParsedFramework:
    def uid(index: int) -> str:
        return f"5eed0000-de70-4000-8000-{index:012d}"

    ids = {code: uid(index) for index, (code, *_rest) in enumerate(_LOCAL_ITEMS, start=1)}
    items = [
        ParsedItem(
            identifier=ids[code],
            statement=statement,
            where=Location("demo", record=code),
            human_code=code if grade else "",
            item_type="Standard" if grade else "Domain",
            grade_levels=[grade] if grade else ["03", "04", "05"],
        )
        for code, _parent, grade, statement in _LOCAL_ITEMS
    ]
    associations = [
        ParsedAssociation(
            identifier=uid(1000 + index),
            association_type="isChildOf",
            origin_identifier=ids[code],
            destination_identifier=ids[parent] if parent else LOCAL_IDENTIFIER,
            where=Location("demo", row=index),
        )
        for index, (code, parent, _grade, _statement) in enumerate(_LOCAL_ITEMS, start=1)
    ]
    return ParsedFramework(
        source_format="case",
        document=ParsedDocument(
            identifier=LOCAL_IDENTIFIER,
            title="Demo mathematics (grades 3-5)",
            creator="Mastery platform demo",
            subjects=["Mathematics"],
            language="en",
        ),
        items=items,
        associations=associations,
    )


def _grade_standards(framework: Framework, grade: str, count: int) -> list[Standard]:
    ratable = Standard.objects.filter(
        framework=framework, is_grouping=False, status=StandardStatus.ACTIVE
    ).order_by("depth", "position", "id")
    chosen = [s for s in ratable if grade and grade in (s.grade_levels or [])]
    if not chosen:
        chosen = list(ratable)
    # Spread the picks across the grade's standards (domains differ), deterministically.
    step = max(1, len(chosen) // count)
    return chosen[::step][:count]


POWER_PER_GRADE = 2


def _seed_requirements(framework: Framework, count: int) -> int:
    """Requires, for every grade the demo's learners are in, the standards their sections are
    rated on (the first two power standards, the rest supporting), set by the district's
    administrator for each term the district's sections are in, so the state export, the school
    report, power standards and progress have rows. Idempotent (one row per standard)."""
    admin = (
        RoleAssignment.objects.filter(kind=RoleKind.DISTRICT_ADMIN)
        .select_related("user", "organisation")
        .order_by("pk")
        .first()
    )
    if admin is None or admin.organisation is None:
        return 0
    district = admin.organisation
    grades = sorted(
        set(
            Learner.objects.filter(active=True, school__parent=district)
            .values_list("grade_level", flat=True)
            .distinct()
        )
        - {""}
    )
    made = 0
    terms = Term.objects.filter(
        pk__in=Section.objects.filter(school__parent=district).values("term_id")
    ).order_by("pk")
    for term in terms:
        for grade in grades:
            chosen = _grade_standards(framework, grade, count)
            for priority, picked in (
                (Priority.POWER, chosen[:POWER_PER_GRADE]),
                (Priority.SUPPORTING, chosen[POWER_PER_GRADE:]),
            ):
                if picked:
                    made += len(
                        standards_services.add_requirements(
                            actor=admin.user,
                            organisation=district,
                            term=term,
                            grade_level=grade,
                            standards=picked,
                            priority=priority,
                        )
                    )
    return made


def _section_grade(section: Section, learners: Sequence[Learner]) -> str:
    for value in [section.grade_levels, *(learner.grade_level for learner in learners)]:
        grade = (value or "").split(",")[0].strip()
        if grade:
            return grade.zfill(2) if grade.isdigit() else grade.upper()
    return ""


@dataclass
class _Batch:
    evidence: list[Evidence]
    statuses: list[tuple[Evidence, str, User, datetime.datetime, str]]
    ratings: list[Rating]
    reflections: list[Reflection]
    artifacts: list[Artifact]
    files: list[str]


def _score(levels: Sequence[Decimal], ability: float) -> Decimal:
    low, high = float(min(levels)), float(max(levels))
    value = min(high, max(low, round(ability)))
    return Decimal(value).quantize(Decimal("0.01"))


@transaction.atomic
def seed_evidence(
    *,
    seed: int = 2026,
    events_per_section: int = 8,
    standards_per_section: int = 6,
    today: datetime.date | None = None,
) -> SeedReport:
    """Seeds the demo evidence for every current section with a teacher (see the module doc).

    Idempotent: returns a report with ``skipped`` when demo evidence already exists.
    """
    framework = demo_framework()
    report = SeedReport(framework=framework.title)
    report.requirements = _seed_requirements(framework, standards_per_section)
    if Evidence.objects.filter(source_key__startswith=DEMO_KEY).exists():
        report.skipped = True
        return report
    day = today or timezone.localdate()
    rng = random.Random(seed)  # noqa: S311  (demo data, not security)
    teachers: dict[int, User] = {}
    for assignment in (
        RoleAssignment.objects.filter(learner_selectors.current_q(day), kind=RoleKind.TEACHER)
        .select_related("user")
        .order_by("section_id", "id")
    ):
        if assignment.user.is_active and assignment.section_id is not None:
            teachers.setdefault(assignment.section_id, assignment.user)
    batch = _Batch([], [], [], [], [], [])
    try:
        _plan(
            batch, rng, framework, teachers, day, events_per_section, standards_per_section, report
        )
        _write(batch)
    except BaseException:
        uploads.delete_stored(batch.files)  # the rows roll back; the files are outside
        raise
    report.evidence = len(batch.evidence)
    report.ratings = len(batch.ratings)
    report.submissions = len(batch.reflections)
    mark_stale(pairs={(rating.learner_id, rating.standard_id) for rating in batch.ratings})
    logger.info(
        "demo evidence seeded", extra={"evidence": report.evidence, "ratings": report.ratings}
    )
    return report


def _plan(
    batch: _Batch,
    rng: random.Random,
    framework: Framework,
    teachers: dict[int, User],
    day: datetime.date,
    events_per_section: int,
    standards_per_section: int,
    report: SeedReport,
) -> None:
    sections = (
        Section.objects.filter(pk__in=teachers.keys(), term__start_date__lte=day)
        .filter(term__end_date__gte=day)
        .select_related("school", "term")
        .order_by("pk")
    )
    abilities: dict[int, tuple[float, float]] = {}
    seen_learners: set[int] = set()
    for section in sections:
        learners = list(
            Learner.objects.filter(
                active=True,
                pk__in=Enrollment.objects.filter(
                    learner_selectors.current_q(day), section_id=section.pk
                ).values("learner_id"),
            )
            .select_related("user")
            .order_by("pk")
        )
        if not learners:
            continue
        report.sections += 1
        teacher = teachers[section.pk]
        standards = _grade_standards(
            framework, _section_grade(section, learners), standards_per_section
        )
        levels = [points for points, _label in selectors.scale_levels_for(section.school)]
        for learner in learners:
            # Each learner starts somewhere between Beginning and Proficient and grows.
            abilities.setdefault(learner.pk, (rng.uniform(1.2, 3.2), rng.uniform(0.2, 1.4)))
        _section_term(
            batch,
            rng,
            section,
            teacher,
            learners,
            standards,
            levels,
            abilities,
            day,
            events_per_section,
        )
        for learner in learners:
            if learner.pk in seen_learners:
                continue
            seen_learners.add(learner.pk)
            _submissions(batch, rng, section, teacher, learner, standards, levels, abilities, day)
    report.learners = len(seen_learners)


def _moment(day: datetime.date, rng: random.Random) -> datetime.datetime:
    return timezone.make_aware(
        datetime.datetime.combine(
            day, datetime.time(rng.randint(8, 14), rng.choice((0, 15, 30, 45)))
        )
    )


def _section_term(
    batch: _Batch,
    rng: random.Random,
    section: Section,
    teacher: User,
    learners: Sequence[Learner],
    standards: Sequence[Standard],
    levels: Sequence[Decimal],
    abilities: dict[int, tuple[float, float]],
    day: datetime.date,
    events: int,
) -> None:
    start = section.term.start_date
    span = max(1, (min(day, section.term.end_date) - start).days - 2)
    for index in range(events):
        shown_on = start + datetime.timedelta(days=span * (index + 1) // (events + 1))
        progress = (shown_on - start).days / span
        rated = [standards[(index + offset) % len(standards)] for offset in range(2)]
        title = (
            f"{ASSESSMENT_TITLES[index % len(ASSESSMENT_TITLES)]}: {rated[0].human_code or 'maths'}"
        )
        kind = EvidenceKind.ASSESSMENT if index % 3 else EvidenceKind.OBSERVATION
        demonstrated = _moment(shown_on, rng)
        recorded = demonstrated + datetime.timedelta(hours=rng.randint(2, 40))
        for learner in learners:
            if rng.random() < 0.08:  # absent that day
                continue
            base, growth = abilities[learner.pk]
            evidence = Evidence(
                learner=learner,
                kind=kind,
                title=title[:200],
                description=clean_text(f"{title} in {section.title}."),
                setting=LearningSetting.IN_SCHOOL,
                demonstrated_at=demonstrated,
                recorded_at=recorded,
                submitted_by=teacher,
                section=section,
                source_key=f"{DEMO_KEY}{section.pk}:{index}:{learner.pk}",
            )
            batch.evidence.append(evidence)
            batch.statuses.append((evidence, EvidenceStatus.SCORED, teacher, recorded, ""))
            for standard in rated:
                ability = base + growth * progress + rng.gauss(0, 0.45)
                batch.ratings.append(
                    Rating(
                        evidence=evidence,
                        learner=learner,
                        demonstrated_at=demonstrated,
                        standard=standard,
                        score=_score(levels, ability),
                        source=RatingSource.TEACHER,
                        rater=teacher,
                        recorded_at=recorded,
                    )
                )


def _submissions(
    batch: _Batch,
    rng: random.Random,
    section: Section,
    teacher: User,
    learner: Learner,
    standards: Sequence[Standard],
    levels: Sequence[Decimal],
    abilities: dict[int, tuple[float, float]],
    day: datetime.date,
) -> None:
    """Two submissions (a third for some): scored, waiting for review, returned."""
    author = learner.user or teacher  # a learner without a login hands in paper, typed up
    base, growth = abilities[learner.pk]
    plans = [EvidenceStatus.SCORED, EvidenceStatus.SUBMITTED]
    if learner.pk % 3 == 0:
        plans.append(EvidenceStatus.RETURNED)
    start = section.term.start_date
    span = max(1, (day - start).days)
    for number, status in enumerate(plans):
        title, setting, what = PROJECTS[(learner.pk + number) % len(PROJECTS)]
        shown_on = start + datetime.timedelta(
            days=min(span - 1, span * (number + 1) // (len(plans) + 1) + rng.randint(0, 3))
        )
        demonstrated = _moment(shown_on, rng)
        submitted = demonstrated + datetime.timedelta(hours=rng.randint(3, 30))
        standard = standards[(learner.pk + number) % len(standards)]
        code = standard.human_code or "this standard"
        evidence = Evidence(
            learner=learner,
            kind=EvidenceKind.PROJECT
            if setting == LearningSetting.IN_SCHOOL
            else EvidenceKind.COMMUNITY,
            title=title,
            description=clean_text(f"{what}. It shows {code}: {standard.statement[:200]}"),
            setting=setting,
            demonstrated_at=demonstrated,
            recorded_at=submitted,
            submitted_by=author,
            section=section,
            source_key=f"{DEMO_KEY}submission:{learner.pk}:{number}",
        )
        batch.evidence.append(evidence)
        batch.statuses.append((evidence, EvidenceStatus.SUBMITTED, author, submitted, ""))
        batch.reflections.append(
            Reflection(
                evidence=evidence,
                author=author,
                what_i_learned=clean_text(f"I learned how {code} works in real life."),
                how_i_got_there=clean_text(
                    "I tried it first, got stuck, then drew a model and asked a friend."
                ),
                how_i_showed_it=clean_text(f"{what}, and explained each step."),
                how_i_will_use_it=clean_text("I will use it when I plan my next project."),
                created_at=submitted,
            )
        )
        batch.artifacts.append(
            Artifact(
                evidence=evidence,
                kind=ArtifactKind.LINK,
                url=f"https://example.org/portfolio/{learner.pk}/{number + 1}",
                uploaded_by=author,
                created_at=submitted,
            )
        )
        self_score = _score(levels, base + growth * 0.5 + rng.choice((-0.5, 0, 0.5, 1)))
        batch.ratings.append(
            Rating(
                evidence=evidence,
                learner=learner,
                demonstrated_at=demonstrated,
                standard=standard,
                score=self_score,
                source=RatingSource.SELF,
                rater=author,
                recorded_at=submitted,
            )
        )
        reviewed = submitted + datetime.timedelta(hours=rng.randint(4, 48))
        if status == EvidenceStatus.SCORED:
            batch.ratings.append(
                Rating(
                    evidence=evidence,
                    learner=learner,
                    demonstrated_at=demonstrated,
                    standard=standard,
                    score=_score(levels, base + growth * 0.5 + rng.gauss(0, 0.4)),
                    source=RatingSource.TEACHER,
                    rater=teacher,
                    recorded_at=reviewed,
                    comment=clean_text("Clear work: your model made the reasoning easy to follow."),
                )
            )
            batch.statuses.append((evidence, EvidenceStatus.SCORED, teacher, reviewed, ""))
        elif status == EvidenceStatus.RETURNED:
            batch.statuses.append(
                (
                    evidence,
                    EvidenceStatus.RETURNED,
                    teacher,
                    reviewed,
                    clean_text("Please add a photo of your working and explain the last step."),
                )
            )
        if number == 0 and learner.pk % 4 == 0:
            _text_artifact(batch, evidence, author, learner, submitted)


def _text_artifact(
    batch: _Batch,
    evidence: Evidence,
    author: User,
    learner: Learner,
    when: datetime.datetime,
) -> None:
    checked = uploads.check_upload(
        name="my-notes.txt",
        data=f"Notes for {evidence.title}\n\nStep 1: I measured.\nStep 2: I checked.\n".encode(),
    )
    storage_name = uploads.store(checked)
    batch.files.append(storage_name)
    batch.artifacts.append(
        Artifact(
            evidence=evidence,
            kind=ArtifactKind.FILE,
            storage_name=storage_name,
            original_name=checked.original_name,
            content_type=checked.content_type,
            size=checked.size,
            sha256=checked.sha256,
            uploaded_by=author,
            created_at=when,
        )
    )


def _write(batch: _Batch) -> None:
    Evidence.objects.bulk_create(batch.evidence, batch_size=2000)
    EvidenceStatusChange.objects.bulk_create(
        [
            EvidenceStatusChange(
                evidence=evidence, status=status, changed_by=user, changed_at=when, comment=comment
            )
            for evidence, status, user, when, comment in batch.statuses
        ],
        batch_size=2000,
    )
    Rating.objects.bulk_create(batch.ratings, batch_size=5000)
    Reflection.objects.bulk_create(batch.reflections, batch_size=2000)
    Artifact.objects.bulk_create(batch.artifacts, batch_size=2000)
