"""Template filters of the evidence pages."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from evidence.models import EvidenceStatus, RatingSource
from evidence.text import sanitise_html

register = template.Library()


@register.filter
def sanitised(value: object) -> SafeString:
    """Stored descriptions and reflections, sanitised again as they are shown."""
    return mark_safe(sanitise_html(str(value or "")))  # noqa: S308  (nh3 output is safe)


@register.filter
def status_label(value: object) -> str:
    if value in EvidenceStatus.values:
        return str(EvidenceStatus(value).label)
    return "Unknown"


# The sources as people read them, in their language.
SOURCE_WORDS = {
    RatingSource.TEACHER: _("Teacher"),
    RatingSource.SELF: _("Self-rating"),
    RatingSource.IMPORT: _("Imported"),
    RatingSource.OVERRIDE: _("Professional judgement"),
}


@register.filter
def source_label(value: object) -> str:
    if value in RatingSource.values:
        return str(SOURCE_WORDS.get(RatingSource(value), RatingSource(value).label))
    return "Unknown"
