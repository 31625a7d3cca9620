"""The learner's and the guardian's panels of the home page (``common.home.PANELS``)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _

from common.home import HomePanel
from learners.models import GuardianLink
from learners.selectors import current_q, learner_of
from notifications.services import unread_count
from portal import selectors
from portal.models import GoalStatus


def student_panel(request: HttpRequest, roles: frozenset[str]) -> HomePanel | None:
    """What to work on next, pace toward this term's requirements, work to revise, goals."""
    learner = learner_of(request.user)
    if learner is None:
        return None
    view = selectors.learner_view(learner, viewer=request.user)
    goals = [goal for goal in view.goals if goal.status == GoalStatus.WORKING]
    return HomePanel(
        title=_("Your learning"),
        template="portal/home/student.html",
        context={
            "view": view,
            "goals": goals,
            "goal_standards": selectors.goal_standards(goals),
            "notifications": selectors.recent_notifications(request.user),
            "unread": unread_count(request.user),
        },
    )


def guardian_panel(request: HttpRequest, roles: frozenset[str]) -> HomePanel | None:
    """Each linked child's pace and next steps, and the family's notifications."""
    links = (
        GuardianLink.objects.filter(current_q(), guardian_id=request.user.pk)
        .select_related("learner__school")
        .order_by("learner__family_name", "learner__given_name", "learner_id")[:20]
    )
    children = [
        selectors.learner_view(link.learner, viewer=request.user)
        for link in links
        if link.learner.active
    ]
    return HomePanel(
        title=_("Your children"),
        template="portal/home/guardian.html",
        context={
            "children": children,
            "notifications": selectors.recent_notifications(request.user),
            "unread": unread_count(request.user),
        },
    )
