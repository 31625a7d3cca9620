"""The home page and the health check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from common.health import run_checks
from common.home import home_panels


@never_cache
@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """What needs the user today: one panel per role they hold (``common.home``)."""
    return render(request, "common/home.html", {"panels": home_panels(request)})


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer; 503 naming each one that failed."""
    checks = run_checks()
    failed = {name: result for name, result in checks.items() if result != "ok"}
    return JsonResponse(
        {"status": "fail" if failed else "ok", "checks": checks}, status=503 if failed else 200
    )
