"""Writes with business meaning for the identity app (keyword-only, atomic, audited).

``actor=None`` is the system (management commands, first use); a user actor must be the
operator (an active superuser) or, for an organisation's key, one of its administrators.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import record_access
from identity import keys, selectors
from identity.models import KeyAlgorithm, KeyPurpose, LtiCourseLink, LtiPlatform, SigningKey
from learners import selectors as learner_selectors
from learners.models import Organisation, Section

logger = logging.getLogger(__name__)

# LTI 1.3 requires RS256; Open Badges verifiers all accept it too.
DEFAULT_ALGORITHM = {KeyPurpose.LTI: KeyAlgorithm.RS256, KeyPurpose.BADGE: KeyAlgorithm.RS256}


def _require_key_admin(actor: User | None, organisation: Organisation | None) -> None:
    if actor is None or (actor.is_active and actor.is_superuser):
        return
    if organisation is not None and (
        learner_selectors.administered_organisations(actor).filter(pk=organisation.pk).exists()
    ):
        return
    raise PermissionDenied(
        "Only the operator or the organisation's administrators manage its keys."
    )


@transaction.atomic
def rotate_signing_key(
    *,
    actor: User | None,
    purpose: str,
    organisation: Organisation | None = None,
    algorithm: str | None = None,
) -> SigningKey:
    """Makes a new active key for (purpose, organisation) and retires the one it replaces.

    The old key stays published (what it signed keeps verifying) until it is revoked. Two
    rotations at once are serialised by the row lock on the active key (and, for the very
    first key, by the one-active-key constraint: the loser raises ``IntegrityError``)."""
    if purpose not in KeyPurpose.values:
        raise ValidationError({"purpose": f"Unknown key purpose {purpose!r}."})
    chosen = algorithm or DEFAULT_ALGORITHM[KeyPurpose(purpose)]
    if chosen not in KeyAlgorithm.values:
        raise ValidationError({"algorithm": f"Unsupported algorithm {chosen!r}."})
    if purpose == KeyPurpose.LTI and chosen != KeyAlgorithm.RS256:
        raise ValidationError({"algorithm": "LTI 1.3 messages are signed with RS256."})
    _require_key_admin(actor, organisation)
    now = timezone.now()
    current = (
        SigningKey.objects.select_for_update(of=("self",))
        .order_by("pk")
        .filter(pk__in=selectors.active_signing_keys(purpose=purpose, organisation=organisation))
        .first()
    )
    if current is not None:
        SigningKey.objects.filter(pk=current.pk).update(retired_at=now)
    kid, public, sealed = keys.generate(chosen)
    key = SigningKey.objects.create(
        purpose=purpose,
        organisation=organisation,
        kid=kid,
        algorithm=chosen,
        public_jwk=public,
        private_key_sealed=sealed,
    )
    record_access(
        actor=actor,
        action="signing_key.rotate",
        object_type="identity.signingkey",
        object_id=key.pk,
        detail={"purpose": purpose, "organisation": organisation.pk if organisation else None,
                "retired": current.pk if current else None},
    )  # fmt: skip
    logger.info("signing key rotated", extra={"kid": kid, "purpose": purpose})
    return key


@transaction.atomic
def revoke_signing_key(*, actor: User | None, key: SigningKey) -> SigningKey:
    """Stops publishing a key (it was compromised): what it signed no longer verifies. An active
    key is retired at the same time; the next signature makes a new one."""
    _require_key_admin(actor, key.organisation)
    now = timezone.now()
    key.retired_at = key.retired_at or now
    key.revoked_at = key.revoked_at or now
    key.save(update_fields=["retired_at", "revoked_at"])
    record_access(
        actor=actor,
        action="signing_key.revoke",
        object_type="identity.signingkey",
        object_id=key.pk,
        detail={"purpose": key.purpose},
    )
    logger.info("signing key revoked", extra={"kid": key.kid, "purpose": key.purpose})
    return key


def signing_key_for(*, purpose: str, organisation: Organisation | None = None) -> SigningKey:
    """The active key for (purpose, organisation), made on first use (by the system)."""
    key = selectors.active_signing_key(purpose=purpose, organisation=organisation)
    if key is not None:
        return key
    try:
        return rotate_signing_key(actor=None, purpose=purpose, organisation=organisation)
    except IntegrityError:
        # Someone else made the first key at the same moment: use theirs.
        found = selectors.active_signing_key(purpose=purpose, organisation=organisation)
        if found is None:
            raise
        return found


@transaction.atomic
def link_lti_course(
    *, actor: User, platform: LtiPlatform, context_id: str, section: Section
) -> LtiCourseLink:
    """Links a platform's course to one of our sections, once: the actor must teach the
    section now (in the platform's organisation). Relinking a course already linked is refused;
    the operator removes a wrong link on the operator page."""
    if not context_id:
        raise ValidationError({"context_id": "The launch named no course."})
    if not selectors.linkable_sections(actor, platform).filter(pk=section.pk).exists():
        raise PermissionDenied("You can only link a course to a class you teach.")
    if LtiCourseLink.objects.filter(platform=platform, context_id=context_id).exists():
        raise ValidationError({"context_id": "This course is already linked to a class."})
    link = LtiCourseLink.objects.create(
        platform=platform, context_id=context_id, section=section, linked_by=actor
    )
    record_access(
        actor=actor,
        action="lti.course_link",
        object_type="identity.lticourselink",
        object_id=link.pk,
        detail={"platform": platform.pk, "section": section.pk},
    )
    return link
