"""Pages of the evidence app: quick entry, submit, review, evidence, CSV import, downloads.

Every view finds its objects through a scoped selector (404 outside the user's scope), hands
writes to ``evidence.services`` and renders or redirects. Pages for staff only answer 403 to
other roles; learner pages are never cached.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.messages import plain_message, plain_messages
from evidence import forms, selectors, services, thumbnails, uploads
from evidence.csv_import import RatingImportRefused
from evidence.models import (
    Evidence,
    EvidenceStatus,
    LearningSetting,
    Rating,
    RatingSource,
    Reflection,
)
from learners import selectors as learner_selectors
from learners.models import Learner, Organisation, Section
from learners.selectors import AnyUser
from mastery import core
from mastery.grid import ids_from, standards_for_quick_entry
from mastery.progress import learner_standard_options
from standards.models import Standard
from standards.selectors import scale_for

logger = logging.getLogger(__name__)

STAFF_ROLES = frozenset({"teacher", "school_admin", "district_admin", "state_admin"})
MAX_PROBLEMS_SHOWN = 200


def is_staff(user: AnyUser) -> bool:
    """Whether the user holds a current teaching or admin role (or is the platform operator)."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return True
    return bool(learner_selectors.roles_of(user) & STAFF_ROLES)


def _require_staff(user: AnyUser) -> None:
    if not is_staff(user):
        raise PermissionDenied("For teachers and administrators.")


def _levels(organisation: Organisation | None) -> list[tuple[str, str]]:
    return forms.level_choices(selectors.scale_levels_for(organisation))


# Service fields a page's form names differently; anything else without a form field shows at
# the top of the form.
_FORM_FIELD_OF = {"demonstrated_at": "demonstrated_on", "entries": "learners"}
_ENTRY = re.compile(r"^entries\[(\d+)\]$")
# Service messages a page says in its own words.
_PAGE_MESSAGES = {
    services.SECTION_REFUSED: "One of these learners is not in this section today: reload the"
    " page and try again.",
}


