"""Failures answered, not crashed (RELIABILITY.md R5, R11).

- A database that cannot be reached (a terminated connection, a server restarting, a
  deadlock or a lock timeout: Django's ``OperationalError`` and ``InterfaceError``) is a
  **503 with ``Retry-After``**, never a 500: the request can simply be tried again. Django calls
  :func:`server_error` (``handler500``) for every exception no view or middleware handled, with
  the exception still being handled, so one place covers pages, the API and every middleware.
- Bad input is a **400 in plain words** (:func:`bad_request`, ``handler400``, and
  ``common.input`` for NUL characters and JSON nested too deep).
- API clients (paths under ``/api/``, or asking for JSON only) get JSON ``{"detail": ...}``;
  people get a small page that needs neither the database nor the session.
"""

from __future__ import annotations

import json
import sys
from typing import Final

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers

from common.importing import Problem, problems_payload

RETRY_AFTER_SECONDS: Final = 30
UNAVAILABLE: Final = (
    "The service cannot reach its database for a moment. Nothing was saved by this request; "
    "please try again shortly."
)
INTERNAL: Final = "Something went wrong on our side. The error was logged; please try again."
UNREADABLE: Final = "The request could not be read: it is malformed or too large."
NUL_IN_TEXT: Final = "The request contains a null character (\\0), which text may not hold."


def wants_json(request: HttpRequest) -> bool:
    """True for API calls: JSON is what they read (also when they ask for nothing)."""
    if request.path.startswith("/api/"):
        return True
    return request.accepts("application/json") and not request.accepts("text/html")


def _answer(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    response: HttpResponse
    if wants_json(request):
        response = JsonResponse({"detail": message}, status=status)
    else:
        page = render_to_string("failure.html", {"title": title, "message": message})
        response = HttpResponse(page, status=status)
    add_never_cache_headers(response)
    return response


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After``: the database (or another service) is briefly unavailable."""
    response = _answer(request, 503, "Briefly unavailable", UNAVAILABLE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def refuse(request: HttpRequest, message: str) -> HttpResponse:
    """400 with ``message`` (plain words saying what was wrong with the request). An API client
    gets it in the one error format of refused input too (``common.api``), as ``problems``."""
    response = _answer(request, 400, "The request could not be used", message)
    if isinstance(response, JsonResponse):
        body = {"detail": message, **problems_payload([Problem("request", "", message)])}
        response.content = json.dumps(body).encode()
    return response


def is_database_unavailable(error: BaseException | None) -> bool:
    return isinstance(error, OperationalError | InterfaceError)


def _is_nul_error(error: BaseException | None) -> bool:
    # psycopg refuses NUL in text parameters with a bare ValueError; common.input refuses NUL
    # at the door, this is the net for any text that got past it.
    return isinstance(error, ValueError) and "NUL" in str(error)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: 503 + ``Retry-After`` when the database is unavailable, else 500."""
    error = sys.exc_info()[1]
    if is_database_unavailable(error):
        return unavailable(request)
    if _is_nul_error(error):
        return refuse(request, NUL_IN_TEXT)
    return _answer(request, 500, "Something went wrong", INTERNAL)


def bad_request(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    """``handler400``: a body Django could not parse (malformed multipart, too many fields,
    too large) or another ``BadRequest``/``SuspiciousOperation``."""
    if isinstance(exception, MultiPartParserError):
        return refuse(request, "The form data could not be read: it is malformed.")
    return refuse(request, UNREADABLE)
