"""Filters of the moderation pages: agreement figures in plain words."""

from __future__ import annotations

from fractions import Fraction

from django import template

register = template.Library()


@register.filter
def percent(value: Fraction | None) -> str:
    """A share as a whole percentage ("—" without pieces)."""
    if value is None:
        return "—"
    return f"{round(float(value) * 100)}%"


@register.filter
def kappa(value: Fraction | None) -> str:
    """Kappa with two decimals, or why there is none."""
    if value is None:
        return "not enough variety"
    return f"{float(value):.2f}"
