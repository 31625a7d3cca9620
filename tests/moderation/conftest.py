"""Fixtures of the moderation tests: the district of ``world.py``, built once per module (each
test's changes are rolled back after it), with its own media folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from tests.moderation.world import District, build_district


@pytest.fixture(scope="module")
def _module_district(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[District]:
    from django.conf import settings

    saved = settings.MEDIA_ROOT
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("moderation-media")
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_district()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            settings.MEDIA_ROOT = saved


@pytest.fixture
def district(_module_district: District, db: None) -> District:
    """The district; every test starts from it as built (its writes roll back)."""
    return _module_district
