"""Pages of the moderation app: rounds (administrators), blind reviews (the assigned teacher),
common tasks (staff), and each teacher's own agreement.

Objects come from ``moderation.selectors`` (outside the scope: 404); pages a role never uses
answer 403 to every other role; writes go through ``moderation.services``.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evidence.selectors import scale_levels_for
from evidence.services import RatingEntry
from learners import services as learner_services
from learners.selectors import (
    administered_organisations,
    get_administered_organisation_or_404,
    get_changeable_section_or_404,
    roles_of,
    section_roster,
    today,
    visible_terms,
)
from moderation import forms, selectors, services
from moderation.models import ModerationItem, RoundStatus
from reports import services as report_services
from reports.models import ReportKind

STAFF_ROLES = frozenset({"teacher", "school_admin", "district_admin", "state_admin"})
ADMIN_ROLES = frozenset({"school_admin", "district_admin", "state_admin"})


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


def _operator(user: User) -> bool:
    return bool(user.is_superuser and user.is_active)


def _require(user: User, roles: frozenset[str], message: str) -> frozenset[str]:
    held = roles_of(user)
    if not (_operator(user) or held & roles):
        raise PermissionDenied(message)
    return held


def _show_errors(form: Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields else None, problems)
    else:
        form.add_error(None, error.messages)


@never_cache
@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Moderation for staff: the rounds one administers, the pieces waiting for one's second
    rating, one's own agreement beside the group's, and the common tasks."""
    user = _user(request)
    held = _require(user, STAFF_ROLES, "Moderation is for teachers and administrators.")
    admin = _operator(user) or bool(held & ADMIN_ROLES)
    pieces = selectors.assigned_items(user)
    context = {
        "admin": admin,
        "rounds": list(selectors.administered_rounds(user)[:50]) if admin else [],
        "waiting": selectors.waiting(pieces).count(),
        "assigned": pieces.count(),
        "agreement": selectors.teacher_agreement(user),
    }
    return render(request, "moderation/index.html", context)


def _round_form(request: HttpRequest, user: User) -> forms.RoundForm:
    organisations = administered_organisations(user).order_by("kind", "name", "pk")
    wanted = request.POST.get("organisation") or request.GET.get("organisation")
    chosen = organisations.filter(pk=_int(wanted)).first() or organisations.first()
    terms = visible_terms(user).order_by("-start_date", "title", "pk")
    day = today()
    current = terms.filter(start_date__lte=day, end_date__gte=day).first()
    return forms.RoundForm(
        request.POST or None,
        organisations=organisations,
        terms=terms,
        tasks=selectors.visible_tasks(user),
        reviewers=selectors.eligible_reviewers(chosen) if chosen else User.objects.none(),
        initial={
            "organisation": chosen.pk if chosen else None,
            "term": current.pk if current else None,
        },
    )


