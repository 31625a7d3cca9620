"""Pages of the learners app: sections, learners, the learner's profile, the roster upload.

Every object comes from a scoped selector; anything outside the user's scope answers 404.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from common.messages import plain_message, plain_messages
from learners import selectors, services
from learners.forms import (
    EnrollForm,
    LearnerForm,
    LearnerProfileForm,
    RosterUploadForm,
    SectionForm,
    TermForm,
)
from learners.models import (
    ADMIN_ROLES,
    Enrollment,
    Learner,
    Organisation,
    OrganisationKind,
    RoleKind,
    Section,
    Term,
)
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
def learner_search(request: HttpRequest) -> JsonResponse:
    """Suggestions of a learner picker: the labels of the visible learners matching ``q``."""
    found = selectors.search_learners(selectors.visible_learners(request.user), _typed(request))
    return _suggestions(found, selectors.learner_label)


@never_cache
@login_required
@require_GET
def section_search(request: HttpRequest) -> JsonResponse:
    """Suggestions of a section picker: the labels of the visible sections matching ``q``."""
    found = selectors.search_sections(selectors.visible_sections(request.user), _typed(request))
    return _suggestions(found, selectors.section_label)


def _typed(request: HttpRequest) -> str:
    """What the picker's reader typed (``q``), cut to a length no label reaches."""
    return request.GET.get("q", "")[:300]


def _suggestions(found: Any, label: Callable[[Any], str]) -> JsonResponse:
    """A picker's answer: the labels of the first matches."""
    return JsonResponse({"results": [label(item) for item in found[: selectors.PICKER_LIMIT]]})


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


# --- people and classes: school administrators add and edit learners, sections, terms and
# enrollments (through learners.services: validated, audited) ---------------------------------


def _admin_schools(user: User) -> QuerySet[Organisation]:
    schools = selectors.administered_organisations(user).filter(kind=OrganisationKind.SCHOOL)
    if not schools.exists():
        raise PermissionDenied("People and classes are managed by school administrators.")
    return schools.order_by("name", "pk")


def _admin_terms(user: User) -> QuerySet[Term]:
    return selectors.visible_terms(user).order_by("-start_date", "title", "pk")


def _current_sections(schools: QuerySet[Organisation]) -> QuerySet[Section]:
    day = selectors.today()
    return (
        Section.objects.filter(school__in=schools, term__end_date__gte=day)
        .select_related("school", "term")
        .order_by("school__name", "title", "pk")
    )


def _show(form: Any, error: ValidationError) -> None:
    """A service's refusal on the form, each message on its field (plain words)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, plain_messages(error))
        return
    for field, problems in error.message_dict.items():
        plain = [plain_message(problem) for problem in problems]
        form.add_error(field if field in form.fields else None, plain)


def _section_administered_or_denied(user: User, pk: int) -> Section:
    """404 outside the user's sight, 403 when seen (taught) but not administered."""
    section = selectors.get_visible_section_or_404(user, pk)
    administered = selectors.administered_organisations(user).filter(pk=section.school_id)
    if not administered.exists():
        raise PermissionDenied("Only the school's administrators change a section.")
    return section


