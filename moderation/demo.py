"""The demo's moderation (``seed_demo``, after the evidence seed, before the mastery recompute).

- One **common task** shared with the demo district, on the two standards its teachers rated
  most this term, with a description of each level; three sections record their results on it
  (teacher ratings through the normal quick-entry service, linked to the task).
- One **finished moderation round** drawn from that task's evidence (seeded), its pieces rated
  blind by the demo "teacher", "coteacher" and two other teachers (none of them teaching the
  pieces' classes), most at the same level, some one level away, a few two; closed keeping the
  first ratings, after a calibration meeting. Its agreement, disagreements and every teacher's
  own figures are there to see.
- **Synthetic demographics** (sex, race and ethnicity flags) for the district's learners, with
  keeping them turned on for the district, so the equity audit has subgroups to show. They
  are made up, as every demo name is.

Deterministic for a seed; idempotent (a second run finds the round and does nothing).
"""

from __future__ import annotations

import datetime
import random
from collections import Counter
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count

from evidence.models import Rating, RatingSource
from evidence.selectors import scale_levels_for
from evidence.services import RatingEntry
from learners.models import (
    DemographicsImport,
    Learner,
    LearnerDemographics,
    Organisation,
    RoleAssignment,
    RoleKind,
    Section,
    Sex,
)
from learners.selectors import descendants_of, section_roster, today
from moderation import services
from moderation.models import ModerationRound
from standards.models import Standard

ROUND_TITLE = "Fractions and place value: autumn moderation"
TASK_TITLE = "Fraction strips: compare and explain"
PROMPT = (
    "Fold paper strips into halves, thirds, quarters and sixths. Use them to put five "
    "fractions in order, then explain in writing how you know which is larger, with a "
    "drawing. Finish with one question you still have."
)
DESCRIPTIONS = (
    "Orders every fraction and explains with equivalent fractions or a number line.",
    "Orders the fractions and explains using the strips.",
    "Orders most fractions; the explanation is partly clear.",
    "Orders some fractions with help; little explanation.",
)


def seed_moderation(*, seed: int = 2026) -> str:
    """Seed the demo's common task, finished round and demographics; say what was done."""
    if ModerationRound.objects.filter(title=ROUND_TITLE).exists():
        return "the demo round is already there"
    district = Organisation.objects.filter(sourced_id="demo-district").first()
    admin = User.objects.filter(username="districtadmin").first()
    if district is None or admin is None:
        return "no demo district: nothing to moderate"
    with transaction.atomic():
        return _seed(district, admin, random.Random(seed))  # noqa: S311  (demo data)


