"""A webhook endpoint is a node's URL seen as a receiver: a few slots in flight at once,
disabled after failing for days (with an event and a dashboard notice), enabled again from
the dashboard or the API."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox.events import scheduling
from sandbox.events.models import (
    Event,
    ScheduledAction,
    WebhookDelivery,
    WebhookEndpoint,
)
from sandbox.events.services import event_resend, outbox_relay, webhook_secret_current
from sandbox.events.slots import LocalSlots, RedisSlots, endpoint_slots
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory
from tests.helpers import error_code, pump, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked_node(alice, receiver):
    node = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=node).secret]
    return node


def first_attempt(event) -> ScheduledAction:
    delivery = WebhookDelivery.objects.get(event=event)
    return ScheduledAction.objects.get(key=f"webhook:{delivery.pk}:1")


# --- Slots -----------------------------------------------------------------------------------


def slot_stores():
    stores = [LocalSlots()]
    from django.conf import settings

    if settings.REDIS_URL:
        stores.append(RedisSlots(settings.REDIS_URL))
    return stores


@pytest.mark.parametrize("slots", slot_stores(), ids=lambda s: type(s).__name__)
def test_an_endpoint_has_at_most_its_limit_of_slots_and_a_dead_holders_slot_expires(slots):
    endpoint, ttl = f"test-{time.monotonic_ns()}", 0.6
    assert slots.acquire(endpoint, "a", limit=2, ttl=ttl).acquired
    time.sleep(0.2)
    assert slots.acquire(endpoint, "a", limit=2, ttl=ttl).acquired  # the same holder again
    assert slots.acquire(endpoint, "b", limit=2, ttl=ttl).acquired
    refused = slots.acquire(endpoint, "c", limit=2, ttl=ttl)
    assert not refused.acquired and 0.2 <= refused.oldest_age < 0.6  # a's, taken first
    assert slots.in_flight(endpoint, ttl=ttl) == 2
    assert slots.acquire(f"{endpoint}-other", "c", limit=2, ttl=ttl).acquired  # its own slots

    slots.release(endpoint, "b")
    assert slots.acquire(endpoint, "c", limit=2, ttl=ttl).acquired
    time.sleep(0.5)  # a's worker "died": its slot runs out
    assert slots.acquire(endpoint, "d", limit=2, ttl=ttl).acquired
    assert slots.in_flight(endpoint, ttl=ttl) == 2  # c and d


def test_a_batch_over_a_slow_endpoints_limit_sends_nothing_and_the_sweep_delivers_it_later(
    hooked_node, receiver, settings
):
    settings.SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY = 2
    slots, endpoint = endpoint_slots(), str(hooked_node.pk)
    # Two attempts to this endpoint are in flight (a slow receiver): no slot is free.
    for holder in ("slow-1", "slow-2"):
        assert slots.acquire(endpoint, holder, limit=2, ttl=60).acquired
    event = record(hooked_node)
    pump()  # relays the event; the endpoint's task finds no slot (eager Celery)

    action = first_attempt(event)
    assert receiver.requests == []
    assert action.status == ScheduledAction.Status.PENDING and action.run_count == 0
    assert WebhookDelivery.objects.get(event=event).attempt_count == 0

    slots.release(endpoint, "slow-1")
    pump()
    assert receiver.event_ids == [str(event.pk)]
    assert WebhookDelivery.objects.get(event=event).status == WebhookDelivery.Status.SUCCEEDED
    assert slots.in_flight(endpoint, ttl=60) == 1  # slow-2's; the batch gave its slot back


def test_a_single_attempt_over_a_slow_endpoints_limit_is_deferred_not_dropped_then_delivered(
    hooked_node, receiver, settings
):
    """One attempt at a time, as a test clock's advance runs them."""
    settings.SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY = 2
    slots, endpoint = endpoint_slots(), str(hooked_node.pk)
    # Two attempts to this endpoint have been in flight for a while (a slow receiver).
    for holder in ("slow-1", "slow-2"):
        assert slots.acquire(endpoint, holder, limit=2, ttl=60).acquired
    time.sleep(1.1)
    event = record(hooked_node)
    outbox_relay()
    scheduling.action_run(action_id=first_attempt(event).pk)

    action = first_attempt(event)
    assert receiver.requests == []
    assert action.status == ScheduledAction.Status.PENDING and action.run_count == 0
    assert timezone.now() - action.enqueued_at > scheduling.REENQUEUE_AFTER - timedelta(seconds=15)
    assert WebhookDelivery.objects.get(event=event).attempt_count == 0

    # A slot frees; the attempt runs again.
    slots.release(endpoint, "slow-1")
    scheduling.action_run(action_id=action.pk)
    assert receiver.event_ids == [str(event.pk)]
    assert WebhookDelivery.objects.get(event=event).status == WebhookDelivery.Status.SUCCEEDED
    # slow-2 still holds one; the delivered attempt gave its slot back.
    assert slots.in_flight(endpoint, ttl=60) == 1


