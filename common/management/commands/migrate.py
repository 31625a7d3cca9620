"""``manage.py migrate``, as the owner of the schema when there is one (S14).

Django's own command, with one difference: when the settings have an ``owner`` connection
(``MIGRATION_DATABASE_URL``, or the embedded server), migrations run on it unless
``--database`` names another, because the application's role may not change the schema. After
the migrations, the application's role gets its privileges (``common.signals``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.commands import migrate
from django.db import DEFAULT_DB_ALIAS

OWNER = "owner"


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        if (
            options.get("database", DEFAULT_DB_ALIAS) == DEFAULT_DB_ALIAS
            and OWNER in settings.DATABASES
        ):
            options["database"] = OWNER
        super().handle(*args, **options)
