"""One endpoint's attempts in batches: claimed together, sent at once, recorded together;
a worker that dies mid-batch loses no event and makes no attempt twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from sandbox.events import webhook_batches
from sandbox.events.models import ScheduledAction, WebhookAttempt, WebhookDelivery
from sandbox.events.services import outbox_relay, webhook_secret_current
from tests.factories import NodeFactory
from tests.helpers import record

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="batches are PostgreSQL's"),
]


@pytest.fixture
def hooked_node(alice, receiver):
    node = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=node).secret]
    return node


class WorkerDied(BaseException):
    """The worker process ends here (a kill): nothing after this line runs."""


def deliver_due(node) -> int:
    return webhook_batches.endpoint_deliver_due(node_id=str(node.pk))


def attempt_actions(status: str):
    return ScheduledAction.objects.filter(kind="webhook.attempt", status=status)


def test_a_batch_sends_every_due_attempt_signed_and_records_each_as_the_dashboard_shows_it(
    hooked_node, receiver
):
    events = [record(hooked_node, data={"n": n}) for n in range(3)]
    outbox_relay()

    assert deliver_due(hooked_node) == 3

    assert sorted(receiver.event_ids) == sorted(str(e.pk) for e in events)
    assert all(r.verified for r in receiver.requests)
    for seen in receiver.requests:
        delivery = WebhookDelivery.objects.get(event_id=seen.json["id"])
        assert delivery.status == WebhookDelivery.Status.SUCCEEDED
        assert seen.headers["Sandbox-Delivery-Id"] == str(delivery.pk)
        assert seen.headers["Sandbox-Delivery-Attempt"] == "1"
        attempt = delivery.attempts.get()
        assert attempt.number == 1 and attempt.status_code == 200 and attempt.succeeded
        assert attempt.url == receiver.url and attempt.ip_address == "127.0.0.1"
        assert '"received": true' in attempt.response_excerpt
    assert not attempt_actions("pending").exists() and not attempt_actions("running").exists()


def test_a_worker_dying_mid_batch_loses_no_event_and_sends_each_at_most_once_more(
    hooked_node, receiver, monkeypatch
):
    events = [record(hooked_node) for _ in range(4)]
    outbox_relay()
    send_all = webhook_batches._send_concurrently

    def dies_after_two_requests(target, requests):
        send_all(target, requests[:2])
        raise WorkerDied

    monkeypatch.setattr(webhook_batches, "_send_concurrently", dies_after_two_requests)
    with pytest.raises(WorkerDied):
        deliver_due(hooked_node)
    monkeypatch.setattr(webhook_batches, "_send_concurrently", send_all)

    # Two requests went out, nothing was recorded; the four attempts stay claimed.
    assert len(receiver.requests) == 2
    assert not WebhookAttempt.objects.exists()
    assert attempt_actions("running").count() == 4
    # While their lease runs, no other worker makes them again.
    assert deliver_due(hooked_node) == 0
    assert len(receiver.requests) == 2

    # The lease runs out: each attempt is recorded as lost and retried with backoff.
    attempt_actions("running").update(lease_until=timezone.now() - timedelta(seconds=1))
    assert deliver_due(hooked_node) == 4
    assert len(receiver.requests) == 2
    lost = WebhookAttempt.objects.all()
    assert lost.count() == 4 and all("stopped" in a.error and a.number == 1 for a in lost)
    retries = attempt_actions("pending")
    assert sorted(r.payload["attempt"] for r in retries) == [2, 2, 2, 2]
    assert all(r.due_at > timezone.now() + timedelta(seconds=30) for r in retries)

    retries.update(due_at=timezone.now())
    assert deliver_due(hooked_node) == 4

    # Every event arrived; none more than twice (at least once, not "at least thrice").
    seen = Counter(receiver.event_ids)
    assert set(seen) == {str(e.pk) for e in events}
    assert sorted(seen.values()) == [1, 1, 2, 2]
    for delivery in WebhookDelivery.objects.all():
        assert delivery.status == WebhookDelivery.Status.SUCCEEDED
        assert [a.succeeded for a in delivery.attempts.all()] == [False, True]


def test_two_workers_on_one_endpoint_take_different_attempts(hooked_node, receiver, settings):
    settings.SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY = 4  # batches of two
    for _ in range(4):
        record(hooked_node)
    outbox_relay()
    first = webhook_batches._claim_batch(str(hooked_node.pk), 2)
    second = webhook_batches._claim_batch(str(hooked_node.pk), 2)

    assert first is not None and second is not None
    ids = [d.pk for _, d in first.claims + second.claims]
    assert len(set(ids)) == 4
    assert webhook_batches._claim_batch(str(hooked_node.pk), 2) is None  # nothing left


def test_a_failed_batch_keeps_the_backoff_and_an_endpoint_failing_for_days_is_disabled(
    hooked_node, receiver, settings
):
    settings.SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS = 3
    receiver.default = 503
    record(hooked_node)
    outbox_relay()

    deliver_due(hooked_node)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.PENDING
    gap = delivery.next_attempt_at - delivery.created_at
    assert 40 <= gap.total_seconds() <= 80  # one minute, jittered
    endpoint = hooked_node.webhook_endpoint
    assert endpoint.failing_since is not None and endpoint.disabled_at is None

    # Three days of failures later, the next failed batch disables the endpoint.
    endpoint.failing_since = timezone.now() - timedelta(days=3, seconds=1)
    endpoint.save()
    attempt_actions("pending").update(due_at=timezone.now())
    deliver_due(hooked_node)

    endpoint.refresh_from_db()
    assert endpoint.disabled_at is not None
    assert hooked_node.events.filter(type="webhook_endpoint.disabled").exists()


def test_a_batch_that_outran_its_lease_still_records_the_attempts_nobody_else_took(
    hooked_node, receiver, monkeypatch
):
    # given: four attempts in one batch, of which a second worker repairs two as lost
    # while the first is still sending (its lease ran out)
    [record(hooked_node) for _ in range(4)]
    outbox_relay()
    send_all = webhook_batches._send_concurrently

    def outran_its_lease(target, requests):
        outcomes = send_all(target, requests)
        expired = attempt_actions("running").order_by("due_at", "id")[:2]
        ScheduledAction.objects.filter(pk__in=[a.pk for a in expired]).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
        monkeypatch.setattr(webhook_batches, "_send_concurrently", send_all)
        assert webhook_batches._deliver_batch(str(hooked_node.pk), 2) == 2  # the repair
        return outcomes

    monkeypatch.setattr(webhook_batches, "_send_concurrently", outran_its_lease)

    # when
    deliver_due(hooked_node)

    # then: the repaired two are lost and due again; the other two succeeded, as sent
    deliveries = WebhookDelivery.objects.all()
    statuses = Counter(d.status for d in deliveries)
    assert statuses == {WebhookDelivery.Status.SUCCEEDED: 2, WebhookDelivery.Status.PENDING: 2}
    for delivery in deliveries:
        attempts = list(delivery.attempts.all())
        assert [a.number for a in attempts] == [1]
        assert attempts[0].succeeded == (delivery.status == WebhookDelivery.Status.SUCCEEDED)
    assert sorted(r.payload["attempt"] for r in attempt_actions("pending")) == [2, 2]
    assert not attempt_actions("running").exists()
