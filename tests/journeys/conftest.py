"""Fixtures of the journey tests: the persona cast, a private media root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.personas import Cast, _module_cast, shared_cast

__all__ = ["_module_cast", "cast", "media_root", "shared_cast"]


@pytest.fixture
def cast(shared_cast: Cast) -> Cast:
    """The cast, built once per module; each test's changes are rolled back after it."""
    return shared_cast


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Uploads go to the test's own folder, never the demo's data/media."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root
