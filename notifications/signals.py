"""At sign-in, the person's chosen language goes into their session (see middleware)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from notifications.middleware import SESSION_KEY
from notifications.services import language_of


@receiver(user_logged_in, dispatch_uid="notifications.chosen_language")
def remember_language(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    language = language_of(user.pk)
    if language:
        request.session[SESSION_KEY] = language
    else:
        request.session.pop(SESSION_KEY, None)
