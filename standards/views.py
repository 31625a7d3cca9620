"""Pages of the standards app: browse frameworks, import them, and the organisation settings.

Frameworks are public documents (any signed-in user reads them). Organisation settings are read
by those who see the organisation and changed only by its administrators; an organisation
outside the user's scope answers 404.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from learners.models import ADMIN_ROLES, Organisation
from learners.selectors import (
    administered_organisations,
    get_visible_organisation_or_404,
    learner_of,
    roles_of,
    visible_terms,
)
from mastery.whatif import WhatIf, preview_policy_change, preview_scale_change
from standards import selectors, services
from standards.case_provider import fetch_package
from standards.exporters import CASE_VERSION, VERSIONS, build_case_package
from standards.forms import (
    PARAM_FIELDS,
    DecisionForm,
    ElectiveGroupForm,
    FrameworkImportForm,
    PolicyForm,
    RequirementAddForm,
    RequirementScopeForm,
    ScaleForm,
    TreeSearchForm,
    rollup_initial,
)
from standards.importers.asn import parse_asn_bytes
from standards.importers.base import ImportRefused, ParsedFramework, Problem
from standards.importers.case import parse_case_bytes
from standards.importers.csv import parse_standards_csv
from standards.models import (
    CalculationMethod,
    CalculationPolicy,
    ElectiveChoice,
    ElectiveGroup,
    Requirement,
    RollupRule,
    Standard,
    StandardStatus,
)
from standards.selectors import EffectiveLevel, EffectivePolicy, EffectiveScale
from standards.validation import LevelInput, validate_policy, validate_scale


def _acting_user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


def _administered_or_denied(user: User, pk: object) -> Organisation:
    """404 outside the user's sight, 403 when seen but not administered."""
    organisation = get_visible_organisation_or_404(user, pk)
    if not selectors.can_administer(user, organisation):
        raise PermissionDenied("Only administrators of this organisation may change it.")
    return organisation


# --- Frameworks ----------------------------------------------------------------------------------


