"""``python manage.py seed_demo``: the demo data that ``make demo`` loads (idempotent)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (public demo login, printed on purpose)


class Command(BaseCommand):
    help = "Load the demo data and print the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        admin, created = user_model.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        self.stdout.write("  admin    platform administrator")
