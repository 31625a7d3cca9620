"""Fixtures of the evidence tests: the cast of personas, a small framework, a private media root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from standards.models import Framework, Standard
from tests.personas import Cast, cast

__all__ = ["Cast", "Standards", "cast", "client_for", "media_root", "standards"]


@dataclass(frozen=True)
class Standards:
    framework: Framework
    domain: Standard  # a grouping: cannot be rated
    counting: Standard  # K.CC.A.1
    adding: Standard  # 1.OA.A.1
    fractions: Standard  # 3.NF.A.1
    retired: Standard  # 3.NF.A.9 (retired)

    def ratable(self) -> list[Standard]:
        return [self.counting, self.adding, self.fractions]


def make_standards(identifier: str = "fw-test-1", prefix: str = "CCSS.Math.Content.") -> Standards:
    framework = Framework.objects.create(
        identifier=identifier, title=f"Test maths {identifier}", source_format="case"
    )

    def item(code: str, *, grouping: bool = False, status: str = "active") -> Standard:
        return Standard.objects.create(
            framework=framework,
            identifier=f"{identifier}-{code}",
            human_code=f"{prefix}{code}" if not grouping else code,
            statement=f"Statement of {code}",
            is_grouping=grouping,
            status=status,
        )

    domain = item("Counting and Cardinality", grouping=True)
    return Standards(
        framework=framework,
        domain=domain,
        counting=item("K.CC.A.1"),
        adding=item("1.OA.A.1"),
        fractions=item("3.NF.A.1"),
        retired=item("3.NF.A.9", status="retired"),
    )


@pytest.fixture
def standards(db: None) -> Standards:
    return make_standards()


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Every test stores uploads in its own folder (never in the demo's data/media)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def client_for(client: Client) -> object:
    def login(user: object) -> Client:
        client.force_login(user)  # type: ignore[arg-type]
        return client

    return login
