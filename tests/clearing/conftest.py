from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from sandbox import clock
from tests.factories import NodeFactory, TenantFactory, fund
from wallets import services as wallet_services
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


@pytest.fixture
def ledger(db, monkeypatch) -> Ledger:
    return Ledger(monkeypatch)
