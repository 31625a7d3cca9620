"""Test data of the mastery tests: a framework with a grouping, learners, counted ratings.

Ratings are written as the evidence app's services write them: rows appended and
``mark_stale`` called in the same transaction (ADR 0005).
"""

from __future__ import annotations

import datetime
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import Evidence, Rating, RatingRemoval
from learners.models import Learner, Organisation
from mastery import services
from standards.models import CalculationPolicy, Framework, Standard
from tests.factories import AdminAssignmentFactory, LearnerFactory, SchoolFactory

_codes = itertools.count(1)
T0 = datetime.datetime(2026, 9, 1, 9, 0, tzinfo=datetime.UTC)


@dataclass
class World:
    school: Organisation
    framework: Framework
    domain: Standard  # a grouping with two statements
    a: Standard
    b: Standard
    learners: list[Learner]
    teacher: User


def make_framework() -> tuple[Framework, Standard, Standard, Standard]:
    n = next(_codes)
    framework = Framework.objects.create(
        identifier=f"fw-{n}", title=f"Framework {n}", source_format="csv"
    )
    domain = Standard.objects.create(
        framework=framework, identifier=f"d-{n}", human_code=f"D{n}", statement="Domain",
        is_grouping=True, depth=1,
    )  # fmt: skip
    a = Standard.objects.create(
        framework=framework, identifier=f"a-{n}", human_code=f"D{n}.A", statement="A",
        parent=domain, depth=2, position=1,
    )  # fmt: skip
    b = Standard.objects.create(
        framework=framework, identifier=f"b-{n}", human_code=f"D{n}.B", statement="B",
        parent=domain, depth=2, position=2,
    )  # fmt: skip
    return framework, domain, a, b


def build_world(learners: int = 2, method: str = "average") -> World:
    """A school whose policy is ``method``, a framework, and ``learners`` learners."""
    school = SchoolFactory()
    CalculationPolicy.objects.create(organisation=school, method=method)
    framework, domain, a, b = make_framework()
    return World(
        school=school,
        framework=framework,
        domain=domain,
        a=a,
        b=b,
        learners=[LearnerFactory(school=school) for _ in range(learners)],
        teacher=AdminAssignmentFactory(organisation=school).user,
    )


def rate(
    learner: Learner,
    standard: Standard,
    score: str | Decimal,
    *,
    rater: User,
    demonstrated_at: datetime.datetime | None = None,
    recorded_at: datetime.datetime | None = None,
    source: str = "teacher",
    supersedes: Rating | None = None,
) -> Rating:
    """A rating written the way the platform writes it.

    Teacher ratings and corrections go through the evidence services (which call
    ``mark_stale``); a self-rating, or a rating with an explicit ``recorded_at`` (for "as of"),
    is appended directly and marked in the same transaction, as those services do.
    """
    when = demonstrated_at or T0
    if supersedes is not None and recorded_at is None:
        return evidence_services.supersede_rating(
            actor=rater, rating=supersedes, score=score, comment="corrected"
        )
    if source == "teacher" and recorded_at is None:
        evidence = evidence_services.record_evidence(
            actor=rater, learner=learner, kind="observation", title="Observed",
            demonstrated_at=when, scores={standard.pk: score},
        )  # fmt: skip
        return Rating.objects.get(evidence=evidence, standard=standard)
    with transaction.atomic():
        evidence = Evidence.objects.create(
            learner=learner, kind="observation", title="Observed", demonstrated_at=when,
            submitted_by=rater,
        )  # fmt: skip
        rating = Rating.objects.create(
            evidence=evidence, learner=learner, standard=standard, demonstrated_at=when,
            score=Decimal(score), source=source, rater=rater,
            recorded_at=recorded_at or timezone.now(), supersedes=supersedes,
        )  # fmt: skip
        services.mark_stale(pairs=[(learner.pk, standard.pk)])
    return rating


def remove(rating: Rating, *, by: User, at: datetime.datetime | None = None) -> RatingRemoval:
    """Remove a rating through the evidence services (directly, at ``at``, for "as of")."""
    if at is None:
        return evidence_services.remove_rating(actor=by, rating=rating, reason="entered in error")
    with transaction.atomic():
        removal = RatingRemoval.objects.create(
            rating=rating, reason="entered in error", removed_by=by, removed_at=at
        )
        services.mark_stale(pairs=[(rating.learner_id, rating.standard_id)])
    return removal


def waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def first_holds_second_waits(
    first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[list[Any], list[BaseException], bool]:
    """Run ``first`` in a transaction held open (in a thread), then ``second`` (in another)
    until it waits on a lock, then let ``first`` commit. Returns (what each returned, the
    errors either raised, whether ``second`` waited)."""
    holding, release = threading.Event(), threading.Event()
    results: list[Any] = [None, None]
    errors: list[BaseException] = []
    pid: list[int] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                results[0] = first()
                holding.set()
                release.wait(20)
        except BaseException as error:  # reported to the test
            errors.append(error)
            holding.set()
        finally:
            connection.close()

    def follow() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])  # type: ignore[index]
            results[1] = second()
        except BaseException as error:  # reported to the test
            errors.append(error)
        finally:
            connection.close()

    one = threading.Thread(target=hold)
    one.start()
    assert holding.wait(20)
    two = threading.Thread(target=follow)
    two.start()
    waited = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and two.is_alive():
        if pid and waiting_on_a_lock(pid[0]):
            waited = True
            break
        time.sleep(0.02)
    release.set()
    one.join(30)
    two.join(30)
    return results, errors, waited
