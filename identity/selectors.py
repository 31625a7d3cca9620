"""Reads of the identity app: which key signs, which keys are published, who may sign in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from identity.models import (
    IdentityProvider,
    LtiCourseLink,
    LtiPlatform,
    RosterField,
    SigningKey,
    SignInSettings,
)
from learners.models import GuardianLink, Learner, Organisation, RoleAssignment, Section
from learners.selectors import descendants_of, taught_sections

OK: Final = "ok"
UNKNOWN: Final = "unknown"
DEACTIVATED: Final = "deactivated"
AMBIGUOUS: Final = "ambiguous"


def active_signing_keys(
    *, purpose: str, organisation: Organisation | None = None
) -> QuerySet[SigningKey]:
    """The active key (at most one, by constraint) of this purpose and organisation."""
    return (
        SigningKey.objects.filter(purpose=purpose, retired_at__isnull=True)
        .filter(Q(organisation=organisation) if organisation else Q(organisation__isnull=True))
        .order_by("pk")
    )


def active_signing_key(
    *, purpose: str, organisation: Organisation | None = None
) -> SigningKey | None:
    """The key that signs new messages for this purpose and organisation (``None`` for the
    platform's own key), or ``None`` when there is none yet (``identity.services.
    signing_key_for`` makes one on first use)."""
    return active_signing_keys(purpose=purpose, organisation=organisation).first()


def published_signing_keys() -> QuerySet[SigningKey]:
    """Every key whose public half we publish: active and retired keys, never revoked ones
    (what a retired key signed must keep verifying)."""
    return SigningKey.objects.filter(revoked_at__isnull=True).order_by("created_at", "pk")


# --- who may sign in ----------------------------------------------------------------------------


def members_of(organisation: Organisation) -> QuerySet[User]:
    """Logins that belong to the organisation or one below it: through a role there (any
    dates: access itself still follows the current rows), a learner of a school there, or a
    guardian link to one. A provider of one district can never sign in another's people."""
    orgs = descendants_of(organisation).values("pk")
    return User.objects.filter(
        Q(pk__in=RoleAssignment.objects.filter(organisation__in=orgs).values("user_id"))
        | Q(pk__in=Learner.objects.filter(school__in=orgs, user__isnull=False).values("user_id"))
        | Q(pk__in=GuardianLink.objects.filter(learner__school__in=orgs).values("guardian_id"))
    )


@dataclass(frozen=True)
class Match:
    """The roster's answer for a sign-in: ``user`` when ``outcome`` is ``ok``."""

    outcome: str  # ok, unknown, deactivated, ambiguous
    user: User | None = None


def match_roster_user(*, organisation: Organisation, match_on: str, value: object) -> Match:
    """The one login of the organisation whose ``match_on`` field equals ``value`` (e-mail and
    username compared case-insensitively, the OneRoster sourcedId exactly). Nobody is ever
    created from a claim: no such login is ``unknown``, two are ``ambiguous``, an inactive one
    (or a student whose learner record is inactive) is ``deactivated``."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return Match(UNKNOWN)
    members = members_of(organisation)
    if match_on == RosterField.EMAIL:
        found = members.filter(email__iexact=text)
    elif match_on == RosterField.USERNAME:
        found = members.filter(username__iexact=text)
    elif match_on == RosterField.SOURCED_ID:
        found = members.filter(roster_identity__sourced_id=text)
    else:
        raise ValueError(f"unknown roster field {match_on!r}")
    users = list(found.select_related("learner").order_by("pk")[:2])
    if not users:
        return Match(UNKNOWN)
    if len(users) > 1:
        return Match(AMBIGUOUS)
    user = users[0]
    learner = getattr(user, "learner", None)
    if not user.is_active or (learner is not None and not learner.active):
        return Match(DEACTIVATED, user)
    return Match(OK, user)


def passwords_allowed(user: User) -> bool:
    """Whether this login may sign in with a local password: not when an organisation it
    belongs to (or one above that) turned passwords off. The operator always may."""
    if user.is_superuser and user.is_active:
        return True
    own = (
        Organisation.objects.filter(
            Q(pk__in=RoleAssignment.objects.filter(user=user).values("organisation_id"))
            | Q(pk__in=Learner.objects.filter(user=user).values("school_id"))
            | Q(pk__in=GuardianLink.objects.filter(guardian=user).values("learner__school_id"))
        )
    ).values("pk")
    return not SignInSettings.objects.filter(
        Q(organisation__in=own)
        | Q(organisation__children__in=own)
        | Q(organisation__children__children__in=own),
        passwords_allowed=False,
    ).exists()


def sign_in_providers() -> QuerySet[IdentityProvider]:
    """The providers offered on the sign-in page."""
    return IdentityProvider.objects.filter(enabled=True).select_related("organisation")


# --- LTI ----------------------------------------------------------------------------------------


def section_for_course(
    *, platform: LtiPlatform, context_id: str, course_section_sourced_id: str = ""
) -> Section | None:
    """The section a platform's course opens: the one a teacher linked it to, else the one the
    roster's ``sourcedId`` names (within the platform's organisation). ``None``: ask a teacher
    once (the mapping page). Whether the person may see it is the section page's business."""
    if context_id:
        link = (
            LtiCourseLink.objects.filter(platform=platform, context_id=context_id)
            .select_related("section")
            .first()
        )
        if link is not None:
            return link.section
    if course_section_sourced_id:
        return Section.objects.filter(
            sourced_id=course_section_sourced_id,
            school__in=descendants_of(platform.organisation).values("pk"),
        ).first()
    return None


def linkable_sections(user: User, platform: LtiPlatform) -> QuerySet[Section]:
    """Sections a teacher may link a course to: the ones they teach now, in the platform's
    organisation."""
    return taught_sections(user).filter(
        school__in=descendants_of(platform.organisation).values("pk")
    )
