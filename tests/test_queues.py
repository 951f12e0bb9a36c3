"""Work queues that cannot block each other: every task has a queue, chosen in settings,
and the bank's scheduled actions never share one with webhook attempts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from sandbox.celery import app
from sandbox.events import queue, scheduling
from sandbox.events.models import ScheduledAction
from tests.factories import NodeFactory

QUEUES = {"default", "bank", "webhooks", "clearing"}


def route_of(name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def our_tasks() -> list[str]:
    app.loader.import_default_modules()  # what a worker imports at start: every tasks module
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def test_the_work_queues_are_declared_and_the_default_is_one_of_them():
    assert {q.name for q in app.conf.task_queues} == QUEUES
    assert app.conf.task_default_queue == "default"


def test_every_task_of_ours_has_a_route_to_a_known_queue():
    assert len(our_tasks()) >= 17  # the events, wallets and clearing tasks are all loaded
    for name in our_tasks():
        routed = [
            route
            for pattern, route in settings.CELERY_TASK_ROUTES.items()
            if pattern == name or (pattern.endswith("*") and name.startswith(pattern[:-1]))
        ]
        assert routed, f"{name} has no entry in CELERY_TASK_ROUTES"
        assert route_of(name) in QUEUES, name


@pytest.mark.parametrize(
    ("task", "queue_name"),
    [
        ("events.run_scheduled_action", "bank"),
        ("events.sweep_due_actions", "bank"),
        ("events.advance_test_clock", "bank"),
        ("wallets.tasks.expire_hold", "bank"),
        ("events.relay_outbox", "webhooks"),
        ("events.deliver_webhook", "webhooks"),
        ("events.deliver_endpoint_webhooks", "webhooks"),
        ("clearing.tasks.close_day", "clearing"),
        ("clearing.tasks.settle_due_windows", "clearing"),
        ("wallets.tasks.purge_idempotency_keys", "default"),
        ("wallets.tasks.fold_account_days", "default"),
    ],
)
def test_bank_work_webhooks_and_clearing_each_have_their_queue(task, queue_name):
    assert route_of(task) == queue_name


def test_webhook_attempts_run_through_the_webhook_task_and_bank_actions_through_the_bank_task():
    ours = {
        kind: handler
        for kind, handler in scheduling._HANDLERS.items()
        if handler.func.__module__.startswith(("sandbox.", "wallets.", "clearing."))
    }  # tests register kinds of their own
    tasks = {kind: handler.task for kind, handler in ours.items()}
    assert tasks.pop("webhook.attempt") == "events.deliver_webhook"
    assert tasks and set(tasks.values()) == {"events.run_scheduled_action"}
    # every kind on the bank task is money work (its handler lives in wallets), or the
    # simulated checks of a KYC session, an outside party's answer timed like a bank's
    outside = ("wallets.", "sandbox.identities.verification.")
    assert all(ours[kind].func.__module__.startswith(outside) for kind in tasks)
    # ... and runs on the bank queue, never behind webhooks
    assert route_of("events.run_scheduled_action") == "bank"


@pytest.fixture
def published(monkeypatch):
    sent: list[tuple[str, tuple]] = []

    def fake_enqueue(task, *args, countdown=None):
        sent.append((task if isinstance(task, str) else task.name, args))
        return True

    monkeypatch.setattr(queue, "enqueue", fake_enqueue)
    return sent


def due_action(node, kind, n, payload=None):
    return ScheduledAction.objects.create(
        tenant=node.tenant,
        node=node,
        kind=kind,
        key=f"test:{n}",
        payload=payload or {},
        due_at=timezone.now() - timedelta(minutes=10) + timedelta(seconds=n),
    )


def test_a_backlog_of_webhook_attempts_leaves_the_sweep_room_for_bank_actions(db, alice, published):
    node = NodeFactory(tenant=alice.tenant)
    for n in range(30):  # older than the bank action, and more than the sweep's limit
        due_action(node, "webhook.attempt", n, {"delivery": "x", "attempt": 1})
    bank = due_action(node, "banknet.withdrawal_process", 100, {"withdrawal": "x"})

    scheduling.sweep(limit=5)

    assert ("events.run_scheduled_action", (bank.pk,)) in published
    assert ("events.deliver_endpoint_webhooks", (str(node.pk),)) in published
    assert route_of("events.deliver_endpoint_webhooks") != route_of("events.run_scheduled_action")


def test_a_sweep_queues_one_task_per_endpoint_with_due_attempts_however_many(db, alice, published):
    busy, other = NodeFactory(tenant=alice.tenant), NodeFactory(tenant=alice.tenant)
    for n in range(10):
        due_action(busy, "webhook.attempt", n, {"delivery": "x", "attempt": 1})
    due_action(other, "webhook.attempt", 50, {"delivery": "y", "attempt": 1})

    assert scheduling.sweep() == 2

    assert sorted(args for task, args in published) == sorted([(str(busy.pk),), (str(other.pk),)])
    assert {task for task, _ in published} == {"events.deliver_endpoint_webhooks"}


def test_the_relay_queues_one_task_per_endpoint_for_its_first_attempts(
    db, alice, published, django_capture_on_commit_callbacks
):
    from sandbox.events.services import outbox_relay
    from tests.helpers import record

    busy = NodeFactory(tenant=alice.tenant, webhook_url="https://hooks.example/busy")
    other = NodeFactory(tenant=alice.tenant, webhook_url="https://hooks.example/other")
    for _ in range(8):
        record(busy)
    record(other)

    with django_capture_on_commit_callbacks(execute=True):
        outbox_relay()

    assert sorted(published) == sorted(
        [
            ("events.deliver_endpoint_webhooks", (str(busy.pk),)),
            ("events.deliver_endpoint_webhooks", (str(other.pk),)),
        ]
    )
    assert ScheduledAction.objects.filter(kind="webhook.attempt", status="pending").count() == 9
