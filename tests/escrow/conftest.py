"""An escrow world: a buyer node paying from a funded account, a shop node paid into
another, both on one test clock (the escrow follows the payer node's time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from sandbox.events import clocks
from sandbox.events.models import TestClock
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import SYSTEM
from tests.factories import AccountFactory, NodeFactory, TenantFactory, fund
from wallets.escrow import escrows
from wallets.escrow.models import Escrow
from wallets.models import Account

# Years before real time: only the test clock decides what is due.
START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
FUNDS = 100_000


@dataclass
class World:
    tenant: Tenant
    buyer: Node
    shop: Node
    payer: Account
    payee: Account
    clock: TestClock

    def escrow(self, **terms) -> Escrow:
        values = {
            "amount": 10_000,
            "currency": "KRW",
            "release_condition": "manual",
            "timeout_seconds": 86_400,
            "dispute_window_seconds": 3_600,
            "fee_rate_bps": 250,
            "fixed_fee": 100,
            "description": "Used bicycle",
        }
        values.update(terms)
        return escrows.escrow_create(
            tenant=self.tenant,
            actor=SYSTEM,
            payer_account=self.payer,
            payee_account=self.payee,
            **values,
        )

    def advance(self, to: datetime) -> None:
        clocks.test_clock_advance(clock=self.clock, to=to, actor=SYSTEM)
        assert clocks.test_clock_run_advance(clock_id=self.clock.pk)
        self.clock.refresh_from_db()


def balances(account: Account) -> tuple[int, int]:
    """(posted, held) as stored now."""
    account.refresh_from_db()
    return account.posted_balance, account.held_balance


@pytest.fixture
def world(db) -> World:
    tenant = TenantFactory(name="Market Co")
    buyer = NodeFactory(tenant=tenant, name="Buyer")
    shop = NodeFactory(tenant=tenant, name="Shop")
    payer = buyer.wallet.accounts.get()
    payee = shop.wallet.accounts.get()
    fund(payer, FUNDS)
    clock = clocks.test_clock_create(tenant=tenant, actor=SYSTEM, name="escrow", frozen_time=START)
    clocks.test_clock_attach(clock=clock, node=buyer, actor=SYSTEM)
    clocks.test_clock_attach(clock=clock, node=shop, actor=SYSTEM)
    return World(tenant, buyer, shop, payer, payee, clock)


__all__ = ["FUNDS", "START", "AccountFactory", "World", "balances"]
