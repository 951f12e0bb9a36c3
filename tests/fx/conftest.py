"""An FX world: alice's node on a test clock (frozen, so rates and expiries follow it), with
a funded account in each currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.events import clocks
from sandbox.events.models import ScheduledAction, TestClock
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import SYSTEM
from tests.factories import AccountFactory, NodeFactory, fund
from wallets.fx import services as fx
from wallets.fx.models import Quote
from wallets.models import Account

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
FUNDS = {"KRW": 50_000_000, "USD": 5_000_000, "JPY": 5_000_000, "BTC": 100_000_000}


@dataclass
class World:
    tenant: Tenant
    node: Node
    clock: TestClock
    accounts: dict[str, Account]

    def quote(self, source: str = "KRW", target: str = "USD", **terms) -> Quote:
        if "sell_amount" not in terms and "buy_amount" not in terms:
            terms["sell_amount"] = 1_000_000
        return fx.create_quote(
            tenant=self.tenant,
            node=self.node,
            source_currency=source,
            target_currency=target,
            **terms,
        )

    def convert(self, quote: Quote):
        return fx.execute_quote(
            quote,
            source_account=self.accounts[quote.source_currency],
            target_account=self.accounts[quote.target_currency],
        )

    def advance(self, seconds: int) -> None:
        to = self.clock.frozen_time + timedelta(seconds=seconds)
        clocks.test_clock_advance(clock=self.clock, to=to, actor=SYSTEM)
        assert clocks.test_clock_run_advance(clock_id=self.clock.pk)
        self.clock.refresh_from_db()


def make_world(tenant: Tenant) -> World:
    node = NodeFactory(tenant=tenant, name="Seoul remit")
    clock = clocks.test_clock_create(tenant=tenant, actor=SYSTEM, name="fx", frozen_time=START)
    clocks.test_clock_attach(clock=clock, node=node, actor=SYSTEM)
    # The bank network's daily statements are not these tests' business.
    ScheduledAction.objects.filter(node=node, kind__startswith="banknet.end_of_day").update(
        status=ScheduledAction.Status.CANCELLED
    )
    accounts = {"KRW": node.wallet.accounts.get()}
    for currency in ("USD", "JPY", "BTC"):
        accounts[currency] = AccountFactory(node=node, currency=currency, name=currency)
    for currency, account in accounts.items():
        fund(account, FUNDS[currency])
        account.refresh_from_db()
    return World(tenant, node, clock, accounts)


@pytest.fixture(autouse=True)
def _rate_table(django_db_blocker):
    """The migrated rate table, again if a transactional test elsewhere flushed it."""
    with django_db_blocker.unblock():
        fx.pairs_seed()


@pytest.fixture
def world(alice) -> World:
    return make_world(alice.tenant)


def balance(account: Account) -> int:
    account.refresh_from_db()
    return account.posted_balance
