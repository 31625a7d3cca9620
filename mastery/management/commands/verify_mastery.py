"""``python manage.py verify_mastery [--json]``: is every mastery record what the engine says?"""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mastery.selectors import verify_mastery


class Command(BaseCommand):
    help = (
        "Recompute every mastery record in memory and compare it with the stored one. Prints "
        "the counts checked, stale (marked dirty or missing) and wrong; exits 1 if any is stale "
        "or wrong. Writes nothing. Run it after an incident."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--batch", type=int, default=500, help="learners read per batch (default 500)"
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=os.cpu_count() or 1,
            help="processes sharing the learner ranges (default: one per core)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        if options["processes"] < 1:
            raise CommandError("--processes must be at least 1")
        report = verify_mastery(batch=options["batch"], processes=options["processes"])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json()))
        else:
            self.stdout.write(
                f"checked {report.checked}, stale {report.stale}, wrong {report.wrong}"
            )
            for learner_id, standard_id in report.wrong_pairs[:20]:
                self.stdout.write(f"wrong: learner {learner_id} standard {standard_id}")
        if report.stale or report.wrong:
            raise SystemExit(1)
