"""A merchant node and a payer node on one test clock (a Tuesday morning in Seoul), the
merchant's bank account linked and verified with 1 won, and helpers that pay and refund
orders through the payment services and move the clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sandbox.events import clocks
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory, fund
from wallets.banknet import bank_accounts, links
from wallets.merchant_settlement import services
from wallets.merchant_settlement.models import SettlementContract
from wallets.models import Account
from wallets.payments import services as payments
from wallets.payments.models import PaymentRequest
from wallets.verification import verify_ledger

SEOUL = ZoneInfo("Asia/Seoul")
TUESDAY_10AM = datetime(2026, 9, 15, 10, 0, tzinfo=SEOUL)  # 9 days before Chuseok 2026


class Market:
    def __init__(self, party, start: datetime = TUESDAY_10AM):
        self.party = party
        self.tenant = party.tenant
        self.merchant = NodeFactory(tenant=self.tenant, name="Gangnam Coffee")
        self.payer = NodeFactory(tenant=self.tenant, name="Minjun's wallet")
        self.account = Account.objects.get(wallet__node=self.merchant, currency="KRW")
        self.payer_account = Account.objects.get(wallet__node=self.payer, currency="KRW")
        fund(self.payer_account, 100_000_000)
        self.clock = clocks.test_clock_create(
            tenant=self.tenant, actor=SYSTEM, name="settlement", frozen_time=start
        )
        for node in (self.merchant, self.payer):
            clocks.test_clock_attach(clock=self.clock, node=node, actor=SYSTEM)
        self.bank_account = bank_accounts.bank_account_create(
            tenant=self.tenant,
            actor=SYSTEM,
            bank_code="004",
            account_number="900-100-200300",
            holder_name="Gangnam Coffee",
        )
        self.link = self.new_link()
        self.orders = 0

    def new_link(self, *, verify: bool = True):
        link = links.account_link_start(
            node=self.merchant,
            actor=SYSTEM,
            bank_code="004",
            account_number=self.bank_account.account_number,
            holder_name="Gangnam Coffee",
        )
        if verify:
            link = links.account_link_confirm(link=link, code=link.code, actor=SYSTEM)
        return link

    def contract(self, **terms) -> SettlementContract:
        values = {
            "cycle": "daily",
            "delay_days": 1,
            "fee_rate_bps": 250,
            "fixed_fee": 0,
            "minimum_payout": 0,
        }
        values.update(terms)
        return services.contract_create(
            actor=SYSTEM,
            node=self.merchant,
            account=self.account,
            link=self.link,
            terms=services.Terms(**values),
        )

    def pay(self, amount: int) -> PaymentRequest:
        self.orders += 1
        request = payments.payment_request_create(
            actor=SYSTEM,
            account=self.account,
            order_id=f"order-{self.orders}",
            amount=amount,
            currency="KRW",
        )
        authorization = payments.payment_authorize(
            tenant=self.tenant,
            actor=SYSTEM,
            payer_node=self.payer,
            account=self.payer_account,
            request_jws=request.jws,
        )
        return payments.payment_redeem(request=request, token=authorization.jws, actor=SYSTEM)

    def refund(self, request: PaymentRequest, amount: int):
        return payments.payment_refund(request=request, actor=SYSTEM, amount=amount)

    def now(self) -> datetime:
        self.clock.refresh_from_db()
        return self.clock.frozen_time

    def advance_to(self, when: datetime) -> None:
        clocks.test_clock_advance(clock=self.clock, to=when, actor=SYSTEM)
        clocks.test_clock_run_advance(clock_id=self.clock.pk)
        self.clock.refresh_from_db()

    def advance(self, delta: timedelta) -> None:
        self.advance_to(self.now() + delta)

    def balance(self) -> int:
        self.account.refresh_from_db()
        return self.account.posted_balance


@pytest.fixture
def market(alice, banks, webhook_settings, celery_eager) -> Market:
    """The banks seeded, webhooks to the test receiver, Celery tasks in this process."""
    return Market(alice)


@pytest.fixture
def books_balance():
    yield
    report = verify_ledger()
    assert report.ok, report.problems