@never_cache
@login_required
@require_GET
def people(request: HttpRequest) -> HttpResponse:
    """The people and classes of the schools the user administers: sections of this term and
    later, learners (searched by name or id), terms; links to add and edit each."""
    user = _acting_user(request)
    schools = _admin_schools(user)
    query = request.GET.get("q", "")[:100]
    learners = selectors.search_learners(
        Learner.objects.filter(school__in=schools).select_related("school"), query
    )
    page = Paginator(learners, 50).get_page(request.GET.get("page"))
    context = {
        "schools": schools,
        "sections": _current_sections(schools).annotate(
            learner_count=Count("enrollments", filter=selectors.current_q(prefix="enrollments__"))
        )[:200],
        "page": page,
        "query": urlencode({"q": query}) if query else "",
        "search": query,
        "terms": _admin_terms(user).filter(end_date__gte=selectors.today())[:20],
    }
    return render(request, "learners/people.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def learner_add(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    schools = _admin_schools(user)
    form = LearnerForm(
        request.POST or None,
        schools=schools,
        sections=_current_sections(schools),
        initial={"school": schools.first() if schools.count() == 1 else None},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            learner = services.add_learner(
                actor=user,
                school=data["school"],
                given_name=data["given_name"],
                family_name=data["family_name"],
                preferred_name=data["preferred_name"],
                local_id=data["local_id"],
                state_student_id=data["state_student_id"],
                grade_level=data["grade_level"],
                sections=list(data["sections"]),
            )
        except ValidationError as error:
            _show(form, error)
        else:
            enrolled = len(data["sections"])
            messages.success(
                request,
                f"{learner.display_name} was added"
                + (
                    f" and enrolled in {enrolled} section{pluralize(enrolled)}."
                    if enrolled
                    else "."
                ),
            )
            return redirect("learners:people")
    context = {"form": form, "heading": "Add a learner", "button": "Add the learner"}
    return render(request, "learners/manage_form.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def learner_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _acting_user(request)
    schools = selectors.administered_organisations(user).filter(kind=OrganisationKind.SCHOOL)
    learner = selectors.get_visible_learner_or_404(user, pk)
    if not schools.filter(pk=learner.school_id).exists():
        raise PermissionDenied("Only the school's administrators change a learner's record.")
    initial = {
        name: getattr(learner, name)
        for name in (
            "given_name", "family_name", "preferred_name", "local_id", "state_student_id",
            "grade_level", "active",
        )
    }  # fmt: skip
    form = LearnerForm(request.POST or None, schools=schools, adding=False, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_learner(actor=user, learner=learner, **data)
        except ValidationError as error:
            _show(form, error)
        else:
            messages.success(request, f"{learner.display_name}'s record was saved.")
            return redirect("learners:learner_detail", pk=learner.pk)
    context = {"form": form, "heading": f"Edit {learner.display_name}", "button": "Save"}
    return render(request, "learners/manage_form.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def section_add(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    schools = _admin_schools(user)
    form = SectionForm(request.POST or None, schools=schools, terms=_admin_terms(user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            section = services.add_section(
                actor=user,
                school=data["school"],
                term=data["term"],
                title=data["title"],
                course_code=data["course_code"],
                section_code=data["section_code"],
                subject=data["subject"],
                grade_levels=",".join(data["grade_levels"]),
                teachers=data["teachers"],
            )
        except ValidationError as error:
            _show(form, error)
        else:
            messages.success(request, f"{section.title} was added: now enroll its learners.")
            return redirect("learners:section_enrollments", pk=section.pk)
    context = {"form": form, "heading": "Add a section", "button": "Add the section"}
    return render(request, "learners/manage_form.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def section_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _acting_user(request)
    section = _section_administered_or_denied(user, pk)
    initial = {
        "term": section.term,
        "title": section.title,
        "course_code": section.course_code,
        "section_code": section.section_code,
        "subject": section.subject,
        "grade_levels": [g for g in section.grade_levels.split(",") if g],
    }
    form = SectionForm(
        request.POST or None,
        schools=Organisation.objects.none(),
        terms=_admin_terms(user),
        adding=False,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_section(
                actor=user,
                section=section,
                term=data["term"],
                title=data["title"],
                course_code=data["course_code"],
                section_code=data["section_code"],
                subject=data["subject"],
                grade_levels=",".join(data["grade_levels"]),
            )
        except ValidationError as error:
            _show(form, error)
        else:
            messages.success(request, f"{section.title} was saved.")
            return redirect("learners:section_detail", pk=section.pk)
    context = {"form": form, "heading": f"Edit {section.title}", "button": "Save"}
    return render(request, "learners/manage_form.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def section_enrollments(request: HttpRequest, pk: int) -> HttpResponse:
    """Enroll a learner of the school (chosen by name) in the section, or end an enrollment."""
    user = _acting_user(request)
    section = _section_administered_or_denied(user, pk)
    candidates = Learner.objects.filter(school_id=section.school_id, active=True)
    form = EnrollForm(request.POST if "enroll" in request.POST else None, learners=candidates)
    if request.method == "POST" and "end" in request.POST:
        enrollment = get_object_or_404(
            Enrollment.objects.select_related("learner", "section__school"),
            pk=_int(request.POST["end"]),
            section=section,
        )
        services.end_enrollment(
            actor=user,
            enrollment=enrollment,
            last_day=selectors.today() - datetime.timedelta(days=1),
        )
        messages.success(request, f"{enrollment.learner.display_name} left {section.title}.")
        return redirect("learners:section_enrollments", pk=section.pk)
    if request.method == "POST" and form.is_valid():
        learner = form.cleaned_data["learner"]
        try:
            services.enroll_learner(
                actor=user, learner=learner, section=section, begin_date=selectors.today()
            )
        except ValidationError as error:
            _show(form, error)
        else:
            messages.success(request, f"{learner.display_name} was enrolled in {section.title}.")
            return redirect("learners:section_enrollments", pk=section.pk)
    enrollments = (
        Enrollment.objects.filter(selectors.current_q(), section=section)
        .select_related("learner")
        .order_by("learner__family_name", "learner__given_name", "pk")
    )
    context = {"section": section, "form": form, "enrollments": enrollments}
    return render(request, "learners/section_enrollments.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def term_add(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    _admin_schools(user)
    organisations = selectors.administered_organisations(user).order_by("kind", "name")
    form = TermForm(request.POST or None, organisations=organisations)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            term = services.create_term(
                actor=user,
                title=data["title"],
                start_date=data["start_date"],
                end_date=data["end_date"],
                organisation=data["organisation"],
            )
        except ValidationError as error:
            _show(form, error)
        else:
            messages.success(request, f"The term {term.title} was added.")
            return redirect("learners:people")
    context = {"form": form, "heading": "Add a term", "button": "Add the term"}
    return render(request, "learners/manage_form.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def term_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _acting_user(request)
    _admin_schools(user)
    term = get_object_or_404(selectors.visible_terms(user), pk=_int(pk))
    administered = (
        term.organisation_id is not None
        and selectors.administered_organisations(user).filter(pk=term.organisation_id).exists()
    )
    if not (administered or user.is_superuser):
        raise PermissionDenied("Only the administrators of the term's organisation change it.")
    initial = {"title": term.title, "start_date": term.start_date, "end_date": term.end_date}
    form = TermForm(
        request.POST or None,
        organisations=Organisation.objects.none(),
        adding=False,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_term(actor=user, term=term, **data)
        except ValidationError as error:
            _show(form, error)
        else:
            messages.success(request, f"The term {term.title} was saved.")
            return redirect("learners:people")
    context = {"form": form, "heading": f"Edit {term.title}", "button": "Save"}
    return render(request, "learners/manage_form.html", context)


def _int(value: object) -> int:
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0
