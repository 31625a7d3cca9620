"""Django admin for the learners app, scoped to the organisations the admin administers.

A non-superuser sees and changes only rows within ``administered_organisations(user)``; every
foreign-key choice is limited the same way. The staff flag alone grants nothing: a staff user
needs a current school, district or state admin assignment (Django model permissions are not
consulted for these models, the role is the permission). Superusers see everything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from learners import selectors
from learners.models import (
    ADMIN_ROLE_FOR_KIND,
    KIND_RANK,
    Course,
    Enrollment,
    GuardianLink,
    Learner,
    LearnerProfile,
    Organisation,
    OrganisationKind,
    RoleAssignment,
    RoleKind,
    RosterIdentity,
    RosterImport,
    Section,
    Term,
)

# django-stubs types ModelAdmin and ModelForm as generics; at runtime they are plain classes.
if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
    _LearnerForm = forms.ModelForm[Learner]
    _OrganisationForm = forms.ModelForm[Organisation]
    _EnrollmentForm = forms.ModelForm[Enrollment]
    _RoleAssignmentForm = forms.ModelForm[RoleAssignment]
else:
    _ModelAdmin = admin.ModelAdmin
    _LearnerForm = _OrganisationForm = _EnrollmentForm = _RoleAssignmentForm = forms.ModelForm


def _user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


def _administered(request: HttpRequest) -> QuerySet[Organisation]:
    return selectors.administered_organisations(_user(request))


def _is_admin(request: HttpRequest) -> bool:
    user = _user(request)
    if user is None or not user.is_active or not user.is_staff:
        return False
    return user.is_superuser or bool(selectors.roles_of(user) & set(ADMIN_ROLE_FOR_KIND.values()))


class ScopedAdmin(_ModelAdmin):
    """Rows limited to the admin's organisations through ``scope_field`` (a lookup path that
    ends at an Organisation)."""

    scope_field = ""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        user = _user(request)
        if user is not None and user.is_superuser:
            return queryset
        if not _is_admin(request):
            return queryset.none()
        administered = _administered(request).values("pk")
        return queryset.filter(**{f"{self.scope_field}__in": administered})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_admin(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_admin(request)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        user = _user(request)
        if user is not None and not user.is_superuser:
            model = db_field.remote_field.model
            if model is Organisation:
                kwargs["queryset"] = _administered(request)
            elif model is Section:
                kwargs["queryset"] = selectors.changeable_sections(user)
            elif model is Learner:
                kwargs["queryset"] = selectors.changeable_learners(user)
            elif model is Term:
                kwargs["queryset"] = selectors.visible_terms(user)
            elif model is Course:
                kwargs["queryset"] = Course.objects.filter(organisation__in=_administered(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OrganisationForm(_OrganisationForm):
    class Meta:
        model = Organisation
        fields = ["kind", "name", "parent", "sourced_id", "external_id"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, parent = data.get("kind"), data.get("parent")
        if kind and parent is not None:
            if KIND_RANK[OrganisationKind(parent.kind)] >= KIND_RANK[OrganisationKind(kind)]:
                raise ValidationError({"parent": f"A {kind} cannot sit below a {parent.kind}."})
            if self.instance.pk is not None and parent.pk in selectors.descendants_of(
                self.instance
            ).values_list("pk", flat=True):
                raise ValidationError({"parent": "An organisation cannot sit below itself."})
        return data


@admin.register(Organisation)
class OrganisationAdmin(ScopedAdmin):
    form = OrganisationForm
    scope_field = "pk"
    list_display = ["name", "kind", "parent", "external_id", "sourced_id"]
    list_filter = ["kind"]
    search_fields = ["name", "external_id", "sourced_id"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Organisation | None = None
    ) -> list[str] | tuple[Any, ...]:
        user = _user(request)
        # Moving an organisation re-draws everyone's scope: only the operator does it.
        if obj is not None and not (user is not None and user.is_superuser):
            return ["kind", "parent"]
        return super().get_readonly_fields(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        user = _user(request)
        if db_field.name == "parent" and not (user is not None and user.is_superuser):
            # A new organisation sits below one the admin administers; a root needs the operator.
            kwargs["required"] = True
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Term)
class TermAdmin(ScopedAdmin):
    scope_field = "organisation"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        user = _user(request)
        if db_field.name == "organisation" and not (user is not None and user.is_superuser):
            kwargs["required"] = True
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    list_display = ["title", "kind", "start_date", "end_date", "organisation"]
    list_filter = ["kind", "school_year"]
    search_fields = ["title", "sourced_id"]


@admin.register(Course)
class CourseAdmin(ScopedAdmin):
    scope_field = "organisation"
    list_display = ["title", "course_code", "organisation", "subjects"]
    search_fields = ["title", "course_code", "sourced_id"]


@admin.register(Section)
class SectionAdmin(ScopedAdmin):
    scope_field = "school"
    list_display = ["title", "course_code", "school", "term"]
    list_filter = ["term"]
    search_fields = ["title", "course_code", "section_code", "sourced_id"]
    list_select_related = ["school", "term"]


class LearnerForm(_LearnerForm):
    class Meta:
        model = Learner
        fields = [
            "school",
            "local_id",
            "state_student_id",
            "given_name",
            "family_name",
            "preferred_name",
            "grade_level",
            "active",
            "user",
            "sourced_id",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        school = data.get("school")
        if school is not None and school.kind != OrganisationKind.SCHOOL:
            raise ValidationError({"school": "A learner belongs to a school."})
        # ``state`` is not on the form, so its unique constraint is checked here by hand.
        ssid = data.get("state_student_id")
        if school is not None and ssid:
            clash = Learner.objects.filter(state=selectors.state_of(school), state_student_id=ssid)
            if clash.exclude(pk=self.instance.pk).exists():
                raise ValidationError(
                    {"state_student_id": "Another learner in this state has this id."}
                )
        return data


@admin.register(Learner)
class LearnerAdmin(ScopedAdmin):
    form = LearnerForm
    scope_field = "school"
    list_display = ["family_name", "given_name", "school", "grade_level", "local_id", "active"]
    list_filter = ["active", "grade_level"]
    search_fields = ["family_name", "given_name", "local_id", "state_student_id"]
    list_select_related = ["school"]
    raw_id_fields = ["user"]

    def save_model(self, request: HttpRequest, obj: Learner, form: Any, change: bool) -> None:
        obj.state = selectors.state_of(obj.school)
        super().save_model(request, obj, form, change)


class EnrollmentForm(_EnrollmentForm):
    class Meta:
        model = Enrollment
        fields = ["learner", "section", "begin_date", "end_date"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        learner, section = data.get("learner"), data.get("section")
        if learner is not None and section is not None and learner.school_id != section.school_id:
            raise ValidationError({"section": "The section is at another school than the learner."})
        return data


@admin.register(Enrollment)
class EnrollmentAdmin(ScopedAdmin):
    form = EnrollmentForm
    scope_field = "section__school"
    list_display = ["learner", "section", "begin_date", "end_date"]
    raw_id_fields = ["learner", "section"]
    list_select_related = ["learner", "section"]


class RoleAssignmentForm(_RoleAssignmentForm):
    class Meta:
        model = RoleAssignment
        fields = ["user", "kind", "organisation", "section", "begin_date", "end_date"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, organisation, section = (
            data.get("kind"),
            data.get("organisation"),
            data.get("section"),
        )
        if kind == RoleKind.TEACHER:
            if section is None:
                raise ValidationError({"section": "A teacher assignment names its section."})
            if organisation is not None and organisation.pk != section.school_id:
                raise ValidationError({"organisation": "Use the section's school."})
        elif kind and organisation is not None:
            if section is not None:
                raise ValidationError({"section": "An admin assignment names no section."})
            if ADMIN_ROLE_FOR_KIND[OrganisationKind(organisation.kind)] != kind:
                raise ValidationError({"kind": f"A {kind} is held at a {organisation.kind}."})
        return data


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ScopedAdmin):
    form = RoleAssignmentForm
    scope_field = "organisation"
    list_display = ["user", "kind", "organisation", "section", "begin_date", "end_date"]
    list_filter = ["kind"]
    raw_id_fields = ["user", "section"]
    list_select_related = ["user", "organisation", "section"]


@admin.register(GuardianLink)
class GuardianLinkAdmin(ScopedAdmin):
    scope_field = "learner__school"
    list_display = ["guardian", "learner", "relationship", "begin_date", "end_date"]
    raw_id_fields = ["guardian", "learner"]


@admin.register(LearnerProfile)
class LearnerProfileAdmin(ScopedAdmin):
    """Read only: the profile is the learner's own words."""

    scope_field = "learner__school"
    list_display = ["learner", "updated_at"]
    readonly_fields = ["learner", "strengths", "interests", "how_i_learn_best", "goals"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(RosterImport)
class RosterImportAdmin(_ModelAdmin):
    """The audit of roster imports: read only; admins see their own, the operator all."""

    list_display = ["created_at", "imported_by", "source_name", "status", "error_count"]
    readonly_fields = ["imported_by", "source_name", "status", "counts", "error_count"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RosterImport]:
        return selectors.list_roster_imports(_user(request))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: RosterImport | None = None) -> bool:
        return _is_admin(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RosterImport | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RosterImport | None = None) -> bool:
        return False


@admin.register(RosterIdentity)
class RosterIdentityAdmin(_ModelAdmin):
    """Only the platform operator maps logins to roster ids by hand."""

    list_display = ["sourced_id", "user"]
    search_fields = ["sourced_id"]
    raw_id_fields = ["user"]
