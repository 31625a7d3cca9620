"""The stored estimator-disagreement flag (``MasteryRecord.inconsistent``, issue 20): set by the
recompute (per pair and bulk alike), checked by verify_mastery, marked on the grid (with a
filter), listed and filterable in the API; the cell panel puts the estimators side by side
(``test_pages.test_the_cell_panel_record_page_and_api_show_the_estimators_and_the_flag``)."""

from __future__ import annotations

import re

from django.db import connection
from django.test import Client

from mastery import selectors, services
from mastery.models import MasteryRecord
from standards.models import Standard
from tests.mastery.helpers import T0, make_framework, rate
from tests.personas import Cast


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _flagged_and_steady(cast: Cast) -> tuple[Standard, Standard, Standard]:
    """On A: 4 then 2 (the policy's result beside the latest 2: a level apart, flagged); on B:
    3 then 3 (every estimator 3: not flagged). Recomputed pair by pair."""
    _, domain, a, b = make_framework()
    rate(cast.own, a, "4", rater=cast.teacher, demonstrated_at=T0)
    rate(cast.own, a, "2", rater=cast.teacher, demonstrated_at=T0.replace(day=2))
    rate(cast.own, b, "3", rater=cast.teacher, demonstrated_at=T0)
    rate(cast.own, b, "3", rater=cast.teacher, demonstrated_at=T0.replace(day=2))
    for standard in (a, b):
        services.recompute_mastery(learner_id=cast.own.pk, standard_id=standard.pk)
    return domain, a, b


def _record(cast: Cast, standard: Standard) -> MasteryRecord:
    return MasteryRecord.objects.get(learner=cast.own, standard=standard)


def test_the_recompute_stores_the_flag_and_a_correction_clears_it(cast: Cast) -> None:
    domain, a, b = _flagged_and_steady(cast)
    assert _record(cast, a).inconsistent is True
    assert _record(cast, b).inconsistent is False
    assert _record(cast, domain).inconsistent is False  # a roll-up does not estimate
    # The comparison on the cell panel says the same as the stored flag.
    comparison = selectors.estimators_of(cast.own, a)
    assert comparison is not None
    assert comparison.flagged is True
    # The 2 corrected to a 4: every estimator 4, the flag goes.
    two = cast.own.ratings.get(standard=a, score=2)
    rate(cast.own, a, "4", rater=cast.teacher, supersedes=two)
    services.recompute_mastery(learner_id=cast.own.pk, standard_id=a.pk)
    assert _record(cast, a).inconsistent is False
    assert selectors.verify_mastery(learner_ids=[cast.own.pk]).wrong == 0


def test_the_bulk_recompute_stores_the_same_flags_and_verify_checks_them(cast: Cast) -> None:
    domain, a, b = _flagged_and_steady(cast)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE mastery_masteryrecord SET inconsistent = NOT inconsistent")
    report = selectors.verify_mastery(learner_ids=[cast.own.pk])
    assert report.wrong == 3
    assert set(report.wrong_pairs) == {(cast.own.pk, s.pk) for s in (domain, a, b)}
    job = services.start_bulk_recompute(
        actor=cast.state_admin, organisation=cast.school, reason="policy"
    )
    for batch in job.batches.order_by("number"):
        services.run_bulk_batch(batch_id=batch.pk)
    assert [_record(cast, s).inconsistent for s in (domain, a, b)] == [False, True, False]
    assert selectors.verify_mastery(learner_ids=[cast.own.pk]).wrong == 0


def test_the_grid_marks_the_cell_and_filters_by_it(cast: Cast) -> None:
    _, a, b = _flagged_and_steady(cast)
    client = _client(cast.teacher)
    url = f"/mastery/sections/{cast.section.pk}/grid/"
    page = client.get(url).content.decode()
    cells = {
        int(m.group(2)): m.group(0)
        for m in re.finditer(r"<td[^>]*><a href=\"[^\"]*/learners/(\d+)/standards/(\d+)/[^<]*"
                             r"(?:<span[^<]*</span>)*</a></td>", page)
        if int(m.group(1)) == cast.own.pk
    }  # fmt: skip
    assert "flagged" in cells[a.pk]
    assert "(evidence inconsistent)" in cells[a.pk]
    assert "the evidence is inconsistent, look again" in cells[a.pk]
    assert "flagged" not in cells[b.pk]
    assert "inconsistent" not in cells[b.pk]
    assert "the estimators disagree: the evidence is inconsistent" in page  # the legend
    narrowed = client.get(url, {"state": "inconsistent"}).content.decode()
    assert "(cells in another state are dimmed)" in narrowed
    assert f"/standards/{a.pk}/" in narrowed
    assert f"/standards/{b.pk}/" not in narrowed  # a column without a flagged cell goes


def test_the_api_lists_the_flag_and_filters_by_it(cast: Cast) -> None:
    _, a, b = _flagged_and_steady(cast)
    client = _client(cast.teacher)
    body = client.get("/api/v1/mastery/records/", {"learner": cast.own.pk}).json()
    by_standard = {item["standard"]: item["inconsistent"] for item in body["results"]}
    assert by_standard[a.pk] is True
    assert by_standard[b.pk] is False
    flagged = client.get(
        "/api/v1/mastery/records/", {"learner": cast.own.pk, "inconsistent": "true"}
    ).json()
    assert [item["standard"] for item in flagged["results"]] == [a.pk]
    detail = client.get(f"/api/v1/mastery/records/{_record(cast, a).pk}/").json()
    assert detail["inconsistent"] is True
    assert detail["estimators"]["flagged"] is True
    # Out of scope stays out of scope: the other district's teacher sees no record.
    other = _client(cast.other_district_teacher)
    assert other.get(f"/api/v1/mastery/records/{_record(cast, a).pk}/").status_code == 404
