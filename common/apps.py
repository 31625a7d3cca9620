from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"

    def ready(self) -> None:
        from common import signals  # noqa: F401  (connects the Celery log-context handlers)
