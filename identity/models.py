"""Sign-in and launches: signing keys, single sign-on providers, LTI platforms.

See README.md for what the app owns. Secrets (private keys, client secrets typed on the operator
page) are stored sealed (``identity.sealing``), never in the clear.
"""

from __future__ import annotations

from django.conf import settings
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


class RosterField(models.TextChoices):
    """What a sign-in's identifier is compared with in the roster."""

    EMAIL = "email", "E-mail address"
    USERNAME = "username", "Username"
    SOURCED_ID = "sourced_id", "OneRoster sourcedId"


class IdentityProvider(models.Model):
    """An organisation's OpenID Connect provider (Google Workspace, Microsoft Entra ID, Clever,
    ClassLink...). People of the organisation and the ones below it sign in through it; only
    people the roster already has, matched by ``claim`` against ``match_on``.

    The client secret is either typed on the operator page (stored sealed) or read from the
    environment variable named in ``client_secret_env`` (never stored).
    """

    organisation = models.ForeignKey(
        "learners.Organisation", on_delete=models.PROTECT, related_name="identity_providers"
    )
    name = models.CharField(
        max_length=120, help_text='Shown on the sign-in button, e.g. "Northside Google".'
    )
    issuer = models.URLField(
        max_length=400,
        help_text="The provider's issuer; its discovery document is at "
        "<issuer>/.well-known/openid-configuration.",
    )
    client_id = models.CharField(max_length=255)
    client_secret_sealed = models.TextField(blank=True, default="", editable=False)
    client_secret_env = models.CharField(
        "client secret environment variable",
        max_length=100,
        blank=True,
        default="",
        help_text="Name of an environment variable holding the client secret (instead of typing "
        "it here).",
    )
    scopes = models.CharField(max_length=255, default="openid email profile")
    claim = models.CharField(
        max_length=200,
        default="email",
        help_text='The ID token claim that identifies the person: "email", '
        '"preferred_username", "sub" or a provider-specific claim.',
    )
    match_on = models.CharField(
        max_length=16, choices=RosterField.choices, default=RosterField.EMAIL
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "issuer", "client_id"],
                name="identity_provider_unique_client",
            ),
            models.CheckConstraint(
                condition=Q(match_on__in=RosterField.values), name="identity_provider_match_on"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SignInSettings(models.Model):
    """How the people of an organisation (and of the ones below it) may sign in.

    With ``passwords_allowed`` off, a local username and password is refused for anyone who
    belongs to the organisation; they use single sign-on or an LTI launch. The operator (an
    active superuser) keeps a password.
    """

    organisation = models.OneToOneField(
        "learners.Organisation", on_delete=models.CASCADE, related_name="sign_in_settings"
    )
    passwords_allowed = models.BooleanField(
        "local passwords allowed",
        default=True,
        help_text="Off: people of this organisation sign in only through single sign-on or LTI.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "sign-in settings"

    def __str__(self) -> str:
        return f"sign-in settings of organisation {self.organisation_id}"


class LtiPersonClaim(models.TextChoices):
    """Which claim of an LTI launch names the person."""

    LIS_SOURCED_ID = "lis_person_sourcedid", "LIS person sourcedId (the SIS id)"
    EMAIL = "email", "E-mail address"
    SUB = "sub", "The platform's user id (sub)"


class LtiPlatform(models.Model):
    """A learning platform (Canvas, Schoology, Moodle, Brightspace...) registered to launch us
    with LTI 1.3, for the people of one organisation (and the ones below it)."""

    organisation = models.ForeignKey(
        "learners.Organisation", on_delete=models.PROTECT, related_name="lti_platforms"
    )
    name = models.CharField(max_length=120)
    issuer = models.CharField(max_length=400, help_text="The platform's issuer (iss).")
    client_id = models.CharField(
        max_length=255, help_text="The client id the platform gave this tool."
    )
    auth_login_url = models.URLField(
        "authentication request URL", max_length=400, help_text="The platform's OIDC auth endpoint."
    )
    key_set_url = models.URLField(
        "key set URL", max_length=400, help_text="The platform's public keys (JWKS)."
    )
    person_claim = models.CharField(
        max_length=32, choices=LtiPersonClaim.choices, default=LtiPersonClaim.LIS_SOURCED_ID
    )
    match_on = models.CharField(
        max_length=16, choices=RosterField.choices, default=RosterField.SOURCED_ID
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "LTI platform"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "client_id"], name="identity_ltiplatform_unique_client"
            ),
            models.CheckConstraint(
                condition=Q(match_on__in=RosterField.values), name="identity_ltiplatform_match_on"
            ),
            models.CheckConstraint(
                condition=Q(person_claim__in=LtiPersonClaim.values),
                name="identity_ltiplatform_person_claim",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LtiDeployment(models.Model):
    """A deployment of the tool on a platform (a launch names one; unknown ones are refused)."""

    platform = models.ForeignKey(LtiPlatform, on_delete=models.CASCADE, related_name="deployments")
    deployment_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["platform", "deployment_id"]
        verbose_name = "LTI deployment"
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "deployment_id"], name="identity_ltideployment_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.deployment_id


class LtiCourseLink(models.Model):
    """A platform's course (its LTI context) opened as one of our sections: made once by a
    teacher of the section on the mapping page when the roster's ids do not say it."""

    platform = models.ForeignKey(LtiPlatform, on_delete=models.CASCADE, related_name="course_links")
    context_id = models.CharField(max_length=255)
    section = models.ForeignKey(
        "learners.Section", on_delete=models.CASCADE, related_name="lti_course_links"
    )
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["platform", "context_id"]
        verbose_name = "LTI course link"
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "context_id"], name="identity_lticourselink_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"context {self.context_id} -> section {self.section_id}"


class LtiNonce(models.Model):
    """A launch's nonce, kept once used: a replayed launch finds it and is refused."""

    nonce = models.CharField(max_length=255, unique=True)
    used_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"nonce used at {self.used_at}"
