"""Chart geometry for the server-drawn SVG charts (no Django, no browser library).

The functions here turn a learner's history into coordinates, axis ticks and a data table; the
templates ``templates/mastery/_step_chart.html`` and ``_sparkline.html`` draw them as inline SVG
with a title, a description and the same numbers as a table, so nothing is loaded from another
origin and no reader depends on seeing the picture or its colours.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class StepChart:
    """A step line of a count over time, in SVG user units (the viewBox is width x height)."""

    title: str
    description: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    path: str
    markers: tuple[Marker, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    target_y: float | None
    target_label: str
    rows: tuple[tuple[str, int], ...]

    @property
    def empty(self) -> bool:
        return not self.rows

    # Where the axis labels go (the template does no arithmetic).
    @property
    def y_label_x(self) -> float:
        return self.left - 6

    @property
    def x_label_y(self) -> float:
        return self.bottom + 18

    @property
    def tick_end_y(self) -> float:
        return self.bottom + 5

    @property
    def target_label_y(self) -> float | None:
        return None if self.target_y is None else round(self.target_y - 4, 1)


def _fmt(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _date_of(moment: datetime.date | datetime.datetime) -> datetime.date:
    return moment.date() if isinstance(moment, datetime.datetime) else moment


def _month_ticks(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    days = (end - start).days
    if days <= 62:
        # Short ranges: a tick every week from the start.
        return [start + datetime.timedelta(days=7 * week) for week in range(days // 7 + 1)]
    step = 1 if days <= 400 else 3 if days <= 1200 else 12
    ticks: list[datetime.date] = []
    year, month = start.year, start.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        first = datetime.date(year, month, 1)
        if first > end:
            return ticks
        if (month - 1) % step == 0:
            ticks.append(first)


def _y_ticks(high: int) -> list[int]:
    if high <= 5:
        return list(range(high + 1))
    step = max(1, -(-high // 5))
    return list(range(0, high + 1, step)) + ([high] if high % step else [])


def cumulative_step_chart(
    moments: Sequence[datetime.date | datetime.datetime],
    *,
    start: datetime.date,
    end: datetime.date,
    title: str,
    what: str,
    target: int | None = None,
    target_label: str = "",
    width: int = 640,
    height: int = 240,
) -> StepChart:
    """A step line of how many of ``moments`` happened on or before each day from ``start`` to
    ``end``: e.g. the standards a learner first mastered, over the term. ``target`` draws a
    dashed line (e.g. the number of required standards). Moments outside the range are
    clamped to it, so the line always ends at the total."""
    if end <= start:
        end = start + datetime.timedelta(days=1)
    days = sorted(min(max(_date_of(moment), start), end) for moment in moments)
    counts: list[tuple[datetime.date, int]] = []
    for day in days:
        if counts and counts[-1][0] == day:
            counts[-1] = (day, counts[-1][1] + 1)
        else:
            counts.append((day, (counts[-1][1] if counts else 0) + 1))
    high = max(len(days), target or 0, 1)
    left, top, right, bottom = 44.0, 12.0, float(width - 12), float(height - 36)
    span = (end - start).days

    def x_of(day: datetime.date) -> float:
        return round(left + (right - left) * (day - start).days / span, 1)

    def y_of(value: int) -> float:
        return round(bottom - (bottom - top) * value / high, 1)

    path = [f"M{_fmt(left)} {_fmt(y_of(0))}"]
    markers = []
    for day, total in counts:
        path.append(f"H{_fmt(x_of(day))} V{_fmt(y_of(total))}")
        markers.append(Marker(x_of(day), y_of(total), f"{day.isoformat()}: {total} {what}"))
    path.append(f"H{_fmt(right)}")
    x_ticks = tuple(
        Tick(
            x_of(day), MONTHS[day.month - 1] if span > 62 else f"{day.day} {MONTHS[day.month - 1]}"
        )
        for day in _month_ticks(start, end)
    )
    y_ticks = tuple(Tick(y_of(value), str(value)) for value in _y_ticks(high))
    final = counts[-1][1] if counts else 0
    description = (
        f"{final} {what} by {end.isoformat()}"
        + (f", of {target} {target_label}" if target else "")
        + f"; from {start.isoformat()}."
    )
    return StepChart(
        title=title,
        description=description,
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        path=" ".join(path),
        markers=tuple(markers),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        target_y=y_of(target) if target else None,
        target_label=target_label,
        rows=tuple((day.isoformat(), total) for day, total in counts),
    )


@dataclass(frozen=True)
class Sparkline:
    """A small line of a standard's level over time (SVG user units, width x height)."""

    width: int
    height: int
    path: str
    last_x: float
    last_y: float
    description: str


def level_sparkline(
    history: Sequence[tuple[datetime.datetime, Decimal | None, str]],
    *,
    low: Decimal,
    high: Decimal,
    width: int = 96,
    height: int = 24,
) -> Sparkline | None:
    """The levels a learner reached on one standard, oldest first (``(when, points, label)``;
    points None means no level then). None when there is nothing to draw (fewer than one
    level)."""
    points = [(when, value, label) for when, value, label in history if value is not None]
    if not points:
        return None
    pad = 3.0
    first, last = points[0][0], points[-1][0]
    span = max((last - first).total_seconds(), 1.0)
    range_ = max(float(high - low), 1e-9)

    def x_of(when: datetime.datetime) -> float:
        if len(points) == 1:
            return width - pad
        return pad + (width - 2 * pad) * (when - first).total_seconds() / span

    def y_of(value: Decimal) -> float:
        share = (float(value) - float(low)) / range_
        return height - pad - (height - 2 * pad) * min(max(share, 0.0), 1.0)

    coords = [(round(x_of(when), 1), round(y_of(value), 1)) for when, value, _ in points]
    if len(coords) == 1:
        coords.insert(0, (pad, coords[0][1]))
    path = "M" + " L".join(f"{_fmt(x)} {_fmt(y)}" for x, y in coords)
    labels = ", ".join(
        f"{label or value} on {when.date().isoformat()}" for when, value, label in points
    )
    return Sparkline(
        width=width,
        height=height,
        path=path,
        last_x=coords[-1][0],
        last_y=coords[-1][1],
        description=f"Level over time: {labels}.",
    )
