"""Django admin for the standards app: read-only, for superusers.

Frameworks change only through the importers and organisation settings only through the
services (which validate every field); the admin is a window for the platform operator, so
nobody can bypass that validation here. Administrators use the standards pages instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from standards.models import (
    Association,
    CalculationPolicy,
    ElectiveChoice,
    ElectiveGroup,
    Framework,
    ProficiencyScale,
    Requirement,
    Standard,
)

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


class ReadOnlyAdmin(_ModelAdmin):
    def _superuser(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and getattr(user, "is_superuser", False))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._superuser(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Framework)
class FrameworkAdmin(ReadOnlyAdmin):
    list_display = ["title", "identifier", "source_format", "organisation", "last_change_at"]
    search_fields = ["title", "identifier"]


@admin.register(Standard)
class StandardAdmin(ReadOnlyAdmin):
    list_display = ["human_code", "statement", "item_type", "framework", "status"]
    list_filter = ["status", "is_grouping"]
    search_fields = ["human_code", "identifier", "statement"]
    list_select_related = ["framework"]
    raw_id_fields = ["parent"]


@admin.register(Association)
class AssociationAdmin(ReadOnlyAdmin):
    list_display = ["association_type", "origin_identifier", "destination_identifier", "framework"]
    list_filter = ["association_type"]
    search_fields = ["identifier", "origin_identifier", "destination_identifier"]
    raw_id_fields = ["origin", "destination"]


@admin.register(ProficiencyScale)
class ProficiencyScaleAdmin(ReadOnlyAdmin):
    list_display = ["organisation", "name", "mastery_threshold", "updated_at"]


@admin.register(CalculationPolicy)
class CalculationPolicyAdmin(ReadOnlyAdmin):
    list_display = ["organisation", "framework", "method", "min_evidence", "rollup_rule"]


@admin.register(Requirement)
class RequirementAdmin(ReadOnlyAdmin):
    list_display = ["organisation", "term", "grade_level", "standard", "priority"]
    raw_id_fields = ["standard"]


@admin.register(ElectiveGroup)
class ElectiveGroupAdmin(ReadOnlyAdmin):
    list_display = ["title", "organisation", "term", "grade_level", "choose"]


@admin.register(ElectiveChoice)
class ElectiveChoiceAdmin(ReadOnlyAdmin):
    list_display = ["group", "learner", "standard", "status", "decided_at"]
    raw_id_fields = ["learner", "standard"]