def test_a_single_attempt_to_a_quick_endpoint_waits_for_a_slot_instead_of_deferring(
    hooked_node, receiver, settings
):
    settings.SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY = 1
    slots, endpoint = endpoint_slots(), str(hooked_node.pk)
    assert slots.acquire(endpoint, "quick", limit=1, ttl=60).acquired
    event = record(hooked_node)
    outbox_relay()
    threading.Timer(0.2, slots.release, args=(endpoint, "quick")).start()

    scheduling.action_run(action_id=first_attempt(event).pk)

    assert receiver.event_ids == [str(event.pk)]
    assert first_attempt(event).status == ScheduledAction.Status.DONE


# --- Disabled after failing for days ---------------------------------------------------------


def fail_for(node, days):
    WebhookEndpoint.objects.filter(node=node).update(
        failing_since=timezone.now() - timedelta(days=days)
    )


def test_an_endpoint_failing_for_the_configured_days_is_disabled_with_an_event(
    hooked_node, receiver, settings, alice
):
    settings.SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS = 3
    receiver.default = 500
    record(hooked_node)
    pump()
    endpoint = WebhookEndpoint.objects.get(node=hooked_node)
    assert endpoint.failing_since is not None and endpoint.disabled_at is None

    fail_for(hooked_node, days=2.9)
    record(hooked_node)
    pump()
    assert WebhookEndpoint.objects.get(node=hooked_node).disabled_at is None  # not yet

    fail_for(hooked_node, days=3)
    record(hooked_node)
    pump()

    endpoint = WebhookEndpoint.objects.get(node=hooked_node)
    assert endpoint.disabled_at is not None
    disabled = Event.objects.get(type="webhook_endpoint.disabled")
    assert disabled.node_id == hooked_node.pk and disabled.tenant_id == alice.tenant.pk
    assert disabled.data["status"] == "disabled" and disabled.data["url"] == receiver.url
    assert disabled.data["failing_since"] == endpoint.failing_since.isoformat()

    # Disabled: new events make no delivery; a retry still pending fails without a request.
    seen = len(receiver.requests)
    later = record(hooked_node)
    pump()
    assert not WebhookDelivery.objects.filter(event=later).exists()
    retry = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).first()
    ScheduledAction.objects.filter(key__startswith=f"webhook:{retry.pk}:").update(
        due_at=timezone.now() - timedelta(seconds=1), enqueued_at=None
    )
    pump()
    retry.refresh_from_db()
    assert retry.status == WebhookDelivery.Status.FAILED
    assert "disabled" in retry.last_error
    assert len(receiver.requests) == seen

    # The API and the dashboard say so.
    body = alice.api.get(f"/api/v1/nodes/{hooked_node.pk}/webhook_endpoint").json()
    assert body["status"] == "disabled" and body["disabled_at"]
    page = alice.web.get("/events/").content.decode()
    assert "webhook endpoint of" in page and "was disabled" in page
    response = alice.api.post(f"/api/v1/events/{later.pk}/resend")
    assert response.status_code == 409 and error_code(response) == "webhook_endpoint_disabled"


def test_a_success_forgets_the_failures(hooked_node, receiver, settings):
    receiver.script = [500]
    record(hooked_node)
    pump()
    fail_for(hooked_node, days=2)
    record(hooked_node)  # 200 this time
    pump()
    assert WebhookEndpoint.objects.get(node=hooked_node).failing_since is None


def disable(node):
    WebhookEndpoint.objects.update_or_create(
        node=node,
        defaults={
            "failing_since": timezone.now() - timedelta(days=4),
            "disabled_at": timezone.now(),
        },
    )


def test_enabling_from_the_api_delivers_new_events_again(hooked_node, receiver, alice):
    disable(hooked_node)

    response = alice.api.post(f"/api/v1/nodes/{hooked_node.pk}/webhook_endpoint/enable")

    assert response.status_code == 200
    assert response.json() == {
        "object": "webhook_endpoint",
        "node": str(hooked_node.pk),
        "url": receiver.url,
        "status": "enabled",
        "failing_since": None,
        "disabled_at": None,
    }
    enabled = Event.objects.get(type="webhook_endpoint.enabled")
    assert enabled.data["status"] == "enabled"
    event = record(hooked_node)
    pump()
    assert str(event.pk) in receiver.event_ids
    assert str(enabled.pk) in receiver.event_ids  # the enabling itself is delivered too

    again = alice.api.post(f"/api/v1/nodes/{hooked_node.pk}/webhook_endpoint/enable")
    assert again.status_code == 200
    assert Event.objects.filter(type="webhook_endpoint.enabled").count() == 1  # no change


def test_enabling_from_the_dashboard(hooked_node, alice):
    disable(hooked_node)
    page = alice.web.get(f"/webhooks/nodes/{hooked_node.pk}/").content.decode()
    assert "Enable the endpoint" in page

    response = alice.web.post(f"/webhooks/nodes/{hooked_node.pk}/enable/")

    assert response.status_code == 302
    assert WebhookEndpoint.objects.get(node=hooked_node).disabled_at is None
    assert "was disabled" not in alice.web.get("/events/").content.decode()


def test_an_event_can_be_resent_to_an_enabled_endpoint(hooked_node, receiver):
    event = record(hooked_node)
    pump()
    delivery = event_resend(event=event, actor=SYSTEM)
    assert delivery.is_manual
