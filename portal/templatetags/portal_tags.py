"""Template filters of the learners' and families' pages (words, never codes)."""

from __future__ import annotations

import datetime

from django import template
from django.utils.translation import gettext_lazy as _

from notifications.models import Notification
from notifications.services import render_text
from portal import plain

register = template.Library()


@register.filter
def notification_subject(notification: Notification) -> str:
    return render_text(notification)[0]


@register.filter
def notification_body(notification: Notification) -> str:
    return render_text(notification)[1]


@register.filter
def plain_day(value: datetime.datetime | datetime.date | None) -> str:
    """A date in the reader's language and format (the platform's time zone for a moment)."""
    return plain.day(value)


@register.filter
def plain_number(value: object) -> str:
    return plain.number(value)  # type: ignore[arg-type]


@register.filter
def get_item(mapping: dict[object, str] | None, key: object) -> str:
    return (mapping or {}).get(key, "")


STATUS_WORDS = {
    "submitted": _("Waiting for a teacher's review"),
    "scored": _("Scored by a teacher"),
    "returned": _("Returned to revise"),
}
KIND_WORDS = {
    "observation": _("Observation"),
    "assessment": _("Assessment"),
    "project": _("Project"),
    "community": _("Community or work-based"),
    "prior_learning": _("Prior learning"),
}


@register.filter
def status_words(value: object) -> str:
    """An evidence status as learners and families read it."""
    return str(STATUS_WORDS.get(str(value), ""))


@register.filter
def kind_words(value: object) -> str:
    return str(KIND_WORDS.get(str(value), ""))
