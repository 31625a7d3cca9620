"""A seeded world for the reports tests, and the independent computation of expected rows.

The world sits on the cast of personas (tests/personas.py): a framework with a domain (a
grouping over A and B) and three more statements, requirements at the school and at the
district (inherited), an elective group, two calculation policies (the school's default, an
``average`` with minimum evidence 2 at the other school), and ratings around the as-of day D:
counted, self-ratings, recorded after D, superseded or removed before and after D.

Everything built has stood since a month before D (its row versions are settled: reports of a
past day read the roster and settings as they stood). The expected rows are computed here from
the seeded ratings with the engine called once per record (``mastery.rules.evaluate``, prefixes
for the first mastered day), never through the report code.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from evidence.models import Evidence, Rating, RatingRemoval
from learners.models import Learner, Organisation, Term
from learners.selectors import descendants_of
from mastery import rules
from mastery.core import counted_ratings
from mastery.policy import load_rules
from standards.models import (
    CalculationPolicy,
    ChoiceStatus,
    ElectiveChoice,
    ElectiveGroup,
    Framework,
    Requirement,
    Standard,
)
from standards.selectors import policy_for, scale_for
from tests.factories import LearnerFactory
from tests.history import settle_versions
from tests.personas import Cast

_numbers = itertools.count(1)


def end_of(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.max, tzinfo=timezone.get_current_timezone())


def noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=timezone.get_current_timezone())


@dataclass
class World:
    cast: Cast
    framework: Framework
    domain: Standard  # grouping over a and b
    a: Standard
    b: Standard
    c: Standard
    d: Standard
    e1: Standard  # electives
    e2: Standard
    day: datetime.date  # the as-of day D
    inactive: Learner
    ratings: list[Rating] = field(default_factory=list)

    @property
    def term(self) -> Term:
        return self.cast.term

    @property
    def since(self) -> datetime.datetime:
        """Since when the world has stood as built (its row versions: :func:`settle`)."""
        return end_of(self.day - datetime.timedelta(days=30))


def settle(world: World) -> None:
    """The roster and settings made so far have stood since ``world.since`` (reports of a
    past day read them as they stood: ``tests.history.settle_versions``); later changes are
    versioned at the test's own time."""
    settle_versions(world.since)


def add_rating(
    learner: Learner,
    standard: Standard,
    score: str,
    *,
    demonstrated: datetime.datetime,
    recorded: datetime.datetime,
    rater: object,
    source: str = "teacher",
    supersedes: Rating | None = None,
    section: object = None,
) -> Rating:
    """A rating appended the way the evidence services append it (with its evidence)."""
    with transaction.atomic():
        evidence = Evidence.objects.create(
            learner=learner,
            kind="observation",
            title=f"Observation {next(_numbers)}",
            demonstrated_at=demonstrated,
            recorded_at=recorded,
            submitted_by=rater,
            section=section,
        )
        return Rating.objects.create(
            evidence=evidence,
            learner=learner,
            standard=standard,
            demonstrated_at=demonstrated,
            score=Decimal(score),
            source=source,
            rater=rater,
            recorded_at=recorded,
            supersedes=supersedes,
        )


def remove(rating: Rating, *, at: datetime.datetime, by: object) -> RatingRemoval:
    return RatingRemoval.objects.create(
        rating=rating, reason="entered in error", removed_by=by, removed_at=at
    )


