"""Plain-language explanations from the engine's kept explanation (no database)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import translation

from mastery import rules
from portal import plain

LEVELS = [
    plain.ScaleLevel("Advanced", Decimal(4), Decimal(4)),
    plain.ScaleLevel("Proficient", Decimal(3), Decimal(3)),
    plain.ScaleLevel("Developing", Decimal(2), Decimal(2)),
    plain.ScaleLevel("Beginning", Decimal(1), Decimal(1)),
]
DAY = datetime.datetime(2026, 10, 3, 10, 45, tzinfo=datetime.UTC)


def _ratings(*scores: str) -> list[rules.Rating]:
    return [
        rules.Rating(Decimal(s), DAY + datetime.timedelta(days=i), DAY, i + 1)
        for i, s in enumerate(scores)
    ]


def test_a_decaying_average_reads_as_newer_pieces_counting_more() -> None:
    result = rules.calculate("decaying_average", _ratings("2", "2", "2", "3"), weight=65)
    explained = plain.explain(
        state=plain.NOT_YET,
        level_label="Developing",
        score=result.score,
        evidence_count=4,
        explanation=result.explanation,
        levels=LEVELS,
        threshold=Decimal(3),
        own=True,
    )
    assert explained.sentence == (
        "Developing: your 4 pieces of evidence, newer ones counting more, come to 2.65; "
        "Proficient (mastered) starts at 3."
    )
    assert explained.arithmetic[0] == (
        "Your teachers' scores, oldest first: 2 on Oct. 3, 2026; 2 on Oct. 4, 2026; "
        "2 on Oct. 5, 2026; 3 on Oct. 6, 2026."
    )
    assert "After piece 4: 2.65." in explained.arithmetic


def test_a_probability_just_under_the_threshold_never_reads_as_the_threshold() -> None:
    explanation = {"method": "bkt", "params": {"mastery_probability": 0.95}, "p_known": 0.9459}
    explained = plain.explain(
        state=plain.NOT_YET,
        level_label="Developing",
        score=Decimal("0.95"),
        evidence_count=6,
        explanation=explanation,
        levels=LEVELS,
        threshold=Decimal(3),
        own=True,
    )
    assert explained.sentence == (
        "Developing: from 6 pieces of evidence, the chance this is mastered is 94.6%; "
        "it counts as mastered from 95%."
    )


def test_the_explanation_speaks_spanish_with_spanish_numbers_and_dates() -> None:
    result = rules.calculate("decaying_average", _ratings("2", "3"), weight=65)
    with translation.override("es"):
        explained = plain.explain(
            state=plain.NOT_YET,
            level_label="Developing",
            score=result.score,
            evidence_count=2,
            explanation=result.explanation,
            levels=LEVELS,
            threshold=Decimal(3),
            own=True,
        )
    assert explained.sentence == (
        "Developing: tus 2 evidencias, con más peso para las más recientes, dan 2,65; "
        "Proficient (dominado) empieza en 3."
    )
    assert "3 de octubre de 2026" in explained.arithmetic[0]


def test_too_little_evidence_says_how_much_the_school_needs() -> None:
    explained = plain.explain(
        state=plain.INSUFFICIENT,
        level_label="",
        score=None,
        evidence_count=1,
        explanation={"method": "average", "params": {"min_evidence": 3}},
        levels=LEVELS,
        threshold=Decimal(3),
        own=False,
    )
    assert explained.sentence == (
        "1 piece of evidence so far; the school needs 3 before giving a level."
    )
