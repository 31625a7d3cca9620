"""``manage.py api_token USERNAME [--rotate]``: the API token of an integration's user.

Integrations call the API with ``Authorization: Token <key>``; the token acts as its user
(same scopes, same audit). ``--rotate`` replaces an existing token (the old one stops working).
The key is printed once, to stdout only; it is never logged.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print (creating it if needed) the API token of a user; --rotate replaces it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Replace the existing token.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"username {options['username']!r}: no such user")
        if not user.is_active:
            raise CommandError(f"username {options['username']!r}: the user is deactivated")
        if options["rotate"]:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
