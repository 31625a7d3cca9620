"""Writes of the notifications app: what to tell whom, and sending it by e-mail.

The evidence, standards and mastery services call the ``notify_*`` functions inside their own
transaction: the notification rows commit (or roll back) with the change they report, and the
e-mail is queued only after the commit (``transaction.on_commit``, RELIABILITY.md R1). Each
notification has a unique ``key`` naming its event and recipient, so an event reported twice
gives one notification; ``send_notification_email`` locks the row and sends only while its
e-mail is pending, then marks it sent in the same transaction, so a retried task sends nothing
twice (a crash between the SMTP answer and the commit is the one window: the message keeps the
same ``Message-ID`` so mail clients fold a repeat).

Nobody is told anything about an erased learner (their notifications are deleted with them),
nor anything at all once their login or learner record is deactivated. Guardians hear only
about the learners they are currently linked to.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from common import queueing
from learners.models import GuardianLink, Learner
from learners.selectors import AnyUser, current_q
from notifications.models import (
    DigestSubscription,
    EmailState,
    Notification,
    NotificationKind,
    Preference,
)

logger = logging.getLogger(__name__)

LANGUAGES = frozenset(code for code, _name in settings.LANGUAGES)


# --- what each person receives ------------------------------------------------------------------

# Preference fields per kind: (in the app, by e-mail).
_FIELDS = {
    NotificationKind.WORK_SCORED: ("in_app_work", "email_work"),
    NotificationKind.WORK_RETURNED: ("in_app_work", "email_work"),
    NotificationKind.ELECTIVE_DECIDED: ("in_app_electives", "email_electives"),
    NotificationKind.STANDARD_MASTERED: ("in_app_mastered", "email_mastered"),
}


@dataclass(frozen=True)
class Choices:
    """What one person receives: every kind in the app, e-mail for some, and their language."""

    in_app_work: bool = True
    email_work: bool = True
    in_app_electives: bool = True
    email_electives: bool = True
    in_app_mastered: bool = True
    email_mastered: bool = True
    language: str = ""

    def wants(self, kind: str) -> tuple[bool, bool]:
        if kind == NotificationKind.WEEKLY_DIGEST:
            return True, True  # the digest is its own opt-in (DigestSubscription)
        in_app, email = _FIELDS[NotificationKind(kind)]
        return bool(getattr(self, in_app)), bool(getattr(self, email))


# A guardian who never chose gets their children's news in the app, e-mail only for the digest
# they opt in to; a student gets their own news by e-mail too.
GUARDIAN_DEFAULTS = Choices(email_work=False, email_electives=False, email_mastered=False)
STUDENT_DEFAULTS = Choices()


def choices_of(user: AnyUser, *, guardian: bool) -> Choices:
    preference = Preference.objects.filter(user_id=user.pk or 0).first()
    if preference is None:
        return GUARDIAN_DEFAULTS if guardian else STUDENT_DEFAULTS
    return Choices(
        in_app_work=preference.in_app_work,
        email_work=preference.email_work,
        in_app_electives=preference.in_app_electives,
        email_electives=preference.email_electives,
        in_app_mastered=preference.in_app_mastered,
        email_mastered=preference.email_mastered,
        language=preference.language,
    )


def language_of(user_id: int) -> str:
    """The language a person chose, or blank (the browser's, on pages)."""
    found = Preference.objects.filter(user_id=user_id).values_list("language", flat=True).first()
    return found or ""


@transaction.atomic
def save_preferences(
    *, actor: AnyUser, language: str, receive: dict[str, bool], digests: Iterable[int]
) -> Preference:
    """The signed-in person's own choices: language (blank: the browser's), what they receive
    (the ``Preference`` boolean fields) and, for a guardian, the children whose weekly digest
    they want (learner ids; only currently linked learners are kept)."""
    if not actor.is_authenticated or not actor.is_active:
        raise PermissionDenied("Sign in to choose.")
    if language and language not in LANGUAGES:
        raise ValidationError({"language": _("Choose English or Spanish.")})
    known = {name for pair in _FIELDS.values() for name in pair}
    values = {name: bool(receive.get(name, False)) for name in known}
    preference, _created = Preference.objects.update_or_create(
        user_id=actor.pk, defaults={"language": language, **values}
    )
    linked = set(
        GuardianLink.objects.filter(current_q(), guardian_id=actor.pk).values_list(
            "learner_id", flat=True
        )
    )
    wanted = set(digests) & linked
    DigestSubscription.objects.filter(guardian_id=actor.pk).exclude(learner_id__in=wanted).delete()
    existing = set(
        DigestSubscription.objects.filter(guardian_id=actor.pk).values_list("learner_id", flat=True)
    )
    DigestSubscription.objects.bulk_create(
        DigestSubscription(guardian_id=actor.pk, learner_id=learner_id)
        for learner_id in sorted(wanted - existing)
    )
    return preference


# --- telling -----------------------------------------------------------------------------------


def _key(*parts: object) -> str:
    text = ":".join(str(part) for part in parts)
    return text if len(text) <= 200 else hashlib.sha256(text.encode()).hexdigest()


def _guardians_of(learner_id: int) -> list[User]:
    ids = GuardianLink.objects.filter(current_q(), learner_id=learner_id).values("guardian_id")
    return list(User.objects.filter(pk__in=ids, is_active=True))


def _student_of(learner: Learner) -> User | None:
    if learner.user_id is None:
        return None
    return User.objects.filter(pk=learner.user_id, is_active=True).first()


def _tell(
    *,
    recipient: User,
    learner: Learner,
    kind: str,
    key: str,
    params: dict[str, Any],
    link: str,
    guardian: bool,
) -> Notification | None:
    """One notification, unless the person receives this kind neither way or it exists."""
    in_app, email = choices_of(recipient, guardian=guardian).wants(kind)
    email = email and bool(recipient.email)
    if not (in_app or email):
        return None
    try:
        with transaction.atomic():  # a savepoint: the event was already told (same key)
            notification = Notification.objects.create(
                recipient=recipient,
                learner=learner,
                kind=kind,
                key=key,
                params=params,
                link=link,
                in_app=in_app,
                email_state=EmailState.PENDING if email else EmailState.SKIPPED,
            )
    except IntegrityError:
        return None
    if email and notification.email_state == EmailState.PENDING:
        notification_id = notification.pk
        transaction.on_commit(lambda: _queue_email(notification_id))
    return notification


def _queue_email(notification_id: int) -> bool:
    from notifications.tasks import deliver_notification_email

    # Never waits on an unreachable broker nor fails the request (common.queueing): the
    # notification's e-mail stays pending, and requeue_pending_emails sends it later.
    return queueing.send(deliver_notification_email, notification_id)


# An e-mail still pending this long after its notification was written lost its message (the
# broker was down, or the message was lost): the sweep sends it again.
PENDING_GRACE = datetime.timedelta(minutes=5)
SWEEP_BATCH = 500


def requeue_pending_emails(*, now: datetime.datetime | None = None) -> int:
    """The outbox's sweep: queue again the e-mails still pending ``PENDING_GRACE`` after their
    notification was written (oldest first, at most ``SWEEP_BATCH`` a run). Sending twice is
    harmless: ``send_notification_email`` sends only while pending. Returns how many went to
    the broker."""
    cutoff = (now or timezone.now()) - PENDING_GRACE
    ids = list(
        Notification.objects.filter(email_state=EmailState.PENDING, created_at__lt=cutoff)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    sent = 0
    for notification_id in ids:
        if not _queue_email(notification_id):
            break  # the broker is down: the next sweep tries again
        sent += 1
    if ids:
        logger.info("pending e-mails queued again", extra={"pending": len(ids), "queued": sent})
    return sent


def notify_work_reviewed(
    *, learner: Learner, evidence_id: int, title: str, status_change_id: int, returned: bool
) -> None:
    """The learner's submission was scored or returned to revise (``status_change_id`` names
    the review, so a second review of the same work tells again, a repeat of one does not).
    The learner is told; their guardians see it in the app if they chose to."""
    if not learner.active:
        return
    kind = NotificationKind.WORK_RETURNED if returned else NotificationKind.WORK_SCORED
    link = f"/evidence/{evidence_id}/"
    params = {"title": title}
    student = _student_of(learner)
    if student is not None:
        _tell(
            recipient=student,
            learner=learner,
            kind=kind,
            key=_key(kind, status_change_id, student.pk),
            params=params,
            link=link,
            guardian=False,
        )
    if not returned:
        for guardian in _guardians_of(learner.pk):
            _tell(
                recipient=guardian,
                learner=learner,
                kind=kind,
                key=_key(kind, status_change_id, guardian.pk),
                params={**params, "learner": learner.display_name},
                link=f"/portal/learners/{learner.pk}/",
                guardian=True,
            )


def notify_elective_decided(
    *, learner: Learner, choice_id: int, standard_code: str, approved: bool
) -> None:
    """A teacher approved or refused the learner's elective choice: the learner is told."""
    student = _student_of(learner)
    if student is None or not learner.active:
        return
    _tell(
        recipient=student,
        learner=learner,
        kind=NotificationKind.ELECTIVE_DECIDED,
        key=_key(NotificationKind.ELECTIVE_DECIDED, choice_id, student.pk),
        params={"standard": standard_code, "approved": approved},
        link="/standards/electives/mine/",
        guardian=False,
    )


def notify_standard_mastered(*, learner_id: int, standard_id: int) -> None:
    """The learner mastered a standard for the first time: the learner and their guardians are
    told once per standard, however often the record is recomputed. Call it from the recompute's
    transaction when a record turns mastered."""
    from standards.models import Standard

    learner = Learner.objects.filter(pk=learner_id, active=True).first()
    standard = Standard.objects.filter(pk=standard_id).values("human_code", "statement").first()
    if learner is None or standard is None:
        return
    params = {"code": standard["human_code"], "statement": standard["statement"][:300]}
    student = _student_of(learner)
    kind = NotificationKind.STANDARD_MASTERED
    if student is not None:
        _tell(
            recipient=student,
            learner=learner,
            kind=kind,
            key=_key(kind, learner_id, standard_id, student.pk),
            params=params,
            link="/portal/",
            guardian=False,
        )
    for guardian in _guardians_of(learner_id):
        _tell(
            recipient=guardian,
            learner=learner,
            kind=kind,
            key=_key(kind, learner_id, standard_id, guardian.pk),
            params={**params, "learner": learner.display_name},
            link=f"/portal/learners/{learner_id}/",
            guardian=True,
        )


@transaction.atomic
def mark_read(*, actor: AnyUser, ids: Iterable[int] | None = None) -> int:
    """Marks the actor's own notifications read (all of them when ``ids`` is None)."""
    unread = Notification.objects.filter(recipient_id=actor.pk, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


# --- the weekly digest -------------------------------------------------------------------------


def week_of(day: datetime.date) -> str:
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def _digest_params(learner: Learner, since: datetime.datetime) -> dict[str, Any]:
    from evidence.models import EvidenceStatus, EvidenceStatusChange
    from mastery.models import MasteryEvent
    from standards.models import Standard

    mastered_ids = list(
        MasteryEvent.objects.filter(
            learner_id=learner.pk, to_mastered=True, from_mastered=False, occurred_at__gte=since
        ).values_list("standard_id", flat=True)
    )
    codes = sorted(
        {
            code or statement[:40]
            for code, statement in Standard.objects.filter(
                pk__in=mastered_ids, is_grouping=False
            ).values_list("human_code", "statement")
        }
    )
    changes = EvidenceStatusChange.objects.filter(
        evidence__learner_id=learner.pk, changed_at__gte=since
    ).exclude(evidence__removal__isnull=False)
    return {
        "learner": learner.display_name,
        "mastered": codes,
        "scored": changes.filter(status=EvidenceStatus.SCORED).count(),
        "returned": changes.filter(status=EvidenceStatus.RETURNED).count(),
        "submitted": changes.filter(status=EvidenceStatus.SUBMITTED).count(),
    }


def queue_weekly_digests(*, today: datetime.date | None = None) -> int:
    """One digest per opted-in guardian per currently linked, active child for the week
    ending ``today`` (idempotent: a second run in the same week adds nothing). Returns how many
    were created; their e-mails are queued after each commit."""
    day = today or timezone.localdate()
    since = timezone.make_aware(
        datetime.datetime.combine(day - datetime.timedelta(days=7), datetime.time.min)
    )
    linked = GuardianLink.objects.filter(
        current_q(day), guardian_id=OuterRef("guardian_id"), learner_id=OuterRef("learner_id")
    )
    subscriptions = (
        DigestSubscription.objects.filter(
            Exists(linked), guardian__is_active=True, learner__active=True
        )
        .select_related("guardian", "learner")
        .order_by("pk")
    )
    created = 0
    week = week_of(day)
    for subscription in subscriptions:
        with transaction.atomic():
            made = _tell(
                recipient=subscription.guardian,
                learner=subscription.learner,
                kind=NotificationKind.WEEKLY_DIGEST,
                key=_key("digest", subscription.guardian_id, subscription.learner_id, week),
                params={**_digest_params(subscription.learner, since), "week": week},
                link=f"/portal/learners/{subscription.learner_id}/",
                guardian=True,
            )
            created += made is not None
    logger.info("weekly digests queued", extra={"digests": created})
    return created


# --- rendering and sending ---------------------------------------------------------------------


def render_text(notification: Notification) -> tuple[str, str]:
    """(subject, body) in the active language."""
    p = notification.params
    kind = notification.kind
    if kind == NotificationKind.WORK_SCORED:
        if "learner" in p:
            subject = _("%(learner)s's work was scored: %(title)s") % p
        else:
            subject = _("Your work was scored: %(title)s") % p
        body = _("A teacher scored the work and its levels now count toward mastery.")
    elif kind == NotificationKind.WORK_RETURNED:
        subject = _("Your work came back to revise: %(title)s") % p
        body = _("Your teacher returned it with a comment. Open it to see what to change.")
    elif kind == NotificationKind.ELECTIVE_DECIDED:
        if p.get("approved"):
            subject = _("Your elective choice was approved: %(standard)s") % p
            body = _("This standard is now one of your requirements.")
        else:
            subject = _("Your elective choice was not approved: %(standard)s") % p
            body = _("Talk with your teacher and choose another one.")
    elif kind == NotificationKind.STANDARD_MASTERED:
        if "learner" in p:
            subject = _("%(learner)s mastered %(code)s") % p
        else:
            subject = _("You mastered %(code)s") % p
        body = str(p.get("statement", ""))
    else:
        subject = _("This week for %(learner)s") % p
        lines = []
        mastered = p.get("mastered") or []
        if mastered:
            lines.append(
                _("Standards mastered this week: %(codes)s.") % {"codes": ", ".join(mastered)}
            )
        else:
            lines.append(_("No new standard mastered this week."))
        lines.append(
            _("Work scored: %(scored)s. Work returned to revise: %(returned)s.")
            % {"scored": p.get("scored", 0), "returned": p.get("returned", 0)}
        )
        lines.append(_("Work handed in: %(submitted)s.") % {"submitted": p.get("submitted", 0)})
        body = "\n".join(lines)
    return subject, body


def _allowed_still(notification: Notification) -> bool:
    """At sending time: the recipient and the learner are active, and a guardian still linked."""
    recipient = notification.recipient
    learner = notification.learner
    if not recipient.is_active or not learner.active or not recipient.email:
        return False
    if learner.user_id == recipient.pk:
        return True
    return GuardianLink.objects.filter(
        current_q(), guardian_id=recipient.pk, learner_id=learner.pk
    ).exists()


def send_notification_email(*, notification_id: int) -> bool:
    """Sends a notification's e-mail once. Locks the row; does nothing unless it is pending;
    skips it (and says so in the row) when the person no longer may or wants to receive it;
    else sends through Django's mail framework and marks it sent in the same transaction. An
    SMTP error rolls back and propagates (the task retries). Returns whether it sent."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("recipient", "learner")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or notification.email_state != EmailState.PENDING:
            return False
        recipient = notification.recipient
        guardian = notification.learner.user_id != recipient.pk
        _in_app, wanted = choices_of(recipient, guardian=guardian).wants(notification.kind)
        if not wanted or not _allowed_still(notification):
            notification.email_state = EmailState.SKIPPED
            notification.save(update_fields=["email_state"])
            return False
        language = language_of(recipient.pk) or settings.LANGUAGE_CODE
        with translation.override(language):
            subject, body = render_text(notification)
            context = {
                "subject": subject,
                "body": body,
                "link": settings.SITE_URL.rstrip("/") + notification.link,
                "settings_link": settings.SITE_URL.rstrip("/") + "/portal/settings/",
            }
            text = render_to_string("notifications/email.txt", context)
        digest = hashlib.sha256(notification.key.encode()).hexdigest()[:32]
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            to=[recipient.email],
            headers={"Message-ID": f"<{digest}@notifications.mastery>"},
        )
        message.send()
        notification.email_state = EmailState.SENT
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["email_state", "emailed_at"])
    logger.info("notification e-mailed", extra={"notification_id": notification_id})
    return True


def unread_count(user: AnyUser) -> int:
    return Notification.objects.filter(
        Q(recipient_id=user.pk), in_app=True, read_at__isnull=True
    ).count()
