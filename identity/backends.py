"""Authentication backends: local passwords (unless the organisation turned them off) and the
single sign-on backend that lets ``identity.signin`` log in a login the roster matched.

django-axes' backend stays first in ``AUTHENTICATION_BACKENDS``: a locked-out username (for
single sign-on, the hashed identifier from the provider) is refused before either runs.
"""

from __future__ import annotations

from typing import Any, Final

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpRequest

from identity import selectors

_USER_FIELDS: Final = [field.attname for field in User._meta.concrete_fields]
_USER_COLUMNS: Final = ", ".join(str(field.column) for field in User._meta.concrete_fields)
_READ_USER: Final = (
    f"SELECT {_USER_COLUMNS}"  # noqa: S608
    f" FROM {User._meta.db_table} WHERE {User._meta.pk.column} = %s"
)


class _UserRead(ModelBackend):
    """``ModelBackend.get_user`` (the signed-in user of every request) as one fixed statement
    instead of a query the ORM composes each time; the same row, the same refusal of an
    inactive login."""

    def get_user(self, user_id: Any) -> User | None:
        with connection.cursor() as cursor:
            cursor.execute(_READ_USER, [user_id])
            row = cursor.fetchone()
        if row is None:
            return None
        user = User.from_db(connection.alias, _USER_FIELDS, row)
        return user if self.user_can_authenticate(user) else None


class PasswordBackend(_UserRead):
    """Django's username and password check, refused (as a failed attempt, with the usual
    message: no hint that the password was right) for people whose organisation signs in only
    through single sign-on."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if isinstance(user, User) and not selectors.passwords_allowed(user):
            return None
        return user if isinstance(user, User) else None


class SingleSignOnBackend(_UserRead):
    """Returns the login ``identity.signin`` matched in the roster (``sso_user``), if active.

    It never looks a login up itself and never creates one; without ``sso_user`` it answers
    nothing, so a failed match reaches django-axes as a failed attempt."""

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        sso_user: User | None = None,
        **kwargs: Any,
    ) -> User | None:
        if sso_user is None or not self.user_can_authenticate(sso_user):
            return None
        return sso_user
