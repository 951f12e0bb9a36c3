"""The transactional outbox: an event exists exactly when its change commits, and a broker
outage delays webhooks without losing any."""

from __future__ import annotations

import pytest
from django.db import transaction

from sandbox.events import scheduling
from sandbox.events.models import Event, ScheduledAction, WebhookDelivery
from sandbox.events.services import (
    NewEvent,
    event_record,
    events_record,
    outbox_relay,
    webhook_secret_current,
)
from sandbox.events.tasks import relay_outbox
from tests.factories import NodeFactory, TenantFactory
from tests.helpers import pump, record
from tests.worker import UNREACHABLE_BROKER, point_celery_at, wait_for


@pytest.fixture
def hooked_node(db, receiver):
    node = NodeFactory(tenant=TenantFactory(), webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=node).secret]
    return node


@pytest.mark.django_db
def test_an_event_rolls_back_with_its_change(hooked_node):
    with pytest.raises(RuntimeError), transaction.atomic():
        event_record(tenant=None, node=hooked_node, type="payment.succeeded", data={})
        raise RuntimeError("the change failed")
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_events_recorded_together_may_have_no_node(hooked_node):
    """A person's event without a node: NULL, not the text "None" (which PostgreSQL
    refused as a uuid)."""
    tenant = hooked_node.tenant
    with transaction.atomic():
        events_record(
            [
                NewEvent(node_id=None, tenant_id=tenant.pk, type="person.created"),
                NewEvent(node_id=hooked_node.pk, tenant_id=tenant.pk, type="node.updated"),
            ]
        )
    stored = {e.type: (e.tenant_id, e.node_id) for e in Event.objects.order_by("created_at")}
    assert stored["person.created"] == (tenant.pk, None)
    assert stored["node.updated"] == (tenant.pk, hooked_node.pk)


@pytest.mark.django_db(transaction=True)
def test_event_record_refuses_to_run_outside_a_transaction(hooked_node):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        event_record(tenant=None, node=hooked_node, type="payment.succeeded", data={})


@pytest.mark.django_db(transaction=True)
def test_events_wait_while_the_broker_is_down_and_go_out_once_it_is_back(
    hooked_node, receiver, broker_down, caplog
):
    # given: the broker is unreachable while three changes commit
    events = [record(hooked_node, data={"n": n}) for n in range(3)]

    # then: every change committed with its event, nothing was sent, nothing was lost
    assert "Could not queue events.relay_outbox" in caplog.text
    assert Event.objects.filter(relayed_at__isnull=True).count() == 3
    assert receiver.requests == []

    # when: the broker is back and beat runs the relay
    broker_down()
    relay_outbox.delay()

    # then: each event arrives once, signed, and running everything again changes nothing
    assert sorted(receiver.event_ids) == sorted(str(e.pk) for e in events)
    pump()
    assert len(receiver.requests) == 3
    assert all(r.verified for r in receiver.requests)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


@pytest.mark.django_db(transaction=True)
def test_deliveries_queued_while_the_broker_is_down_go_out_at_the_next_sweep(
    hooked_node, receiver, broker_down
):
    # given: the relay ran (the database is fine) but the broker refused the first attempts
    event = record(hooked_node)
    assert outbox_relay() == 1
    action = ScheduledAction.objects.get(kind="webhook.attempt")
    assert action.status == "pending" and action.enqueued_at is None
    assert receiver.requests == []

    # when: the broker is back and beat sweeps
    broker_down()
    scheduling.sweep()
    scheduling.sweep()

    # then
    assert receiver.event_ids == [str(event.pk)]
    action.refresh_from_db()
    assert action.status == "done"


@pytest.mark.postgres
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_deliver_what_piled_up_while_the_broker_was_down(
    hooked_node,
    receiver,
    celery_eager,
    start_worker,
):
    app = celery_eager
    saved = app.conf.broker_url
    point_celery_at(app, UNREACHABLE_BROKER, eager=False)
    events = [record(hooked_node, data={"n": n}) for n in range(3)]
    assert Event.objects.filter(relayed_at__isnull=True).count() == 3
    point_celery_at(app, saved, eager=True)

    # The broker is back: a worker with beat starts, and nobody nudges it.
    worker = start_worker(beat=True)

    wait_for(
        lambda: len(receiver.requests) >= 3,
        timeout=60,
        message=f"Nothing delivered. Worker log:\n{worker.output()[-3000:]}",
    )
    assert sorted(receiver.event_ids) == sorted(str(e.pk) for e in events)
    assert all(r.verified for r in receiver.requests)
    assert not Event.objects.filter(relayed_at__isnull=True).exists()


def test_a_busy_process_nudges_the_relay_at_most_twice_a_second(monkeypatch, celery_eager):
    from types import SimpleNamespace

    from sandbox.events import queue, services

    sent = []
    monkeypatch.setattr(queue, "enqueue", lambda name, *args: sent.append(name) or True)
    monkeypatch.setattr(services, "_last_nudge", -services.NUDGE_INTERVAL)
    celery_eager.conf.task_always_eager = False  # restored by the fixture
    clock = iter([100.0, 100.1, 100.4, 100.6])
    monkeypatch.setattr(services, "time", SimpleNamespace(monotonic=lambda: next(clock)))

    for _ in range(4):
        services._nudge_relay()

    assert sent == ["events.relay_outbox", "events.relay_outbox"]  # at 100.0 and at 100.6
