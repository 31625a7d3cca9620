"""Writes of the learners' pages: a learner's goals (only the learner writes their own)."""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from evidence.text import clean_line
from learners.models import Learner
from learners.selectors import AnyUser, learner_of
from portal.models import Goal, GoalStatus
from standards.selectors import resolve_standard_codes

logger = logging.getLogger(__name__)

TITLE_MAX = 200
REFLECTION_MAX = 5_000
MAX_GOALS = 50


def _own_learner(actor: AnyUser) -> Learner:
    learner = learner_of(actor)
    if learner is None or not learner.active or not actor.is_active:
        raise PermissionDenied("Only a student writes their own goals.")
    return learner


@transaction.atomic
def save_goal(
    *,
    actor: AnyUser,
    goal: Goal | None = None,
    title: str,
    standards: str = "",
    target_date: datetime.date | None = None,
    status: str = GoalStatus.WORKING,
    reflection: str = "",
) -> Goal:
    """Creates (``goal`` None) or updates one of the student's own goals: a title, the standards
    it is about (codes, resolved by the one standard-code resolver), a target date, a status and
    a reflection on how it is going. Validates everything first; ``PermissionDenied`` for anyone
    but the learner (another learner's goal included)."""
    learner = _own_learner(actor)
    if goal is not None and goal.learner_id != learner.pk:
        raise PermissionDenied("Not your goal.")
    cleaned_title = clean_line(title)
    if not cleaned_title:
        raise ValidationError({"title": _("Say what the goal is.")})
    if len(cleaned_title) > TITLE_MAX:
        raise ValidationError({"title": _("Keep the goal under 200 characters.")})
    if status not in GoalStatus.values:
        raise ValidationError({"status": _("Choose how the goal is going.")})
    if len(reflection) > REFLECTION_MAX:
        raise ValidationError({"reflection": _("Keep the reflection under 5000 characters.")})
    resolved = resolve_standard_codes(standards) if standards.strip() else None
    if resolved is not None and resolved.problems:
        raise ValidationError({"standards": resolved.problems})
    if goal is None and Goal.objects.filter(learner_id=learner.pk).count() >= MAX_GOALS:
        raise ValidationError({"title": _("You have 50 goals: finish or change one first.")})
    values = {
        "title": cleaned_title,
        "standard_ids": [s.pk for s in resolved.standards] if resolved else [],
        "target_date": target_date,
        "status": status,
        "reflection": reflection.strip(),  # plain text, escaped where shown
    }
    if goal is None:
        goal = Goal.objects.create(learner=learner, created_by_id=actor.pk, **values)
    else:
        Goal.objects.filter(pk=goal.pk).update(**values)
        goal.refresh_from_db()
    logger.info("goal saved", extra={"goal_id": goal.pk})
    return goal
