"""The operator's pages for sign-in and launches (Django admin, active superusers only).

Signing keys are read-only here (``manage.py signing_keys`` rotates and revokes them: the
private half never appears on a page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from identity.models import SigningKey

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