def _show_errors(form: Form, error: ValidationError, describe_entry: Any = None) -> None:
    """A service's refusal on the form, in plain words: each message on its field, or at the
    top; a message about ``entries[i]`` names the learner and standard (``describe_entry(i)``)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, [plain_message(m) for m in error.messages])
        return
    for field, messages_ in error.message_dict.items():
        plain = [_PAGE_MESSAGES.get(m, plain_message(m)) for m in messages_]
        entry = _ENTRY.match(field)
        if entry and describe_entry is not None:
            where = describe_entry(int(entry.group(1)))
            form.add_error(None, [f"{where}: {message}" for message in plain])
            continue
        target = _FORM_FIELD_OF.get(field, field)
        form.add_error(target if target in form.fields else None, plain)


# --- lists --------------------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
def evidence_index(request: HttpRequest) -> HttpResponse:
    """The evidence the user may see, newest first, with the actions their roles allow."""
    evidence = (
        selectors.visible_evidence(request.user)
        .select_related("learner")
        .order_by("-recorded_at", "-id")
    )
    page = Paginator(evidence, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "evidence/index.html",
        {
            "page": page,
            "staff": is_staff(request.user),
            "student": learner_selectors.learner_of(request.user) is not None,
        },
    )


@never_cache
@login_required
@require_GET
def learner_evidence(request: HttpRequest, learner_id: int) -> HttpResponse:
    learner = learner_selectors.get_visible_learner_or_404(request.user, learner_id)
    evidence = selectors.learner_evidence(request.user, learner)
    page = Paginator(evidence, 25).get_page(request.GET.get("page"))
    return render(request, "evidence/learner.html", {"learner": learner, "page": page})


REVIEW_PAGE_SIZE = 20


def _review_sections(user: AnyUser) -> list[Section]:
    today = learner_selectors.today()
    return list(
        learner_selectors.changeable_sections(user)
        .filter(term__start_date__lte=today, term__end_date__gte=today)
        .select_related("school", "term")
        .order_by("title", "school__name", "pk")[:200]
    )


@never_cache
@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    """Submissions waiting for a review, oldest first, 20 a page; narrowed to one section
    (its submissions and those of its learners that name no section); ticked ones can be
    scored at their self-ratings or returned in one go."""
    _require_staff(request.user)
    sections = _review_sections(request.user)
    filters = forms.ReviewFilterForm(request.GET or None, sections=sections)
    queue = selectors.review_queue(request.user)
    section = filters.cleaned_data.get("section") if filters.is_valid() else None
    if section is not None:
        queue = queue.filter(
            Q(section_id=section.pk)
            | Q(
                section__isnull=True,
                learner_id__in=learner_selectors.section_roster(request.user, section).values("pk"),
            )
        )
    # Each submission is shown with its files, reflection and self-ratings (a few queries per
    # page, whatever its length).
    queue = queue.prefetch_related(
        "artifacts",
        Prefetch(
            "reflections",
            queryset=Reflection.objects.order_by("created_at", "id"),
            to_attr="reflection_list",
        ),
        Prefetch(
            "ratings",
            queryset=selectors.current_ratings()
            .filter(source=RatingSource.SELF)
            .select_related("standard"),
            to_attr="self_ratings",
        ),
    )
    page = Paginator(queue, REVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    query = f"section={section.pk}" if section is not None else ""
    context = {"page": page, "filters": filters, "query": query, "section": section}
    return render(request, "evidence/review_queue.html", context)


@never_cache
@login_required
@require_POST
def review_bulk(request: HttpRequest) -> HttpResponse:
    """The ticked submissions scored at the levels their learners gave themselves, or returned
    for revision with one comment; each one reviewed as on its own page (its own transaction),
    every refusal named by its title."""
    _require_staff(request.user)
    form = forms.BulkReviewForm(request.POST)
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    back = target or reverse("evidence:review_queue")
    if not form.is_valid():
        messages.error(request, " ".join(str(m) for errors in form.errors.values() for m in errors))
        return redirect(back)
    data = form.cleaned_data
    chosen = (
        selectors.review_queue(request.user)
        .filter(pk__in=data["evidence"])
        .prefetch_related(
            Prefetch(
                "ratings",
                queryset=selectors.current_ratings().filter(source=RatingSource.SELF),
                to_attr="self_ratings",
            )
        )
    )
    done: list[str] = []
    problems: list[str] = []
    for evidence in chosen:
        scores = {r.standard_id: r.score for r in getattr(evidence, "self_ratings", [])}
        if data["action"] == services.ReviewDecision.SCORE and not scores:
            problems.append(f"{evidence.title}: no self-rating to score it at, open it to score.")
            continue
        try:
            services.review_submission(
                actor=request.user,  # type: ignore[arg-type]
                evidence=evidence,
                decision=data["action"],
                scores=scores if data["action"] == services.ReviewDecision.SCORE else None,
                comment=data["comment"],
            )
        except ValidationError as exc:
            problems.append(f"{evidence.title}: {' '.join(plain_messages(exc))}")
        else:
            done.append(evidence.title)
    verb = "Scored" if data["action"] == services.ReviewDecision.SCORE else "Returned"
    if done:
        count = len(done)
        messages.success(request, f"{verb} {count} submission{pluralize(count)}.")
    if problems:
        messages.error(request, "Not reviewed: " + " ".join(problems))
    if not done and not problems:
        messages.error(request, "None of the ticked submissions is waiting for a review.")
    return redirect(back)


# --- quick entry --------------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
def record_choose_section(request: HttpRequest) -> HttpResponse:
    _require_staff(request.user)
    today = learner_selectors.today()
    sections = (
        learner_selectors.changeable_sections(request.user)
        .filter(term__start_date__lte=today, term__end_date__gte=today)
        .select_related("school", "term")
        .order_by("school__name", "title", "pk")[:500]
    )
    return render(request, "evidence/record_choose.html", {"sections": sections})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def record_ratings(request: HttpRequest, section_id: int) -> HttpResponse:
    """Quick entry for a section: learners x standards at one level, one evidence each."""
    section = learner_selectors.get_changeable_section_or_404(request.user, section_id)
    roster = learner_selectors.changeable_learners(request.user).filter(
        pk__in=learner_selectors.section_roster(request.user, section).values("pk")
    )
    # The section's standards (its grid's columns) to tick; ?learner=&standard= preselect them,
    # ?next= is where to go after recording (the grid, a learner's page).
    choices = [
        (column.standard_id, f"{column.code}: {column.statement[:80]}")
        for column in standards_for_quick_entry(request.user, section)
    ]
    initial = {
        "learners": ids_from(request.GET.getlist("learner")),
        "section_standards": ids_from(request.GET.getlist("standard")),
        "next": request.GET.get("next", ""),
    }
    form = forms.SectionQuickEntryForm(
        request.POST or None,
        roster=roster,
        levels=_levels(section.school),
        standard_choices=choices,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        entries = [
            services.RatingEntry(learner_id=learner.pk, standard_id=standard.pk, score=score)
            for learner, score in data["levels"].items()
            for standard in data["standards"]
        ]
        recorded = _record(request, form, section, entries, data, data["description"])
        if recorded is not None:
            return _after_recording(request, data.get("next") or "", section, recorded)
    return render(request, "evidence/record.html", {"section": section, "form": form})


def _record(
    request: HttpRequest,
    form: Form,
    section: Any,
    entries: list[services.RatingEntry],
    data: dict[str, Any],
    description: str = "",
) -> services.RecordedRatings | None:
    """Record the entries (one evidence per learner); a refusal goes on the form in plain
    words, naming the learner and standard of a refused entry."""
    try:
        return services.record_ratings(
            actor=request.user,  # type: ignore[arg-type]
            entries=entries,
            title=data["title"],
            kind=data["kind"],
            setting=data.get("setting") or LearningSetting.IN_SCHOOL,
            demonstrated_at=data["demonstrated_on"],
            description=description,
            section=section,
        )
    except ValidationError as exc:
        names = {
            lr.pk: lr.display_name
            for lr in Learner.objects.filter(pk__in={e.learner_id for e in entries})
        }
        codes = {
            st.pk: st.human_code or st.statement[:40]
            for st in Standard.objects.filter(pk__in={e.standard_id for e in entries})
        }

        def describe(index: int) -> str:
            if index >= len(entries):
                return "A level"
            entry = entries[index]
            learner = names.get(entry.learner_id, "A learner")
            return f"{learner}, {codes.get(entry.standard_id, 'a standard')}"

        _show_errors(form, exc, describe)
        return None


def _after_recording(
    request: HttpRequest, target: str, section: Any, recorded: services.RecordedRatings
) -> HttpResponse:
    count, learners = len(recorded.ratings), len(recorded.evidence)
    messages.success(
        request,
        f"Recorded {count} rating{pluralize(count)} for {learners} learner{pluralize(learners)}"
        f" (one piece of evidence each).",
    )
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("evidence:record_ratings", section_id=section.pk)


@never_cache
@login_required
@require_POST
def record_grid_ratings(request: HttpRequest, section_id: int) -> HttpResponse:
    """Levels typed in the section grid: one piece of evidence per learner, then back to the
    grid. A refusal goes back to the grid with the reason, and the typed levels come back
    (``?unsaved=1``: the grid's script restores them)."""
    section = learner_selectors.get_changeable_section_or_404(request.user, section_id)
    form = forms.GridRatingsForm(request.POST, levels=_levels(section.school))
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    grid = target or reverse("mastery:section_grid", args=[section.pk])
    recorded = None
    if form.is_valid():
        data = form.cleaned_data
        entries = [
            services.RatingEntry(learner_id=learner, standard_id=standard, score=score)
            for (learner, standard), score in sorted(data["ratings"].items())
        ]
        recorded = _record(request, form, section, entries, data)
    if recorded is None:
        problems = [str(m) for errors in form.errors.values() for m in errors]
        messages.error(request, "Nothing was saved: " + " ".join(problems))
        return redirect(f"{grid}{'&' if '?' in grid else '?'}unsaved=1")
    return _after_recording(request, grid, section, recorded)


# --- student submissions ------------------------------------------------------------------------


def _student_or_403(user: AnyUser) -> Learner:
    learner = learner_selectors.learner_of(user)
    if learner is None or not learner.active:
        raise PermissionDenied("Only a student reflects on their evidence.")
    return learner


def _student_or_404(user: AnyUser) -> Learner:
    learner = learner_selectors.learner_of(user)
    if learner is None or not learner.active:
        raise Http404("Not found.")
    return learner


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def submit_evidence(request: HttpRequest) -> HttpResponse:
    learner = learner_selectors.learner_of(request.user)
    if learner is None or not learner.active:
        # A page only students use, about no particular object: 403, as ADR 3 says.
        raise PermissionDenied("Only a student submits evidence.")
    form = forms.SubmitEvidenceForm(
        request.POST or None,
        request.FILES or None,
        sections=learner_selectors.current_sections_of_learner(learner),
        levels=_levels(learner.school),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            evidence = services.submit_evidence(
                actor=request.user,  # type: ignore[arg-type]
                kind=data["kind"],
                title=data["title"],
                description=data["description"],
                setting=data["setting"],
                demonstrated_at=data["demonstrated_on"],
                section=data["section"],
                reflection=form.reflection(),
                self_scores=data["self_scores"],
                links=form.link_list(),
                files=form.file_list(),
            )
        except ValidationError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, "Your evidence was submitted to your teachers.")
            return redirect("evidence:detail", evidence_id=evidence.pk)
    context = {
        "form": form,
        "limit": uploads.describe_limit(),
        # Suggestions for the standards the evidence shows: the learner's own standards.
        "standard_options": learner_standard_options(learner),
    }
    return render(request, "evidence/submit.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def revise_evidence(request: HttpRequest, evidence_id: int) -> HttpResponse:
    learner = _student_or_404(request.user)
    evidence = _get_or_404(selectors.own_evidence(request.user), evidence_id)
    if evidence.status != EvidenceStatus.RETURNED:  # type: ignore[attr-defined]
        raise Http404("Not found.")
    form = forms.ReviseForm(
        request.POST or None, request.FILES or None, levels=_levels(learner.school)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.resubmit_evidence(
                actor=request.user,  # type: ignore[arg-type]
                evidence=evidence,
                note=data["note"],
                reflection=form.reflection(),
                self_scores=data["self_scores"],
                links=form.link_list(),
                files=form.file_list(),
            )
        except ValidationError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, "Your revision was sent to your teachers.")
            return redirect("evidence:detail", evidence_id=evidence.pk)
    return render(
        request,
        "evidence/revise.html",
        {"form": form, "evidence": evidence, "limit": uploads.describe_limit()},
    )


# --- one evidence -------------------------------------------------------------------------------


def _get_or_404(queryset: Any, pk: object) -> Evidence:
    try:
        found: Evidence = queryset.get(pk=selectors.pk_or_404(pk))
    except Evidence.DoesNotExist as exc:
        raise Http404("Not found.") from exc
    return found


@never_cache
@login_required
@require_GET
def evidence_detail(request: HttpRequest, evidence_id: int) -> HttpResponse:
    evidence = selectors.get_visible_evidence_or_404(request.user, evidence_id)
    detail = selectors.evidence_detail(evidence)
    can_change = selectors.changeable_evidence(request.user).filter(pk=evidence.pk).exists()
    own = evidence.learner.user_id is not None and evidence.learner.user_id == request.user.pk
    status = getattr(evidence, "status", None)
    scale = scale_for(evidence.learner.school)
    context: dict[str, Any] = {
        "detail": detail,
        "evidence": evidence,
        "can_change": can_change,
        "own": own,
        "staff": is_staff(request.user),
        "can_revise": own and status == EvidenceStatus.RETURNED,
        "can_remove": can_change or (own and status != EvidenceStatus.SCORED),
        # Learners and families read levels by name, never bare scores.
        "level_names": {
            rating.pk: core.level_for(scale, rating.score).label
            for rating in detail.current_ratings
        },
        "previewable": thumbnails.PREVIEWABLE,
    }
    if own:
        context["reflect_form"] = forms.ReflectionForm()
    levels = _levels(evidence.learner.school)
    if can_change and status == EvidenceStatus.SUBMITTED:
        context["review_form"] = forms.ReviewForm(
            standards=[rating.standard for rating in detail.self_ratings], levels=levels
        )
    if can_change or own:
        context["supersede_form"] = forms.SupersedeRatingForm(levels=levels)
        context["reason_form"] = forms.ReasonForm()
    return render(request, "evidence/detail.html", context)


@never_cache
@login_required
@require_POST
def review_evidence(request: HttpRequest, evidence_id: int) -> HttpResponse:
    evidence = _get_or_404(
        selectors.changeable_evidence(request.user).select_related("learner__school"),
        evidence_id,
    )
    detail = selectors.evidence_detail(evidence)
    form = forms.ReviewForm(
        request.POST,
        standards=[rating.standard for rating in detail.self_ratings],
        levels=_levels(evidence.learner.school),
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.review_submission(
                actor=request.user,  # type: ignore[arg-type]
                evidence=evidence,
                decision=data["decision"],
                scores=data["scores"],
                comment=data["comment"],
            )
        except ValidationError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, "Review saved.")
            return redirect("evidence:review_queue")
    context = {
        "detail": detail,
        "evidence": evidence,
        "can_change": True,
        "review_form": form,
    }
    return render(request, "evidence/detail.html", context, status=400)


@never_cache
@login_required
@require_POST
def reflect_on_evidence(request: HttpRequest, evidence_id: int) -> HttpResponse:
    """The learner reflects on their own evidence, whoever recorded it (a teacher's
    observation too): answers to the four questions, kept with the evidence's history."""
    _student_or_403(request.user)
    evidence = _get_or_404(selectors.own_evidence(request.user), evidence_id)
    form = forms.ReflectionForm(request.POST)
    if form.is_valid():
        try:
            services.reflect_on_evidence(
                actor=request.user,  # type: ignore[arg-type]
                evidence=evidence,
                reflection=form.reflection(),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Your reflection was saved."))
    else:
        messages.error(request, _("Keep each answer under 5000 characters."))
    return redirect("evidence:detail", evidence_id=evidence.pk)


@never_cache
@login_required
@require_POST
def remove_evidence(request: HttpRequest, evidence_id: int) -> HttpResponse:
    evidence = selectors.get_visible_evidence_or_404(request.user, evidence_id)
    form = forms.ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.remove_evidence(
                actor=request.user,  # type: ignore[arg-type]
                evidence=evidence,
                reason=form.cleaned_data["reason"],
            )
        except PermissionDenied as exc:
            raise Http404("Not found.") from exc
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("evidence:detail", evidence_id=evidence.pk)
        messages.success(request, "The evidence was removed; its history is kept.")
        return redirect("evidence:learner", learner_id=evidence.learner_id)
    messages.error(request, "Give a reason to remove the evidence.")
    return redirect("evidence:detail", evidence_id=evidence.pk)


# --- ratings ------------------------------------------------------------------------------------


def _changeable_rating_or_404(user: AnyUser, pk: object) -> Rating:
    """A staff rating of a learner the user may change, or the user's own self-rating."""
    scope = Q(
        ~Q(source=RatingSource.SELF),
        learner_id__in=learner_selectors.changeable_learners(user).values("pk"),
    ) | Q(source=RatingSource.SELF, learner__user_id=user.pk, learner__active=True)
    try:
        return (
            Rating.objects.filter(scope)
            .select_related("learner__school", "evidence")
            .get(pk=selectors.pk_or_404(pk))
        )
    except Rating.DoesNotExist as exc:
        raise Http404("Not found.") from exc


@never_cache
@login_required
@require_POST
def supersede_rating(request: HttpRequest, rating_id: int) -> HttpResponse:
    rating = _changeable_rating_or_404(request.user, rating_id)
    form = forms.SupersedeRatingForm(request.POST, levels=_levels(rating.learner.school))
    if form.is_valid():
        try:
            services.supersede_rating(
                actor=request.user,  # type: ignore[arg-type]
                rating=rating,
                score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "The rating was corrected; the earlier one is kept.")
    else:
        messages.error(request, "Choose the corrected level and say why it changes.")
    return redirect("evidence:detail", evidence_id=rating.evidence_id)


@never_cache
@login_required
@require_POST
def remove_rating(request: HttpRequest, rating_id: int) -> HttpResponse:
    rating = _changeable_rating_or_404(request.user, rating_id)
    form = forms.ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.remove_rating(
                actor=request.user,  # type: ignore[arg-type]
                rating=rating,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "The rating was removed; its history is kept.")
    else:
        messages.error(request, "Give a reason to remove the rating.")
    return redirect("evidence:detail", evidence_id=rating.evidence_id)


# --- CSV import ---------------------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def import_ratings(request: HttpRequest) -> HttpResponse:
    """Upload a ratings CSV: all or nothing, with every problem listed by row and column."""
    _require_staff(request.user)
    form = forms.RatingImportForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        try:
            report = services.import_ratings_csv(
                actor=request.user,  # type: ignore[arg-type]
                data=form.cleaned_data["file"],
                dry_run=form.cleaned_data["dry_run"],
            )
        except RatingImportRefused as refused:
            context["problems"] = refused.problems[:MAX_PROBLEMS_SHOWN]
            context["problem_count"] = refused.total_errors
            context["shown_limit"] = MAX_PROBLEMS_SHOWN
            return render(request, "evidence/import.html", context, status=400)
        context["report"] = report
    return render(request, "evidence/import.html", context)


# --- downloads ----------------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
def download_artifact(request: HttpRequest, artifact_id: int) -> FileResponse:
    """Sends an artifact file as an attachment to anyone who may see its learner."""
    artifact = selectors.get_visible_artifact_or_404(request.user, artifact_id)
    if not artifact.storage_name:
        raise Http404("Not found.")
    try:
        handle = uploads.open_stored(artifact.storage_name)
    except (OSError, ValueError) as exc:
        logger.error("artifact file missing", extra={"artifact_id": artifact.pk})
        raise Http404("Not found.") from exc
    return attachment_response(handle, artifact.original_name, artifact.content_type)


@never_cache
@login_required
@require_GET
def preview_artifact(request: HttpRequest, artifact_id: int) -> HttpResponse:
    """A small PNG preview of an image artifact (re-encoded, never the uploaded bytes), to
    anyone who may see its learner; 404 for anything without a preview."""
    artifact = selectors.get_visible_artifact_or_404(request.user, artifact_id)
    if not artifact.storage_name or artifact.content_type not in thumbnails.PREVIEWABLE:
        raise Http404("No preview.")
    try:
        with uploads.open_stored(artifact.storage_name) as handle:
            data = uploads.read_bounded(handle)
        png = thumbnails.thumbnail(data)
    except (OSError, ValueError, thumbnails.NoPreview) as exc:
        raise Http404("No preview.") from exc
    response = HttpResponse(png, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Disposition"] = 'inline; filename="preview.png"'
    return response


def attachment_response(handle: Any, filename: str, content_type: str) -> FileResponse:
    """A download that browsers save and never render: attachment, nosniff, sandboxed."""
    response = FileResponse(
        handle, as_attachment=True, filename=filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
