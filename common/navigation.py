"""The base layout's navigation, built from what the user's roles allow.

Each entry names a URL; entries a user's roles do not allow are never shown. The roles come from
``learners.selectors.roles_of`` (one query per page). The journeys of PRODUCT.md "The pages":

- teacher: my sections (each with its grid), learners, quick entry, the review queue,
  moderation (second ratings, common tasks, their own agreement);
- student: my mastery, submit evidence, my profile (goals);
- guardian: learners (their linked learners' pages, read only);
- administrators: also the standards settings (scale and policy with the what-if preview),
  bulk recomputes, the roster import and the privacy pages (export, erasure, access log).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from learners import selectors

ADMIN_ROLES = frozenset({"school_admin", "district_admin", "state_admin"})


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str


def build_navigation(user: AbstractBaseUser | AnonymousUser) -> list[NavItem]:
    if not user.is_authenticated:
        return []
    # The entries depend only on these: made once per process for each combination (every
    # page shows them; a dozen URL reversals and translations cost about 0.3 ms a page).
    return list(
        _entries(
            selectors.roles_of(user),
            bool(getattr(user, "is_superuser", False)),
            bool(getattr(user, "is_staff", False)),
            get_language(),
            get_script_prefix(),
            get_urlconf() or settings.ROOT_URLCONF,
        )
    )


@lru_cache(maxsize=512)
def _entries(
    roles: frozenset[str],
    superuser: bool,
    is_staff: bool,
    _language: str | None,
    _prefix: str,
    _urlconf: object,
) -> tuple[NavItem, ...]:
    admin = superuser or bool(roles & ADMIN_ROLES)
    staff = admin or "teacher" in roles
    student = "student" in roles
    items = [NavItem(_("Home"), reverse("home"))]
    if staff:
        items.append(NavItem(_("My sections"), reverse("learners:section_list")))
    if staff or "guardian" in roles:
        items.append(NavItem(_("Learners"), reverse("learners:learner_list")))
    if student:
        items.append(NavItem(_("My mastery"), reverse("mastery:my_mastery")))
    if staff:
        items.append(NavItem(_("Quick entry"), reverse("evidence:record")))
        items.append(NavItem(_("Review queue"), reverse("evidence:review_queue")))
        items.append(NavItem(_("Moderation"), reverse("moderation:index")))
    if student:
        items.append(NavItem(_("Submit evidence"), reverse("evidence:submit")))
        items.append(NavItem(_("My goals"), reverse("portal:goals")))
        items.append(NavItem(_("My profile"), reverse("learners:my_profile")))
    # Frameworks are public documents: every signed-in user may browse them.
    items.append(NavItem(_("Standards"), reverse("standards:framework_list")))
    # Everyone may have a report in scope (a student their own transcript); the page scopes.
    items.append(NavItem(_("Reports"), reverse("reports:report_list")))
    if admin:
        items.append(NavItem(_("Settings"), reverse("standards:settings_index")))
        items.append(NavItem(_("Recomputes"), reverse("mastery:bulk_list")))
        items.append(NavItem(_("People and classes"), reverse("learners:people")))
        items.append(NavItem(_("Roster import"), reverse("learners:roster_import")))
        # The same users privacy.selectors.may_use_privacy_tools lets in (pages then scope).
        items.append(NavItem(_("Privacy"), reverse("privacy:index")))
    if is_staff:
        items.append(NavItem(_("Administration"), reverse("admin:index")))
    return tuple(items)
