"""Who is told what, in the app and by e-mail (in-process; the worker test covers the task)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from mastery.models import MasteryRecord
from notifications import services
from notifications.models import EmailState, Notification, NotificationKind
from privacy import services as privacy
from tests.journeys.helpers import make_tree, quick_entry, run_worker
from tests.personas import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(shared_cast: Cast) -> Cast:
    return shared_cast


def _mastered(cast: Cast) -> list[Notification]:
    tree = make_tree(domains=1, per_domain=1)
    services.notify_standard_mastered(learner_id=cast.own.pk, standard_id=tree.standards[0].pk)
    services.notify_standard_mastered(learner_id=cast.own.pk, standard_id=tree.standards[0].pk)
    return list(Notification.objects.filter(kind=NotificationKind.STANDARD_MASTERED))


def test_a_mastered_standard_is_told_once_to_the_learner_and_their_guardian(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        told = _mastered(cast)
    assert {n.recipient_id for n in told} == {cast.student.pk, cast.guardian.pk}
    by_user = {n.recipient_id: n for n in told}
    assert by_user[cast.student.pk].email_state == EmailState.PENDING
    assert by_user[cast.guardian.pk].email_state == EmailState.SKIPPED  # guardians: app only
    assert len(callbacks) == 1  # one e-mail queued after commit, none before


def test_a_recompute_that_masters_a_standard_tells_it_once(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=2)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards[:1], "1")
    run_worker()
    assert not Notification.objects.filter(kind=NotificationKind.STANDARD_MASTERED).exists()
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "4")
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "4")
    run_worker()
    told = Notification.objects.filter(kind=NotificationKind.STANDARD_MASTERED)
    assert sorted((n.recipient_id, n.params["code"]) for n in told) == sorted(
        (user.pk, str(standard.human_code))
        for user in (cast.student, cast.guardian)
        for standard in tree.standards
    )
    # Mastered again, lost and mastered again: never told twice.
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "4")
    run_worker()
    for _ in range(4):
        quick_entry(cast.teacher, cast.section, [cast.own], tree.standards[:1], "1")
    run_worker()
    record = MasteryRecord.objects.get(learner=cast.own, standard=tree.standards[0])
    assert not record.mastered
    for _ in range(6):
        quick_entry(cast.teacher, cast.section, [cast.own], tree.standards[:1], "4")
    run_worker()
    record.refresh_from_db()
    assert record.mastered
    assert told.count() == 4


def test_nothing_is_sent_to_a_deactivated_login(cast: Cast) -> None:
    told = {n.recipient_id: n for n in _mastered(cast)}
    cast.student.is_active = False
    cast.student.save()
    assert services.send_notification_email(notification_id=told[cast.student.pk].pk) is False
    assert mail.outbox == []
    assert Notification.objects.get(pk=told[cast.student.pk].pk).email_state == EmailState.SKIPPED


def test_nothing_is_sent_about_an_erased_learner(cast: Cast) -> None:
    told = {n.recipient_id: n for n in _mastered(cast)}
    privacy.erase_learner(actor=None, learner_id=cast.own.pk)
    assert not Notification.objects.filter(pk=told[cast.student.pk].pk).exists()
    assert services.send_notification_email(notification_id=told[cast.student.pk].pk) is False
    assert mail.outbox == []


def test_each_person_chooses_what_they_receive(cast: Cast) -> None:
    services.save_preferences(
        actor=cast.student, language="", receive={"in_app_mastered": True}, digests=[]
    )
    services.save_preferences(actor=cast.guardian, language="", receive={}, digests=[])
    told = {n.recipient_id: n for n in _mastered(cast)}
    assert set(told) == {cast.student.pk}  # the guardian turned everything off
    assert told[cast.student.pk].email_state == EmailState.SKIPPED  # the app only
    assert told[cast.student.pk].in_app is True


def test_the_email_is_in_the_recipients_language(cast: Cast) -> None:
    services.save_preferences(
        actor=cast.student,
        language="es",
        receive={"email_mastered": True, "in_app_mastered": True},
        digests=[],
    )
    told = {n.recipient_id: n for n in _mastered(cast)}
    assert services.send_notification_email(notification_id=told[cast.student.pk].pk) is True
    assert [m.subject for m in mail.outbox] == [f"Dominaste {told[cast.student.pk].params['code']}"]
    assert services.send_notification_email(notification_id=told[cast.student.pk].pk) is False
    assert len(mail.outbox) == 1


def test_a_guardian_subscribes_only_to_their_own_children(cast: Cast) -> None:
    services.save_preferences(
        actor=cast.guardian,
        language="",
        receive={},
        digests=[cast.own.pk, cast.other_state_learner.pk],
    )
    assert list(cast.guardian.digest_subscriptions.values_list("learner_id", flat=True)) == [
        cast.own.pk
    ]


def test_the_sweep_queues_again_only_emails_pending_past_the_grace(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    told = {n.recipient_id: n for n in _mastered(cast)}
    sent: list[int] = []
    monkeypatch.setattr(
        services.queueing,
        "send",
        lambda task, notification_id: sent.append(notification_id) or True,
    )
    assert services.requeue_pending_emails() == 0  # just written: its own message may come
    later = timezone.now() + services.PENDING_GRACE + datetime.timedelta(seconds=1)
    assert services.requeue_pending_emails(now=later) == 1
    assert sent == [told[cast.student.pk].pk]  # the guardian's (app only) is not pending
    assert services.send_notification_email(notification_id=told[cast.student.pk].pk) is True
    assert services.requeue_pending_emails(now=later) == 0  # sent: nothing left to sweep


def test_the_sweep_stops_while_the_broker_is_down(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    _mastered(cast)
    monkeypatch.setattr(services.queueing, "send", lambda task, notification_id: False)
    later = timezone.now() + services.PENDING_GRACE + datetime.timedelta(seconds=1)
    assert services.requeue_pending_emails(now=later) == 0
