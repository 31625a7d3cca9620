"""``manage.py database_roles --superuser-url URL``: create the platform's PostgreSQL roles (S14).

Run once when a server is set up (docker-compose's ``db-setup`` service runs it at every start,
it is idempotent), with a superuser's URL for the platform's database. It creates (or corrects)
the role of ``MIGRATION_DATABASE_URL`` as the owner of the database and of everything in it, and
the role of ``DATABASE_URL`` as the application's (no superuser, DDL, TRUNCATE or trigger
rights), each with the password its URL gives, then grants the application its privileges
(``common/database_roles.py``). Migrations then run as the owner (``manage.py migrate``), which
grants the application its privileges on every table they add.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from environ import Env

from common import database_roles


class Command(BaseCommand):
    help = "Create the owner and application roles of the platform's database (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--superuser-url",
            required=True,
            help="postgres://SUPERUSER:PASSWORD@HOST:PORT/DATABASE of the platform's database",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if "owner" not in settings.DATABASES:
            raise CommandError(
                "Set MIGRATION_DATABASE_URL (the owner's role) as well as DATABASE_URL (the "
                "application's): the roles and passwords are read from them."
            )
        app, owner = settings.DATABASES["default"], settings.DATABASES["owner"]
        if app["USER"] == owner["USER"]:
            raise CommandError("DATABASE_URL and MIGRATION_DATABASE_URL must name two roles.")
        superuser = _database_of(options["superuser_url"])
        name = app["NAME"]
        params = {
            "host": superuser["HOST"] or None,
            "port": superuser["PORT"] or None,
            "user": superuser["USER"],
            "password": superuser["PASSWORD"] or None,
        }
        try:
            with psycopg.connect(**params, dbname=name, autocommit=True) as conn:
                cursor = conn.cursor()
                database_roles.create_roles(
                    cursor,
                    database=name,
                    owner=owner["USER"],
                    app=app["USER"],
                    owner_password=owner["PASSWORD"] or None,
                    app_password=app["PASSWORD"] or None,
                )
                adopted = database_roles.adopt_objects(cursor, owner=owner["USER"])
                database_roles.grant(cursor, database=name, app=app["USER"])
        except (psycopg.Error, ValueError) as exc:
            raise CommandError(f"Could not set up the roles: {exc}") from None
        self.stdout.write(
            f"Roles ready: {owner['USER']} owns {name} ({adopted} objects taken over), "
            f"{app['USER']} is the application's role."
        )


def _database_of(url: str) -> dict[str, Any]:
    if not url.startswith(("postgres://", "postgresql://")):
        raise CommandError("--superuser-url must be a postgres:// URL")
    config: dict[str, Any] = Env.db_url_config(url)
    return config
