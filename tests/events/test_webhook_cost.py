"""What webhook attempts cost the database on PostgreSQL (issue 12): a fixed number of
statements per batch of one endpoint's attempts, whatever the ORM would build. Counts, not
timings: they are deterministic."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sandbox.events import queue, tasks
from sandbox.events.models import ScheduledAction, WebhookDelivery
from sandbox.events.services import outbox_relay, webhook_secret_current
from tests.factories import NodeFactory
from tests.helpers import record

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the single-statement paths are PostgreSQL's"
    ),
]


def queued_attempts(node, receiver, count: int) -> None:
    """``count`` events for a hooked node, relayed: their first attempts wait as actions."""
    receiver.secrets = [webhook_secret_current(node=node).secret]
    for _ in range(count):
        record(node)
    outbox_relay()


@pytest.fixture
def hooked_node(alice, receiver, celery_eager, monkeypatch):
    """Publishing a task is a no-op (a worker, not this test, would run them)."""
    celery_eager.conf.task_always_eager = False
    monkeypatch.setattr(queue, "enqueue", lambda *args, **kwargs: True)
    return NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)


def _statements(node) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        tasks.deliver_endpoint_webhooks(str(node.pk))
    return [q["sql"] for q in queries.captured_queries]


def test_a_batch_of_attempts_takes_two_statements(hooked_node, receiver):
    queued_attempts(hooked_node, receiver, 3)

    statements = _statements(hooked_node)

    # claim the batch with everything it needs; record attempts, deliveries, actions
    assert len(statements) == 2, statements
    assert len(receiver.requests) == 3 and all(r.verified for r in receiver.requests)
    assert WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SUCCEEDED).count() == 3
    attempts = ScheduledAction.objects.filter(kind="webhook.attempt")
    assert not attempts.exclude(status=ScheduledAction.Status.DONE).exists()


def test_a_backlog_goes_in_batches_of_half_the_endpoints_slots(hooked_node, receiver, settings):
    settings.SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY = 4
    queued_attempts(hooked_node, receiver, 5)

    statements = _statements(hooked_node)

    # batches of 2, 2 and 1: two statements each, then it stops (fewer than it asked for)
    assert len(statements) == 6, statements
    assert WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SUCCEEDED).count() == 5


def test_failed_attempts_schedule_their_retries_in_the_same_statements(hooked_node, receiver):
    queued_attempts(hooked_node, receiver, 2)
    receiver.script = [500]

    statements = _statements(hooked_node)

    assert len(statements) == 2, statements
    failed = WebhookDelivery.objects.get(status=WebhookDelivery.Status.PENDING)
    assert failed.attempt_count == 1 and failed.last_status_code == 500
    retry = ScheduledAction.objects.get(key=f"webhook:{failed.pk}:2")
    assert retry.payload == {"delivery": str(failed.pk), "attempt": 2}
    assert retry.due_at == failed.next_attempt_at and retry.status == "pending"
    assert retry.node_id == hooked_node.pk and retry.tenant_id == hooked_node.tenant_id
