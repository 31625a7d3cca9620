"""The chart geometry behind the server-drawn SVG charts (no database)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from mastery import charts

START = datetime.date(2026, 9, 1)
END = datetime.date(2026, 11, 30)


def test_the_step_chart_climbs_once_per_day_and_ends_at_the_total() -> None:
    days = [datetime.date(2026, 9, 11), datetime.date(2026, 9, 11), datetime.date(2026, 10, 21)]
    chart = charts.cumulative_step_chart(
        days, start=START, end=END, title="t", what="mastered", target=4, target_label="required"
    )
    assert chart.rows == (("2026-09-11", 2), ("2026-10-21", 3))
    # 90 days over 584 units from x=44; 4 is the top (y=12) and 0 the bottom (y=204).
    assert chart.path == "M44 204 H108.9 V108 H368.4 V60 H628"
    assert [tick.label for tick in chart.x_ticks] == ["Oct", "Nov"]
    assert [tick.label for tick in chart.y_ticks] == ["0", "1", "2", "3", "4"]
    assert chart.target_y == 12.0
    assert chart.description == "3 mastered by 2026-11-30, of 4 required; from 2026-09-01."
    assert [marker.label for marker in chart.markers] == [
        "2026-09-11: 2 mastered",
        "2026-10-21: 3 mastered",
    ]


def test_moments_outside_the_range_are_clamped_so_the_line_still_ends_at_the_total() -> None:
    early = datetime.datetime(2026, 1, 1, 9, tzinfo=datetime.UTC)
    chart = charts.cumulative_step_chart([early], start=START, end=END, title="t", what="m")
    assert chart.rows == (("2026-09-01", 1),)
    assert chart.target_y is None


def test_an_empty_chart_draws_a_flat_line_and_says_so() -> None:
    chart = charts.cumulative_step_chart([], start=START, end=END, title="t", what="mastered")
    assert chart.empty
    assert chart.path == "M44 204 H628"
    assert chart.description == "0 mastered by 2026-11-30; from 2026-09-01."


def test_a_short_range_gets_weekly_ticks() -> None:
    chart = charts.cumulative_step_chart(
        [], start=START, end=datetime.date(2026, 9, 20), title="t", what="m"
    )
    assert [tick.label for tick in chart.x_ticks] == ["1 Sep", "8 Sep", "15 Sep"]


def test_the_sparkline_follows_the_levels_and_describes_them_in_words() -> None:
    t0 = datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC)
    spark = charts.level_sparkline(
        [
            (t0, Decimal(2), "Developing"),
            (t0 + datetime.timedelta(days=10), None, ""),
            (t0 + datetime.timedelta(days=20), Decimal(4), "Advanced"),
        ],
        low=Decimal(1),
        high=Decimal(4),
    )
    assert spark is not None
    assert spark.path == "M3 15 L93 3"
    assert spark.description == (
        "Level over time: Developing on 2026-09-01, Advanced on 2026-09-21."
    )


def test_no_level_ever_means_no_sparkline() -> None:
    t0 = datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC)
    assert charts.level_sparkline([(t0, None, "")], low=Decimal(1), high=Decimal(4)) is None
