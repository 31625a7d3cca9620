"""Operator command: list, rotate, revoke and re-seal the signing keys (identity.SigningKey)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from identity import services
from identity.models import KeyAlgorithm, KeyPurpose, SigningKey
from identity.sealing import SealError, reseal
from learners.models import Organisation


class Command(BaseCommand):
    help = "List, rotate, revoke or re-seal the keys we sign LTI messages and credentials with."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="every key, newest first per purpose")
        rotate = actions.add_parser("rotate", help="a new active key; the old one is retired")
        rotate.add_argument("--purpose", choices=KeyPurpose.values, required=True)
        rotate.add_argument("--organisation", type=int, help="organisation id (blank: platform)")
        rotate.add_argument("--algorithm", choices=KeyAlgorithm.values)
        revoke = actions.add_parser("revoke", help="stop publishing a key (compromised)")
        revoke.add_argument("kid")
        actions.add_parser("reseal", help="re-seal every private key under the current key")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            for key in SigningKey.objects.select_related("organisation"):
                state = "revoked" if key.revoked_at else "retired" if key.retired_at else "active"
                owner = key.organisation_id or "platform"
                self.stdout.write(
                    f"{key.kid}  {key.purpose:<6} {key.algorithm:<6} {state:<8} {owner}"
                )
        elif action == "rotate":
            organisation = None
            if options["organisation"] is not None:
                organisation = Organisation.objects.filter(pk=options["organisation"]).first()
                if organisation is None:
                    raise CommandError(f"No organisation with id {options['organisation']}.")
            key = services.rotate_signing_key(
                actor=None,
                purpose=options["purpose"],
                organisation=organisation,
                algorithm=options["algorithm"],
            )
            self.stdout.write(key.kid)
        elif action == "revoke":
            found = SigningKey.objects.filter(kid=options["kid"]).first()
            if found is None:
                raise CommandError(f"No signing key with id {options['kid']!r}.")
            services.revoke_signing_key(actor=None, key=found)
            self.stdout.write(f"revoked {found.kid}")
        else:
            with transaction.atomic():
                count = 0
                for key in SigningKey.objects.select_for_update().order_by("pk"):
                    try:
                        key.private_key_sealed = reseal(key.private_key_sealed)
                    except SealError as error:
                        raise CommandError(f"Key {key.kid}: {error}.") from error
                    key.save(update_fields=["private_key_sealed"])
                    count += 1
            self.stdout.write(f"re-sealed {count} keys")
