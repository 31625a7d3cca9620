"""Template filters of the standards pages: problems in plain words."""

from __future__ import annotations

import re

from django import template

register = template.Library()

# Fields the settings services name, as the pages call them.
FIELD_LABELS = {
    "method": "Method",
    "params": "Method's parameters",
    "weight": "Weight",
    "n": "Scores needed (N)",
    "threshold": "Threshold score",
    "evaluate_at": "Where to read the curve",
    "min_points": "Scores needed for a fit",
    "floor": "A score of 0 counts as",
    "p_init": "P(L0)",
    "p_learn": "P(T)",
    "p_guess": "P(G)",
    "p_slip": "P(S)",
    "mastery_probability": "Mastered from",
    "min_evidence": "Ratings needed",
    "rollup_rule": "Roll-up",
    "rollup_params": "Roll-up",
    "share": "Share of children",
    "points_required": "Points needed",
    "points": "Points of each child",
    "required": "Children that must be mastered",
    "mastery_threshold": "Mastery threshold",
    "codes": "Standards",
    "standards": "Standards",
    "grade_level": "Grade level",
    "term": "Term",
    "priority": "Priority",
    "choose": "How many to choose",
    "title": "Title",
    "levels": "Levels",
}
_INTERNAL_WHERE = frozenset(
    {
        "policy",
        "params",
        "rollup_params",
        "scale",
        "levels",
        "standards",
        "choice",
        "decision",
        "requirement",
        "request",
    }
)
_POINTS_OF = re.compile(r"^points\[(\d+)\]$")


@register.filter
def field_label(name: str) -> str:
    """A problem's field in words (``points[12]`` is a child's points); a file's own column
    names (``fullStatement``, ``human_code``) stay as the file spells them."""
    if _POINTS_OF.match(name or ""):
        return "Points of a child"
    return FIELD_LABELS.get(name, name or "")


@register.filter
def plain_where(where: str) -> str:
    """Where a problem is, unless it is an internal name (``policy``, ``params``...)."""
    return "" if (where or "") in _INTERNAL_WHERE else where
