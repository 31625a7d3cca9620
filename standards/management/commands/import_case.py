"""``python manage.py import_case PATH_OR_URL [--json] [--dry-run]``: import a CASE CFPackage
from a file, or from a CASE provider (``https://.../ims/case/v1p1/CFPackages/{id}``)."""

from __future__ import annotations

from typing import Any

from standards.case_provider import fetch_package
from standards.importers.base import ParsedFramework
from standards.importers.case import parse_case_bytes
from standards.management.base import ImportCommand


class Command(ImportCommand):
    help = "Import (or re-import, by identifier) a CASE 1.0/1.1 CFPackage JSON file."

    def read(self, source: str) -> bytes:
        if source.startswith(("http://", "https://")):
            return fetch_package(source)
        return super().read(source)

    def parse(self, data: bytes, options: dict[str, Any]) -> ParsedFramework:
        return parse_case_bytes(data)
