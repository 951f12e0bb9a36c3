"""Fixtures for the bank network: a node on a test clock at a known moment, a simulated
person's bank account, and helpers to move the clock and check the books."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sandbox.events import clocks
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory
from wallets.banknet import bank_accounts, deposits, withdrawals
from wallets.banknet.models import Bank
from wallets.models import Account
from wallets.verification import verify_ledger

SEOUL = ZoneInfo("Asia/Seoul")
# A Tuesday, mid-morning in Seoul: every Korean bank works.
TUESDAY_10AM = datetime(2025, 3, 4, 10, 0, tzinfo=SEOUL)


class World:
    """Alice's node ``shop`` on a test clock, its KRW account, and Kim's account at KB."""

    def __init__(self, party, start: datetime = TUESDAY_10AM):
        self.party = party
        self.tenant = party.tenant
        self.node = NodeFactory(tenant=self.tenant, name="Seoul shop")
        self.account = Account.objects.get(wallet__node=self.node, currency="KRW")
        self.clock = clocks.test_clock_create(
            tenant=self.tenant, actor=SYSTEM, name="test", frozen_time=start
        )
        clocks.test_clock_attach(clock=self.clock, node=self.node, actor=SYSTEM)
        self.kb = Bank.objects.get(pk="004")
        self.kim = bank_accounts.bank_account_create(
            tenant=self.tenant,
            actor=SYSTEM,
            bank_code="004",
            account_number="123-456-789012",
            holder_name="Kim Minjun",
        )

    def now(self) -> datetime:
        self.clock.refresh_from_db()
        return self.clock.frozen_time

    def advance(self, delta: timedelta) -> None:
        self.clock.refresh_from_db()
        clocks.test_clock_advance(clock=self.clock, to=self.clock.frozen_time + delta, actor=SYSTEM)
        clocks.test_clock_run_advance(clock_id=self.clock.pk)
        self.clock.refresh_from_db()

    def balance(self, account: Account | None = None) -> tuple[int, int, int]:
        """(posted, pending, held) of the node's account."""
        account = account or self.account
        account.refresh_from_db()
        return account.posted_balance, account.pending_balance, account.held_balance

    def deposit(self, amount: int, *, number: str | None = None, sender=None, **extra):
        return deposits.deposit_create(
            tenant=self.tenant,
            actor=SYSTEM,
            sender=sender or self.kim,
            bank_code=extra.pop("bank_code", self.account.bank_code),
            account_number=number or self.account.account_number,
            amount=amount,
            currency=extra.pop("currency", "KRW"),
            **extra,
        )

    def fund(self, amount: int) -> None:
        self.deposit(amount)
        self.advance(timedelta(minutes=1))

    def transfer(
        self,
        amount: int,
        *,
        holder: str = "Kim Minjun",
        number: str = "123456789012",
        bank: str = "004",
    ):
        return withdrawals.withdrawal_create(
            actor=SYSTEM,
            account=self.account,
            amount=amount,
            currency=self.account.currency,
            bank_code=bank,
            account_number=number,
            holder_name=holder,
        )


@pytest.fixture(autouse=True)
def _network(banks, webhook_settings, celery_eager):
    """Every test here has the banks, may send webhooks to the receiver and runs Celery
    tasks in its own process (tests/conftest.py)."""
    yield celery_eager


@pytest.fixture
def world(alice) -> World:
    return World(alice)


@pytest.fixture
def books_balance():
    """Checks the ledger after the test, whatever it did."""
    yield
    report = verify_ledger()
    assert report.ok, report.problems
