"""Notifications by e-mail through a real Celery worker and a local SMTP server (aiosmtpd).

The worker process reads ``EMAIL_HOST``/``EMAIL_PORT`` from its environment like production
(config/settings.py MAILERS), pointed here at an SMTP server the test starts on a free loopback
port. One worker for one test (starting a worker costs more than the rest): scoring sends one
message (and the recompute one more when it masters a standard), a retried task none more; the
weekly digest reaches only opted-in guardians, about their own children.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from evidence import services as evidence_services
from mastery import services as mastery_services
from notifications import services
from notifications.models import EmailState, Notification, NotificationKind
from notifications.tasks import deliver_notification_email, queue_weekly_digests
from tests.journeys.helpers import make_tree
from tests.personas import Cast, build_cast

pytestmark = pytest.mark.django_db(transaction=True)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    # The worker started after this (see the tests' argument order) inherits these.
    monkeypatch.setenv("EMAIL_HOST", "127.0.0.1")
    monkeypatch.setenv("EMAIL_PORT", str(port))
    monkeypatch.setenv("SITE_URL", "https://mastery.example.org")
    try:
        yield handler
    finally:
        controller.stop()


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def body_of(message: Message) -> str:
    part = message.get_payload(decode=True)
    assert isinstance(part, bytes)
    return part.decode()


def test_scoring_emails_the_learner_once_and_the_digest_reaches_only_opted_in_guardians(
    inbox: Inbox, celery_worker_process: Any
) -> None:
    cast: Cast = build_cast()
    tree = make_tree(domains=1, per_domain=1)
    submitted = evidence_services.submit_evidence(
        actor=cast.student,
        kind="project",
        title="Bridge of straws",
        description="A bridge.",
        demonstrated_at=cast.term.start_date,
    )
    evidence_services.review_submission(
        actor=cast.teacher,
        evidence=submitted,
        decision="score",
        scores={tree.standards[0].pk: 3},
        comment="Strong triangles.",
    )
    # The worker scores and recomputes: the level of 3 masters the standard, a second event.
    wait_for(lambda: len(inbox.messages) >= 2, "the learner's two e-mails")
    notification = Notification.objects.get(
        recipient=cast.student, kind=NotificationKind.WORK_SCORED
    )
    mastered = Notification.objects.get(
        recipient=cast.student, kind=NotificationKind.STANDARD_MASTERED
    )
    for told in (notification, mastered):
        wait_for(
            lambda told=told: Notification.objects.get(pk=told.pk).email_state == EmailState.SENT,
            "the notifications marked sent",
        )
    # The task delivered again (a retry, a duplicate message): nothing more is sent.
    for told in (notification, mastered):
        assert (
            deliver_notification_email.apply_async((told.pk,), ignore_result=False).get(timeout=30)
            is False
        )
        assert services.send_notification_email(notification_id=told.pk) is False
    # Another recompute of the same record tells nothing again.
    mastery_services.recompute_mastery(
        learner_id=cast.own.pk, standard_id=tree.standards[0].pk, force=True
    )
    assert len(inbox.messages) == 2
    assert Notification.objects.filter(recipient=cast.student).count() == 2
    by_subject = {message["Subject"]: message for message in inbox.messages}
    assert set(by_subject) == {
        "Your work was scored: Bridge of straws",
        f"You mastered {tree.standards[0].human_code}",
    }
    message = by_subject["Your work was scored: Bridge of straws"]
    assert message["To"] == cast.student.email
    assert f"https://mastery.example.org/evidence/{submitted.pk}/" in body_of(message)
    assert by_subject[f"You mastered {tree.standards[0].human_code}"]["To"] == cast.student.email
    # The guardian sees both in the app; they get no e-mail unless they choose it.
    assert {n.email_state for n in Notification.objects.filter(recipient=cast.guardian)} == {
        EmailState.SKIPPED
    }
    assert Notification.objects.filter(recipient=cast.guardian).count() == 2

    # --- the weekly digest (same worker: starting one costs more than the rest of the test) ---
    inbox.messages.clear()
    # The guardian opts in for their child and tries another learner: only their child stays.
    services.save_preferences(
        actor=cast.guardian,
        language="es",
        receive={},
        digests=[cast.own.pk, cast.same_section.pk, cast.other_school_learner.pk],
    )
    # The teacher who is also a guardian (of the other school's learner) opts in too.
    services.save_preferences(
        actor=cast.teacher_guardian,
        language="",
        receive={},
        digests=[cast.other_school_learner.pk],
    )
    # A guardian who never opted in, and an opted-in one whose login is then deactivated.
    from tests.factories import GuardianLinkFactory, UserFactory

    silent = UserFactory()
    GuardianLinkFactory(guardian=silent, learner=cast.same_section)
    gone = UserFactory()
    GuardianLinkFactory(guardian=gone, learner=cast.same_section)
    services.save_preferences(actor=gone, language="", receive={}, digests=[cast.same_section.pk])
    gone.is_active = False
    gone.save()

    assert queue_weekly_digests.apply_async(ignore_result=False).get(timeout=30) == 2
    wait_for(lambda: len(inbox.messages) >= 2, "two digests")
    # Running it again in the same week adds nothing.
    assert queue_weekly_digests.apply_async(ignore_result=False).get(timeout=30) == 0
    by_recipient = {message["To"]: message for message in inbox.messages}
    assert set(by_recipient) == {cast.guardian.email, cast.teacher_guardian.email}
    assert len(inbox.messages) == 2
    spanish = by_recipient[cast.guardian.email]
    assert spanish["Subject"] == f"Esta semana de {cast.own.display_name}"
    assert cast.same_section.display_name not in body_of(spanish)
    other = by_recipient[cast.teacher_guardian.email]
    assert other["Subject"] == f"This week for {cast.other_school_learner.display_name}"
