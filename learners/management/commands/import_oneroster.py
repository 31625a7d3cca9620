"""``python manage.py import_oneroster PATH [--json]``: import a OneRoster 1.1 CSV roster.

PATH is a folder holding the CSV files or a zip of them. The whole roster is validated first; a
bad roster writes nothing and every problem is listed (file, row, column, reason) on stderr with
exit status 1. A good one prints the created, updated and unchanged counts per file (``--json``:
one JSON object on stdout, also for a refused roster).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from learners import services
from learners.oneroster import RosterInvalid


class Command(BaseCommand):
    help = "Import a OneRoster 1.1 CSV roster (folder or zip), all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="a folder of OneRoster CSV files, or a zip")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        as_json: bool = options["json"]
        try:
            result = services.import_roster(actor=None, source=path, source_name=path.name)
        except RosterInvalid as exc:
            if as_json:
                payload = {
                    "ok": False,
                    "import_id": exc.import_id,
                    "errors": [error.as_dict() for error in exc.errors],
                }
                self.stdout.write(json.dumps(payload))
            else:
                for error in exc.errors:
                    self.stderr.write(str(error))
            raise CommandError(
                f"The roster was refused ({len(exc.errors)} problem(s)); nothing was written."
            ) from exc
        if as_json:
            self.stdout.write(json.dumps({"ok": True, **result.as_dict()}))
            return
        self.stdout.write(f"{'file':<18}{'created':>9}{'updated':>9}{'unchanged':>11}")
        for name, counts in result.counts.items():
            extra = []
            if counts.deleted:
                extra.append(f"deleted {counts.deleted}")
            if counts.skipped:
                extra.append(f"skipped {counts.skipped}")
            self.stdout.write(
                f"{name:<18}{counts.created:>9}{counts.updated:>9}{counts.unchanged:>11}"
                + (f"  ({', '.join(extra)})" if extra else "")
            )
        self.stdout.write(self.style.SUCCESS(f"Roster imported (import {result.import_id})."))
