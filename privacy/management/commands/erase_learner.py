"""``manage.py erase_learner ID [--json]``: remove everything held about one learner.

Idempotent (a re-run after success or after a crash finishes the job and reports what it
removed); exits non-zero if any row about the learner remains afterwards.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from learners.models import Learner
from privacy import selectors, services


class Command(BaseCommand):
    help = "Erase everything held about one learner (rows, files, login). Cannot be undone."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("learner_id", type=int)
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        learner_id: int = options["learner_id"]
        if learner_id <= 0:
            raise CommandError("learner_id: a positive id")
        user_id = Learner.objects.filter(pk=learner_id).values_list("user_id", flat=True).first()
        report = services.erase_learner(actor=None, learner_id=learner_id)
        remaining = {
            model: count
            for model, count in selectors.remaining_rows(learner_id, user_id).items()
            if count
        }
        result = {
            "learner": learner_id,
            "already_erased": report.already_erased,
            "rows_removed": report.rows_removed,
            "rows": report.rows,
            "files_removed": report.files_removed,
            "erasure_record": report.record_id,
            "remaining": remaining,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, sort_keys=True))
        elif report.already_erased:
            self.stdout.write(f"learner {learner_id}: nothing left to erase")
        else:
            self.stdout.write(
                f"learner {learner_id}: {report.rows_removed} rows and {report.files_removed} "
                f"files removed (erasure record {report.record_id})"
            )
        if remaining:
            raise CommandError(f"learner {learner_id}: rows remain: {remaining}")