def _int(value: object) -> int:
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def round_new(request: HttpRequest) -> HttpResponse:
    """Start a round: what to moderate, how many pieces, who reviews."""
    user = _user(request)
    _require(user, ADMIN_ROLES, "Moderation rounds are run by administrators.")
    form = _round_form(request, user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            round_ = services.start_round(
                actor=user,
                organisation=data["organisation"],
                term=data["term"],
                title=data["title"],
                standards=data["standards"],
                sample_size=data["sample_size"],
                seed=data["seed"],
                common_task=data["common_task"],
                reviewers=list(data["reviewers"]) or None,
                due_on=data["due_on"],
            )
        except ValidationError as error:
            _show_errors(form, error)
        else:
            messages.success(request, f"The round is open: {round_.items.count()} pieces drawn.")
            return redirect("moderation:round_detail", pk=round_.pk)
    return render(request, "moderation/round_new.html", {"form": form})


def _close_form(request: HttpRequest, round_: Any, agreement: selectors.RoundAgreement) -> Any:
    differing = [
        (pair.item_id, f"Piece {pair.position}: {pair.first_label} then {pair.second_label}")
        for pair in agreement.pairs
        if pair.first_score != pair.second_score
    ]
    return forms.CloseRoundForm(request.POST or None, items=differing)


@never_cache
@login_required
@require_GET
def round_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A round: progress, agreement overall and per standard, school and pair of raters, the
    pieces two levels or more apart, and the form that closes it."""
    round_ = selectors.get_administered_round_or_404(_user(request), pk)
    agreement = selectors.round_agreement(round_)
    context = {
        "round": round_,
        "agreement": agreement,
        "close_form": _close_form(request, round_, agreement)
        if round_.status == RoundStatus.OPEN
        else None,
        "adopted": ModerationItem.objects.filter(
            round=round_, adopted_rating__isnull=False
        ).count(),
    }
    return render(request, "moderation/round_detail.html", context)


@never_cache
@login_required
@require_POST
def round_close(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    round_ = selectors.get_administered_round_or_404(user, pk)
    agreement = selectors.round_agreement(round_)
    form = _close_form(request, round_, agreement)
    if form.is_valid():
        try:
            closed = services.close_round(
                actor=user,
                round_=round_,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
                item_ids=form.item_ids(),
            )
        except ValidationError as error:
            _show_errors(form, error)
        else:
            skipped = "; ".join(f"piece {pos}: {why}" for pos, why in closed.skipped)
            messages.success(
                request,
                f"The round is closed. {len(closed.adopted)} moderated ratings adopted"
                + (f", {closed.unchanged} already the same" if closed.unchanged else "")
                + (f"; left alone: {skipped}" if skipped else "")
                + ".",
            )
            return redirect("moderation:round_detail", pk=round_.pk)
    context = {"round": round_, "agreement": agreement, "close_form": form, "adopted": 0}
    return render(request, "moderation/round_detail.html", context, status=400)


# --- blind reviews --------------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    """The pieces assigned to the teacher for a second rating: no learner named."""
    user = _user(request)
    _require(user, frozenset({"teacher"}), "Second ratings are given by teachers.")
    pieces = list(selectors.assigned_items(user)[:200])
    return render(request, "moderation/review_list.html", {"pieces": pieces})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One piece, blind: the work, its files and reflection, the standard and the levels; the
    form for the second rating while the round is open."""
    user = _user(request)
    item = selectors.get_assigned_item_or_404(user, pk)
    piece = selectors.blind_piece(item)
    initial = {"score": f"{piece.second.score:g}"} if piece.second else {}
    form = forms.SecondRatingForm(request.POST or None, levels=piece.levels, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_second_rating(
                actor=user,
                item=item,
                score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as error:
            _show_errors(form, error)
        else:
            messages.success(request, f"Your rating of piece {item.position} is saved.")
            following = (
                selectors.waiting(selectors.assigned_items(user))
                .filter(round=item.round)
                .exclude(pk=item.pk)
                .first()
            )
            if following is not None:
                return redirect("moderation:review_detail", pk=following.pk)
            return redirect("moderation:review_list")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "moderation/review_detail.html", {"piece": piece, "form": form}, status=status
    )


@never_cache
@login_required
@require_GET
def review_file(request: HttpRequest, pk: int, number: int) -> FileResponse:
    """A file of a piece, for its reviewer, named by its number (never its original name)."""
    item = selectors.get_assigned_item_or_404(_user(request), pk)
    handle, name, content_type = selectors.open_piece_file(item, number)
    return attachment(handle, name, content_type)


def attachment(handle: Any, name: str, content_type: str) -> FileResponse:
    """A download browsers save and never render (pages and API share it)."""
    response = FileResponse(handle, as_attachment=True, filename=name, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


# --- the equity audit ----------------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def equity(request: HttpRequest) -> HttpResponse:
    """The equity audit: what it counts, a request for it (generated by the reports queue), and
    the choice to keep OneRoster demographics for subgroups, per organisation administered."""
    user = _user(request)
    _require(user, ADMIN_ROLES, "The equity audit is for administrators.")
    organisations = administered_organisations(user).order_by("kind", "name", "pk")
    terms = visible_terms(user).order_by("-start_date", "title", "pk")
    day = today()
    current = terms.filter(start_date__lte=day, end_date__gte=day).first()
    form = forms.EquityAuditForm(
        request.POST or None,
        organisations=organisations,
        terms=terms,
        initial={
            "organisation": organisations.first(),
            "term": current,
            "as_of": day,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = report_services.request_report(
                actor=user,
                kind=ReportKind.EQUITY_AUDIT,
                file_format=data["file_format"],
                as_of=data["as_of"],
                organisation=data["organisation"].pk,
                term=data["term"].pk,
            )
        except ValidationError as error:
            _show_errors(form, error)
        else:
            messages.success(request, f"The equity audit is queued (report {report.pk}).")
            return redirect("reports:report_detail", pk=report.pk)
    context = {
        "form": form,
        "demographics": selectors.demographics_choices(user),
    }
    return render(request, "moderation/equity.html", context)


@never_cache
@login_required
@require_POST
def demographics(request: HttpRequest, organisation_pk: int) -> HttpResponse:
    """Turn keeping OneRoster demographics on or off for an organisation one administers."""
    user = _user(request)
    organisation = get_administered_organisation_or_404(user, organisation_pk)
    enabled = request.POST.get("enabled") == "on"
    learner_services.set_demographics_import(actor=user, organisation=organisation, enabled=enabled)
    messages.success(
        request,
        f"Demographics for {organisation.name} are now "
        + ("kept from the next roster import." if enabled else "not kept (stored ones deleted)."),
    )
    return redirect("moderation:equity")


# --- common tasks ---------------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    held = _require(user, STAFF_ROLES, "Common tasks are for teachers and administrators.")
    context = {
        "tasks": list(selectors.visible_tasks(user)[:100]),
        "admin": _operator(user) or bool(held & ADMIN_ROLES),
    }
    return render(request, "moderation/task_list.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def task_new(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(user, ADMIN_ROLES, "Common tasks are shared by administrators.")
    organisations = administered_organisations(user).order_by("kind", "name", "pk")
    chosen = (
        organisations.filter(
            pk=_int(request.POST.get("organisation") or request.GET.get("organisation"))
        ).first()
        or organisations.first()
    )
    levels = scale_levels_for(chosen)
    day = today()
    form = forms.TaskForm(
        request.POST or None,
        organisations=organisations,
        levels=levels,
        initial={
            "organisation": chosen.pk if chosen else None,
            "opens_on": day,
            "closes_on": day + datetime.timedelta(days=28),
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task = services.create_common_task(
                actor=user,
                organisation=data["organisation"],
                title=data["title"],
                prompt=data["prompt"],
                standards=data["standards"],
                opens_on=data["opens_on"],
                closes_on=data["closes_on"],
                level_descriptions=form.level_descriptions(),
            )
        except ValidationError as error:
            _show_errors(form, error)
        else:
            messages.success(request, "The task is shared.")
            return redirect("moderation:task_detail", pk=task.pk)
    return render(request, "moderation/task_new.html", {"form": form})


@never_cache
@login_required
@require_GET
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    task = selectors.get_visible_task_or_404(user, pk)
    context = {"task": task, "sections": list(selectors.task_sections(user, task))}
    return render(request, "moderation/task_detail.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def task_results(request: HttpRequest, pk: int, section_pk: int) -> HttpResponse:
    """A section's results on the task: a level per learner and standard, recorded as teacher
    ratings on one evidence per learner, linked to the task."""
    user = _user(request)
    task = selectors.get_visible_task_or_404(user, pk)
    section = get_changeable_section_or_404(user, section_pk)
    if not selectors.task_sections(user, task).filter(pk=section.pk).exists():
        raise Http404("Not found.")
    learners = list(section_roster(user, section).order_by("family_name", "given_name", "pk"))
    standards = list(task.standards.order_by("human_code", "pk"))
    day = today()
    form = forms.TaskResultsForm(
        request.POST or None,
        learners=learners,
        standards=standards,
        levels=scale_levels_for(section.school),
        initial={"demonstrated_on": min(max(day, task.opens_on), task.closes_on)},
    )
    if request.method == "POST" and form.is_valid():
        entries = [
            RatingEntry(learner_id=learner_id, standard_id=standard_id, score=score)
            for learner_id, standard_id, score in form.scores()
        ]
        try:
            if not entries:
                raise ValidationError("Choose a level for at least one learner.")
            recorded = services.record_task_results(
                actor=user,
                task=task,
                section=section,
                demonstrated_at=form.cleaned_data["demonstrated_on"],
                entries=entries,
            )
        except ValidationError as error:
            _show_errors(form, error)
        else:
            messages.success(
                request,
                f"Recorded {len(recorded.ratings)} ratings for {len(recorded.evidence)} learners.",
            )
            return redirect("moderation:task_detail", pk=task.pk)
    context = {"task": task, "section": section, "form": form}
    return render(request, "moderation/task_results.html", context)
