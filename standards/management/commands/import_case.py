"""``python manage.py import_case PATH [--json] [--dry-run]``: import a CASE CFPackage."""

from __future__ import annotations

from typing import Any

from standards.importers.base import ParsedFramework
from standards.importers.case import parse_case_bytes
from standards.management.base import ImportCommand


class Command(ImportCommand):
    help = "Import (or re-import, by identifier) a CASE 1.0/1.1 CFPackage JSON file."

    def parse(self, data: bytes, options: dict[str, Any]) -> ParsedFramework:
        return parse_case_bytes(data)
