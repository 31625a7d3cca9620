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
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.messages import plain_message, plain_messages
from learners.selectors import today
from reports import selectors, services
from reports.forms import ReportRequestForm
from reports.models import ReportFormat, ReportKind, ReportRequest, ReportStatus

WAITING = (
    "The report workers cannot be reached right now: it will start as soon as the report "
    "workers are back. You can leave this page."
)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


def report_title(report: ReportRequest) -> str:
    """A report named as people say it: its kind and what it is about, by name."""
    if report.learner_id and report.learner is not None:
        about = report.learner.display_name
    elif report.section_id and report.section is not None:
        about = report.section.title
    elif report.organisation_id and report.organisation is not None:
        about = report.organisation.name
    else:
        return report.get_kind_display()
    return f"{report.get_kind_display()} of {about}"


def _rows(reports: list[ReportRequest]) -> list[tuple[ReportRequest, str, str | None]]:
    return [(report, report_title(report), selectors.download_path(report)) for report in reports]


def _running(reports: list[ReportRequest]) -> bool:
    return any(report.status in (ReportStatus.QUEUED, ReportStatus.RUNNING) for report in reports)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def report_list(request: HttpRequest) -> HttpResponse:
    """Request a report (the scope chosen by name) and follow the progress of your reports."""
    user = _user(request)
    initial = {"kind": request.GET.get("kind", "")} if request.GET.get("kind") else None
    form = ReportRequestForm(request.POST or None, user=user, initial=initial)
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
                section=data["section"].pk if data["section"] else None,
                learner=data["learner"].pk if data["learner"] else None,
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                target = {"format": "file_format"}.get(field, field)
                plain = [plain_message(problem) for problem in problems]
                form.add_error(target if target in form.fields else None, plain)
        except Http404:
            # Out of reach (the refusal is audited by the service): the form stays as typed.
            form.add_error(None, "This scope is not one you may report on: choose one of your own.")
        else:
            report.refresh_from_db(
                fields=["sent_at", "send_failed_at"]
            )  # set after commit when sent
            if report.waiting_for_workers:
                messages.warning(request, f"{report_title(report)} is saved. {WAITING}")
            else:
                messages.success(
                    request, f"{report_title(report)} requested: it is being generated."
                )
            return redirect("reports:report_detail", pk=report.pk)
    reports = list(
        selectors.own_reports(user).select_related("organisation", "section", "learner")[:50]
    )
    context = {"form": form, "reports": _rows(reports), "running": _running(reports)}
    if request.GET.get("fragment") == "list":
        return render(request, "reports/report_list.html#reports", context)
    return render(request, "reports/report_list.html", context)


def _request_for(request: HttpRequest, kind: str, file_format: str, **scope: int) -> HttpResponse:
    """Request a report of one object from the page that shows it (the grid's export, the
    learner page's transcript) and follow its progress; out of scope answers 404 (audited by
    the service)."""
    try:
        report = services.request_report(
            actor=_user(request), kind=kind, file_format=file_format, as_of=today(), **scope
        )
    except ValidationError as error:
        messages.error(request, " ".join(plain_messages(error)))
        return redirect(request.META.get("HTTP_REFERER") or "reports:report_list")
    report.refresh_from_db(fields=["sent_at", "send_failed_at"])  # set after commit when sent
    if report.waiting_for_workers:
        messages.warning(request, f"{report_title(report)} is saved. {WAITING}")
    else:
        messages.success(request, f"{report_title(report)} requested: it is being generated.")
    return redirect("reports:report_detail", pk=report.pk)


@never_cache
@login_required
@require_POST
def section_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The section's gradebook export (the grid's button), as CSV or XLSX."""
    file_format = request.POST.get("file_format") or ReportFormat.CSV
    return _request_for(request, ReportKind.SECTION_EXPORT, file_format, section=pk)


@never_cache
@login_required
@require_POST
def learner_transcript(request: HttpRequest, pk: int) -> HttpResponse:
    """The learner's mastery transcript (the learner page's button), as PDF."""
    return _request_for(request, ReportKind.TRANSCRIPT, ReportFormat.PDF, learner=pk)


@never_cache
@login_required
@require_GET
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One report: what it covers (by name), its live progress and, once ready, its download.
    ``?fragment=1``: the status alone (the page's script polls it while the worker runs)."""
    report = selectors.get_own_report_or_404(_user(request), pk)
    context = {
        "report": report,
        "title": report_title(report),
        "download": selectors.download_path(report),
        "running": _running([report]),
    }
    if request.GET.get("fragment") == "1":
        return render(request, "reports/report_detail.html#status", context)
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
