"""Test clocks and the platform clock: what is due runs when the node's time passes it."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from sandbox import clock
from sandbox.errors import ApplicationError, Conflict
from sandbox.events import clocks, scheduling
from sandbox.events.clocks import (
    platform_clock_advance,
    platform_clock_freeze,
    platform_clock_reset,
    platform_clock_resume,
)
from sandbox.events.models import Event, ScheduledAction, TestClock, WebhookDelivery
from sandbox.events.services import outbox_relay, webhook_secret_current
from sandbox.events.webhooks import MAX_BACKOFF_SECONDS
from sandbox.tenants.services import SYSTEM, Actor
from tests.factories import NodeFactory
from tests.helpers import record

pytestmark = pytest.mark.django_db

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
seen: list[tuple[str, datetime]] = []


@scheduling.handler("tests.note_time")
def _note_time(action):
    seen.append((action.payload["label"], clock.now(node_id=action.node_id)))


@pytest.fixture(autouse=True)
def _clear_seen():
    seen.clear()


@pytest.fixture
def clock_with_node(alice):
    node = NodeFactory(tenant=alice.tenant)
    test_clock = clocks.test_clock_create(
        tenant=alice.tenant, actor=SYSTEM, name="Q1", frozen_time=START
    )
    clocks.test_clock_attach(clock=test_clock, node=node, actor=SYSTEM)
    outbox_relay()  # the attach event, relayed while the node has no webhook URL yet
    return test_clock, node


def advance(test_clock, to):
    clocks.test_clock_advance(clock=test_clock, to=to, actor=SYSTEM)
    # The task the advance queues after commit; the test's transaction never commits.
    assert clocks.test_clock_run_advance(clock_id=test_clock.pk)
    test_clock.refresh_from_db()


def test_it_gives_attached_nodes_the_clocks_time_and_others_real_time(clock_with_node, alice):
    _, node = clock_with_node
    other = NodeFactory(tenant=alice.tenant)

    assert clock.now(node_id=node.pk) == START
    assert abs(clock.now(node_id=other.pk) - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_test_clock_runs_the_three_day_webhook_retry_schedule_in_seconds(
    clock_with_node, receiver
):
    test_clock, node = clock_with_node
    node.webhook_url = receiver.url
    node.save()
    receiver.secrets = [webhook_secret_current(node=node).secret]
    receiver.default = 500
    event = record(node)
    outbox_relay()
    started = time.monotonic()

    advance(test_clock, START + timedelta(days=4))

    assert time.monotonic() - started < 60
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == WebhookDelivery.Status.FAILED
    times = [a.clock_time for a in delivery.attempts.order_by("number")]
    assert times[0] == START
    assert times[-1] == START + timedelta(days=3)  # the last retry lands on the deadline
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    for number, gap in enumerate(gaps[:-1], start=1):
        base = min(60 * 2 ** (number - 1), MAX_BACKOFF_SECONDS)
        assert 0.75 * base <= gap < 1.25 * base, (number, gap)
    assert 12 <= len(times) <= 20
    assert receiver.event_ids.count(str(event.pk)) == len(times)
    # Everything else the receiver got is the node's daily statements, one per midnight.
    others = {r.json["type"] for r in receiver.requests if r.json["id"] != str(event.pk)}
    assert others == {"balance.end_of_day"}
    assert all(r.verified for r in receiver.requests)
    assert test_clock.status == TestClock.Status.READY
    assert test_clock.frozen_time == START + timedelta(days=4)
    assert Event.objects.filter(type="test_clock.ready", object_id=str(test_clock.pk)).exists()


def test_the_retry_schedule_stops_early_once_the_receiver_recovers(clock_with_node, receiver):
    test_clock, node = clock_with_node
    node.webhook_url = receiver.url
    node.save()
    receiver.script = [500, 500, 500]
    event = record(node)
    outbox_relay()

    advance(test_clock, START + timedelta(hours=1))

    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert [a.status_code for a in delivery.attempts.order_by("number")] == [500, 500, 500, 200]


def test_advancing_runs_due_actions_in_order_at_their_own_times(clock_with_node, alice):
    test_clock, node = clock_with_node
    for label, hours in (("late", 5), ("early", 1), ("beyond", 30)):
        scheduling.schedule(
            kind="tests.note_time",
            node=node,
            due_at=START + timedelta(hours=hours),
            payload={"label": label},
        )

    scheduling.sweep()  # real time is far past, but this node lives at START
    assert seen == []

    advance(test_clock, START + timedelta(days=1))

    assert seen == [("early", START + timedelta(hours=1)), ("late", START + timedelta(hours=5))]
    assert ScheduledAction.objects.filter(status="pending", payload__label="beyond").exists()


def test_a_node_detached_from_its_clock_returns_to_real_time(clock_with_node):
    test_clock, node = clock_with_node
    clocks.test_clock_detach(clock=test_clock, node=node, actor=SYSTEM)
    assert clock.now(node_id=node.pk) > START + timedelta(days=100)


def test_clocks_only_move_forward_and_one_advance_at_a_time(clock_with_node):
    test_clock, node = clock_with_node
    with pytest.raises(ApplicationError) as refused:
        clocks.test_clock_advance(clock=test_clock, to=START - timedelta(seconds=1), actor=SYSTEM)
    assert refused.value.code == "clock_backwards"

    clocks.test_clock_advance(clock=test_clock, to=START + timedelta(hours=1), actor=SYSTEM)
    with pytest.raises(Conflict):
        clocks.test_clock_advance(clock=test_clock, to=START + timedelta(hours=2), actor=SYSTEM)
    with pytest.raises(Conflict):
        clocks.test_clock_detach(clock=test_clock, node=node, actor=SYSTEM)
    assert clocks.test_clock_run_advance(clock_id=test_clock.pk) is True
    assert clocks.test_clock_run_advance(clock_id=test_clock.pk) is False  # nothing left to claim


def test_a_node_follows_one_clock_at_most(clock_with_node, alice):
    _, node = clock_with_node
    second = clocks.test_clock_create(tenant=alice.tenant, actor=SYSTEM, name="other")
    with pytest.raises(Conflict) as refused:
        clocks.test_clock_attach(clock=second, node=node, actor=SYSTEM)
    assert refused.value.code == "node_on_clock"


def test_the_platform_clock_moves_nodes_without_a_test_clock(alice, operator):
    node = NodeFactory(tenant=alice.tenant)
    ops = Actor(user=operator)
    scheduling.schedule(
        kind="tests.note_time",
        node=node,
        due_at=clock.now(node_id=node.pk) + timedelta(hours=2),
        payload={"label": "two hours"},
    )
    scheduling.sweep()
    assert seen == []

    platform_clock_advance(actor=ops, seconds=3 * 3600)
    scheduling.sweep()

    assert [label for label, _ in seen] == ["two hours"]
    assert clock.now() - datetime.now(UTC) > timedelta(hours=2, minutes=59)

    platform_clock_freeze(actor=ops)
    frozen = clock.now()
    time.sleep(0.01)
    assert clock.now() == frozen
    platform_clock_resume(actor=ops)
    assert clock.now() > frozen
    platform_clock_reset(actor=ops)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_only_operators_move_the_platform_clock(alice):
    with pytest.raises(ApplicationError) as refused:
        platform_clock_advance(actor=Actor(user=alice.owner), seconds=60)
    assert refused.value.code == "operator_only"
