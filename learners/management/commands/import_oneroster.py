"""``python manage.py import_oneroster PATH [--dry-run] [--safety-percent N] [--json]``: import a
OneRoster 1.1 CSV roster.

PATH is a folder holding the CSV files or a zip of them. The whole roster is validated first; a
bad roster writes nothing and every problem is listed (file, row, column, reason) on stderr with
exit status 1. Rows left out on purpose are listed as warnings; past the safety limit (default
``ROSTER_SAFETY_PERCENT``, 5 %) of skipped rows or deactivated learners the roster is refused
whole. A good one prints the created, updated, unchanged, skipped and deleted counts per file
(``--json``: one JSON object on stdout, also for a refused roster). ``--dry-run`` checks and
counts, writing nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.importing import problems_payload
from learners import services
from learners.oneroster import RosterInvalid


class Command(BaseCommand):
    help = "Import a OneRoster 1.1 CSV roster (folder or zip), all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="a folder of OneRoster CSV files, or a zip")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--dry-run", action="store_true", help="check and count everything, write nothing"
        )
        parser.add_argument(
            "--safety-percent",
            type=int,
            default=None,
            help="refuse the roster when more than this share of rows would be skipped or "
            "learners deactivated (default: ROSTER_SAFETY_PERCENT, 5)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        as_json: bool = options["json"]
        percent = options["safety_percent"]
        if percent is not None and not 0 <= percent <= 100:
            raise CommandError("--safety-percent: a whole number from 0 to 100")
        try:
            result = services.import_roster(
                actor=None,
                source=path,
                source_name=path.name,
                dry_run=options["dry_run"],
                safety_share=None if percent is None else percent / 100,
            )
        except RosterInvalid as exc:
            if as_json:
                payload = {"ok": False, "import_id": exc.import_id, **problems_payload(exc)}
                self.stdout.write(json.dumps(payload))
            else:
                for problem in exc.problems:
                    self.stderr.write(str(problem))
            raise CommandError(
                f"The roster was refused ({exc.total_errors} problem(s)); nothing was written."
            ) from exc
        if as_json:
            self.stdout.write(json.dumps({"ok": True, **result.as_dict()}))
            return
        for warning in result.warnings:
            self.stderr.write(str(warning))
        self.stdout.write(
            f"{'file':<18}{'created':>9}{'updated':>9}{'unchanged':>11}{'skipped':>9}{'deleted':>9}"
        )
        for name, counts in result.counts.items():
            self.stdout.write(
                f"{name:<18}{counts.created:>9}{counts.updated:>9}{counts.unchanged:>11}"
                f"{counts.skipped:>9}{counts.deleted:>9}"
            )
        if result.dry_run:
            self.stdout.write(self.style.SUCCESS("Roster checked: nothing was written (dry run)."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Roster imported (import {result.import_id})."))
