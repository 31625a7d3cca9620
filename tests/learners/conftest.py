"""Fixtures of the learners tests.

``cast`` here is the module-scoped cast of tests/personas.py (built once per module, fresh
instances per test): the permission matrices run it hundreds of times.
"""

from __future__ import annotations

import pytest

from tests.personas import Cast, _module_cast, shared_cast

__all__ = ["_module_cast", "cast", "shared_cast"]


@pytest.fixture
def cast(shared_cast: Cast) -> Cast:
    return shared_cast
