"""Template tags of the mastery pages."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django import template
from django.conf import settings
from django.template.defaultfilters import date, floatformat, pluralize, truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import conditional_escape, escape, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]

from evidence.selectors import TimelineItem
from evidence.templatetags.evidence_tags import source_label
from learners.models import Learner
from mastery.grid import GridColumn, GridRow, cell_url_parts, header_html, rows_html
from mastery.progress import StandardProgress

register = template.Library()


@register.filter
def ago(moment: datetime.datetime | None) -> str:
    """How long ago, in words: "just now" within a minute (never "0 minutes ago")."""
    if moment is None:
        return ""
    if timezone.now() - moment < datetime.timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


# A 35 x 60 grid has 2,100 cells: rendered cell by cell through the template engine they cost
# most of the page's server time (bench/grid.py). Built in Python from the few distinct looks of
# a grid's cells, the whole table is about a millisecond. Class names and links are made of
# fixed words and integer ids; every free text (names, codes, statements, level labels) is
# escaped (``mastery.grid``).


@register.simple_tag
def grid_header(columns: Iterable[GridColumn]) -> SafeString:
    """The grid's column headers as HTML."""
    return mark_safe(header_html(columns))  # noqa: S308  (free text escaped in header_html)


@register.simple_tag
def grid_rows(rows: Iterable[GridRow]) -> SafeString:
    """The grid's body rows as HTML."""
    return mark_safe(rows_html(rows))  # noqa: S308  (free text escaped in rows_html)


def _out(value: object) -> str:
    """A value as ``{{ value }}`` prints it: localized, then escaped unless already safe."""
    if type(value) is str:  # most values: localize() returns a plain string as it is
        return escape(value)
    if type(value) is int and not settings.USE_THOUSAND_SEPARATOR:  # as number_format gives it
        return str(value)
    return str(conditional_escape(str(localize(value))))  # str() keeps a SafeString safe


@register.simple_tag
def standard_rows(learner: Learner, standards: Iterable[StandardProgress]) -> SafeString:
    """The rows of a learner page's table of standards, as the template wrote them (60 rows of
    six cells, each with a link, filters and a sparkline, were half the page's server time
    through the template engine). Every value goes through Django's own filters and escaping."""
    head, middle, tail = cell_url_parts()
    rows = []
    # Records computed together (a bulk recompute, a batch) share their time: formatted once.
    times: dict[datetime.datetime, str] = {}
    for item in standards:
        if item.power:
            priority = "Power"
        elif item.required:
            priority = "Required"
        else:
            priority = "—"
        level = ""
        if item.level:
            level = f'<span class="swatch {_out(item.level.css)}">{_out(item.level.label)}</span>'
        method = ""
        if item.method:
            method = (
                f'<span class="method">{_out(item.method)}, {_out(item.evidence_count)}'
                f" rating{pluralize(item.evidence_count)}</span>"
            )
        if item.self_label:
            own = f"{_out(item.self_label)} ({_out(floatformat(item.self_score, '-2'))})"
        else:
            own = "—"
        spark = item.sparkline
        if spark:
            growth = (
                f'<svg class="sparkline"\n viewBox="0 0 {_out(spark.width)} {_out(spark.height)}"'
                f'\n width="{_out(spark.width)}"\n height="{_out(spark.height)}"\n role="img"'
                f'\n aria-label="{_out(spark.description)}"\n focusable="false">'
                f'\n<path d="{_out(spark.path)}" />'
                f'\n<circle cx="{_out(spark.last_x)}" cy="{_out(spark.last_y)}" r="2.5" />\n</svg>'
            )
        else:
            growth = "—"
        if item.computed_at:
            computed = times.get(item.computed_at, "")
            if not computed:
                when = template_localtime(item.computed_at)
                computed = times[item.computed_at] = (
                    f'<time datetime="{_out(date(when, "c"))}">'
                    f"{_out(date(when, 'j M, H:i'))}</time>"
                )
        else:
            computed = "not yet"
        pending = '<strong class="pending-note">pending</strong>' if item.pending else ""
        note = item.override
        if note is not None:
            when = date(template_localtime(note.set_at), "j M Y") if note.set_at else ""
            method = (
                f'<span class="method override-note">Override by {_out(note.set_by)}'
                f" on {_out(when)}: {_out(strip_tags(note.reason))}"
                f" (the evidence alone: {_out(note.evidence_level or 'no level')})</span>"
            )
        href = f"{head}{learner.pk}{middle}{item.standard_id}{tail}"
        rows.append(
            f'<tr>\n<th scope="row">\n<a href="{href}"\n title="{_out(item.statement)}">'
            f"{_out(item.code)}</a>\n"
            f'<span class="statement">{_out(truncatechars(item.statement, 90))}</span>\n</th>'
            f"\n<td>\n{priority}\n</td>\n<td>\n{level}\n{_out(item.state_label)}\n{method}\n</td>"
            f"\n<td>\n{own}\n</td>\n<td>\n{growth}\n</td>\n<td>\n{computed}\n{pending}\n</td>\n</tr>"
        )
    return mark_safe("\n".join(rows))  # noqa: S308  (every value escaped by _out)


@register.simple_tag
def evidence_ratings(item: TimelineItem) -> SafeString:
    """The ratings of one piece of evidence on the learner page's timeline, as the template wrote
    them: ten pieces of a few dozen ratings each cost a third of the page through the engine.
    A piece with more ratings than the timeline reads links to its own page for the rest."""
    if not item.ratings:
        return mark_safe("")
    # A piece's ratings share a few sources and scores: each printed once.
    sources: dict[str, str] = {}
    scores: dict[str, str] = {}  # by the score's own text (3.0 and 3.00 are equal, not alike)
    items = []
    for rating in item.ratings:
        source = sources.get(rating.source)
        if source is None:
            source = sources[rating.source] = _out(source_label(rating.source))
        key = str(rating.score)
        score = scores.get(key)
        if score is None:
            score = scores[key] = _out(rating.score)
        items.append(f"<li>\n{_out(rating.code)}: {score} ({source})\n</li>")
    if item.more:
        href = reverse("evidence:detail", args=[item.pk])
        items.append(
            f'<li>\n<a href="{_out(href)}">{_out(item.more)} more'
            f" rating{pluralize(item.more)} on its page</a>\n</li>"
        )
    return mark_safe("<ul>\n" + "\n".join(items) + "\n</ul>")  # noqa: S308  (escaped by _out)
