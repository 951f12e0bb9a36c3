from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from clearing.encoding import leaf_for
from clearing.merkle import MerkleTree
from sandbox import clock
from sandbox.events import clocks, scheduling
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory, TenantFactory, fund
from wallets import services as wallet_services
from wallets.models import Account
from wallets.services import TransferRequest

KST = ZoneInfo("Asia/Seoul")
DAY = date(2025, 3, 10)


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=KST)


class Ledger:
    """Two nodes of one tenant and a way to post transactions at a chosen moment."""

    def __init__(self, monkeypatch) -> None:
        self._monkeypatch = monkeypatch
        self.tenant = TenantFactory(name="Alice Pay")
        self.seoul = NodeFactory(tenant=self.tenant, name="Seoul")
        self.busan = NodeFactory(tenant=self.tenant, name="Busan")
        self.a = self.seoul.wallet.accounts.get()
        self.b = self.busan.wallet.accounts.get()

    def at(self, moment: datetime) -> None:
        """Move the platform clock (what ``sandbox.clock.now`` answers) to ``moment``."""
        self._monkeypatch.setattr(clock, "now", lambda node_id=None: moment)

    def post(self, day: date, count: int = 3, *, start: time = time(9)):
        """``count`` transactions on ``day``: a deposit, then transfers back and forth."""
        moment = datetime.combine(day, start, tzinfo=KST)
        txns = []
        for i in range(count):
            self.at(moment + timedelta(minutes=i))
            if i % 3 == 0:
                txns.append(fund(self.a, 10_000 + i))
            else:
                source, destination = (self.a, self.b) if i % 3 == 1 else (self.b, self.a)
                result = wallet_services.transfer_create(
                    tenant=self.tenant,
                    request=TransferRequest(
                        source=source,
                        destination=destination,
                        amount=100 + i if source == self.a else 10 + i,
                        currency="KRW",
                        memo=f"transfer {i}",
                        metadata={"n": i, "note": "héllo"},
                    ),
                )
                txns.append(result.transaction)
        self.at(datetime.combine(day + timedelta(days=1), time(1), tzinfo=KST))
        return txns


@pytest.fixture(autouse=True)
def _webhooks(webhook_settings):
    """Every test here may send webhooks to the receiver (tests/conftest.py)."""


@pytest.fixture
def ledger(db, monkeypatch) -> Ledger:
    return Ledger(monkeypatch)


# --- Test clocks -------------------------------------------------------------------------------

FUND_ACTION = "tests.clearing.fund"


@scheduling.handler(FUND_ACTION)
def _fund_when_due(action) -> None:
    """A deposit made by something due on a clock (as the bank network's are)."""
    fund(Account.objects.get(pk=action.payload["account"]), action.payload["amount"])


class Clocked:
    """Alice's nodes Seoul and Busan on her test clock, standing at 09:00 of ``DAY`` in
    Seoul (the clearing time zone), and a third node of hers that follows no clock."""

    def __init__(self, party) -> None:
        self.party = party
        self.tenant = party.tenant
        self.seoul = NodeFactory(tenant=self.tenant, name="Seoul")
        self.busan = NodeFactory(tenant=self.tenant, name="Busan")
        self.elsewhere = NodeFactory(tenant=self.tenant, name="Jeju, on real time")
        self.a = self.seoul.wallet.accounts.get()
        self.b = self.busan.wallet.accounts.get()
        self.clock = clocks.test_clock_create(
            tenant=self.tenant, actor=SYSTEM, name="March", frozen_time=at(DAY, 9)
        )
        for node in (self.seoul, self.busan):
            clocks.test_clock_attach(clock=self.clock, node=node, actor=SYSTEM)

    def deposit(self, amount: int, account=None):
        """A deposit to ``account`` (Seoul's by default), posted now."""
        return fund(account or self.a, amount)

    def transfer(self, amount: int = 300, source=None, destination=None):
        source, destination = source or self.a, destination or self.b
        return wallet_services.transfer_create(
            tenant=self.tenant,
            request=TransferRequest(
                source=source, destination=destination, amount=amount, currency="KRW"
            ),
        ).transaction

    def fund_at(self, due_at: datetime, account=None, amount: int = 5_000) -> None:
        """A deposit to ``account`` made by an action due at ``due_at`` on the clock."""
        account = account or self.b
        scheduling.schedule(
            kind=FUND_ACTION,
            node=account.wallet.node,
            due_at=due_at,
            payload={"account": str(account.pk), "amount": amount},
        )

    def advance(self, to: datetime) -> None:
        self.clock.refresh_from_db()
        clocks.test_clock_advance(clock=self.clock, to=to, actor=SYSTEM)
        # The task the advance queues after commit; the test's transaction never commits.
        assert clocks.test_clock_run_advance(clock_id=self.clock.pk)
        self.clock.refresh_from_db()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=KST)


def tree_of(txns) -> MerkleTree:
    """A close's tree computed independently: one leaf per transaction, in ledger order."""
    return MerkleTree.from_leaves(leaf_for(t.id) for t in sorted(txns, key=lambda t: t.id))


@pytest.fixture
def clocked(alice) -> Clocked:
    return Clocked(alice)
