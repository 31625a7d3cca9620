"""The operator's pages for sign-in and launches (Django admin, active superusers only).

Signing keys are read-only here (``manage.py signing_keys`` rotates and revokes them: the
private half never appears on a page).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse

from identity import remote, services
from identity.models import (
    IdentityProvider,
    KeyPurpose,
    LtiCourseLink,
    LtiDeployment,
    LtiPlatform,
    SigningKey,
    SignInSettings,
)
from identity.sealing import seal

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


def _operator(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and getattr(user, "is_superuser", False))


class OperatorAdmin(_ModelAdmin):
    """Open to the operator only: the staff flag and admin roles grant nothing here."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _operator(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _operator(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)


@admin.register(SigningKey)
class SigningKeyAdmin(OperatorAdmin):
    list_display = ["kid", "purpose", "algorithm", "organisation", "created_at", "retired_at",
                    "revoked_at"]  # fmt: skip
    list_filter = ["purpose", "algorithm"]
    fields = readonly_fields = ("kid", "purpose", "algorithm", "organisation", "public_jwk",
                                "created_at", "retired_at", "revoked_at")  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IdentityProviderForm(forms.ModelForm):  # type: ignore[type-arg]
    """The secret is write-only: typed here it is sealed; left blank it is kept."""

    client_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the current secret, or name an environment variable "
        "below instead.",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored secret")

    class Meta:
        model = IdentityProvider
        fields = ["organisation", "name", "issuer", "client_id", "client_secret",
                  "clear_secret", "client_secret_env", "scopes", "claim", "match_on",
                  "enabled"]  # fmt: skip

    def clean_client_secret_env(self) -> str:
        name = str(self.cleaned_data.get("client_secret_env", "")).strip()
        if name and not ENV_NAME.fullmatch(name):
            raise forms.ValidationError(
                "Letters, digits and underscores, e.g. SSO_NORTHSIDE_SECRET."
            )
        return name

    def clean_scopes(self) -> str:
        scopes = str(self.cleaned_data.get("scopes", "")).split()
        if "openid" not in scopes:
            raise forms.ValidationError('The scopes must include "openid".')
        return " ".join(scopes)

    def clean_issuer(self) -> str:
        issuer = str(self.cleaned_data.get("issuer", "")).rstrip("/")
        if not remote.allowed_url(issuer):
            raise forms.ValidationError("The issuer must be an https address.")
        return issuer

    def save(self, commit: bool = True) -> IdentityProvider:
        provider: IdentityProvider = super().save(commit=False)
        secret = self.cleaned_data.get("client_secret")
        if self.cleaned_data.get("clear_secret"):
            provider.client_secret_sealed = ""
        elif secret:
            provider.client_secret_sealed = seal(secret)
        if commit:
            provider.save()
        return provider


@admin.register(IdentityProvider)
class IdentityProviderAdmin(OperatorAdmin):
    form = IdentityProviderForm
    list_display = ["name", "organisation", "issuer", "match_on", "claim", "enabled"]
    list_filter = ["enabled", "match_on"]
    search_fields = ["name", "issuer", "client_id"]
    readonly_fields = ["redirect_uri", "secret_stored"]

    @admin.display(description="Redirect URI to register with the provider")
    def redirect_uri(self, obj: IdentityProvider | None) -> str:
        return reverse("identity:sso_callback")

    @admin.display(description="Secret stored here", boolean=True)
    def secret_stored(self, obj: IdentityProvider | None) -> bool:
        return bool(obj and obj.client_secret_sealed)


@admin.register(SignInSettings)
class SignInSettingsAdmin(OperatorAdmin):
    list_display = ["organisation", "passwords_allowed", "updated_at"]
    list_filter = ["passwords_allowed"]


class LtiDeploymentInline(admin.TabularInline):  # type: ignore[type-arg]
    model = LtiDeployment
    extra = 1

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)


@admin.register(LtiPlatform)
class LtiPlatformAdmin(OperatorAdmin):
    """A platform registration. The tool's own addresses to give the platform are shown."""

    list_display = ["name", "organisation", "issuer", "client_id", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "issuer", "client_id"]
    inlines = [LtiDeploymentInline]
    readonly_fields = ["tool_login_url", "tool_launch_url", "tool_key_set_url"]

    @admin.display(description="Our login initiation URL")
    def tool_login_url(self, obj: LtiPlatform | None) -> str:
        return reverse("identity:lti_login")

    @admin.display(description="Our launch (redirect) URL")
    def tool_launch_url(self, obj: LtiPlatform | None) -> str:
        return reverse("identity:lti_launch")

    @admin.display(description="Our public key set URL")
    def tool_key_set_url(self, obj: LtiPlatform | None) -> str:
        return reverse("identity:jwks")

    def save_model(self, request: HttpRequest, obj: LtiPlatform, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.signing_key_for(purpose=KeyPurpose.LTI)  # published before the first launch


@admin.register(LtiCourseLink)
class LtiCourseLinkAdmin(OperatorAdmin):
    list_display = ["platform", "context_id", "section", "linked_by", "created_at"]
    raw_id_fields = ["section", "linked_by"]
