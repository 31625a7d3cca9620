"""Pages of the mastery app: bulk recomputes (start, progress) and a record's explanation; for
the journeys, the section grid, one cell of it, the learner's mastery page and "my mastery".

Every object comes from a scoped selector (outside the scope: 404). Every page that shows a
mastery number says when it was computed and whether a recompute is pending.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from evidence.models import EvidenceKind, EvidenceStatus
from evidence.selectors import evidence_timeline, own_evidence
from learners.selectors import (
    AnyUser,
    LearnerAccess,
    administered_organisations,
    current_sections_for,
    get_learner_access_or_404,
    get_section_access_or_404,
    get_visible_organisation_or_404,
    learner_of,
    profile_of,
    roles_of,
    roster_of,
)
from mastery import grid, progress, selectors, services
from mastery.forms import BulkRecomputeForm, ClearOverrideForm, GridFilterForm, OverrideForm
from portal.selectors import calibration_of, learner_page_context
from reports.models import FORMATS_OF, ReportFormat, ReportKind
from standards.models import Standard, StandardStatus
from standards.selectors import EffectiveScale, elective_choices_of, scale_for


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def bulk_list(request: HttpRequest) -> HttpResponse:
    """The bulk recomputes of the organisations the user administers, and a form to start one."""
    organisations = administered_organisations(request.user)
    if not organisations.exists():
        raise PermissionDenied("Bulk recomputes are for administrators.")
    form = BulkRecomputeForm(request.POST or None, organisations=organisations)
    if request.method == "POST" and form.is_valid():
        job = services.start_bulk_recompute(
            actor=request.user,
            organisation=form.cleaned_data["organisation"],
            framework=form.cleaned_data["framework"],
            reason=form.cleaned_data["reason"],
        )
        return redirect("mastery:bulk_detail", pk=job.pk)
    jobs = selectors.visible_bulk_recomputes(request.user).order_by("-pk")[:50]
    progress = [(job, selectors.bulk_progress(job)) for job in jobs]
    return render(request, "mastery/bulk_list.html", {"form": form, "jobs": progress})


@never_cache
@login_required
@require_GET
def bulk_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress of one bulk recompute: batches done of all, what they wrote."""
    job = selectors.get_visible_bulk_recompute_or_404(request.user, pk)
    batches = job.batches.order_by("number")
    context = {"job": job, "progress": selectors.bulk_progress(job), "batches": batches}
    return render(request, "mastery/bulk_detail.html", context)


