"""The language a signed-in person chose wins over their browser's (LocaleMiddleware's pick).

The choice is kept in the session (copied there at sign-in and when saved), so reading it costs
no query per request.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

SESSION_KEY = "chosen_language"
LANGUAGES = frozenset(code for code, _name in settings.LANGUAGES)


class ChosenLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        chosen = session.get(SESSION_KEY) if session is not None else None
        if chosen in LANGUAGES:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        return self.get_response(request)
