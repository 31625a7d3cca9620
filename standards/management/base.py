"""What the import commands share: reading the file, printing the report or the problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.importing import problems_payload
from standards.importers.base import ImportRefused, ParsedFramework
from standards.services import ImportReport, import_framework


class ImportCommand(BaseCommand):
    """Reads PATH with :meth:`parse`, imports it, prints a summary (or one JSON object).

    A refused file prints every problem (to stderr, or in the JSON object) and exits non-zero;
    nothing is written.
    """

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the file (import_case: or a CASE provider's https URL)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and report, write nothing"
        )

    def parse(self, data: bytes, options: dict[str, Any]) -> ParsedFramework:
        raise NotImplementedError

    def read(self, source: str) -> bytes:
        path = Path(source)
        try:
            return path.read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from error

    def handle(self, *args: Any, **options: Any) -> None:
        path: str = options["path"]
        try:
            data = self.read(path)
            parsed = self.parse(data, options)
            report = import_framework(parsed=parsed, actor=None, dry_run=options["dry_run"])
        except ImportRefused as refused:
            if options["json"]:
                self.stdout.write(json.dumps({"refused": True, **problems_payload(refused)}))
            else:
                for problem in refused.problems:
                    self.stderr.write(str(problem))
            raise CommandError(
                f"{path} refused: {refused.total_errors} problem(s), nothing written"
            ) from refused
        self.print_report(report, as_json=options["json"])

    def print_report(self, report: ImportReport, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        verb = "would import" if report.dry_run else "imported"
        self.stdout.write(
            f"{verb} {report.framework} ({report.title}): {report.items} items, "
            f"{report.associations} associations in {report.seconds:.2f} s\n"
            f"items: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.retired} retired\n"
            f"associations: {report.associations_created} created, "
            f"{report.associations_updated} updated, {report.associations_unchanged} unchanged, "
            f"{report.associations_removed} removed"
        )
