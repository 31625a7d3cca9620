"""Fixtures of the privacy tests: the cast, a small framework, private media and report roots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.evidence.conftest import Standards, standards
from tests.personas import Cast, cast

__all__ = ["Cast", "Standards", "cast", "roots", "standards"]


@pytest.fixture
def roots(settings: Any, tmp_path: Path) -> tuple[Path, Path]:
    """Fresh MEDIA_ROOT and REPORTS_ROOT for the test (files are checked on disk)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.REPORTS_ROOT = tmp_path / "reports"
    return settings.MEDIA_ROOT, settings.REPORTS_ROOT
