"""Set-based audit writes: one statement records an access to any number of learners.

``audit.services.record_access`` appends one entry for one learner; the request audit
(``privacy.audit_reads``) needs one entry per learner a page or an API list touched, resolved
from the object ids in SQL, in a single ``INSERT ... SELECT`` whatever their number. The same
rules apply: ids, actions and parameters only, never names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry, Outcome
from audit.services import _actor_id, _request_id, _text, role_of


def record_accesses(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    allowed: bool,
    learner_ids_sql: str | None,
    params: Sequence[Any] = (),
    object_type: str = "",
    object_id: object = "",
    detail: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    role: str | None = None,
    occurred_at: Any = None,
) -> int:
    """Append one ``AuditEntry`` per distinct learner id that ``learner_ids_sql`` selects (a
    query with ``%s`` placeholders for ``params`` whose one column is named ``learner_ref``),
    or a single entry without a learner when it selects none or is ``None``; return how many.

    One ``INSERT ... SELECT`` statement. Everything but the learner is the same for every row:
    who (``actor``; ``role`` computed from their current roles unless given), the ``action``,
    allowed or denied, the object, the request id (the current one unless given) and
    ``detail`` (JSON, no personal data). Raises ``ValueError``/``TypeError`` before writing for
    an empty action, an over-long field or a detail that is not JSON.
    """
    if not action:
        raise ValueError("action: required")
    payload = json.dumps(dict(detail or {}), sort_keys=True)
    source = learner_ids_sql or "SELECT CAST(NULL AS bigint) AS learner_ref WHERE 1 = 0"
    table = AuditEntry._meta.db_table
    statement = (
        f"INSERT INTO {table} (actor_id, role, learner_id, action, outcome, object_type,"  # noqa: S608
        " object_id, occurred_at, request_id, detail)"
        f" SELECT %s, %s, ids.learner_ref, %s, %s, %s, %s, %s, %s, CAST(%s AS jsonb)"
        " FROM (SELECT 1 AS one) AS one"
        f" LEFT JOIN (SELECT DISTINCT learner_ref FROM ({source}) AS raw"
        "  WHERE learner_ref IS NOT NULL) AS ids ON 1 = 1"
    )
    values = [
        _actor_id(actor),
        role if role is not None else role_of(actor),
        _text(action, "action"),
        Outcome.ALLOWED if allowed else Outcome.DENIED,
        _text(object_type, "object_type"),
        _text(object_id, "object_id"),
        occurred_at or timezone.now(),
        _request_id(request_id),
        payload,
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, [*values, *params])
        return int(cursor.rowcount)
