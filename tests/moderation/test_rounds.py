"""Moderation rounds: the seeded sample, the reviewers, second ratings kept apart, closing a
round (keep, or adopt through the normal correction path), agreement by hand."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEntry
from evidence.models import Rating
from mastery.core import counted_ratings
from mastery.models import MasteryRecord, StaleMastery
from mastery.selectors import verify_mastery
from moderation import selectors, services
from moderation.models import ModerationItem, ModerationRating, ModerationRound, RoundStatus
from tests.journeys.helpers import run_worker
from tests.moderation.world import FIRST_SCORE, District


def _round(
    district: District, *, size: int = 6, seed: int | None = 7, **extra: object
) -> ModerationRound:
    return services.start_round(
        actor=district.district_admin,
        organisation=district.district,
        term=district.term,
        title="Counting and adding, autumn",
        standards=[district.standards.counting, district.standards.adding],
        sample_size=size,
        seed=seed,
        **extra,  # type: ignore[arg-type]
    )


def _drawn(round_: ModerationRound) -> list[tuple[int, int]]:
    return list(round_.items.order_by("position").values_list("position", "rating_id"))


def test_the_same_seed_draws_the_same_pieces_and_another_seed_others(district: District) -> None:
    first = _round(district, seed=7)
    again = _round(district, seed=7)
    other = _round(district, seed=8)
    assert _drawn(first) == _drawn(again)
    assert len(_drawn(first)) == 6
    assert _drawn(other) != _drawn(first)
    assert first.population == 24  # 12 learners x 2 standards, all current teacher ratings


def test_the_sample_spreads_across_schools_and_sections(district: District) -> None:
    round_ = _round(district, size=6)
    sections = list(round_.items.values_list("section_id", flat=True))
    # Three sections (8 ratings each): two pieces from each.
    assert sorted(sections.count(s.pk) for s in (district.a1, district.a2, district.b1)) == [
        2,
        2,
        2,
    ]
    assert set(round_.items.values_list("school_id", flat=True)) == {
        district.hill.pk,
        district.lake.pk,
    }


def test_every_piece_goes_to_a_teacher_outside_the_learners_sections(district: District) -> None:
    round_ = _round(district, size=24)
    teachers_of = {
        district.a1.pk: {district.t_a1.pk, district.co_a1.pk},
        district.a2.pk: {district.t_a2.pk},
        district.b1.pk: {district.t_b1.pk},
    }
    loads: dict[int, int] = {}
    for item in round_.items.all():
        assert item.reviewer_id not in teachers_of[item.section_id]
        assert item.reviewer_id != item.first_rater_id
        loads[item.reviewer_id] = loads.get(item.reviewer_id, 0) + 1
    assert sum(loads.values()) == 24
    assert max(loads.values()) - min(loads.values()) <= 4  # spread, not piled on one teacher


def test_a_round_is_refused_with_reasons_and_writes_nothing(district: District) -> None:
    with pytest.raises(PermissionDenied):
        services.start_round(
            actor=district.t_a1,
            organisation=district.district,
            term=district.term,
            title="Mine",
            standards=[district.standards.counting],
            sample_size=3,
        )
    with pytest.raises(PermissionDenied):  # a school admin does not run the district's rounds
        services.start_round(
            actor=district.hill_admin,
            organisation=district.district,
            term=district.term,
            title="Theirs",
            standards=[district.standards.counting],
            sample_size=3,
        )
    with pytest.raises(ValidationError, match="nothing to draw"):
        services.start_round(
            actor=district.district_admin,
            organisation=district.district,
            term=district.term,
            title="Fractions",
            standards=[district.standards.fractions],
            sample_size=3,
        )
    # Only the a1 teachers may review: nobody outside the learners' classes for a1's pieces.
    with pytest.raises(ValidationError, match="Nobody outside the learner's classes"):
        _round(district, size=24, reviewers=[district.t_a1, district.co_a1])
    with pytest.raises(ValidationError, match="grouping"):
        services.start_round(
            actor=district.district_admin,
            organisation=district.district,
            term=district.term,
            title="Domain",
            standards=[district.standards.domain],
            sample_size=3,
        )
    assert ModerationRound.objects.count() == 0


def _canary_item(district: District) -> ModerationItem:
    round_ = _round(district, size=24)
    return round_.items.get(rating=district.canary_rating)


def test_only_the_assigned_reviewer_rates_and_only_while_the_round_is_open(
    district: District,
) -> None:
    item = _canary_item(district)
    reviewer = item.reviewer
    others = [t for t in district.teachers() if t.pk != reviewer.pk] + [district.district_admin]
    for other in others:
        with pytest.raises(PermissionDenied):
            services.record_second_rating(actor=other, item=item, score="3")
    with pytest.raises(ValidationError, match="outside the scale"):
        services.record_second_rating(actor=reviewer, item=item, score="7")
    services.record_second_rating(actor=reviewer, item=item, score="2")
    services.record_second_rating(actor=reviewer, item=item, score="3", comment="on reflection")
    assert list(item.ratings.values_list("score", flat=True)) == [Decimal(2), Decimal(3)]
    services.close_round(actor=district.district_admin, round_=item.round, decision="keep")
    with pytest.raises(ValidationError, match="closed"):
        services.record_second_rating(actor=reviewer, item=item, score="4")


def test_second_ratings_never_count_and_keeping_the_first_changes_nothing(
    district: District,
) -> None:
    run_worker()
    item = _canary_item(district)
    before = list(counted_ratings().values_list("pk", "score"))
    record = MasteryRecord.objects.get(
        learner=district.canary, standard=district.standards.counting
    )
    services.record_second_rating(actor=item.reviewer, item=item, score="4")
    closed = services.close_round(actor=district.district_admin, round_=item.round, decision="keep")
    assert closed.adopted == []
    assert list(counted_ratings().values_list("pk", "score")) == before
    assert not StaleMastery.objects.exists()
    record.refresh_from_db()
    assert record.score == FIRST_SCORE
    item.round.refresh_from_db()
    assert (item.round.status, item.round.decision) == (RoundStatus.CLOSED, "keep")
    with pytest.raises(ValidationError, match="already closed"):
        services.close_round(actor=district.district_admin, round_=item.round, decision="keep")


def test_adopting_corrects_through_the_normal_path_and_verify_finds_nothing_wrong(
    district: District,
) -> None:
    run_worker()
    round_ = _round(district, size=24)
    item = round_.items.get(rating=district.canary_rating)
    same = round_.items.exclude(pk=item.pk).first()
    assert same is not None
    services.record_second_rating(actor=item.reviewer, item=item, score="4")
    services.record_second_rating(actor=same.reviewer, item=same, score=same.rating.score)
    with pytest.raises(ValidationError, match="Say why"):
        services.close_round(actor=district.district_admin, round_=round_, decision="adopt")
    with pytest.raises(PermissionDenied):
        services.close_round(
            actor=district.hill_admin, round_=round_, decision="adopt", reason="agreed"
        )
    closed = services.close_round(
        actor=district.district_admin,
        round_=round_,
        decision="adopt",
        reason="Agreed at the calibration meeting",
    )
    assert [adopted.pk for adopted in closed.adopted] == [item.pk]
    assert closed.unchanged == 1
    assert len(closed.skipped) == 22  # no second rating
    # The normal correction path: a new rating supersedes the first, which stays in history.
    item.refresh_from_db()
    adopted = item.adopted_rating
    assert adopted is not None
    assert adopted.supersedes_id == district.canary_rating.pk
    assert (adopted.score, adopted.source) == (Decimal(4), "teacher")
    assert "Agreed at the calibration meeting" in adopted.comment
    assert Rating.objects.filter(pk=district.canary_rating.pk).exists()
    # ... which marked the record stale; the worker rebuilds it, and verify agrees.
    pair = (district.canary.pk, district.standards.counting.pk)
    assert set(StaleMastery.objects.values_list("learner_id", "standard_id")) == {pair}
    run_worker()
    record = MasteryRecord.objects.get(
        learner=district.canary, standard=district.standards.counting
    )
    assert record.score == Decimal(4)
    report = verify_mastery()
    assert (report.wrong, report.stale) == (0, 0)
    assert report.checked >= 24
    # The adoption is audited against the learner whose rating changed.
    entry = AuditEntry.objects.get(
        object_type="moderation.moderationround", object_id=str(round_.pk)
    )
    assert (entry.learner_id, entry.action) == (district.canary.pk, "record.change")


def test_adopting_only_chosen_pieces_and_a_correction_made_meanwhile(district: District) -> None:
    round_ = _round(district, size=24)
    items = list(round_.items.order_by("position")[:2])
    for item in items:
        services.record_second_rating(actor=item.reviewer, item=item, score="1")
    # The first teacher corrected the first piece's rating since the draw: the adoption
    # supersedes the correction (the newest), not the rating that was drawn.
    corrected = services_supersede(items[0])
    closed = services.close_round(
        actor=district.district_admin,
        round_=round_,
        decision="adopt",
        reason="Only the first",
        item_ids=[items[0].pk],
    )
    assert [i.pk for i in closed.adopted] == [items[0].pk]
    items[0].refresh_from_db()
    assert items[0].adopted_rating is not None
    assert items[0].adopted_rating.supersedes_id == corrected.pk
    items[1].refresh_from_db()
    assert items[1].adopted_rating is None


def services_supersede(item: ModerationItem) -> Rating:
    from evidence import services as evidence_services

    return evidence_services.supersede_rating(
        actor=item.first_rater, rating=item.rating, score="3.5", comment="re-marked"
    )


def test_round_agreement_equals_the_hand_count(district: District) -> None:
    """Six pieces rated again, the second levels set from the first (L): L, L, three one level
    away, and the last two levels or more away. By hand: exact 2/6, within one level 5/6, one
    piece for the calibration meeting; every group adds up to the six pairs."""
    round_ = _round(district, size=6)
    items = list(round_.items.order_by("position").select_related("rating", "reviewer"))
    for index, item in enumerate(items):
        level = int(item.rating.score)  # the default scale: the level is the whole part
        if index < 2:
            second = level
        elif index < 5:
            second = level + 1 if level < 4 else level - 1
        else:
            second = 4 if level <= 2 else 1
        services.record_second_rating(actor=item.reviewer, item=item, score=second)
    result = selectors.round_agreement(round_)
    assert result.overall.pairs == 6
    assert result.overall.exact == Fraction(2, 6)
    assert result.overall.adjacent == Fraction(5, 6)
    assert [pair.position for pair in result.disagreements] == [items[5].position]
    for rows in (result.by_standard, result.by_school, result.by_raters):
        assert sum(row.result.pairs for row in rows) == 6
    assert all(" then " in row.label for row in result.by_raters)


def test_a_teacher_sees_their_own_agreement_beside_the_group_never_names(
    district: District,
) -> None:
    round_ = _round(district, size=24)
    for item in round_.items.all():
        services.record_second_rating(actor=item.reviewer, item=item, score=item.rating.score)
    mine = selectors.teacher_agreement(district.t_b1)
    assert mine.rounds == 1
    assert mine.group.pairs == 24
    assert mine.group.exact == 1
    expected = (
        round_.items.filter(first_rater=district.t_b1).count()
        + round_.items.filter(reviewer=district.t_b1).count()
    )
    assert mine.own.pairs == expected
    assert ModerationRating.objects.count() == 24


def test_the_lists_read_a_fixed_number_of_queries_whatever_the_pieces(district: District) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    first = _round(district, size=6, seed=1)
    reviewer = first.items.first().reviewer  # type: ignore[union-attr]
    client = Client()
    client.force_login(reviewer)
    admin = Client()
    admin.force_login(district.district_admin)
    urls = ("/moderation/reviews/", "/api/v1/moderation/reviews/")
    admin_urls = ("/moderation/", "/api/v1/moderation/rounds/")

    def counts() -> list[int]:
        found = []
        for who, paths in ((client, urls), (admin, admin_urls)):
            for url in paths:
                with CaptureQueriesContext(connection) as queries:
                    assert who.get(url).status_code == 200
                found.append(len(queries))
        return found

    before = counts()
    for seed in (2, 3, 4):
        _round(district, size=24, seed=seed)
    assert ModerationItem.objects.filter(reviewer=reviewer).count() > 6
    assert counts() == before


def test_a_teacher_reads_only_their_own_agreement_on_the_page_and_the_api(
    district: District,
) -> None:
    """The teacher's page and API answer show their own figures beside the group's and name no
    other teacher; the round itself (pairs of raters by name) is the administrators' only."""
    import json

    from django.test import Client

    round_ = _round(district, size=24)
    for item in round_.items.all():
        services.record_second_rating(actor=item.reviewer, item=item, score=item.rating.score)
    teacher = district.t_b1
    client = Client()
    client.force_login(teacher)
    page = client.get("/moderation/").content.decode()
    answer = client.get("/api/v1/moderation/agreement/")
    assert answer.status_code == 200
    body = json.loads(answer.content)
    mine = selectors.teacher_agreement(teacher)
    assert (body["rounds"], body["own"]["pairs"], body["group"]["pairs"]) == (
        1,
        mine.own.pairs,
        24,
    )
    assert "Everyone in these rounds" in page
    others = [user for user in district.teachers() if user.pk != teacher.pk]
    for text, where in ((page, "the page"), (answer.content.decode(), "the API")):
        for other in others:
            for name in (other.first_name, other.get_full_name(), other.username):
                assert name not in text, f"{where} names {name}"
    for url in (f"/moderation/rounds/{round_.pk}/", f"/api/v1/moderation/rounds/{round_.pk}/"):
        assert client.get(url).status_code in (403, 404), url
    admin = Client()
    admin.force_login(district.district_admin)
    detail = admin.get(f"/moderation/rounds/{round_.pk}/").content.decode()
    assert any(other.get_full_name() in detail for other in others)
