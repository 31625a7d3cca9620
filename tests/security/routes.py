"""Every route of the project, read from the URL resolver (so new routes cannot be missed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    name: str  # the namespaced URL name, e.g. "learners:learner_detail"
    pattern: str  # the full pattern, e.g. "learners/<int:pk>/"


def _walk(patterns: list[URLPattern | URLResolver], prefix: str, namespace: str) -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif entry.name:
            yield Route(f"{namespace}{entry.name}", prefix + str(entry.pattern))
        else:
            yield Route(
                f"{namespace}<unnamed {prefix}{entry.pattern}>", prefix + str(entry.pattern)
            )


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns, "", ""))


def all_route_names() -> set[str]:
    return {route.name for route in all_routes()}
