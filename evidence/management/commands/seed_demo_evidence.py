"""``python manage.py seed_demo_evidence``: the demo's evidence (``seed_demo`` runs it too)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from evidence.demo import seed_evidence


class Command(BaseCommand):
    help = "Seed a term of demo evidence, ratings and submissions for the demo sections."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--events-per-section", type=int, default=8)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        report = seed_evidence(
            seed=options["seed"], events_per_section=options["events_per_section"]
        )
        self.stdout.write(f"Demo evidence: {report} ({time.perf_counter() - started:.1f} s).")
