"""Pages of the reports app: request a report, follow its progress, download it.

Every report comes from the user's own requests (``selectors.own_reports``); downloads go
through signed links bound to the requester (``services.open_download``); anything else is 404.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from reports import selectors, services
from reports.forms import ReportRequestForm
from reports.models import ReportRequest

WAITING = (
    "The report workers cannot be reached right now: it will start as soon as the report "
    "workers are back. You can leave this page."
)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


def _with_links(reports: list[ReportRequest]) -> list[tuple[ReportRequest, str | None]]:
    return [(report, selectors.download_path(report)) for report in reports]


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def report_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ReportRequestForm(request.POST or None, user=user, initial=request.GET.dict())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = services.request_report(
                actor=user,
                kind=data["kind"],
                file_format=data["file_format"],
                as_of=data["as_of"],
                organisation=data["organisation"].pk if data["organisation"] else None,
                term=data["term"].pk if data["term"] else None,
                section=data["section"],
                learner=data["learner"],
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            report.refresh_from_db(
                fields=["sent_at", "send_failed_at"]
            )  # set after commit when sent
            if report.waiting_for_workers:
                messages.warning(request, f"Report {report.pk} is saved. {WAITING}")
            else:
                messages.success(request, f"Report {report.pk} is queued.")
            return redirect("reports:report_detail", pk=report.pk)
    reports = list(selectors.own_reports(user)[:50])
    context = {"form": form, "reports": _with_links(reports)}
    return render(request, "reports/report_list.html", context)


@never_cache
@login_required
@require_GET
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = selectors.get_own_report_or_404(_user(request), pk)
    context = {"report": report, "download": selectors.download_path(report)}
    return render(request, "reports/report_detail.html", context)


@never_cache
@login_required
@require_GET
def download(request: HttpRequest, token: str) -> FileResponse:
    report, path = services.open_download(actor=_user(request), token=token)
    return attachment(report, path)


def attachment(report: ReportRequest, path: Path) -> FileResponse:
    """The file as an attachment that no cache keeps (pages and API share it)."""
    response = FileResponse(
        open(path, "rb"),  # noqa: SIM115  (FileResponse closes it)
        as_attachment=True,
        filename=report.download_name,
        content_type=CONTENT_TYPES[report.file_format],
    )
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