def _seed(district: Organisation, admin: User, rng: random.Random) -> str:
    day = today()
    term_sections = Section.objects.filter(
        school__in=descendants_of(district), term__start_date__lte=day, term__end_date__gte=day
    )
    ratings = Rating.objects.filter(
        source=RatingSource.TEACHER, evidence__section__in=term_sections
    )
    top = list(
        ratings.values("standard_id").annotate(n=Count("pk")).order_by("-n", "standard_id")[:2]
    )
    if len(top) < 2:
        return "not enough demo ratings to moderate"
    standards = list(Standard.objects.filter(pk__in=[row["standard_id"] for row in top]))
    term = term_sections.select_related("term").first().term  # type: ignore[union-attr]
    levels = scale_levels_for(district)
    task = services.create_common_task(
        actor=admin,
        organisation=district,
        title=TASK_TITLE,
        prompt=PROMPT,
        standards=standards,
        opens_on=term.start_date,
        closes_on=term.end_date,
        level_descriptions={
            points: text for (points, _), text in zip(levels, DESCRIPTIONS, strict=False)
        },
    )
    reviewers = _reviewers(district)
    reviewer_ids = {user.pk for user in reviewers}
    sections = [
        section
        for section in term_sections.filter(
            pk__in=ratings.filter(standard__in=standards).values("evidence__section_id")
        )
        .exclude(role_assignments__user_id__in=reviewer_ids)
        .order_by("pk")
        .distinct()
    ][:3]
    scores = [points for points, _ in levels]
    when = min(day - datetime.timedelta(days=3), term.end_date)
    for section in sections:
        learners = list(section_roster(admin, section).order_by("pk"))
        entries = [
            RatingEntry(learner.pk, standard.pk, str(_near(rng, scores, len(scores) // 2)))
            for learner in learners
            for standard in standards
        ]
        if entries:
            services.record_task_results(
                actor=admin, task=task, section=section, demonstrated_at=when, entries=entries
            )
    draw = {
        "actor": admin,
        "organisation": district,
        "term": term,
        "title": ROUND_TITLE,
        "standards": standards,
        "sample_size": 20,
        "seed": rng.randrange(1, 10_000),
        "common_task": task,
    }
    try:
        round_ = services.start_round(**draw, reviewers=reviewers)  # type: ignore[arg-type]
    except ValidationError:  # a piece none of the four may review: every teacher reviews
        round_ = services.start_round(**draw)  # type: ignore[arg-type]
    agreed: Counter[int] = Counter()
    for item in round_.items.select_related("rating"):
        first = scores.index(item.rating.score) if item.rating.score in scores else 0
        shift = rng.choices([0, 1, 2], weights=[70, 25, 5])[0] * rng.choice([-1, 1])
        second = scores[min(max(first + shift, 0), len(scores) - 1)]
        agreed[abs(scores.index(second) - first)] += 1
        services.record_second_rating(
            actor=item.reviewer, item=item, score=second, comment="Rated from the work alone."
        )
    services.close_round(
        actor=admin,
        round_=round_,
        decision="keep",
        reason="Calibration meeting held: the rubric is read alike; the first ratings stand.",
    )
    kept = _demographics(district, admin, rng)
    return (
        f"common task with {len(sections)} sections' results; a closed round of "
        f"{sum(agreed.values())} pieces ({agreed[0]} rated alike); demographics for {kept} learners"
    )


def _near(rng: random.Random, scores: list[Decimal], middle: int) -> Decimal:
    return scores[min(max(middle + rng.choice([-1, 0, 0, 1]), 0), len(scores) - 1)]


def _reviewers(district: Organisation) -> list[User]:
    """The demo "teacher" and "coteacher", and two other teachers of the district."""
    teaching = RoleAssignment.objects.filter(
        kind=RoleKind.TEACHER, section__school__in=descendants_of(district)
    ).values("user_id")
    named = list(User.objects.filter(username__in=["teacher", "coteacher"], pk__in=teaching))
    others = list(
        User.objects.filter(pk__in=teaching, is_active=True)
        .exclude(pk__in=[user.pk for user in named])
        .order_by("pk")[:2]
    )
    return named + others


def _demographics(district: Organisation, admin: User, rng: random.Random) -> int:
    """Made-up subgroups for the district's learners, kept by the district's choice."""
    DemographicsImport.objects.get_or_create(organisation=district, defaults={"enabled_by": admin})
    learners = Learner.objects.filter(school__in=descendants_of(district)).values_list(
        "pk", flat=True
    )
    rows = []
    for learner_id in learners:
        race = rng.choices(
            ["white", "black_or_african_american", "asian", "two_or_more_races", "other"],
            weights=[45, 20, 12, 8, 15],
        )[0]
        flags = {
            "american_indian_or_alaska_native": race == "other" and rng.random() < 0.3,
            "asian": race == "asian",
            "black_or_african_american": race == "black_or_african_american",
            "native_hawaiian_or_other_pacific_islander": False,
            "white": race == "white",
            "two_or_more_races": race == "two_or_more_races",
            "hispanic_or_latino": rng.random() < 0.25,
        }
        rows.append(
            LearnerDemographics(
                learner_id=learner_id, sex=rng.choice([Sex.FEMALE, Sex.MALE]), **flags
            )
        )
    LearnerDemographics.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)
