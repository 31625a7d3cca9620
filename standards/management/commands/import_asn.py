"""``python manage.py import_asn PATH [--json] [--dry-run]``: import ASN RDF/JSON."""

from __future__ import annotations

from typing import Any

from standards.importers.asn import parse_asn_bytes
from standards.importers.base import ParsedFramework
from standards.management.base import ImportCommand


class Command(ImportCommand):
    help = "Import (or re-import) an Achievement Standards Network RDF/JSON export."

    def parse(self, data: bytes, options: dict[str, Any]) -> ParsedFramework:
        return parse_asn_bytes(data)
