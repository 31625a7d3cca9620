"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

from common.navigation import NavItem, build_navigation


def navigation(request: HttpRequest) -> dict[str, list[NavItem]]:
    return {"navigation": build_navigation(request.user)}
