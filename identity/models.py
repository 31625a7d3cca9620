"""Sign-in and launches: signing keys, single sign-on providers, LTI platforms.

See README.md for what the app owns. Secrets (private keys, client secrets typed on the operator
page) are stored sealed (``identity.sealing``), never in the clear.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class KeyPurpose(models.TextChoices):
    LTI = "lti", "LTI tool messages"
    BADGE = "badge", "Open Badges credentials"


class KeyAlgorithm(models.TextChoices):
    RS256 = "RS256", "RSA 2048 with SHA-256"
    ES256 = "ES256", "ECDSA P-256 with SHA-256"


class SigningKey(models.Model):
    """A key pair we sign with, for one purpose, of one organisation (or the whole platform).

    At most one key per (purpose, organisation) is *active* (signs new messages). Rotating makes
    a new active key and retires the old one: a retired key signs nothing more but stays
    published in our key set, so what it signed still verifies (an Open Badges credential for
    years, an LTI message for minutes). A *revoked* key (compromised) is no longer published.
    """

    purpose = models.CharField(max_length=16, choices=KeyPurpose.choices)
    organisation = models.ForeignKey(
        "learners.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="signing_keys",
        help_text="Blank: the platform's own key for this purpose.",
    )
    kid = models.CharField("key id", max_length=64, unique=True)
    algorithm = models.CharField(max_length=8, choices=KeyAlgorithm.choices)
    public_jwk = models.JSONField(help_text="The public key as a JWK (with kid, alg and use).")
    private_key_sealed = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["purpose", "organisation", "-created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(purpose__in=KeyPurpose.values), name="identity_signingkey_purpose"
            ),
            models.CheckConstraint(
                condition=Q(algorithm__in=KeyAlgorithm.values), name="identity_signingkey_alg"
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(retired_at__isnull=False),
                name="identity_signingkey_revoked_is_retired",
            ),
            # One active key per purpose and organisation (and one platform key per purpose).
            models.UniqueConstraint(
                fields=["purpose", "organisation"],
                condition=Q(retired_at__isnull=True, organisation__isnull=False),
                name="identity_signingkey_one_active_per_org",
            ),
            models.UniqueConstraint(
                fields=["purpose"],
                condition=Q(retired_at__isnull=True, organisation__isnull=True),
                name="identity_signingkey_one_active_platform",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} key {self.kid}"