def build_world(cast: Cast, day: datetime.date | None = None) -> World:
    day = day or timezone.localdate() - datetime.timedelta(days=10)
    n = next(_numbers)
    framework = Framework.objects.create(
        identifier=f"fw-reports-{n}", title=f"Reports maths {n}", source_format="csv"
    )

    def item(code: str, *, parent: Standard | None = None, grouping: bool = False) -> Standard:
        return Standard.objects.create(
            framework=framework,
            identifier=f"case-{n}-{code}",
            human_code=code,
            statement=f"Statement of {code}",
            parent=parent,
            is_grouping=grouping,
            depth=2 if parent else 1,
        )

    domain = item("5.G", grouping=True)
    a, b = item("5.G.1", parent=domain), item("5.G.2", parent=domain)
    c, d = item("5.N.1"), item("5.N.2")
    e1, e2 = item("5.X.1"), item("5.X.2")
    term = cast.term
    for organisation, standard, priority in (
        (cast.school, a, "power"),
        (cast.school, c, "power"),
        (cast.school, d, "supporting"),
        (cast.school, domain, "supporting"),
        (cast.district, b, "supporting"),  # inherited by every school of the district
    ):
        Requirement.objects.create(
            organisation=organisation,
            term=term,
            grade_level="05",
            standard=standard,
            priority=priority,
        )
    group = ElectiveGroup.objects.create(
        organisation=cast.school, term=term, grade_level="05", title="Choose one", choose=1
    )
    group.standards.set([e1, e2])
    before, after = (
        end_of(day) - datetime.timedelta(days=1),
        end_of(day) + datetime.timedelta(hours=1),
    )
    ElectiveChoice.objects.create(
        group=group, learner=cast.own, standard=e1, status=ChoiceStatus.APPROVED,
        chosen_by=cast.student, decided_by=cast.teacher, decided_at=before,
    )  # fmt: skip
    ElectiveChoice.objects.create(
        group=group, learner=cast.same_section, standard=e2, status=ChoiceStatus.PENDING,
        chosen_by=cast.other_student,
    )  # fmt: skip
    late = ElectiveChoice.objects.create(
        group=group, learner=cast.other_section_learner, standard=e2,
        status=ChoiceStatus.APPROVED, chosen_by=cast.teacher, decided_by=cast.teacher,
        decided_at=after,
    )  # fmt: skip
    ElectiveChoice.objects.filter(pk=late.pk).update(chosen_at=before)
    CalculationPolicy.objects.create(
        organisation=cast.other_school, method="average", min_evidence=2
    )
    inactive = LearnerFactory(school=cast.school, active=False)
    world = World(cast, framework, domain, a, b, c, d, e1, e2, day, inactive)
    seed_ratings(world)
    settle(world)
    return world


def seed_ratings(world: World) -> None:
    """Counted and not-counted ratings on every learner of the district (and beyond)."""
    cast, day = world.cast, world.day
    rater = cast.school_admin
    scores = ["1", "2", "2.5", "3", "3.5", "4", "2.75", "3.25"]
    cursor = itertools.cycle(scores)
    learners = [
        cast.own, cast.same_section, cast.former, cast.other_section_learner,
        cast.other_school_learner, cast.other_school_peer, cast.other_district_learner,
        cast.other_state_learner, world.inactive,
    ]  # fmt: skip
    leaves = [world.a, world.b, world.c, world.e1, world.e2]
    for index, learner in enumerate(learners):
        for position, standard in enumerate(leaves):
            for k in range((index + position) % 4):  # 0..3 ratings: some pairs not assessed
                when = noon(day - datetime.timedelta(days=20 - 3 * k - position))
                world.ratings.append(
                    add_rating(
                        learner, standard, next(cursor),
                        demonstrated=when, recorded=when + datetime.timedelta(hours=1),
                        rater=rater,
                        section=cast.section if learner in (cast.own, cast.same_section) else None,
                    )
                )  # fmt: skip
    own, a, c = cast.own, world.a, world.c
    mid = noon(day - datetime.timedelta(days=5))
    # A self-rating never counts.
    add_rating(own, c, "4", demonstrated=mid, recorded=mid, rater=cast.student, source="self")
    # Recorded after D (though demonstrated before): not counted as of D.
    add_rating(own, c, "1", demonstrated=mid, recorded=end_of(day) + datetime.timedelta(hours=2),
               rater=rater)  # fmt: skip
    # Superseded before D: the correction counts, the original does not.
    wrong = add_rating(own, a, "1", demonstrated=mid, recorded=mid, rater=rater)
    add_rating(own, a, "4", demonstrated=mid, recorded=mid + datetime.timedelta(hours=2),
               rater=rater, supersedes=wrong)  # fmt: skip
    # Superseded after D: as of D the original still counts.
    kept = add_rating(own, c, "3.5", demonstrated=mid, recorded=mid, rater=rater)
    add_rating(own, c, "1", demonstrated=mid, recorded=end_of(day) + datetime.timedelta(hours=3),
               rater=rater, supersedes=kept)  # fmt: skip
    # Removed before D: gone; removed after D: still counted as of D.
    gone = add_rating(cast.same_section, c, "4", demonstrated=mid, recorded=mid, rater=rater)
    remove(gone, at=mid + datetime.timedelta(hours=1), by=rater)
    later = add_rating(cast.same_section, world.d, "2", demonstrated=mid, recorded=mid, rater=rater)
    remove(later, at=end_of(day) + datetime.timedelta(hours=1), by=rater)


# --- the independent computation ------------------------------------------------------------------


def _state(result: rules.MasteryResult) -> str:
    if result.state == rules.SCORED:
        return "mastered" if result.mastered else "not_yet"
    return result.state


