"""Fixtures of the portal tests: the cast of personas, built once per module."""

from tests.personas import _module_cast, shared_cast

__all__ = ["_module_cast", "shared_cast"]
