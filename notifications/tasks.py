"""Celery entry points of the notifications app (ids in, one service call)."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task

from notifications import services


@shared_task(
    autoretry_for=(SMTPException, OSError),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def deliver_notification_email(notification_id: int) -> bool:
    """Sends one notification's e-mail at most once (see ``send_notification_email``)."""
    return services.send_notification_email(notification_id=notification_id)


@shared_task
def queue_weekly_digests() -> int:
    """The guardians' weekly digests (Celery beat, weekly); idempotent within a week."""
    return services.queue_weekly_digests()


@shared_task
def requeue_pending_emails() -> int:
    """The outbox's sweep (Celery beat): e-mails whose message was lost are queued again."""
    return services.requeue_pending_emails()
