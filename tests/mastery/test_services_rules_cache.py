"""The process's rules cache (``mastery.policy.SHARED``): kept across recomputes, never stale.

Every edit here is made in the test's own transaction, between two recomputes in this process:
the hardest case for a version built from ``xmin`` (one transaction, one ``xmin``), and edits
made with ``update()`` (which does not touch ``updated_at``).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from learners.models import Organisation
from mastery import services, sql
from mastery.models import MasteryRecord
from mastery.policy import SHARED
from standards.models import CalculationPolicy, ProficiencyScale, ScaleLevel
from tests.factories import DistrictFactory
from tests.mastery.helpers import T0, World, rate

DAY = datetime.timedelta(days=1)


def _rerate(world: World, score: str, day: int) -> MasteryRecord:
    learner = world.learners[0]
    rate(learner, world.a, score, rater=world.teacher, demonstrated_at=T0 + day * DAY)
    services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    return MasteryRecord.objects.get(learner=learner, standard=world.a)


def _rules_queries(world: World, score: str, day: int) -> list[str]:
    """The queries of one recompute that read policies or scales, but for the version."""
    learner = world.learners[0]
    rate(learner, world.a, score, rater=world.teacher, demonstrated_at=T0 + day * DAY)
    with CaptureQueriesContext(connection) as queries:
        services.recompute_mastery(learner_id=learner.pk, standard_id=world.a.pk)
    tables = ("standards_calculationpolicy", "standards_scalelevel")
    return [
        q["sql"]
        for q in queries.captured_queries
        if any(t in q["sql"] for t in tables) and "string_agg" not in q["sql"]
    ]


def test_the_rules_are_read_once_then_served_from_the_cache(world: World) -> None:
    SHARED.clear()
    assert len(_rules_queries(world, "2", 0)) >= 2  # read: policy, scale (and the check)
    assert _rules_queries(world, "4", 1) == [], "policy and scale come from the cache"
    assert MasteryRecord.objects.get(learner=world.learners[0], standard=world.a).score == 3


def test_a_policy_edited_between_two_recomputes_is_applied_by_the_second(world: World) -> None:
    assert _rerate(world, "4", 0).score == Decimal(4)
    assert _rerate(world, "1", 1).score == Decimal("2.5")  # average, now cached
    CalculationPolicy.objects.filter(organisation=world.school).update(method="highest")
    assert _rerate(world, "1", 2).score == Decimal(4)
    policy = CalculationPolicy.objects.get(organisation=world.school)
    policy.method = "latest"
    policy.save()
    assert _rerate(world, "2", 3).score == Decimal(2)


def test_a_policy_added_above_or_removed_is_applied_at_once(world: World) -> None:
    district = DistrictFactory()
    Organisation.objects.filter(pk=world.school.pk).update(parent=district)
    assert _rerate(world, "4", 0).score == Decimal(4)
    # The school's own policy (average) hides the district's; without it the district's wins.
    CalculationPolicy.objects.create(organisation=district, method="highest")
    assert _rerate(world, "2", 1).score == Decimal(3)
    CalculationPolicy.objects.filter(organisation=world.school).delete()
    assert _rerate(world, "2", 2).score == Decimal(4)
    # A framework override at the district, then the school moved to another district.
    CalculationPolicy.objects.create(
        organisation=district, framework=world.framework, method="latest"
    )
    assert _rerate(world, "1", 3).score == Decimal(1)
    Organisation.objects.filter(pk=world.school.pk).update(parent=DistrictFactory())
    # No policy left in the school's new lineage: the platform default (decaying average 65).
    default = _rerate(world, "1", 4)
    assert default.explanation["method"] == "decaying_average"


def test_a_scale_edited_between_two_recomputes_is_applied_by_the_second(world: World) -> None:
    scale = ProficiencyScale.objects.create(organisation=world.school, mastery_threshold=3)
    for points, label in ((1, "Starting"), (2, "Growing"), (3, "Secure"), (4, "Deep")):
        ScaleLevel.objects.create(scale=scale, points=points, label=label, cut_point=points)
    assert _rerate(world, "3", 0).level_label == "Secure"
    ScaleLevel.objects.filter(scale=scale, points=3).update(label="Solid")
    assert _rerate(world, "3", 1).level_label == "Solid"
    ProficiencyScale.objects.filter(pk=scale.pk).update(mastery_threshold=4)
    assert _rerate(world, "3", 2).mastered is False


def test_the_version_changes_with_every_write_in_one_transaction(world: World) -> None:
    before = sql.rules_version(world.school.pk)
    CalculationPolicy.objects.filter(organisation=world.school).update(min_evidence=2)
    after = sql.rules_version(world.school.pk)
    CalculationPolicy.objects.filter(organisation=world.school).update(min_evidence=1)
    assert len({before, after, sql.rules_version(world.school.pk)}) == 3


def test_the_pages_scale_comes_from_the_cache_and_every_edit_is_seen_at_once(
    world: World,
) -> None:
    from mastery.policy import SCALES, page_scale
    from standards.selectors import scale_for

    school = world.school.pk
    SCALES.clear()
    assert page_scale(school) == scale_for(school)
    with CaptureQueriesContext(connection) as queries:
        cached = page_scale(school)
    assert len(queries) == 1, "served from the cache: the version only"
    assert cached == scale_for(school)
    scale = ProficiencyScale.objects.create(organisation=world.school, mastery_threshold=3)
    for points, label in ((1, "Starting"), (2, "Growing"), (3, "Secure"), (4, "Deep")):
        ScaleLevel.objects.create(scale=scale, points=points, label=label, cut_point=points)
    assert [level.label for level in page_scale(school).levels][:2] == ["Deep", "Secure"]
    ScaleLevel.objects.filter(scale=scale, points=3).update(label="Solid")  # no updated_at
    assert [level.label for level in page_scale(school).levels][:2] == ["Deep", "Solid"]
    ProficiencyScale.objects.filter(pk=scale.pk).update(mastery_threshold=4)
    assert page_scale(school).mastery_threshold == 4
    district = DistrictFactory()
    Organisation.objects.filter(pk=school).update(parent=district)
    ProficiencyScale.objects.filter(pk=scale.pk).delete()
    assert page_scale(school) == scale_for(school)
    with CaptureQueriesContext(connection) as queries:
        page_scale(school)
    assert len(queries) == 1, "served from the cache: the version only"


def test_a_pages_rules_come_from_the_cache_and_an_edited_policy_is_seen_at_once(
    world: World,
) -> None:
    from mastery.policy import SCALES, PageRules, load_rules

    school, framework = world.school.pk, world.framework.pk
    SCALES.clear()
    assert PageRules().get(school, framework) == load_rules(school, framework)
    page = PageRules()
    with CaptureQueriesContext(connection) as queries:
        page.scale(school)
        cached = page.get(school, framework)
    assert len(queries) == 1, "the version, read once for the page's scale and rules"
    assert cached == load_rules(school, framework)
    CalculationPolicy.objects.filter(organisation=world.school).update(method="highest")
    assert PageRules().get(school, framework).policy.method == "highest"
    assert PageRules().get(school, framework) == load_rules(school, framework)
