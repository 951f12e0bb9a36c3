"""A customer's history built along platform time (the ledger dates entries by the platform
clock): the platform clock is stopped at each moment the history needs, accounts open and
money arrives then. People come from the identities factories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.events.models import PlatformClock
from tests.factories import AccountFactory, NodeFactory, fund
from tests.identities.factories import PersonFactory
from wallets import services as ledger
from wallets.models import Account

START = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # 12:00 in Seoul


def platform_at(moment: datetime) -> None:
    PlatformClock.objects.update_or_create(
        pk=1, defaults={"frozen_time": moment, "offset_seconds": 0}
    )


class Books:
    """A node of alice's, and a person it serves whose account (by customer reference) is
    in the node's wallet. ``day(n)`` moves the platform clock to ``START + n days``."""

    def __init__(self, party, reference: str = "cust-1") -> None:
        self.party = party
        self.tenant = party.tenant
        platform_at(START)
        self.node = NodeFactory(tenant=self.tenant, name="Seoul shop")
        self.node_account = Account.objects.get(wallet__node=self.node)
        self.person = PersonFactory(
            tenant=self.tenant, node=self.node, customer_reference=reference
        )
        self.account = AccountFactory(node=self.node, customer_reference=reference)
        self.now = START

    def day(self, n: float) -> datetime:
        self.now = START + timedelta(days=n)
        platform_at(self.now)
        return self.now

    def credit(self, amount: int = 100_000, account: Account | None = None):
        return fund(account or self.account, amount)

    def returned(self, txn) -> None:
        """The platform reverses ``txn`` (a bank return of a deposit)."""
        ledger.transaction_reverse(transaction_=txn, tenant=None)

    def monthly_income(self, months: int, *, from_day: int = 0, amount: int = 100_000) -> None:
        """One credit every 30 days, ``months`` times, from ``from_day`` on."""
        for i in range(months):
            self.day(from_day + 30 * i + 1)
            self.credit(amount)


@pytest.fixture
def books(alice) -> Books:
    return Books(alice)
