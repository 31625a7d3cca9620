"""The home page dispatcher: one panel per kind of role the user holds, each built by the app
that knows the role's work.

A user may hold several roles (a teacher who is also a guardian): the home page shows each of
their panels, in the order of :data:`PANELS`. A builder takes the request and the user's roles
and returns a :class:`HomePanel` (a template fragment and its context), or ``None`` when it has
nothing to show. Builders are named by dotted path and imported on first use, so this module
imports no app's pages.

To plug a role's home in, point its row of :data:`PANELS` at the builder (one row per role
group; see ``ROLE_GROUPS``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from django.http import HttpRequest
from django.utils.module_loading import import_string

from learners.selectors import roles_of

ADMIN_ROLES: Final = frozenset({"school_admin", "district_admin", "state_admin"})


@dataclass(frozen=True)
class HomePanel:
    """One panel of the home page: ``template`` is a fragment rendered with ``context``
    (as ``panel``), under the heading ``title``."""

    title: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)


type PanelBuilder = Callable[[HttpRequest, frozenset[str]], HomePanel | None]

# Role group -> the builder of its panel, in the order the panels appear.
PANELS: Final[tuple[tuple[str, str], ...]] = (
    ("teacher", "mastery.home.teacher_panel"),
    ("admin", "mastery.home.admin_panel"),
    ("student", "portal.home.student_panel"),
    ("guardian", "portal.home.guardian_panel"),
)


def role_groups(roles: frozenset[str], *, superuser: bool = False) -> frozenset[str]:
    """The role groups of :data:`PANELS` a user with ``roles`` belongs to (the operator counts
    as an administrator)."""
    groups = set(roles & {"teacher", "student", "guardian"})
    if superuser or roles & ADMIN_ROLES:
        groups.add("admin")
    return frozenset(groups)


@cache
def _builder(path: str) -> PanelBuilder:
    builder: PanelBuilder = import_string(path)
    return builder


def home_panels(request: HttpRequest) -> list[HomePanel]:
    """The panels of the signed-in user's home page, one per role group they hold."""
    user = request.user
    roles = roles_of(user)
    groups = role_groups(roles, superuser=bool(getattr(user, "is_superuser", False)))
    panels = []
    for group, path in PANELS:
        if group in groups:
            panel = _builder(path)(request, roles)
            if panel is not None:
                panels.append(panel)
    return panels