@never_cache
@login_required
@require_GET
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One mastery record, how fresh it is, and how it was computed."""
    record = selectors.get_visible_record_or_404(request.user, pk)
    stale = selectors.record_pending(record)
    explanation = selectors.explain_record(record)
    context = {
        "record": record,
        "stale": stale,
        "explanation": explanation,
        "estimators": selectors.estimators_of(record.learner, record.standard),
    }
    return render(request, "mastery/record_detail.html", context)


# --- the journeys: section grid, a cell, the learner's mastery page -----------------------------

STAFF_ROLES = frozenset({"teacher", "school_admin", "district_admin", "state_admin"})


def _is_staff(user: AnyUser) -> bool:
    return bool(getattr(user, "is_superuser", False) or roles_of(user) & STAFF_ROLES)


def _require_staff(user: AnyUser) -> None:
    """Pages only teachers and administrators use answer 403 to every other role."""
    if not (getattr(user, "is_superuser", False) or roles_of(user) & STAFF_ROLES):
        raise PermissionDenied("For teachers and administrators.")


@never_cache
@login_required
@require_GET
def section_grid(request: HttpRequest, pk: int) -> HttpResponse:
    """Learners x standards of one section, coloured and labelled by level, with filters."""
    try:
        access = get_section_access_or_404(request.user, pk)
    except Http404:
        _require_staff(request.user)  # a student or guardian: 403, as for any section
        raise
    # Whoever sees a section teaches it or administers its school: staff, no more to check.
    section = access.section
    form = GridFilterForm(request.GET or None)
    filters = grid.GridFilters()
    if form.is_valid():
        filters = grid.GridFilters(
            domain_id=form.cleaned_data["domain"],
            power_only=form.cleaned_data["power"],
            state=form.cleaned_data["state"],
        )
    section_grid = grid.list_section_grid(
        request.user, section, filters, roster=roster_of(request.user, access)
    )
    domains = tuple((d.pk, d.label) for d in section_grid.domains if d.pk is not None)
    form.offer_domains(list(domains))
    context = {
        "section": section,
        "grid": section_grid,
        "form": form,
        "filter_widgets": _filter_widgets(domains, request.GET),
        "quick_entry": reverse("evidence:record_ratings", args=[section.pk]),
        "scale_css": _scale_css_url(section.school_id, section_grid.scale),
        "state_filters": grid.STATE_FILTERS,
        # Whoever sees a section may rate its learners (ADR 3: seeing is changing for sections).
        "can_rate": True,
        "level_keys": grid.level_keys(section_grid.levels),
        "level_keys_json": grid.level_keys_json(section_grid.levels),
        "save_url": reverse("evidence:grid_ratings", args=[section.pk]),
        "evidence_kinds": EvidenceKind.choices,
        "export_formats": EXPORT_FORMATS,
    }
    return render(request, "mastery/grid.html", context)


# The gradebook export's formats, as the grid's buttons offer them.
EXPORT_FORMATS = [
    (value, {"xlsx": "Excel"}.get(value, ReportFormat(value).label))
    for value in FORMATS_OF[ReportKind.SECTION_EXPORT]
]


def _filter_widgets(domains: tuple[tuple[int, str], ...], query: QueryDict) -> dict[str, str]:
    """The grid filters' widgets as HTML, as ``GridFilterForm`` renders them: they depend only on
    the section's domains and the query, and rendering three widgets through the form templates
    cost about 4 ms a page (bench/grid.py), so each combination is rendered once per process
    (domain names are standards' names, no personal data)."""
    key = tuple(sorted((name, tuple(values)) for name, values in query.lists()))
    if len(repr(key)) > 1000:  # nobody's filters: do not keep it
        return _render_filter_widgets(domains, key)
    return _cached_filter_widgets(domains, key)


def _render_filter_widgets(
    domains: tuple[tuple[int, str], ...], key: tuple[tuple[str, tuple[str, ...]], ...]
) -> dict[str, str]:
    data = QueryDict(mutable=True)
    for name, values in key:
        data.setlist(name, list(values))
    form = GridFilterForm(data or None)
    form.is_valid()
    form.offer_domains(list(domains))
    return {name: str(form[name]) for name in form.fields}


_cached_filter_widgets = lru_cache(maxsize=256)(_render_filter_widgets)


def _scale_css_url(organisation_id: int, scale: EffectiveScale) -> str:
    # The version changes with the colours, so a cached stylesheet is never out of date.
    version = hashlib.sha256(grid.scale_stylesheet(scale).encode()).hexdigest()[:12]
    return f"{reverse('mastery:scale_css', args=[organisation_id])}?v={version}"


@login_required
@require_GET
def scale_css(request: HttpRequest, organisation_pk: int) -> HttpResponse:
    """The colours of the scale in force for an organisation, as CSS classes ``lv-<n>``."""
    organisation = get_visible_organisation_or_404(request.user, organisation_pk)
    response = HttpResponse(
        grid.scale_stylesheet(scale_for(organisation)), content_type="text/css; charset=utf-8"
    )
    response["Cache-Control"] = "private, max-age=86400"
    return response


@never_cache
@login_required
@require_GET
def cell_detail(request: HttpRequest, learner_pk: int, standard_pk: int) -> HttpResponse:
    """One learner on one standard: level, freshness, explanation and the evidence behind it,
    and for staff who may change the learner the override form (set or clear). With
    ``?panel=1`` only the panel the grid shows in place (a template partial)."""
    access = get_learner_access_or_404(request.user, learner_pk)
    standard = grid.get_standard_or_404(standard_pk)
    return _render_cell(request, access, standard)


def _levels(scale: EffectiveScale) -> list[tuple[str, str]]:
    out = []
    for level in scale.levels:
        points = f"{Decimal(level.points).normalize():f}"
        out.append((points, f"{level.label} ({points})"))
    return out


def _may_override(user: AnyUser, access: LearnerAccess) -> bool:
    """Overrides are set and cleared by staff who may change the learner."""
    return access.changeable and _is_staff(user)


def _render_cell(
    request: HttpRequest,
    access: LearnerAccess,
    standard: Standard,
    form: OverrideForm | None = None,
    status: int = 200,
) -> HttpResponse:
    learner = access.learner
    cell = grid.cell_detail(learner, standard)
    here = reverse("mastery:cell_detail", args=[learner.pk, standard.pk])
    may_override = (
        not standard.is_grouping
        and standard.status == StandardStatus.ACTIVE
        and _may_override(request.user, access)
    )
    if may_override and form is None:
        form = OverrideForm(
            initial={"standard": standard.pk, "next": here},
            standards=[(standard.pk, standard.human_code or standard.identifier)],
            levels=_levels(cell.scale),
        )
    context = {
        "cell": cell,
        "learner": learner,
        "scale_css": _scale_css_url(learner.school_id, cell.scale),
        "override_form": form if may_override else None,
        "clear_form": ClearOverrideForm(initial={"next": here}) if may_override else None,
    }
    if request.GET.get("panel") == "1":
        return render(request, "mastery/cell_detail.html#panel", context, status=status)
    return render(request, "mastery/cell_detail.html", context, status=status)


def _next_or(request: HttpRequest, value: str, fallback: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return fallback


@login_required
@require_http_methods(["POST"])
def override_set(request: HttpRequest, learner_pk: int) -> HttpResponse:
    """Set an override from the cell panel or the learner page (``mastery.services``): staff who
    may change the learner (403 otherwise); problems are shown on the cell page (400)."""
    _require_staff(request.user)
    access = get_learner_access_or_404(request.user, learner_pk)
    learner = access.learner
    if not _may_override(request.user, access):
        raise PermissionDenied("Only the learner's teachers and administrators set overrides.")
    standard = grid.get_standard_or_404(request.POST.get("standard"))
    form = OverrideForm(
        request.POST,
        standards=[(standard.pk, standard.human_code or standard.identifier)],
        levels=_levels(scale_for(learner.school_id)),
    )
    if form.is_valid():
        values = form.cleaned_data
        try:
            services.set_override(
                actor=request.user,
                learner=learner,
                standard=standard,
                level=values["level"] or None,
                score=values["score"] or None,
                reason=values["reason"],
            )
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(
                request,
                f"Override saved for {learner.display_name} on "
                f"{standard.human_code or standard.identifier}: the level is being recomputed.",
            )
            here = reverse("mastery:cell_detail", args=[learner.pk, standard.pk])
            return redirect(_next_or(request, values.get("next") or "", here))
    return _render_cell(request, access, standard, form, status=400)


@login_required
@require_http_methods(["POST"])
def override_clear(request: HttpRequest, pk: int) -> HttpResponse:
    """Clear an override in force (the level goes back to what the evidence gives)."""
    override = get_object_or_404(selectors.visible_overrides(request.user), pk=pk)
    form = ClearOverrideForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    here = reverse("mastery:cell_detail", args=[override.learner_id, override.standard_id])
    try:
        services.clear_override(actor=request.user, override=override, reason=reason)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, "Override cleared: the level is being recomputed from the evidence."
        )
    return redirect(_next_or(request, form.data.get("next") or "", here))


def _learner_page(request: HttpRequest, access: LearnerAccess) -> HttpResponse:
    user = request.user
    learner = access.learner
    own = learner.user_id is not None and learner.user_id == user.pk
    # The learner's current sections, each with whether the user may change it: one statement
    # for the term and the quick-entry links.
    sections = current_sections_for(user, learner)
    learner_progress = progress.learner_progress(
        learner, sections=[section for section, _ in sections]
    )
    context = {
        "learner": learner,
        "progress": learner_progress,
        "scale_css": _scale_css_url(learner.school_id, learner_progress.scale),
        "profile": profile_of(learner),
        "own": own,
        # The latest evidence with its first ratings: bounded whatever the learner's number of
        # ratings ("Every piece of evidence" lists them all).
        "evidence": evidence_timeline(learner),
        "returned": list(
            # ``status`` is the annotated latest status change.
            own_evidence(user).filter(Q(status=EvidenceStatus.RETURNED)).order_by("-recorded_at")
        )
        if own
        else [],
        # The learner is visible (checked above): their choices, without the scope again.
        "choices": list(elective_choices_of(learner)),
        "quick_entry_sections": [section for section, changeable in sections if changeable],
        # How well the learner judges their own work (self-ratings beside teachers' scores).
        "calibration": calibration_of(learner),
        "override_form": _override_form(
            standards=[
                (item.standard_id, f"{item.code} {item.statement}"[:90])
                for domain in learner_progress.domains
                for item in domain.standards
            ],
            levels=_levels(learner_progress.scale),
            next_url=request.get_full_path(),
        )
        if _may_override(user, access)
        else None,
    }
    return render(request, "mastery/learner.html", context)


@dataclass(frozen=True)
class _RenderedForm:
    """A form already rendered, for a template that prints ``form.as_div``."""

    html: SafeString

    def as_div(self) -> SafeString:
        return self.html


def _override_form(
    *, standards: list[tuple[int, str]], levels: list[tuple[str, str]], next_url: str
) -> _RenderedForm:
    """The learner page's (unbound) override form as ``OverrideForm.as_div`` renders it. Its
    fields depend only on the standards and levels offered (public standards' codes and the
    scale) and the page's address: through the form templates its 40 options cost a quarter
    of the page's CPU (bench/http_load.py), so each set of choices is rendered once per
    process and the page's address put in its hidden field."""
    key = (tuple(standards), tuple(levels), get_language())
    head, tail = _override_form_parts(*key)
    return _RenderedForm(mark_safe(head + escape(next_url) + tail))  # noqa: S308  (escaped)


_NEXT_MARK = "next-field-value"


@lru_cache(maxsize=256)
def _override_form_parts(
    standards: tuple[tuple[int, str], ...], levels: tuple[tuple[str, str], ...], _language: str
) -> tuple[str, str]:
    """The form's HTML cut around its hidden ``next`` value (every free text in it is escaped,
    so the field's own attribute text is found once)."""
    form = OverrideForm(
        initial={"next": _NEXT_MARK}, standards=list(standards), levels=list(levels)
    )
    html = str(form.as_div())
    head, mark, tail = html.partition(f'name="next" value="{_NEXT_MARK}"')
    if not mark or _NEXT_MARK in tail:
        raise RuntimeError("the override form's next field was not found once")
    return head + 'name="next" value="', '"' + tail


@never_cache
@login_required
@require_GET
def learner_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A learner's mastery page for staff: progress, levels with self-ratings, growth,
    evidence, profile and goals. Learners and families read it in plain words (the portal's
    learner page: what to work on next, pace, explanations, goals)."""
    access = get_learner_access_or_404(request.user, pk)
    if not _is_staff(request.user):
        return render(
            request, "portal/learner.html", learner_page_context(request.user, access.learner)
        )
    return _learner_page(request, access)


@never_cache
@login_required
@require_GET
def my_mastery(request: HttpRequest) -> HttpResponse:
    """The student's own mastery page, in plain words (the portal's learner page); other roles
    never use it (403)."""
    learner = learner_of(request.user)
    if learner is None:
        raise PermissionDenied("Only a student has their own mastery page.")
    return render(request, "portal/learner.html", learner_page_context(request.user, learner))
