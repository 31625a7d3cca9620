"""The base layout's navigation, built from what the user's roles allow.

Each entry names a URL; entries a user's roles do not allow are never shown. Role-specific
entries join this list as the apps that serve them land (see the learners app for roles).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import reverse

from learners import selectors


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str


def build_navigation(user: AbstractBaseUser | AnonymousUser) -> list[NavItem]:
    if not user.is_authenticated:
        return []
    items = [NavItem("Home", reverse("home"))]
    items.extend(_learners_entries(user))
    # Everyone may have a report in scope (a student their own transcript); the page scopes.
    items.append(NavItem("Reports", reverse("reports:report_list")))
    if getattr(user, "is_staff", False):
        items.append(NavItem("Administration", reverse("admin:index")))
    return items


def _learners_entries(user: AbstractBaseUser | AnonymousUser) -> list[NavItem]:
    """Entries of the learners app, from the user's current roles (one query)."""
    roles = selectors.roles_of(user)
    superuser = bool(getattr(user, "is_superuser", False))
    admin = superuser or bool(roles & {"school_admin", "district_admin", "state_admin"})
    entries: list[NavItem] = []
    if admin or "teacher" in roles:
        entries.append(NavItem("My sections", reverse("learners:section_list")))
    if admin or roles & {"teacher", "guardian"}:
        entries.append(NavItem("Learners", reverse("learners:learner_list")))
    if "student" in roles:
        entries.append(NavItem("My profile", reverse("learners:my_profile")))
    if admin:
        entries.append(NavItem("Roster import", reverse("learners:roster_import")))
    return entries
