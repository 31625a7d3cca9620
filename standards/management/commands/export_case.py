"""``python manage.py export_case FRAMEWORK_IDENTIFIER [--output PATH]``: a CASE 1.1 CFPackage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from standards.exporters import build_case_package
from standards.models import Framework


class Command(BaseCommand):
    help = "Export a framework as a CASE 1.1 CFPackage JSON (to stdout, or to --output PATH)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("identifier", help="the framework's CASE identifier")
        parser.add_argument("--output", type=Path, help="write to this file instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        framework = Framework.objects.filter(identifier=options["identifier"]).first()
        if framework is None:
            raise CommandError(f"no framework has the identifier {options['identifier']!r}")
        text = json.dumps(build_case_package(framework), ensure_ascii=False, indent=2)
        output: Path | None = options["output"]
        if output is None:
            self.stdout.write(text)
            return
        try:
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot write {output}: {error.strerror}") from error
        self.stderr.write(f"wrote {output}")
