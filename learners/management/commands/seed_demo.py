"""``python manage.py seed_demo [--learners N] [--seed S] [--roster-only]``: the demo ``make demo``
loads.

First the demo district (``learners.demo``): idempotent (a second run writes nothing) and
deterministic (the same size and seed give the same district). Then, unless ``--roster-only``,
each app's demo seeder listed in ``DEMO_SEEDERS`` that exists is called with ``seed=S`` (each is
idempotent itself). Prints the demo logins, one per role.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from common import history
from learners.demo import DEMO_PASSWORD, school_year_bounds, seed_demo_district

# (module, function) run after the roster, in this order; a missing one is skipped. Each takes
# ``seed=`` and returns something printable (or None).
DEMO_SEEDERS = (
    ("standards.demo", "seed_standards"),
    ("evidence.demo", "seed_evidence"),
    ("moderation.demo", "seed_moderation"),
    ("mastery.demo", "seed_mastery"),
    ("reports.demo", "seed_reports"),
)


class Command(BaseCommand):
    help = "Load the demo district (idempotent) and print the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--learners", type=int, default=300, help="how many learners (default 300)"
        )
        parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
        parser.add_argument(
            "--roster-only", action="store_true", help="only the district, no app demo data"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        size: int = options["learners"]
        seed: int = options["seed"]
        if size < 1 or size > 1_000_000:
            raise CommandError("--learners must be between 1 and 1000000.")
        started = time.perf_counter()
        result = seed_demo_district(learners=size, seed=seed)
        elapsed = time.perf_counter() - started
        if result.created:
            self.stdout.write(
                f"Demo district loaded in {elapsed:.1f} s: {result.learners} learners, "
                f"{result.schools} schools, {result.sections} sections, {result.teachers} "
                f"teachers, {result.guardians} guardians."
            )
        else:
            self.stdout.write(
                f"The demo district is already loaded ({result.learners} learners); "
                "nothing was added."
            )
        if not options["roster_only"]:
            self._run_app_seeders(seed)
        # The demo is a term of data loaded today: its roster and settings have stood since the
        # school year began, so a report of a past day of the term finds them (ADR 8).
        start, _end = school_year_bounds(timezone.localdate())
        since = datetime.datetime.combine(
            start, datetime.time(), tzinfo=timezone.get_current_timezone()
        )
        history.backdate_versions(since)
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for login in result.logins:
            self.stdout.write(f"  {login.username:<14} {login.role:<18} {login.note}")

    def _run_app_seeders(self, seed: int) -> None:
        for module_name, function_name in DEMO_SEEDERS:
            if importlib.util.find_spec(module_name) is None:
                continue
            seeder = getattr(importlib.import_module(module_name), function_name, None)
            if seeder is None:
                continue
            started = time.perf_counter()
            outcome = seeder(seed=seed)
            elapsed = time.perf_counter() - started
            self.stdout.write(f"{module_name}: {outcome} ({elapsed:.1f} s)")
