"""``python manage.py generate_report KIND --org ID [--term ID] [--section ID] [--learner ID]
--as-of YYYY-MM-DD --format FORMAT --output PATH``: an operator's scheduled run.

KIND: ``state_export``, ``school_report``, ``transcript``, ``section_export``. The report is
the one the pages give for the same parameters (same rows, as of the end of the day), written
to PATH through a temporary file renamed when complete. The run is audited (as the system) and
a state export records one disclosure per learner included. ``--section`` and ``--learner``
must lie within ``--org``. Bad parameters stop with a message naming them; nothing is written.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from reports import selectors, services
from reports.models import ReportKind


def _day(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--as-of: expected YYYY-MM-DD, got {value!r}") from exc


class Command(BaseCommand):
    help = (
        "Generate a report to a file (state_export, school_report, transcript, section_export, "
        "equity_audit)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=ReportKind.values)
        parser.add_argument("--org", type=int, required=True, help="organisation id")
        parser.add_argument("--term", type=int, help="term id")
        parser.add_argument("--section", type=int, help="section id (section_export)")
        parser.add_argument("--learner", type=int, help="learner id (transcript)")
        parser.add_argument("--as-of", required=True, help="the day, YYYY-MM-DD")
        parser.add_argument("--format", required=True, dest="file_format")
        parser.add_argument("--output", type=Path, required=True, help="file to write")

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"]
        if not output.parent.is_dir():
            raise CommandError(f"--output: folder {output.parent} does not exist")
        try:
            scope = selectors.resolve_scope(
                None,
                operator=True,
                kind=options["kind"],
                file_format=options["file_format"],
                as_of=_day(options["as_of"]),
                organisation=options["org"],
                term=options["term"],
                section=options["section"],
                learner=options["learner"],
            )
        except ValidationError as exc:
            problems = "; ".join(m for ms in exc.message_dict.values() for m in ms)
            raise CommandError(problems.replace("file_format", "format")) from exc
        except Http404 as exc:
            raise CommandError("no such organisation, term, section or learner") from exc
        generated = services.generate_to_path(scope=scope, output=output)
        fresh = ""
        if generated.pending_recomputes is not None:
            waiting = generated.pending_recomputes
            fresh = (
                f", read from the mastery records: {waiting} figure{'s' if waiting != 1 else ''}"
                " still being recomputed"
                if waiting
                else ", read from the mastery records: every figure up to date"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{scope.kind}: {generated.rows} rows, {generated.size} bytes,"
                f" sha256 {generated.sha256}{fresh} -> {output}"
            )
        )
