"""What one webhook attempt costs the database on PostgreSQL (issue 12): a fixed number of
statements, whatever the ORM would build. Counts, not timings: they are deterministic."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sandbox.events import queue, tasks
from sandbox.events.models import ScheduledAction, WebhookDelivery
from sandbox.events.services import outbox_relay, webhook_secret_current
from sandbox.events.slots import endpoint_slots
from tests.factories import NodeFactory
from tests.helpers import record

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the single-statement paths are PostgreSQL's"
    ),
]


@pytest.fixture
def queued_attempts(alice, receiver, celery_eager, monkeypatch):
    """Three events for a hooked node, relayed: their first attempts wait as actions, and
    publishing a task is a no-op (a worker, not this test, would run them)."""
    node = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=node).secret]
    celery_eager.conf.task_always_eager = False
    monkeypatch.setattr(queue, "enqueue", lambda *args, **kwargs: True)
    for _ in range(3):
        record(node)
    outbox_relay()
    actions = ScheduledAction.objects.filter(kind="webhook.attempt", node=node).order_by("pk")
    return node, list(actions.values_list("pk", flat=True))


def _statements(action_id: int) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert tasks.deliver_webhook(action_id)
    return [q["sql"] for q in queries.captured_queries]


def test_a_successful_attempt_takes_four_statements(queued_attempts, receiver):
    _, (first, *_) = queued_attempts

    statements = _statements(first)

    # claim the action, claim and load the delivery, record the outcome, finish the action
    assert len(statements) == 4, statements
    assert receiver.requests[0].verified
    assert WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SUCCEEDED).count() == 1


def test_an_attempt_that_pulls_the_endpoints_backlog_takes_one_more(queued_attempts):
    node, (first, second, third) = queued_attempts
    ScheduledAction.objects.filter(pk__in=[second, third]).update(enqueued_at=None)
    endpoint_slots().mark_backlog(str(node.pk), ttl=60)

    statements = _statements(first)

    assert len(statements) == 5, statements
    # the next due action was marked queued, one of them only
    queued = ScheduledAction.objects.filter(pk__in=[second, third], enqueued_at__isnull=False)
    assert list(queued.values_list("pk", flat=True)) == [second]
