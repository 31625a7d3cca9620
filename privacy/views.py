"""Pages of the privacy app: a learner's data export and erasure, the access log.

For administrators (of the learner's school or above) and the operator; everyone else gets
403 on the index and the log, 404 for a learner outside their scope. Exports and erasures,
allowed or denied, are audited by the services (denials before the 404).
"""

from __future__ import annotations

import tempfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from learners.models import Learner
from privacy import selectors, services
from privacy.forms import AccessLogForm, EraseForm, FindLearnerForm

PAGE_SIZE = 50


def _require_admin(request: HttpRequest) -> None:
    if not selectors.may_use_privacy_tools(request.user):
        raise PermissionDenied("For administrators.")


def export_response(request: HttpRequest, learner: Learner) -> FileResponse:
    """Run the export into a temporary file and send it as an attachment (no-store)."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    try:
        services.export_learner_data(actor=request.user, learner=learner, out=spool)
    except PermissionDenied as exc:
        spool.close()
        raise Http404("Not found.") from exc
    spool.seek(0)
    response = FileResponse(
        spool,
        as_attachment=True,
        filename=f"learner-{learner.pk}-export.zip",
        content_type="application/zip",
    )
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _learner_or_404(request: HttpRequest, pk: int, action: str) -> Learner:
    """The learner if the user administers their school; otherwise the refusal is audited
    (naming the learner when it exists) and the answer is 404."""
    try:
        return selectors.get_administered_learner_or_404(request.user, pk)
    except Http404:
        exists = Learner.objects.filter(pk=selectors.parse_pk(pk)).exists()
        services.record_denied(
            actor=request.user, action=action, learner_id=pk if exists else None, object_id=pk
        )
        raise


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """Find a learner (by name or local id) to export or erase; the erasure records."""
    _require_admin(request)
    form = FindLearnerForm(
        request.POST or None, learners=selectors.administered_learners(request.user)
    )
    if request.method == "POST" and form.is_valid():
        return redirect("privacy:learner_erase", pk=form.cleaned_data["learner"].pk)
    erasures = selectors.visible_erasures(request.user)[:20]
    return render(request, "privacy/index.html", {"form": form, "erasures": erasures})


@login_required
@require_GET
def learner_export(request: HttpRequest, pk: int) -> FileResponse:
    """Everything held about the learner, as a zip download."""
    learner = _learner_or_404(request, pk, "privacy.export")
    return export_response(request, learner)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def learner_erase(request: HttpRequest, pk: int) -> HttpResponse:
    """The learner's page of privacy actions: export, and erase after typing the name again."""
    learner = _learner_or_404(request, pk, "privacy.erase")
    form = EraseForm(request.POST or None, learner=learner)
    if request.method == "POST" and form.is_valid():
        try:
            report = services.erase_learner(actor=request.user, learner_id=learner.pk)
        except PermissionDenied as exc:
            raise Http404("Not found.") from exc
        messages.success(
            request,
            f"{learner.display_name} was erased: {report.rows_removed} rows and "
            f"{report.files_removed} files removed (erasure record {report.record_id}).",
        )
        return redirect("privacy:index")
    context = {
        "learner": learner,
        "form": form,
        "export_url": reverse("privacy:learner_export", args=[learner.pk]),
    }
    return render(request, "privacy/learner.html", context)


@never_cache
@login_required
@require_GET
def access_log(request: HttpRequest) -> HttpResponse:
    """Search the audit log of the learners in the organisations the user administers."""
    _require_admin(request)
    form = AccessLogForm(
        request.GET or None, learners=selectors.administered_learners(request.user)
    )
    entries = None
    page = None
    if form.is_valid():
        data = form.cleaned_data
        wanted = selectors.AccessLogFilter(
            learner_id=data["learner"].pk if data.get("learner") else None,
            actor_id=data.get("actor"),
            action=data.get("action") or "",
            outcome=data.get("outcome") or "",
            since=data.get("since"),
            until=data.get("until"),
        )
        entries = selectors.search_audit_entries(request.user, wanted)
        page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    elif not request.GET:
        entries = selectors.search_audit_entries(request.user, selectors.AccessLogFilter())
        page = Paginator(entries, PAGE_SIZE).get_page(1)
    query = request.GET.copy()
    query.pop("page", None)
    rows = []
    if page is not None:
        entries_on_page = list(page.object_list)
        users = User.objects.in_bulk({e.actor_id for e in entries_on_page if e.actor_id})
        learners = Learner.objects.in_bulk({e.learner_id for e in entries_on_page if e.learner_id})
        for entry in entries_on_page:
            user = users.get(entry.actor_id) if entry.actor_id else None
            learner = learners.get(entry.learner_id) if entry.learner_id else None
            rows.append(
                (
                    entry,
                    user.get_username() if user is not None else "",
                    learner.display_name if learner is not None else "",
                )
            )
    context = {"form": form, "page": page, "rows": rows, "query": query.urlencode()}
    return render(request, "privacy/access_log.html", context)
