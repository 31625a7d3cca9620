"""Template tags of the mastery pages."""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString, mark_safe

from mastery.grid import GridColumn, GridRow, header_html, rows_html

register = template.Library()


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
