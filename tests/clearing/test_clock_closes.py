"""Test clock closes: a tester's simulated day closes, anchored, as their clock passes
midnight; with exactly their clock's transactions, once, and resumably."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, transaction

from clearing import clock_closing
from clearing.chain import EmbeddedChain
from clearing.clock_closing import clock_day_close
from clearing.models import AnchorBlock, ClockClose, ClockCloseTransaction, Job
from clearing.verification import verify_anchors
from sandbox.errors import ApplicationError
from sandbox.events import clocks, scheduling
from sandbox.events.models import Event, TestClock
from sandbox.tenants.services import SYSTEM
from tests.clearing.conftest import DAY, Clocked, at, tree_of
from tests.factories import AccountFactory, NodeFactory, fund
from tests.helpers import run_in_threads
from wallets.locking import retrying
from wallets.posting import Leg, Posting, post_one

pytestmark = pytest.mark.django_db

DAY2 = DAY + timedelta(days=1)


def members(close: ClockClose) -> list[int]:
    return list(
        ClockCloseTransaction.objects.filter(close=close)
        .order_by("position")
        .values_list("transaction_id", flat=True)
    )


def test_advancing_past_midnight_closes_the_day_with_the_clocks_transactions(clocked, outsider):
    # given: the clock's nodes post before midnight; a deposit arrives at 03:00 the next day
    before = [fund(clocked.a, 10_000), clocked.transfer(300), fund(clocked.b, 70)]
    clocked.fund_at(at(DAY2, 3), clocked.b, 5_000)
    fund(clocked.elsewhere.wallet.accounts.get(), 999)  # alice's node on real time
    fund(NodeFactory(tenant=outsider.tenant).wallet.accounts.get(), 888)

    # when
    clocked.advance(at(DAY2, 12))

    # then: the day holds exactly what the clock's nodes posted before midnight
    close = ClockClose.objects.get(clock=clocked.clock)
    assert (close.day, close.sequence, close.status) == (DAY, 0, "closed")
    assert members(close) == sorted(t.id for t in before)
    tree = tree_of(before)
    assert (close.leaf_count, close.root) == (3, tree.root.hex())
    assert close.node_ids == sorted([str(clocked.seoul.pk), str(clocked.busan.pk)])
    anchor = EmbeddedChain().find(kind="clock", label=f"2025-03-10/{close.pk}")
    assert (anchor.root, anchor.leaf_count, anchor.height) == (tree.root, 3, close.anchor.height)
    assert clocked.clock.last_error == ""

    # and the deposit posted after midnight is the next day's, when that day ends
    deposit = clocked.b.entries.order_by("-id").first().transaction
    clocked.advance(at(DAY2 + timedelta(days=1), 1))
    second = ClockClose.objects.get(clock=clocked.clock, day=DAY2)
    assert (second.sequence, members(second)) == (1, [deposit.id])
    assert second.root == tree_of([deposit]).root.hex()


def test_an_advance_over_several_midnights_closes_only_days_with_transactions(clocked):
    clocked.deposit(10)
    clocked.fund_at(at(DAY + timedelta(days=3), 10), clocked.a, 100)

    clocked.advance(at(DAY + timedelta(days=5), 9))

    closes = ClockClose.objects.filter(clock=clocked.clock).order_by("sequence")
    assert [(c.day, c.leaf_count) for c in closes] == [
        (DAY, 1),
        (DAY + timedelta(days=3), 1),
    ]
    assert AnchorBlock.objects.filter(kind="clock").count() == 2


def test_an_advance_within_the_day_closes_nothing(clocked):
    clocked.deposit(10)
    clocked.advance(at(DAY, 23, 59))
    assert not ClockClose.objects.exists()


def test_another_tenants_transactions_are_never_in_it(clocked, outsider):
    # given: the outsider has its own clock and node, and even a transaction of the
    # outsider's that touches alice's clock account (the ledger would allow a platform
    # posting like it) must not enter alice's close, whose proofs show whole leaves
    theirs = NodeFactory(tenant=outsider.tenant)
    their_clock = clocks.test_clock_create(
        tenant=outsider.tenant, actor=SYSTEM, name="theirs", frozen_time=at(DAY, 9)
    )
    clocks.test_clock_attach(clock=their_clock, node=theirs, actor=SYSTEM)
    mine = clocked.deposit(300)
    their_own = fund(theirs.wallet.accounts.get(), 500)
    foreign = retrying(post_one)(
        Posting(
            kind="adjustment",
            legs=[Leg(theirs.wallet.accounts.get().pk, -5, "KRW"), Leg(clocked.a.pk, 5, "KRW")],
            tenant_id=outsider.tenant.pk,
        )
    ).transaction

    clocked.advance(at(DAY2, 1))
    clocks.test_clock_advance(clock=their_clock, to=at(DAY2, 1), actor=SYSTEM)
    clocks.test_clock_run_advance(clock_id=their_clock.pk)

    assert members(ClockClose.objects.get(clock=clocked.clock)) == [mine.id]
    # the outsider's posting is theirs: it touches their clock's node too
    assert members(ClockClose.objects.get(clock=their_clock)) == [their_own.id, foreign.id]
    assert not ClockCloseTransaction.objects.filter(
        transaction=foreign, close__tenant=clocked.tenant
    ).exists()


def test_a_second_call_returns_the_same_close_and_anchor(clocked):
    txns = [clocked.deposit(1), clocked.deposit(2)]
    clocked.advance(at(DAY2, 1))
    close = ClockClose.objects.get()

    again = clock_day_close(clock_id=clocked.clock.pk, day=DAY, triggered_by="test again")

    assert again.pk == close.pk and again.root == close.root == tree_of(txns).root.hex()
    assert AnchorBlock.objects.filter(kind="clock").count() == 1
    assert Event.objects.filter(type="test_clock.day_closed").count() == 2  # one per node
    # A transaction posted since is not added to a day already closed: it waits.
    late = clocked.deposit(3)
    assert clock_day_close(clock_id=clocked.clock.pk, day=DAY, triggered_by="x").pk == close.pk
    assert members(ClockClose.objects.get(pk=close.pk)) == sorted(t.id for t in txns)
    assert list(clock_closing.unclosed_transactions(clocked.clock)) == [late]


def test_a_resumed_advance_makes_one_close_and_one_anchor(clocked, monkeypatch):
    # given: a worker dies right after the close, as it starts the first action of the
    # next day (the clock still stands before midnight)
    txns = [clocked.deposit(5), clocked.deposit(6)]
    clocked.fund_at(at(DAY2, 2), clocked.a, 1_000)
    clocks.test_clock_advance(clock=clocked.clock, to=at(DAY2, 12), actor=SYSTEM)
    real_run = scheduling.action_run

    def killed(**kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(scheduling, "action_run", killed)
    with pytest.raises(RuntimeError, match="worker killed"):
        clocks.test_clock_run_advance(clock_id=clocked.clock.pk)
    first = ClockClose.objects.get()
    assert first.status == "closed"
    TestClock.objects.filter(pk=clocked.clock.pk).update(lease_until=None)  # the lease ran out

    # when: the advance resumes
    monkeypatch.setattr(scheduling, "action_run", real_run)
    assert clocks.test_clock_run_advance(clock_id=clocked.clock.pk)

    # then: the same close, one anchor, one announcement per node; the deposit waits
    close = ClockClose.objects.get()
    assert (close.pk, close.root) == (first.pk, tree_of(txns).root.hex())
    assert AnchorBlock.objects.filter(kind="clock").count() == 1
    assert Event.objects.filter(type="test_clock.day_closed").count() == 2
    assert TestClock.objects.get(pk=clocked.clock.pk).status == "ready"
    assert clock_closing.unclosed_transactions(clocked.clock).count() == 1


def test_a_close_that_crashed_after_anchoring_finishes_with_the_same_root(clocked, monkeypatch):
    # given: the close dies between anchoring and being marked closed
    txns = [fund(clocked.a, 100), clocked.deposit(40)]

    def crash(close):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(clock_closing, "_announce", crash)
    clocked.advance(at(DAY2, 1))
    pending = ClockClose.objects.get()
    assert pending.status == "pending" and pending.anchor_id is None
    anchored = AnchorBlock.objects.get(kind="clock")
    assert anchored.root == tree_of(txns).root.hex()
    # the advance went on, and says what failed
    assert clocked.clock.status == "ready" and "worker killed" in clocked.clock.last_error
    assert Job.objects.get(kind="clock_close").status == "failed"

    # the daily check names the anchored close that never finished
    unfinished = [str(p) for p in verify_anchors().problems]
    assert unfinished == [
        f"chain: close-record: test clock close {pending.anchor_label} is anchored but has "
        "not finished (retry its job)"
    ]

    # when: meanwhile a transaction arrives, then the close runs again
    later = clocked.deposit(7)
    monkeypatch.undo()
    close = clock_day_close(clock_id=clocked.clock.pk, day=DAY, triggered_by="retry")

    # then: closed on the block already made, with the members it was opened with
    assert close.status == "closed" and close.anchor_id == anchored.pk
    assert close.root == anchored.root
    assert members(close) == sorted(t.id for t in txns)
    assert AnchorBlock.objects.filter(kind="clock").count() == 1
    assert list(clock_closing.unclosed_transactions(clocked.clock)) == [later]
    done = Job.objects.filter(kind="clock_close").order_by("id").last()
    assert (done.status, done.count, done.root) == ("done", 2, anchored.root)
    assert done.tenant_id == clocked.tenant.pk
    assert verify_anchors().ok


def test_the_next_close_of_the_clock_finishes_a_pending_one_first(clocked, monkeypatch):
    clocked.deposit(1)
    monkeypatch.setattr(clock_closing, "get_chain", lambda: None)  # anchoring fails
    clocked.advance(at(DAY2, 9))
    assert ClockClose.objects.get().status == "pending"
    monkeypatch.undo()

    clocked.deposit(2)
    clocked.advance(at(DAY2 + timedelta(days=1), 1))

    assert [(c.day, c.status) for c in ClockClose.objects.order_by("sequence")] == [
        (DAY, "closed"),
        (DAY2, "closed"),
    ]


def test_the_day_closed_event_reaches_each_node_signed(clocked, receiver):
    from sandbox.events.services import webhook_secret_current
    from sandbox.tenants.models import Node
    from tests.helpers import pump

    Node.objects.filter(pk=clocked.seoul.pk).update(webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=clocked.seoul).secret]
    clocked.deposit(25)

    clocked.advance(at(DAY2, 1))
    pump()

    close = ClockClose.objects.get()
    events = Event.objects.filter(type="test_clock.day_closed").order_by("node__name")
    assert [e.node_id for e in events] == [clocked.busan.pk, clocked.seoul.pk]
    assert events[0].data == {
        "test_clock": str(clocked.clock.pk),
        "day": "2025-03-10",
        "sequence": 0,
        "leaf_count": 1,
        "root": close.root,
        "block_height": close.anchor.height,
        "block_hash": close.anchor.block_hash,
        "anchor_label": close.anchor_label,
    }
    assert events[0].object_id == str(clocked.clock.pk)
    received = [r for r in receiver.requests if r.json["type"] == "test_clock.day_closed"]
    assert len(received) == 1 and received[0].verified
    assert received[0].json["data"]["root"] == close.root


def test_a_clock_close_refuses_a_day_the_clock_has_not_reached(clocked):
    clocked.deposit(1)
    with pytest.raises(ApplicationError) as refused:
        clock_day_close(clock_id=clocked.clock.pk, day=DAY2, triggered_by="test")
    assert refused.value.code == "clock_day_not_reached"
    assert not ClockClose.objects.exists()


def test_a_too_large_day_is_refused_and_the_advance_goes_on(clocked, monkeypatch):
    monkeypatch.setattr(clock_closing, "MAX_TRANSACTIONS", 2)
    for amount in (1, 2, 3):
        clocked.deposit(amount)

    clocked.advance(at(DAY2, 1))

    assert not ClockClose.objects.exists()
    assert "more than 2 transactions" in clocked.clock.last_error
    assert clocked.clock.status == "ready"


def test_the_database_keeps_a_transaction_out_of_two_closes_of_one_clock(clocked):
    txn = clocked.deposit(9)
    clocked.advance(at(DAY2, 1))
    first = ClockClose.objects.get()
    second = ClockClose.objects.create(
        tenant=clocked.tenant, clock=clocked.clock, day=DAY2, sequence=1
    )
    with pytest.raises(Exception, match=r"(?i)unique"), transaction.atomic():
        ClockCloseTransaction.objects.create(
            close=second, clock=clocked.clock, transaction=txn, position=0, leaf_hash="00" * 32
        )
    with pytest.raises(Exception, match=r"(?i)check|constraint"), transaction.atomic():
        ClockClose.objects.filter(pk=second.pk).update(status="closed")
    assert members(first) == [txn.id]


def test_a_deleted_clock_keeps_its_anchored_closes(clocked):
    clocked.deposit(9)
    clocked.advance(at(DAY2, 1))
    clocks.test_clock_delete(clock=clocked.clock, actor=SYSTEM)
    close = ClockClose.objects.get()
    assert close.clock_id is None and close.status == "closed" and close.anchor_id is not None


# --- Concurrency (PostgreSQL) -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_transaction_committed_after_the_close_joins_the_next_one(alice):
    # given: a posting that took its ledger id before the close, but commits after it
    clocked = Clocked(alice)
    a2, b2 = AccountFactory(node=clocked.seoul), AccountFactory(node=clocked.busan)
    early = [clocked.deposit(1_000), clocked.deposit(1_000, a2)]
    in_flight, closed = threading.Event(), threading.Event()
    late: list = []

    def slow_posting() -> None:
        try:
            with transaction.atomic():
                late.append(clocked.transfer(2))
                in_flight.set()
                closed.wait(timeout=60)
        finally:
            close_old_connections()
            connection.close()

    worker = threading.Thread(target=slow_posting)
    worker.start()
    assert in_flight.wait(timeout=60)
    after = clocked.transfer(3, a2, b2)  # other accounts: a higher id, committed first

    # when: the day closes while the slow posting is still open
    clocked.advance(at(DAY2, 1))
    closed.set()
    worker.join(timeout=60)

    # then: the slow, lower id is not lost: membership, not an id watermark, decides
    first = ClockClose.objects.get(day=DAY)
    assert late[0].id < after.id
    assert members(first) == [*(t.id for t in early), after.id]
    clocked.advance(at(DAY2 + timedelta(days=1), 1))
    assert members(ClockClose.objects.get(day=DAY2)) == [late[0].id]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_make_one_close_and_one_anchor(alice):
    clocked = Clocked(alice)
    txns = [clocked.deposit(i + 1) for i in range(6)]

    def call(_i: int) -> tuple:
        close = clock_day_close(clock_id=clocked.clock.pk, day=DAY, triggered_by="race")
        return close.pk, close.root

    results = run_in_threads(call, 4)

    close = ClockClose.objects.get()
    assert results == [(close.pk, tree_of(txns).root.hex())] * 4
    assert AnchorBlock.objects.filter(kind="clock").count() == 1
    assert Event.objects.filter(type="test_clock.day_closed").count() == 2
