"""Retention: old events go with their deliveries and attempts, in batches, oldest first;
whatever is still under way stays (sandbox.events.retention, docs/scaling.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from sandbox.events import retention
from sandbox.events.models import Event, WebhookAttempt, WebhookDelivery
from sandbox.events.tasks import purge_old_events
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def node():
    return NodeFactory(webhook_url="https://hooks.example.com/in")


def an_event(node, *, days_old: float, relayed: bool = True) -> Event:
    created = NOW - timedelta(days=days_old)
    return Event.objects.create(
        tenant=node.tenant,
        node=node,
        type="ledger_transfer.posted",
        occurred_at=created,
        created_at=created,
        relayed_at=created + timedelta(seconds=1) if relayed else None,
    )


def a_delivery(event, *, status="succeeded", days_old: float | None = None, attempts=1):
    created = event.created_at if days_old is None else NOW - timedelta(days=days_old)
    delivery = WebhookDelivery.objects.create(
        tenant=event.tenant,
        node=event.node,
        event=event,
        url=event.node.webhook_url,
        status=status,
        attempt_count=attempts,
        expires_at=created + timedelta(days=3),
        created_at=created,
    )
    for number in range(1, attempts + 1):
        WebhookAttempt.objects.create(
            delivery=delivery, number=number, clock_time=created, url=delivery.url
        )
    return delivery


def purge(**kwargs) -> int:
    return retention.events_purge(cutoff=NOW - timedelta(days=30), **kwargs)


def test_old_delivered_events_go_with_their_deliveries_and_attempts(node):
    # given: an event of 40 days ago, delivered after three attempts, and one never sent
    delivered = an_event(node, days_old=40)
    a_delivery(delivered, status="failed", attempts=3)
    quiet = an_event(node, days_old=31)

    # when
    gone = purge()

    # then
    assert gone == 2
    assert not Event.objects.filter(pk__in=[delivered.pk, quiet.pk]).exists()
    assert not WebhookDelivery.objects.exists()
    assert not WebhookAttempt.objects.exists()


def test_events_younger_than_the_cutoff_stay(node):
    young = an_event(node, days_old=29)
    a_delivery(young)

    assert purge() == 0
    assert Event.objects.filter(pk=young.pk).exists()
    assert WebhookAttempt.objects.filter(delivery__event=young).count() == 1


def test_an_event_still_in_the_outbox_stays(node):
    waiting = an_event(node, days_old=40, relayed=False)

    assert purge() == 0
    assert Event.objects.filter(pk=waiting.pk).exists()


def test_an_event_whose_delivery_is_pending_stays_with_all_its_deliveries(node):
    # given: an old event; one delivery done, another still retrying
    event = an_event(node, days_old=40)
    a_delivery(event, status="succeeded")
    a_delivery(event, status="pending", attempts=2)

    assert purge() == 0
    assert WebhookDelivery.objects.filter(event=event).count() == 2
    assert WebhookAttempt.objects.filter(delivery__event=event).count() == 3


def test_an_old_event_resent_since_the_cutoff_stays(node):
    event = an_event(node, days_old=40)
    a_delivery(event)
    a_delivery(event, days_old=2)  # someone pressed "resend" two days ago

    assert purge() == 0
    assert Event.objects.filter(pk=event.pk).exists()


def test_the_purge_goes_in_batches_oldest_first(node):
    # given: five old events and a limit of two batches of two
    events = [an_event(node, days_old=35 + n) for n in range(5)]  # events[4] is the oldest
    for event in events:
        a_delivery(event)

    # when
    gone = purge(batch=2, max_batches=2)

    # then: the four oldest went, whole (deliveries and attempts with them)
    assert gone == 4
    assert list(Event.objects.values_list("pk", flat=True)) == [events[0].pk]
    assert WebhookDelivery.objects.get().event_id == events[0].pk
    assert WebhookAttempt.objects.count() == 1

    # and the next run finishes the job
    assert purge(batch=2) == 1
    assert not Event.objects.exists()


def test_a_batch_leaves_alone_what_became_busy_before_it_ran(node, monkeypatch):
    # given: the batch was chosen, then a resend made a pending delivery for one event
    busy, idle = an_event(node, days_old=41), an_event(node, days_old=40)
    chosen = [busy.pk, idle.pk]
    a_delivery(busy, status="pending", days_old=0)

    # when: the batch runs with the ids chosen before
    gone = retention._purge_batch(chosen, NOW - timedelta(days=30))

    # then: it checked again under lock
    assert gone == 1
    assert list(Event.objects.values_list("pk", flat=True)) == [busy.pk]


def test_the_setting_decides_how_old_is_old(node, settings):
    old, recent = an_event(node, days_old=11), an_event(node, days_old=9)

    settings.SANDBOX_EVENT_RETENTION_DAYS = 10
    assert retention.events_purge() == 1
    assert list(Event.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Event.objects.filter(pk=old.pk).exists()


def test_zero_days_keeps_every_event(node, settings):
    an_event(node, days_old=4000)
    settings.SANDBOX_EVENT_RETENTION_DAYS = 0

    assert retention.retention_cutoff() is None
    assert retention.events_purge() == 0
    assert Event.objects.count() == 1


def test_the_default_is_thirty_days(node):
    from django.conf import settings

    assert settings.SANDBOX_EVENT_RETENTION_DAYS == 30
    cutoff = retention.retention_cutoff(now=NOW)
    assert cutoff == NOW - timedelta(days=30)


def test_beat_runs_the_purge_nightly(node, settings):
    # given: the schedule the migration made
    task = PeriodicTask.objects.get(task=retention.PURGE_TASK)
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("4", "30")

    # when: beat fires it
    an_event(node, days_old=31)
    settings.SANDBOX_EVENT_RETENTION_DAYS = 30
    assert purge_old_events.delay().get() == 1

    # then
    assert not Event.objects.exists()
