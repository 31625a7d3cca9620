"""Pages of the mastery app: bulk recomputes (start, progress) and a record's explanation.

Every object comes from a scoped selector (outside the scope: 404). Every page that shows a
mastery number says when it was computed and whether a recompute is pending.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from learners.selectors import administered_organisations
from mastery import selectors, services
from mastery.forms import BulkRecomputeForm
from mastery.models import StaleMastery


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
    stale = StaleMastery.objects.filter(
        learner_id=record.learner_id, standard_id=record.standard_id
    ).exists()
    explanation = selectors.explain_record(record)
    context = {"record": record, "stale": stale, "explanation": explanation}
    return render(request, "mastery/record_detail.html", context)
