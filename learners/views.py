"""Pages of the learners app: sections, learners, the learner's profile, the roster upload.

Every object comes from a scoped selector; anything outside the user's scope answers 404.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from learners import selectors, services
from learners.forms import LearnerProfileForm, RosterUploadForm
from learners.models import ADMIN_ROLES, RoleKind
from learners.oneroster import RosterInvalid

STAFF_ROLES = ADMIN_ROLES | {RoleKind.TEACHER}


def _acting_user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


def _require_staff(user: User) -> None:
    if not user.is_superuser and not selectors.roles_of(user) & STAFF_ROLES:
        raise PermissionDenied("Sections are for teachers and admins.")


@never_cache
@login_required
@require_GET
def section_list(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    _require_staff(user)
    sections = selectors.list_sections_for(user)
    return render(request, "learners/section_list.html", {"sections": sections})


@never_cache
@login_required
@require_GET
def section_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _acting_user(request)
    section = selectors.get_visible_section_or_404(user, pk)
    context = {
        "section": section,
        "roster": selectors.section_roster(user, section).order_by("family_name", "given_name"),
        "teachers": selectors.section_teachers(section),
    }
    return render(request, "learners/section_detail.html", context)


@never_cache
@login_required
@require_GET
def learner_list(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    query = request.GET.get("q", "")[:100]
    page = Paginator(selectors.search_visible_learners(user, query), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "learners/learner_list.html", {"page": page, "query": query})


@never_cache
@login_required
@require_GET
def learner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _acting_user(request)
    learner = selectors.get_visible_learner_or_404(user, pk)
    context = {
        "learner": learner,
        "sections": selectors.current_sections_of_learner(learner),
        "profile": selectors.profile_of(learner),
        "can_edit_profile": selectors.can_edit_profile(user, learner),
    }
    return render(request, "learners/learner_detail.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def my_profile(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    learner = selectors.learner_of(user)
    if learner is None:
        # A page only students use, about no particular object: 403, as ADR 3 says.
        raise PermissionDenied("Only a student has a learner profile.")
    profile = selectors.profile_of(learner)
    initial = {
        name: getattr(profile, name, "")
        for name in ("strengths", "interests", "how_i_learn_best", "goals")
    }
    form = (
        LearnerProfileForm(request.POST)
        if request.method == "POST"
        else LearnerProfileForm(initial=initial)
    )
    if request.method == "POST" and form.is_valid():
        services.update_learner_profile(actor=user, learner=learner, **form.cleaned_data)
        return redirect("learners:learner_detail", pk=learner.pk)
    return render(request, "learners/profile_form.html", {"form": form, "learner": learner})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def roster_import(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    if not selectors.can_import_roster(user):
        raise PermissionDenied("Only an admin imports rosters.")
    form = (
        RosterUploadForm(request.POST, request.FILES)
        if request.method == "POST"
        else RosterUploadForm()
    )
    context: dict[str, object] = {"form": form}
    status = 200
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["roster"]
        try:
            result = services.import_roster(
                actor=user,
                source=upload,
                source_name=upload.name,
                dry_run=form.cleaned_data["dry_run"],
            )
            context["result"] = result
        except RosterInvalid as exc:
            context["refused"] = exc
            status = 400
    elif request.method == "POST":
        status = 400
    context["imports"] = selectors.list_roster_imports(user)[:10]
    context["safety_percent"] = round(settings.ROSTER_SAFETY_SHARE * 100)
    return render(request, "learners/roster_import.html", context, status=status)
