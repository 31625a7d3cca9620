"""``manage.py export_learner ID --output PATH``: everything held about one learner, as a zip.

Run by an operator on a school's request; audited as the system (``privacy.export``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.files import create_private
from learners.models import Learner
from privacy import services


class Command(BaseCommand):
    help = "Export everything held about one learner (JSON plus files) as a zip."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("learner_id", type=int)
        parser.add_argument("--output", required=True, help="Where to write the zip.")

    def handle(self, *args: Any, **options: Any) -> None:
        learner = Learner.objects.filter(pk=options["learner_id"]).first()
        if learner is None:
            raise CommandError(f"learner {options['learner_id']}: no such learner")
        output = Path(options["output"])
        if output.exists():
            raise CommandError(f"--output {output}: already exists (not overwritten)")
        partial = output.with_name(output.name + ".part")
        with create_private(partial).open("wb") as handle:
            summary = services.export_learner_data(actor=None, learner=learner, out=handle)
        partial.rename(output)
        self.stdout.write(
            json.dumps(
                {
                    "learner": summary.learner_id,
                    "rows": sum(summary.rows.values()),
                    "files": summary.files,
                    "output": str(output),
                }
            )
        )
