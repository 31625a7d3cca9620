"""Writes of the audit app: one entry per access, disclosures in one statement per set.

Callers record denials too (S5: "audit rows for every allowed and denied access"); a denial
must be recorded outside the transaction that is rolled back by the refusal, or it is lost
with it. Nothing here logs or stores names: ids, actions and parameters only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEntry, Disclosure, Outcome
from common.logging import request_id_var
from learners.selectors import roles_of

OPERATOR: Final = "operator"
SYSTEM: Final = "system"
_MAX_TEXT: Final = 64


def role_of(actor: AbstractBaseUser | AnonymousUser | None) -> str:
    """What the actor was when acting: their current roles (sorted, comma-separated),
    ``operator`` for an active superuser, ``system`` without an actor (the command line)."""
    if actor is None:
        return SYSTEM
    if not actor.is_authenticated:
        return "anonymous"
    roles = sorted(roles_of(actor))
    if getattr(actor, "is_superuser", False) and actor.is_active:
        roles.append(OPERATOR)
    return ",".join(roles)


def _actor_id(actor: AbstractBaseUser | AnonymousUser | None) -> int | None:
    if actor is None or not actor.is_authenticated:
        return None
    return int(str(actor.pk))


def _text(value: object, name: str) -> str:
    text = "" if value is None else str(value)
    if len(text) > _MAX_TEXT:
        raise ValueError(f"{name}: at most {_MAX_TEXT} characters, got {len(text)}")
    return text


def _request_id(request_id: str | None) -> str:
    value = request_id if request_id is not None else request_id_var.get()
    return "" if value == "-" else _text(value, "request_id")


def request_id_or_blank() -> str:
    """The id of the current request or task (blank outside both)."""
    return _request_id(None)


@transaction.atomic
def record_access(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    allowed: bool = True,
    learner_id: int | None = None,
    object_type: str = "",
    object_id: object = "",
    detail: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    role: str | None = None,
) -> AuditEntry:
    """Append one audit entry: who (``actor``, ``None`` for the command line), as what
    (``role``, computed from the actor's current roles unless given), did ``action`` on which
    object and learner, allowed or denied, in which request (the current request or task id
    unless given). ``detail`` must be JSON and must not carry personal data (names, emails).
    Raises ``ValueError`` for an empty action or an over-long field; writes nothing then."""
    if not action:
        raise ValueError("action: required")
    payload = dict(detail or {})
    json.dumps(payload)  # not serialisable: TypeError before anything is written
    return AuditEntry.objects.create(
        actor_id=_actor_id(actor),
        role=role if role is not None else role_of(actor),
        learner_id=learner_id,
        action=_text(action, "action"),
        outcome=Outcome.ALLOWED if allowed else Outcome.DENIED,
        object_type=_text(object_type, "object_type"),
        object_id=_text(object_id, "object_id"),
        occurred_at=timezone.now(),
        request_id=_request_id(request_id),
        detail=payload,
    )


@transaction.atomic
def record_disclosures(
    *,
    learner_ids_sql: str,
    params: Sequence[Any],
    actor: AbstractBaseUser | AnonymousUser | None,
    recipient: str,
    purpose: str,
    object_type: str,
    object_id: object,
    detail: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    role: str | None = None,
) -> int:
    """Append one ``Disclosure`` per learner id that ``learner_ids_sql`` selects, in one
    ``INSERT ... SELECT`` whatever their number (never a row at a time), and return how many.

    ``learner_ids_sql`` is a query (with ``%s`` placeholders for ``params``) whose result has
    one column named ``learner_id``; duplicates are disclosed once. Everything else is the same
    for every row: who disclosed, to whom, why, and the object (e.g. the report) that carried it.
    """
    if not recipient or not purpose:
        raise ValueError("recipient and purpose: required")
    payload = json.dumps(dict(detail or {}), sort_keys=True)
    table = Disclosure._meta.db_table
    statement = (
        f"INSERT INTO {table} (learner_id, actor_id, role, recipient, purpose, object_type,"  # noqa: S608
        " object_id, disclosed_at, request_id, detail)"
        " SELECT DISTINCT ids.learner_id, CAST(%s AS integer), %s, %s, %s, %s, %s, %s, %s,"
        f" CAST(%s AS jsonb) FROM ({learner_ids_sql}) ids"
    )
    values = [
        _actor_id(actor),
        role if role is not None else role_of(actor),
        recipient[:200],
        purpose[:200],
        _text(object_type, "object_type"),
        _text(object_id, "object_id"),
        timezone.now(),
        _request_id(request_id),
        payload,
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, [*values, *params])
        return int(cursor.rowcount)
