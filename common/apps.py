from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CommonConfig(AppConfig):
    name = "common"

    def ready(self) -> None:
        # Connect the login activity handler and the Celery log-context handlers.
        from common import security, signals  # noqa: F401

        post_migrate.connect(grant_application_role, sender=self)


def grant_application_role(using: str, **_: Any) -> None:
    """After every migration (as the owner), the application's role gets its privileges on
    every table there now is (common/database_roles.py); nothing when the role does not exist
    or is the one that migrated (a development database run as one role)."""
    from django.conf import settings
    from django.db import connections

    from common import database_roles

    connection = connections[using]
    role = settings.DATABASE_APP_ROLE
    if connection.settings_dict.get("USER") == role:
        return
    with connection.cursor() as wrapper:
        if database_roles.role_exists(wrapper.cursor, role):
            database_roles.grant(
                wrapper.cursor, database=connection.settings_dict["NAME"], app=role
            )
