"""Fixtures of the learners tests: the cast of personas (see tests/personas.py)."""

from tests.personas import cast

__all__ = ["cast"]
