#!/usr/bin/env python
"""Django's command-line utility."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except OperationalError:
        from django.conf import settings

        server = getattr(settings, "EMBEDDED_POSTGRES", None)
        if server is None or server.is_running():
            raise
        # The embedded default's database is down: say how to start it, not a driver traceback.
        sys.exit(
            f"The embedded PostgreSQL ({server.pgdata}) is not running. Start it with "
            "`.venv/bin/python manage.py embedded_postgres start` (`make demo` does), "
            "or set DATABASE_URL to a PostgreSQL server."
        )


if __name__ == "__main__":
    main()
