"""Signal receivers of the learners app (connected in ``LearnersConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from learners.sessions import end_sessions


def end_sessions_of_inactive_user(
    sender: type[User], instance: User, created: bool, **kwargs: Any
) -> None:
    """A login saved inactive (the admin's form, a shell) loses its stored sessions at once.

    Bulk updates send no signal: ``services.deactivate_users`` and the roster import call
    ``end_sessions`` themselves.
    """
    if not created and not instance.is_active:
        end_sessions([instance.pk])
