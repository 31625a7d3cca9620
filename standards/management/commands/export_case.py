"""``python manage.py export_case FRAMEWORK_IDENTIFIER [--output PATH] [--case-version 1.0]``:
a CASE 1.1 CFPackage (or the CASE 1.0 shape)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from standards.exporters import CASE_VERSION, VERSIONS, build_case_package
from standards.models import Framework


class Command(BaseCommand):
    help = "Export a framework as a CASE 1.1 CFPackage JSON (to stdout, or to --output PATH)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("identifier", help="the framework's CASE identifier")
        parser.add_argument("--output", type=Path, help="write to this file instead of stdout")
        parser.add_argument(
            "--case-version",
            choices=VERSIONS,
            default=CASE_VERSION,
            help="CASE version of the package (default 1.1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        framework = Framework.objects.filter(identifier=options["identifier"]).first()
        if framework is None:
            raise CommandError(f"no framework has the identifier {options['identifier']!r}")
        package = build_case_package(framework, version=options["case_version"])
        text = json.dumps(package, ensure_ascii=False, indent=2)
        output: Path | None = options["output"]
        if output is None:
            self.stdout.write(text)
            return
        try:
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot write {output}: {error.strerror}") from error
        self.stderr.write(f"wrote {output}")