@login_required
@require_GET
def framework_list(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    frameworks = selectors.list_frameworks().annotate(
        item_count=Count("standards", filter=Q(standards__status=StandardStatus.ACTIVE))
    )
    roles = roles_of(user)
    admin = user.is_superuser or bool(roles & ADMIN_ROLES)
    context = {
        "frameworks": frameworks,
        "can_import": user.is_superuser or bool(roles & {"state_admin", "district_admin"}),
        "is_admin": admin,
        "is_student": "student" in roles,
        "reviews": admin or "teacher" in roles,
    }
    return render(request, "standards/framework_list.html", context)


@never_cache
@login_required
@require_GET
def standard_search(request: HttpRequest) -> JsonResponse:
    """Suggestions of a standard picker: ``code: statement`` of the active standards whose code
    or statement contains ``q`` (in ``framework`` when given); frameworks are public."""
    framework = request.GET.get("framework", "")
    ids = (
        [int(framework)]
        if framework.isascii() and framework.isdigit() and len(framework) < 19
        else list(selectors.list_frameworks().values_list("pk", flat=True))
    )
    found = selectors.search_standards(ids, request.GET.get("q", "")[:100], limit=20)
    return JsonResponse(
        {"results": [f"{s.human_code or s.identifier}: {s.statement[:90]}" for s in found]}
    )


@login_required
@require_GET
def framework_detail(request: HttpRequest, pk: int) -> HttpResponse:
    framework = selectors.get_framework_or_404(pk)
    form = TreeSearchForm(request.GET or None)
    query = grade = ""
    if form.is_valid():
        query, grade = form.cleaned_data["q"], form.cleaned_data["grade"]
    tree = selectors.framework_tree(framework, query=query, grade_level=grade)
    context = {
        "framework": framework,
        "tree": tree,
        "form": form,
        "searching": bool(query or grade),
        "can_manage": selectors.can_manage_framework(request.user, framework),
    }
    return render(request, "standards/framework_detail.html", context)


@login_required
@require_GET
def framework_export(request: HttpRequest, pk: int) -> HttpResponse:
    framework = selectors.get_framework_or_404(pk)
    version = request.GET.get("version", CASE_VERSION)
    if version not in VERSIONS:
        version = CASE_VERSION
    package = build_case_package(framework, version=version)
    body = json.dumps(package, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    suffix = "" if version == CASE_VERSION else f"-{version}"
    name = f"framework-{framework.pk}-case{suffix}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _parse_upload(form: FrameworkImportForm) -> ParsedFramework:
    if form.cleaned_data.get("url"):
        return parse_case_bytes(fetch_package(form.cleaned_data["url"]))
    data = form.cleaned_data["file"].read()
    kind = form.cleaned_data["format"]
    if kind == "csv":
        return parse_standards_csv(
            data,
            framework_identifier=form.cleaned_data["identifier"],
            title=form.cleaned_data["title"],
            allow_missing_parents=form.cleaned_data["allow_missing_parents"],
        )
    if kind == "asn":
        return parse_asn_bytes(data)
    return parse_case_bytes(data)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def framework_import(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    owners = selectors.framework_owner_choices(user)
    if not user.is_superuser and not owners.exists():
        raise PermissionDenied("Only state and district administrators import frameworks.")
    form = FrameworkImportForm(
        request.POST or None,
        request.FILES or None,
        owners=owners,
        owner_required=not user.is_superuser,
    )
    problems: list[Problem] = []
    report = None
    if request.method == "POST" and form.is_valid():
        try:
            report = services.import_framework(
                parsed=_parse_upload(form),
                actor=user,
                organisation=form.cleaned_data["organisation"],
                dry_run=form.cleaned_data["dry_run"],
            )
        except ImportRefused as refused:
            problems = refused.problems
        except PermissionDenied as refusal:
            # Who may import or change this framework, and why not: said on the form.
            context = {"form": form, "problems": [Problem("", "", str(refusal))], "report": None}
            return render(request, "standards/framework_import.html", context, status=403)
    status = 400 if problems or (request.method == "POST" and not form.is_valid()) else 200
    context = {"form": form, "problems": problems, "report": report}
    return render(request, "standards/framework_import.html", context, status=status)


# --- Organisation settings -----------------------------------------------------------------------


@login_required
@require_GET
def settings_index(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    organisations = administered_organisations(user).order_by("kind", "name")
    if not organisations.exists():
        raise PermissionDenied("Standards settings are for administrators.")
    return render(request, "standards/settings_index.html", {"organisations": organisations})


def _levels_from(form: ScaleForm) -> list[LevelInput]:
    return [LevelInput(**row) for row in form.levels()]


def _scale_initial(organisation: Organisation) -> dict[str, Any]:
    scale = selectors.scale_for(organisation)
    initial: dict[str, Any] = {"mastery_threshold": scale.mastery_threshold}
    for index, level in enumerate(scale.levels):
        initial.update(
            {
                f"points_{index}": level.points,
                f"label_{index}": level.label,
                f"colour_{index}": level.colour,
                f"cut_point_{index}": level.cut_point,
                f"description_{index}": level.description,
            }
        )
    return initial


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def scale_edit(request: HttpRequest, organisation_pk: int) -> HttpResponse:
    user = _acting_user(request)
    organisation = _administered_or_denied(user, organisation_pk)
    form = ScaleForm(request.POST or None, initial=_scale_initial(organisation))
    problems: list[Problem] = []
    preview: WhatIf | None = None
    if request.method == "POST" and form.is_valid() and "preview" in request.POST:
        # The what-if preview: validated like a save, computed by the engine, nothing written.
        clean, threshold, problems = validate_scale(
            _levels_from(form), form.cleaned_data["mastery_threshold"]
        )
        if not problems and threshold is not None:
            proposed = EffectiveScale(
                levels=tuple(
                    EffectiveLevel(lv.points, lv.label, lv.colour, lv.cut_point, lv.description)
                    for lv in sorted(clean, key=lambda lv: lv.points, reverse=True)
                ),
                mastery_threshold=threshold,
                organisation_id=organisation.pk,
            )
            preview = preview_scale_change(actor=user, organisation=organisation, proposed=proposed)
    elif request.method == "POST" and form.is_valid():
        try:
            services.update_scale(
                actor=user,
                organisation=organisation,
                levels=_levels_from(form),
                mastery_threshold=form.cleaned_data["mastery_threshold"],
                name=form.cleaned_data["name"],
            )
        except services.InvalidSettings as invalid:
            problems = invalid.problems
        else:
            messages.success(
                request, "The proficiency scale was saved; the levels are being recomputed."
            )
            return redirect("standards:scale_edit", organisation_pk=organisation.pk)
    context = {
        "organisation": organisation,
        "scale": selectors.scale_for(organisation),
        "form": form,
        "problems": problems,
        "preview": preview,
    }
    status = 400 if request.method == "POST" and preview is None else 200
    return render(request, "standards/scale_form.html", context, status=status)


@login_required
@require_POST
def scale_remove(request: HttpRequest, organisation_pk: int) -> HttpResponse:
    user = _acting_user(request)
    organisation = _administered_or_denied(user, organisation_pk)
    if services.remove_scale(actor=user, organisation=organisation):
        messages.success(request, "The organisation now inherits its scale.")
    return redirect("standards:scale_edit", organisation_pk=organisation.pk)


def _policy_initial(policy: selectors.EffectivePolicy) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "method": policy.method,
        "min_evidence": policy.min_evidence,
        "rollup_rule": policy.rollup_rule,
        "overrides_end_with_new_evidence": policy.overrides_end_with_new_evidence,
        **policy.params,
    }
    rollup = dict(policy.rollup_params)
    initial["share"] = rollup.get("share")
    initial["points_required"] = rollup.get("points_required")
    initial.update(rollup_initial(rollup))
    return initial


def describe_policy(policy: selectors.EffectivePolicy) -> str:
    """A policy in words: ``Decaying average (weight of the newest score 65%), 1 rating
    needed, groupings: all children mastered``."""
    method = (
        CalculationMethod(policy.method).label
        if policy.method in CalculationMethod.values
        else policy.method
    )
    params = ", ".join(
        f"{PARAM_FIELDS[name].label or name} {value}" if name in PARAM_FIELDS else f"{name} {value}"
        for name, value in policy.params.items()
    )
    rule = (
        RollupRule(policy.rollup_rule).label
        if policy.rollup_rule in RollupRule.values
        else policy.rollup_rule
    )
    needed = policy.min_evidence
    return (
        f"{method}{f' ({params})' if params else ''}, {needed} rating{'s' if needed != 1 else ''}"
        f" needed, groupings: {rule[:1].lower()}{rule[1:]}"
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def policy_edit(
    request: HttpRequest, organisation_pk: int, framework_pk: int | None = None
) -> HttpResponse:
    user = _acting_user(request)
    organisation = _administered_or_denied(user, organisation_pk)
    framework = selectors.get_framework_or_404(framework_pk) if framework_pk else None
    effective = selectors.policy_for(organisation, framework)
    form = PolicyForm(request.POST or None, framework=framework, initial=_policy_initial(effective))
    problems: list[Problem] = []
    preview: WhatIf | None = None
    if request.method == "POST" and form.is_valid() and "preview" in request.POST:
        # The what-if preview: validated like a save, computed by the engine, nothing written.
        clean, problems = validate_policy(
            method=form.cleaned_data["method"],
            params=form.method_params(),
            min_evidence=form.cleaned_data["min_evidence"],
            rollup_rule=form.cleaned_data["rollup_rule"],
            rollup_params=form.rollup_params(),
        )
        if not problems and clean is not None:
            proposed = EffectivePolicy(
                method=clean.method,
                params=clean.params,
                min_evidence=clean.min_evidence,
                rollup_rule=clean.rollup_rule,
                rollup_params=clean.rollup_params,
                organisation_id=organisation.pk,
                framework_id=framework.pk if framework else None,
            )
            preview = preview_policy_change(
                actor=user, organisation=organisation, proposed=proposed, framework=framework
            )
    elif request.method == "POST" and form.is_valid():
        try:
            services.set_policy(
                actor=user,
                organisation=organisation,
                framework=framework,
                method=form.cleaned_data["method"],
                params=form.method_params(),
                min_evidence=form.cleaned_data["min_evidence"],
                rollup_rule=form.cleaned_data["rollup_rule"],
                rollup_params=form.rollup_params(),
                overrides_end_with_new_evidence=form.cleaned_data[
                    "overrides_end_with_new_evidence"
                ],
            )
        except services.InvalidSettings as invalid:
            problems = invalid.problems
        else:
            messages.success(
                request, "The calculation policy was saved; the levels are being recomputed."
            )
            return redirect(request.path)
    overrides = CalculationPolicy.objects.filter(
        organisation=organisation, framework__isnull=False
    ).select_related("framework")
    context = {
        "organisation": organisation,
        "framework": framework,
        "effective": effective,
        "own": effective.organisation_id == organisation.pk
        and effective.framework_id == (framework.pk if framework else None),
        "form": form,
        "problems": problems,
        "tree": selectors.framework_tree(framework) if framework else None,
        "in_force": describe_policy(effective),
        "overrides": overrides,
        "frameworks": selectors.list_frameworks(),
        "preview": preview,
    }
    status = 400 if request.method == "POST" and preview is None else 200
    return render(request, "standards/policy_form.html", context, status=status)


@login_required
@require_POST
def policy_remove(
    request: HttpRequest, organisation_pk: int, framework_pk: int | None = None
) -> HttpResponse:
    user = _acting_user(request)
    organisation = _administered_or_denied(user, organisation_pk)
    framework = selectors.get_framework_or_404(framework_pk) if framework_pk else None
    if services.remove_policy(actor=user, organisation=organisation, framework=framework):
        messages.success(request, "The policy was removed; the inherited one applies.")
    return redirect("standards:policy_edit", organisation_pk=organisation.pk)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def requirements_page(request: HttpRequest, organisation_pk: int) -> HttpResponse:
    """What learners of a grade must master in a term: standards picked from the framework's
    tree for that grade or typed by code (full or short), power or supporting; elective
    groups."""
    user = _acting_user(request)
    organisation = _administered_or_denied(user, organisation_pk)
    terms = visible_terms(user).order_by("-start_date", "title")
    scope = RequirementScopeForm(request.GET or None, terms=terms)
    picked_framework = scope.cleaned_data.get("framework") if scope.is_valid() else None
    add_form = RequirementAddForm(
        request.POST if "add_requirement" in request.POST else None,
        prefix="add",
        initial={"framework": picked_framework},
    )
    group_form = ElectiveGroupForm(
        request.POST if "add_group" in request.POST else None, prefix="group"
    )
    problems: list[Problem] = []
    context: dict[str, Any] = {"organisation": organisation, "scope": scope}
    if scope.is_valid():
        term, grade = scope.cleaned_data["term"], scope.cleaned_data["grade_level"]
        if request.method == "POST":
            problems = _add_requirement_or_group(
                user, organisation, term, grade, add_form, group_form, request.POST
            )
            if not problems and (add_form.is_valid() or group_form.is_valid()):
                messages.success(request, "Saved.")
                return redirect(request.get_full_path())
        context.update(
            {
                "term": term,
                "grade": grade,
                "requirement_set": selectors.requirements_for(organisation, grade, term),
                "own_requirements": Requirement.objects.filter(
                    organisation=organisation, term=term, grade_level=grade
                )
                .select_related("standard__framework")
                .order_by("-priority", "standard__human_code"),
                "groups": ElectiveGroup.objects.filter(
                    organisation=organisation, term=term, grade_level=grade
                ).prefetch_related("standards"),
                "tree": _tree_for_grade(picked_framework, grade) if picked_framework else None,
                "picked_framework": picked_framework,
            }
        )
    context.update({"add_form": add_form, "group_form": group_form, "problems": problems})
    status = 400 if request.method == "POST" else 200
    return render(request, "standards/requirements.html", context, status=status)


def _tree_for_grade(framework: Any, grade: str) -> selectors.FrameworkTree:
    """The framework's standards for the grade, or all of them when none says its grade."""
    tree = selectors.framework_tree(framework, grade_level=grade)
    return tree if tree.roots else selectors.framework_tree(framework)


def _add_requirement_or_group(
    user: User,
    organisation: Organisation,
    term: Any,
    grade: str,
    add_form: RequirementAddForm,
    group_form: ElectiveGroupForm,
    data: Any,
) -> list[Problem]:
    form = add_form if add_form.is_bound else group_form
    if not form.is_valid():
        return []
    framework = form.cleaned_data["framework"]
    resolved = selectors.resolve_standard_codes(
        form.cleaned_data["codes"], framework=framework, assessable=False
    )
    if resolved.problems:
        return [Problem("standards", "codes", problem) for problem in resolved.problems]
    standards = list(resolved.standards)
    if form is add_form:
        ids = [int(v) for v in data.getlist("add-picked") if v.isascii() and v.isdigit()][:2000]
        ticked = Standard.objects.filter(framework=framework, pk__in=ids).order_by("pk")
        standards += [standard for standard in ticked if standard not in standards]
        if not standards:
            return [Problem("standards", "codes", "tick standards in the tree or type codes")]
    try:
        if form is add_form:
            services.add_requirements(
                actor=user,
                organisation=organisation,
                term=term,
                grade_level=grade,
                standards=standards,
                priority=form.cleaned_data["priority"],
            )
        else:
            services.create_elective_group(
                actor=user,
                organisation=organisation,
                term=term,
                grade_level=grade,
                title=form.cleaned_data["title"],
                choose=form.cleaned_data["choose"],
                standards=standards,
                priority=form.cleaned_data["priority"],
            )
    except services.InvalidSettings as invalid:
        return invalid.problems
    return []


@login_required
@require_POST
def requirement_remove(request: HttpRequest, pk: int) -> HttpResponse:
    user = _acting_user(request)
    requirement = get_object_or_404(selectors.visible_requirements(user), pk=pk)
    _administered_or_denied(user, requirement.organisation_id)
    services.remove_requirement(actor=user, requirement=requirement)
    messages.success(request, "The requirement was removed.")
    return redirect(
        _requirements_url(requirement.organisation_id, requirement.term_id, requirement.grade_level)
    )


@login_required
@require_POST
def elective_group_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = _acting_user(request)
    group = get_object_or_404(selectors.visible_elective_groups(user), pk=pk)
    _administered_or_denied(user, group.organisation_id)
    services.delete_elective_group(actor=user, group=group)
    messages.success(request, "The elective group was deleted.")
    return redirect(_requirements_url(group.organisation_id, group.term_id, group.grade_level))


def _requirements_url(organisation_id: int, term_id: int, grade: str) -> str:
    url = reverse("standards:requirements", kwargs={"organisation_pk": organisation_id})
    return f"{url}?term={term_id}&grade_level={grade}"


# --- Electives: the learner chooses, a teacher decides ----------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def my_electives(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    learner = learner_of(user)
    if learner is None:
        raise PermissionDenied("Electives are chosen by students.")
    groups = list(selectors.offered_elective_groups(learner))
    problems: list[Problem] = []
    if request.method == "POST":
        problems = _choose_or_withdraw(request, user, groups)
        if not problems:
            return redirect("standards:my_electives")
    choices = ElectiveChoice.objects.filter(learner=learner).select_related("standard")
    by_group: dict[int, list[ElectiveChoice]] = {}
    for choice in choices:
        by_group.setdefault(choice.group_id, []).append(choice)
    rows = [(group, by_group.get(group.pk, [])) for group in groups]
    status = 400 if problems else 200
    return render(
        request,
        "standards/my_electives.html",
        {"rows": rows, "problems": problems},
        status=status,
    )


def _choose_or_withdraw(
    request: HttpRequest, user: User, groups: list[ElectiveGroup]
) -> list[Problem]:
    try:
        if "withdraw" in request.POST:
            choice = get_object_or_404(
                ElectiveChoice, pk=_int(request.POST["withdraw"]), learner__user=user
            )
            services.withdraw_elective_choice(actor=user, choice=choice)
            messages.success(request, "Your choice was withdrawn.")
            return []
        group = next((g for g in groups if g.pk == _int(request.POST.get("group"))), None)
        standard = (
            group.standards.filter(pk=_int(request.POST.get("standard"))).first() if group else None
        )
        if group is None or standard is None:
            return [Problem("choice", "standard", "choose one of the standards offered")]
        services.choose_elective(actor=user, group=group, standard=standard)
    except services.InvalidSettings as invalid:
        return invalid.problems
    messages.success(request, "Your choice was sent to your teacher.")
    return []


def _int(value: object) -> int:
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def elective_review(request: HttpRequest) -> HttpResponse:
    user = _acting_user(request)
    pending = selectors.choices_to_review(user)
    problems: list[Problem] = []
    if request.method == "POST":
        choice = get_object_or_404(pending, pk=_int(request.POST.get("choice")))
        form = DecisionForm(request.POST)
        if form.is_valid():
            try:
                services.decide_elective_choice(
                    actor=user,
                    choice=choice,
                    approve=form.cleaned_data["decision"] == "approve",
                    note=form.cleaned_data["note"],
                )
            except services.InvalidSettings as invalid:
                problems = invalid.problems
            else:
                messages.success(request, "The choice was decided.")
                return redirect("standards:elective_review")
        else:
            problems = [Problem("decision", "", "choose approve or decline")]
    status = 400 if problems else 200
    return render(
        request,
        "standards/elective_review.html",
        {"pending": pending, "problems": problems, "form": DecisionForm()},
        status=status,
    )
