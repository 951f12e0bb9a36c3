"""Each node's end of day: a ``balance.end_of_day`` statement at every midnight of its time
zone, on its test clock or on the platform clock, delivered like every event."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sandbox.events import clocks, scheduling
from sandbox.events.models import Event, PlatformClock, ScheduledAction
from sandbox.events.services import webhook_secret_current
from sandbox.tenants.models import Node
from sandbox.tenants.services import SYSTEM, Actor
from tests.factories import AccountFactory, NodeFactory, fund
from tests.helpers import pump
from tests.wallets.banknet.conftest import SEOUL
from wallets import services as ledger
from wallets.banknet import endofday
from wallets.banknet.models import EndOfDay
from wallets.services import TransferRequest
from wallets.verification import verify_ledger

pytestmark = pytest.mark.django_db


def statements(node) -> list[dict]:
    events = Event.objects.filter(node=node, type="balance.end_of_day").order_by("occurred_at")
    return [event.data for event in events]


def figures(statement: dict, account) -> tuple:
    """(opening, credits, debits, closing, transactions) of ``account`` that day."""
    (row,) = [row for row in statement["accounts"] if row["account"] == str(account.pk)]
    assert (row["currency"], row["account_number"]) == (account.currency, account.account_number)
    return (
        row["opening_balance"],
        row["credits"],
        row["debits"],
        row["closing_balance"],
        row["transaction_count"],
    )


def move(source, destination, amount: int) -> None:
    ledger.transfer_create(
        tenant=source.tenant,
        request=TransferRequest(
            source=source, destination=destination, amount=amount, currency=source.currency
        ),
    )


def test_advancing_a_test_clock_three_days_yields_three_statements(world, receiver):
    # given: the node's webhook goes to our receiver, and a second account in its wallet
    Node.objects.filter(pk=world.node.pk).update(webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=world.node).secret]
    savings = AccountFactory(node=world.node, name="Savings")
    outsider_node = NodeFactory(tenant=world.tenant)  # another node: not in this statement
    fund(AccountFactory(node=outsider_node), 999)

    # day 1 (Tuesday 4 March, Seoul): a bank deposit of 100,000 and 30,000 to savings
    world.fund(100_000)
    move(world.account, savings, 30_000)
    # when: the clock passes one midnight
    world.advance(timedelta(days=1))
    # day 2: 5,000 back from savings, twice 1,000
    move(savings, world.account, 5_000)
    move(savings, world.account, 1_000)
    move(savings, world.account, 1_000)
    # when: two more midnights at once
    world.advance(timedelta(days=2))

    # then: three statements, one per node-day, in order
    days = statements(world.node)
    assert [s["date"] for s in days] == ["2025-03-04", "2025-03-05", "2025-03-06"]
    first = days[0]
    assert first["time_zone"] == "Asia/Seoul"
    assert first["period_start"] == datetime(2025, 3, 4, tzinfo=SEOUL).isoformat()
    assert first["period_end"] == datetime(2025, 3, 5, tzinfo=SEOUL).isoformat()
    assert {row["account"] for row in first["accounts"]} == {
        str(world.account.pk),
        str(savings.pk),
    }
    assert figures(days[0], world.account) == ("0", "100000", "30000", "70000", 2)
    assert figures(days[0], savings) == ("0", "30000", "0", "30000", 1)
    assert figures(days[1], world.account) == ("70000", "7000", "0", "77000", 3)
    assert figures(days[1], savings) == ("30000", "0", "7000", "23000", 3)
    assert figures(days[2], world.account) == ("77000", "0", "0", "77000", 0)
    assert figures(days[2], savings) == ("23000", "0", "0", "23000", 0)
    # each recorded at its midnight, node time
    occurred = list(
        Event.objects.filter(node=world.node, type="balance.end_of_day")
        .order_by("occurred_at")
        .values_list("occurred_at", flat=True)
    )
    assert occurred == [datetime(2025, 3, d, tzinfo=SEOUL) for d in (5, 6, 7)]
    # and delivered, signed, like every event
    delivered = [r.json for r in receiver.requests if r.json["type"] == "balance.end_of_day"]
    assert sorted(r["data"]["date"] for r in delivered) == [s["date"] for s in days]
    assert all(r.verified for r in receiver.requests)
    # the next close waits at the coming midnight
    pending = ScheduledAction.objects.get(node=world.node, kind=endofday.KIND, status="pending")
    assert pending.payload == {"date": "2025-03-07"}
    assert pending.due_at == datetime(2025, 3, 8, tzinfo=SEOUL)
    assert verify_ledger().ok


def test_no_statement_before_midnight_and_closing_twice_changes_nothing(world):
    world.fund(50_000)
    world.advance(timedelta(hours=13, minutes=58))  # 23:59 in Seoul
    assert statements(world.node) == []
    world.advance(timedelta(minutes=2))
    assert [s["date"] for s in statements(world.node)] == ["2025-03-04"]
    done = ScheduledAction.objects.get(node=world.node, kind=endofday.KIND, status="done")

    # when: the action and the close run again
    assert scheduling.action_run(action_id=done.pk) is False
    again = endofday.end_of_day_close(node_id=world.node.pk, day=date(2025, 3, 4))

    # then: still one statement and one event for that day, one pending close
    assert again == EndOfDay.objects.get(node=world.node)
    assert len(statements(world.node)) == 1
    assert (
        ScheduledAction.objects.filter(
            node=world.node, kind=endofday.KIND, status="pending"
        ).count()
        == 1
    )


def test_attaching_a_node_to_a_clock_moves_its_end_of_day_to_the_clocks_midnight(alice):
    # given: a node on the platform clock, its first close at the coming real midnight
    node = NodeFactory(tenant=alice.tenant, country="JP")
    (first,) = ScheduledAction.objects.filter(node=node, kind=endofday.KIND, status="pending")
    assert first.due_at > datetime.now(UTC)
    # when: it joins a clock standing in 2024, Tokyo time
    test_clock = clocks.test_clock_create(
        tenant=alice.tenant,
        actor=SYSTEM,
        name="t",
        frozen_time=datetime(2024, 1, 10, 20, 0, tzinfo=UTC),
    )
    clocks.test_clock_attach(clock=test_clock, node=node, actor=SYSTEM)
    # then: the close follows the clock's day (11 January in Tokyo already)
    (pending,) = ScheduledAction.objects.filter(node=node, kind=endofday.KIND, status="pending")
    assert pending.payload == {"date": "2024-01-11"}
    assert pending.due_at == datetime(2024, 1, 11, 15, 0, tzinfo=UTC)  # midnight in Tokyo
    assert ScheduledAction.objects.get(pk=first.pk).status == "cancelled"
    # and detaching brings back the platform's day, reopening the cancelled close
    clocks.test_clock_detach(clock=test_clock, node=node, actor=SYSTEM)
    (back,) = ScheduledAction.objects.filter(node=node, kind=endofday.KIND, status="pending")
    assert back.pk == first.pk and back.due_at == first.due_at


def test_a_deactivated_node_gets_no_more_statements(world):
    from sandbox.tenants.services import node_deactivate

    node_deactivate(node=world.node, actor=SYSTEM)
    world.advance(timedelta(days=2))
    assert EndOfDay.objects.filter(node=world.node).count() == 0
    assert not ScheduledAction.objects.filter(
        node=world.node, kind=endofday.KIND, status="pending"
    ).exists()


def test_on_the_platform_clock_the_beat_sweep_closes_the_day(alice, operator):
    # given: the platform clock stands at 23:58 in Seoul, and a node with money moving
    PlatformClock.objects.update_or_create(
        pk=1, defaults={"frozen_time": datetime(2025, 6, 10, 23, 58, tzinfo=SEOUL)}
    )
    node = NodeFactory(tenant=alice.tenant)
    main = node.wallet.accounts.get()
    other = AccountFactory(node=node)
    fund(main, 20_000)
    move(main, other, 2_000)
    pump()
    assert statements(node) == []

    # when: the platform clock passes midnight, and a transfer lands before the sweep runs
    clocks.platform_clock_advance(actor=Actor(user=operator), seconds=180)  # 00:01
    move(main, other, 500)
    pump()  # what beat does: relay the outbox, run what is due

    # then: the statement of 10 June counts only what was posted before midnight
    (day,) = statements(node)
    assert day["date"] == "2025-06-10"
    assert figures(day, main) == ("0", "20000", "2000", "18000", 2)
    assert figures(day, other) == ("0", "2000", "0", "2000", 1)
    # and the transfer after midnight opens the next day
    clocks.platform_clock_advance(actor=Actor(user=operator), seconds=86_400)
    pump()
    days = statements(node)
    assert [s["date"] for s in days] == ["2025-06-10", "2025-06-11"]
    assert figures(days[1], main) == ("18000", "0", "500", "17500", 1)
    assert verify_ledger().ok


def test_nodes_that_predate_end_of_day_start_through_their_start_action(alice):
    node = NodeFactory(tenant=alice.tenant)
    ScheduledAction.objects.filter(node=node).delete()  # as before migration 0003
    ScheduledAction.objects.create(
        kind=endofday.START_KIND,
        key=f"eod-start:{node.pk}",
        node=node,
        tenant=alice.tenant,
        due_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    pump()
    (pending,) = ScheduledAction.objects.filter(node=node, kind=endofday.KIND, status="pending")
    assert pending.due_at > datetime.now(UTC)
