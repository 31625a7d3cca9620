"""Template tags of the mastery pages."""

from __future__ import annotations

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from mastery.grid import GridRow

register = template.Library()


@register.simple_tag
def grid_cells(row: GridRow) -> SafeString:
    """One grid row's cells as HTML, built in one pass.

    A 35 x 60 grid has 2,100 cells: rendered cell by cell through the template engine they cost
    most of the page's server time (bench/grid.py); built here, a few milliseconds. The class
    names and the link are made of fixed words and integer ids; the text (a level label set by
    an administrator) is escaped.
    """
    texts: dict[str, str] = {}  # a grid has a handful of distinct labels: escape each once
    parts = []
    for cell in row.cells:
        text = texts.get(cell.text)
        if text is None:
            text = texts[cell.text] = escape(cell.text)
        title = _PENDING if cell.pending else ""
        parts.append(f'<td class="{cell.css}"><a href="{cell.href}"{title}>{text}</a></td>')
    return mark_safe("".join(parts))  # noqa: S308  (the only free text, the label, is escaped)


_PENDING = ' title="A recompute is pending"'
