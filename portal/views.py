"""Pages of learners and families: goals, notifications, and each person's settings (language,
what they receive, weekly digests). A learner's progress in plain words is the mastery app's
learner page for students and guardians (``learner_page_context``, template
``portal/learner.html``).

Objects come from scoped selectors (outside the scope: 404); student-only pages answer 403 to
other roles (ADR 3); writes go through services.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from learners.models import GuardianLink, Learner
from learners.selectors import current_q, learner_of
from notifications import services as notification_services
from notifications.middleware import SESSION_KEY
from notifications.models import Notification
from portal import forms, selectors, services
from portal.models import Goal


def _show_errors(form: Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields else None, problems)
    else:
        form.add_error(None, error.messages)


def _student(request: HttpRequest) -> Learner:
    learner = learner_of(request.user)
    if learner is None or not learner.active:
        raise PermissionDenied("Only a student has this page.")
    return learner


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def goals(request: HttpRequest) -> HttpResponse:
    """The student's goals, and a form for a new one."""
    learner = _student(request)
    form = forms.GoalForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_goal(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, _("Your goal was saved."))
            return redirect("portal:goals")
    items = list(Goal.objects.filter(learner_id=learner.pk))
    context = {"form": form, "goals": items, "goal_standards": selectors.goal_standards(items)}
    return render(request, "portal/goals.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def goal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change one of the student's goals: its status, target date, standards, reflection."""
    learner = _student(request)
    goal = Goal.objects.filter(pk=pk, learner_id=learner.pk).first()
    if goal is None:
        raise Http404("Not found.")
    codes = ", ".join(selectors.goal_standards([goal]).values())
    initial = {
        "title": goal.title,
        "standards": codes,
        "target_date": goal.target_date,
        "status": goal.status,
        "reflection": goal.reflection,
    }
    form = forms.GoalForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_goal(actor=request.user, goal=goal, **form.cleaned_data)
        except ValidationError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, _("Your goal was saved."))
            return redirect("portal:goals")
    return render(
        request,
        "portal/goal_edit.html",
        {"form": form, "goal": goal},
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    """The signed-in person's language, what they receive, and (guardians) weekly digests."""
    user = request.user
    children = [
        (link.learner_id, link.learner.display_name)
        for link in GuardianLink.objects.filter(current_q(), guardian_id=user.pk)
        .select_related("learner")
        .order_by("learner__family_name", "learner__given_name")
    ]
    guardian = bool(children) and learner_of(user) is None
    current = notification_services.choices_of(user, guardian=guardian)
    initial: dict[str, Any] = {name: getattr(current, name) for name in forms.SettingsForm.RECEIVE}
    initial["language"] = current.language
    initial["digests"] = list(user.digest_subscriptions.values_list("learner_id", flat=True))  # type: ignore[union-attr]
    form = forms.SettingsForm(
        request.POST if request.method == "POST" else None, initial=initial, children=children
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            notification_services.save_preferences(
                actor=user,
                language=data["language"],
                receive={name: data[name] for name in forms.SettingsForm.RECEIVE},
                digests=data.get("digests") or [],
            )
        except ValidationError as exc:
            _show_errors(form, exc)
        else:
            if data["language"]:
                request.session[SESSION_KEY] = data["language"]
            else:
                request.session.pop(SESSION_KEY, None)
            messages.success(request, _("Your choices were saved."))
            return redirect("portal:settings")
    return render(
        request, "portal/settings.html", {"form": form}, status=400 if form.errors else 200
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def notifications(request: HttpRequest) -> HttpResponse:
    """The person's notifications, newest first; POST marks them all read."""
    if request.method == "POST":
        notification_services.mark_read(actor=request.user)
        return redirect("portal:notifications")
    items = list(
        Notification.objects.filter(recipient_id=request.user.pk, in_app=True).order_by(
            "-created_at", "-id"
        )[:100]
    )
    return render(request, "portal/notifications.html", {"items": items})
