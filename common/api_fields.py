"""API input fields shared by the apps' serializers.

:class:`TextField` is DRF's ``CharField`` that accepts text only: DRF's own turns a number into
its text (a removal ``"reason": 1.4e-303`` was stored as ``"1.4e-303"``), which hides a client's
mistake and lets a number stand for words people must read.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class TextField(serializers.CharField):
    """A ``CharField`` refusing anything but a JSON string (or a form field, always text)."""

    default_error_messages = {"not_text": "Must be text (a string), not a number or a list."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_text")
        return str(super().to_internal_value(data))
