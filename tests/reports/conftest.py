"""Fixtures of the reports tests: the cast, a seeded world, a private reports folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.personas import Cast, cast
from tests.reports.world import World, build_world

__all__ = ["cast", "client_for", "reports_root", "world"]


@pytest.fixture(autouse=True)
def reports_root(settings: Any, tmp_path: Path) -> Path:
    """Every test keeps its report files in its own folder (never the demo's data/reports)."""
    root = tmp_path / "reports"
    settings.REPORTS_ROOT = root
    return root


@pytest.fixture
def world(cast: Cast) -> World:
    return build_world(cast)


@pytest.fixture
def client_for(client: Client) -> Any:
    def login(user: object) -> Client:
        client.force_login(user)  # type: ignore[arg-type]
        return client

    return login
