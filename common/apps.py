from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"

    def ready(self) -> None:
        # Connect the login activity handler and the Celery log-context handlers.
        from common import security, signals  # noqa: F401
