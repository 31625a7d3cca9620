"""``manage.py embedded_postgres start|stop|status``: the embedded default's private PostgreSQL.

``start`` initialises ``data/postgres`` on first use, starts the server (a Unix socket in that
folder, no TCP port) and creates the platform's database; ``stop`` stops it; ``status`` says
whether it runs (exit status 0 if it does, 3 if not). ``make demo`` and ``make stop-demo`` call
them. Only for the embedded default: with ``DATABASE_URL`` set the platform uses that server.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError


class Command(BaseCommand):
    help = "Start, stop or show the embedded PostgreSQL of the embedded default (data/postgres)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args: Any, **options: Any) -> None:
        server: EmbeddedPostgres | None = settings.EMBEDDED_POSTGRES
        if server is None:
            raise CommandError(
                "DATABASE_URL is set: the platform uses that server, not the embedded PostgreSQL."
            )
        try:
            if options["action"] == "start":
                started = server.start()
                server.set_up(settings.DATABASES["default"]["NAME"])
                verb = "Started" if started else "Already running:"
                self.stdout.write(f"{verb} the embedded PostgreSQL in {server.pgdata}.")
            elif options["action"] == "stop":
                stopped = server.stop()
                verb = "Stopped" if stopped else "Not running:"
                self.stdout.write(f"{verb} the embedded PostgreSQL in {server.pgdata}.")
            elif server.is_running():
                self.stdout.write(f"The embedded PostgreSQL in {server.pgdata} is running.")
            else:
                self.stdout.write(f"The embedded PostgreSQL in {server.pgdata} is not running.")
                raise SystemExit(3)
        except EmbeddedPostgresError as exc:
            raise CommandError(str(exc)) from None
