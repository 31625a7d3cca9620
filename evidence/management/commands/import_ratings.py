"""``python manage.py import_ratings PATH --user USERNAME [--dry-run] [--json]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.importing import problems_payload
from evidence import services
from evidence.csv_import import RatingImportRefused


class Command(BaseCommand):
    help = (
        "Import ratings from a CSV file (local_id or state_student_id, standard, score, "
        "demonstrated_on, title[, source, comment]) as the given user: all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--user",
            required=True,
            help="Username of the teacher or admin the ratings are recorded by (their scope).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check only, write nothing.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None or not user.is_active:
            raise CommandError(f"no active user {options['user']!r}")
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            with stream:
                report = services.import_ratings_csv(
                    actor=user, data=stream, dry_run=options["dry_run"]
                )
        except RatingImportRefused as refused:
            if options["json"]:
                self.stdout.write(json.dumps({"refused": True, **problems_payload(refused)}))
            for problem in refused.problems:
                self.stderr.write(str(problem))
            raise CommandError(
                f"refused: {refused.total_errors} problem(s), nothing written"
            ) from refused
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        verb = "would import" if report.dry_run else "imported"
        self.stdout.write(
            f"{verb} {report.rows} rows: {report.created} new ratings, {report.updated} "
            f"corrected, {report.unchanged} unchanged, {report.evidence_created} new evidence"
        )
        if report.recompute_job_ids:
            jobs = ", ".join(str(pk) for pk in report.recompute_job_ids)
            self.stdout.write(
                f"mastery of {report.learners} learners is being recomputed (bulk recompute {jobs})"
            )