def _splitmix64(value: int) -> int:
    mask = (1 << 64) - 1
    z = (value + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def expected_digest(ratings: list[tuple[int, Decimal]]) -> int:
    """ADR 8's digest of counted ratings, written out here independently of the core."""
    total = 0
    for rating_id, score in ratings:
        total += _splitmix64((rating_id << 20) + int(score * 100))
    return total % (1 << 64)


def _provenance(learner: Learner, standard: Standard, digest: int) -> dict[str, str]:
    policy = policy_for(learner.school_id, standard.framework_id)
    scale = scale_for(learner.school_id)
    settings = load_rules(learner.school_id, standard.framework_id)
    key = settings.grouping_key if standard.is_grouping else settings.leaf_key
    return {
        "calculation_version": rules.CALCULATION_VERSION,
        "policy_id": str(policy.policy_id or ""),
        "scale_id": str(scale.scale_id or ""),
        "rules_key": f"{key % (1 << 64):016x}",
        "ratings_digest": f"{digest:016x}",
    }


def expected_cell(learner: Learner, standard: Standard, at: datetime.datetime) -> dict[str, str]:
    """One learner on one standard as of ``at``, by the engine per record."""
    settings = load_rules(learner.school_id, standard.framework_id)
    if standard.is_grouping:
        children = list(Standard.objects.filter(parent=standard).order_by("pk"))
        kids = [expected_cell(learner, child, at) for child in children]
        child_results = [
            rules.ChildMastery(child.pk, k["engine_state"], k["state"] == "mastered", None)
            for child, k in zip(children, kids, strict=True)
        ]
        rolled = rules.rollup_all_mastered(child_results)
        firsts = [k["date_first_mastered"] for k in kids if k["state"] == "mastered"]
        state = (
            "mastered"
            if rolled.mastered
            else ("not_yet" if rolled.state == rules.SCORED else rolled.state)
        )
        return {
            "engine_state": rolled.state,
            "state": state,
            "level": "" if rolled.level is None else rolled.level.label,
            "score": "",
            "date_first_mastered": max(firsts) if rolled.mastered and firsts else "",
            "evidence_count": str(sum(int(k["evidence_count"]) for k in kids)),
            "method": "all_mastered",
            **_provenance(
                learner,
                standard,
                sum(int(k["ratings_digest"], 16) for k in kids) % (1 << 64),
            ),
        }
    ordered = [
        rules.Rating(score=r.score, demonstrated_at=r.demonstrated_at, recorded_at=r.recorded_at,
                     id=r.pk)
        for r in counted_ratings(as_of=at, learner_ids=[learner.pk], standard_ids=[standard.pk])
    ]  # fmt: skip
    result = rules.evaluate(ordered, settings.policy, settings.scale)
    first = ""
    for end in range(1, len(ordered) + 1):
        if rules.evaluate(ordered[:end], settings.policy, settings.scale).mastered:
            moment = ordered[end - 1].demonstrated_at
            assert moment is not None
            first = timezone.localtime(moment).date().isoformat()
            break
    return {
        "engine_state": result.state,
        "state": _state(result),
        "level": "" if result.level is None else result.level.label,
        "score": "" if result.score is None else f"{result.score:.2f}",
        "date_first_mastered": first,
        "evidence_count": str(result.evidence_count),
        "method": settings.policy.method,
        **_provenance(
            learner, standard, expected_digest([(int(r.id or 0), r.score) for r in ordered])
        ),
    }


def expected_standards(world: World, learner: Learner, at: datetime.datetime) -> list[Standard]:
    """What the world requires of a learner in the term, in the report's order (written out
    by hand from ``build_world``: power first, then by human code, then approved electives)."""
    if learner.school_id == world.cast.school.pk:
        listed = [world.a, world.c, world.domain, world.b, world.d]
        if learner.pk == world.cast.own.pk:
            listed.append(world.e1)
        return listed
    if learner.school_id == world.cast.other_school.pk:
        return [world.b]  # the district's requirement; the school sets none of its own
    return []  # other districts and states: nothing required in this term


def expected_state_rows(world: World, organisation: Organisation) -> list[dict[str, str]]:
    at = end_of(world.day)
    schools = descendants_of(organisation).values("pk")
    rows = []
    for learner in Learner.objects.filter(school_id__in=schools, active=True).order_by("pk"):
        school = Organisation.objects.get(pk=learner.school_id)
        for standard in expected_standards(world, learner, at):
            cell = expected_cell(learner, standard, at)
            rows.append(
                {
                    "state_student_id": learner.state_student_id,
                    "school_id": school.external_id or str(school.pk),
                    "grade": learner.grade_level,
                    "term": world.term.title,
                    "standard_identifier": standard.identifier,
                    "human_code": standard.human_code,
                    **{k: v for k, v in cell.items() if k != "engine_state"},
                }
            )
    return rows
