"""Test data of the journeys: a framework with domains, requirements, ratings through the
evidence services, and a stand-in for the worker that rebuilds stale mastery records."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.utils import timezone

from evidence import services as evidence_services
from learners.models import Learner, Organisation, Section, Term
from mastery import services as mastery_services
from mastery.models import StaleMastery
from standards.models import Framework, Priority, Requirement, Standard

_frameworks = itertools.count(1)


@dataclass(frozen=True)
class Tree:
    framework: Framework
    domains: list[Standard]  # groupings typed "Domain"
    standards: list[Standard]  # assessable statements, domain by domain

    def of_domain(self, index: int) -> list[Standard]:
        return [s for s in self.standards if s.parent_id == self.domains[index].pk]


def make_tree(domains: int = 2, per_domain: int = 3, grade: str = "5") -> Tree:
    """A framework of ``domains`` domains with ``per_domain`` statements each (codes such as
    ``5.NF.A.1``), in tree order."""
    n = next(_frameworks)
    framework = Framework.objects.create(
        identifier=f"journey-fw-{n}", title=f"Journey maths {n}", source_format="csv"
    )
    names = ["Number and Operations—Fractions", "Measurement and Data", "Geometry", "Algebra"]
    codes = ["NF", "MD", "G", "OA"]
    made_domains: list[Standard] = []
    made: list[Standard] = []
    for d in range(domains):
        domain = Standard.objects.create(
            framework=framework,
            identifier=f"fw{n}-d{d}",
            statement=names[d % 4],
            item_type="Domain",
            is_grouping=True,
            depth=1,
            position=d,
        )
        made_domains.append(domain)
        for i in range(per_domain):
            made.append(
                Standard.objects.create(
                    framework=framework,
                    identifier=f"fw{n}-d{d}-s{i}",
                    parent=domain,
                    human_code=f"{grade}.{codes[d % 4]}{d // 4 or ''}.A.{i + 1}",
                    statement=f"Statement {i + 1} of {names[d % 4]}",
                    item_type="Standard",
                    depth=2,
                    position=i,
                )
            )
    return Tree(framework=framework, domains=made_domains, standards=made)


def require(
    organisation: Organisation,
    term: Term,
    standards: Sequence[Standard],
    *,
    grade: str = "05",
    priority: str = Priority.SUPPORTING,
) -> None:
    Requirement.objects.bulk_create(
        Requirement(
            organisation=organisation,
            term=term,
            grade_level=grade,
            standard=standard,
            priority=priority,
        )
        for standard in standards
    )


YESTERDAY = timezone.now() - datetime.timedelta(days=1)


def quick_entry(
    teacher: User,
    section: Section,
    learners: Sequence[Learner],
    standards: Sequence[Standard],
    score: str,
    *,
    when: datetime.datetime | None = None,
) -> None:
    """Teacher ratings through the evidence services (which mark the records stale)."""
    evidence_services.record_ratings(
        actor=teacher,
        entries=[
            evidence_services.RatingEntry(learner_id=lr.pk, standard_id=s.pk, score=score)
            for lr in learners
            for s in standards
        ],
        title="Observed in class",
        demonstrated_at=when or YESTERDAY,
        section=section,
    )


def run_worker() -> int:
    """What a mastery worker does with the queued recomputes: rebuild every stale record.

    The tests run on the real broker with no worker, so they call the recompute service
    themselves between steps. Returns the number of pairs rebuilt."""
    pairs = list(StaleMastery.objects.values_list("learner_id", "standard_id"))
    mastery_services.recompute_pairs(pairs=[(int(a), int(b)) for a, b in pairs])
    return len(pairs)
