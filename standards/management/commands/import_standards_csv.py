"""``python manage.py import_standards_csv PATH --identifier ID --title TITLE [--json]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from standards.importers.base import ParsedFramework
from standards.importers.csv import parse_standards_csv
from standards.management.base import ImportCommand


class Command(ImportCommand):
    help = (
        "Import (or re-import) a local framework from CSV: identifier, parent identifier (or "
        "parent code), human code, statement, item type, grade levels."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--identifier", required=True, help="the framework's identifier")
        parser.add_argument("--title", required=True, help="the framework's title")
        parser.add_argument("--creator", default="", help="who publishes the framework")
        parser.add_argument(
            "--allow-missing-parents",
            action="store_true",
            help="place rows whose parent is not in the file at the top level (warned)",
        )

    def parse(self, data: bytes, options: dict[str, Any]) -> ParsedFramework:
        return parse_standards_csv(
            data,
            framework_identifier=options["identifier"],
            title=options["title"],
            creator=options["creator"],
            allow_missing_parents=options["allow_missing_parents"],
        )
