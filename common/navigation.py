"""The base layout's navigation, built from what the user's roles allow.

Each entry names a URL; entries a user's roles do not allow are never shown. Role-specific
entries join this list as the apps that serve them land (see the learners app for roles).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str


def build_navigation(user: AbstractBaseUser | AnonymousUser) -> list[NavItem]:
    if not user.is_authenticated:
        return []
    items = [NavItem("Home", reverse("home"))]
    if getattr(user, "is_staff", False):
        items.append(NavItem("Administration", reverse("admin:index")))
    return items
