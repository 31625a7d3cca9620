"""Reads of the identity app: which key signs, which keys are published."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from identity.models import SigningKey
from learners.models import Organisation


def active_signing_keys(
    *, purpose: str, organisation: Organisation | None = None
) -> QuerySet[SigningKey]:
    """The active key (at most one, by constraint) of this purpose and organisation."""
    return (
        SigningKey.objects.filter(purpose=purpose, retired_at__isnull=True)
        .filter(Q(organisation=organisation) if organisation else Q(organisation__isnull=True))
        .order_by("pk")
    )


def active_signing_key(
    *, purpose: str, organisation: Organisation | None = None
) -> SigningKey | None:
    """The key that signs new messages for this purpose and organisation (``None`` for the
    platform's own key), or ``None`` when there is none yet (``identity.services.
    signing_key_for`` makes one on first use)."""
    return active_signing_keys(purpose=purpose, organisation=organisation).first()


def published_signing_keys() -> QuerySet[SigningKey]:
    """Every key whose public half we publish: active and retired keys, never revoked ones
    (what a retired key signed must keep verifying)."""
    return SigningKey.objects.filter(revoked_at__isnull=True).order_by("created_at", "pk")
