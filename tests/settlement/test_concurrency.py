"""Cycles racing (PostgreSQL, threads with their own connections): every order and refund
ends in exactly one batch, the fees are posted once per order, and the database refuses a
second batch of an order whatever the code does."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from sandbox.errors import ApplicationError
from sandbox.events.models import ScheduledAction
from sandbox.tenants.services import SYSTEM
from tests.helpers import run_in_threads
from tests.settlement.conftest import Market
from wallets import locking
from wallets.merchant_settlement import calendar, services
from wallets.merchant_settlement.models import SettlementBatch, SettlementContract, SettlementItem
from wallets.models import LedgerTransaction
from wallets.verification import verify_ledger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 6


@pytest.fixture
def market(alice, banks, webhook_settings, celery_eager) -> Market:
    return Market(alice)


def test_racing_cycles_put_each_order_in_one_batch(market):
    contract = market.contract(fee_rate_bps=300)
    orders = [market.pay(1_000 * (i + 1)) for i in range(5)]
    market.refund(orders[0], 400)
    # the clock reaches Wednesday's run with its scheduled action held back, so that half
    # the threads run that cycle and the others the test helper, all at once
    ScheduledAction.objects.filter(kind=services.CYCLE_KIND).update(status="cancelled")
    market.advance_to(calendar.run_at(contract.next_run_date))
    assert not SettlementBatch.objects.exists()
    retries = locking.retry_count

    def run(i: int):
        fresh = SettlementContract.objects.get(pk=contract.pk)
        if i % 2:
            return services.settlement_cycle_run(contract_id=fresh.pk, run_date=fresh.next_run_date)
        return services.settlement_run_now(actor=SYSTEM, contract=fresh)

    more = [market.pay(700) for _ in range(3)]  # at 10:00: only the test helper's cutoff
    results = run_in_threads(run, THREADS)

    batches = [r for r in results if isinstance(r, SettlementBatch)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert all(isinstance(r, (SettlementBatch, ApplicationError)) or r is None for r in results)
    assert {e.code for e in refused} <= {"nothing_to_settle"}
    # the first to lock the contract takes what its cutoff covers, a later one the rest
    assert 1 <= len({b.pk for b in batches}) <= 2
    assert SettlementBatch.objects.filter(trigger="scheduled").count() <= 1
    orders_settled = SettlementItem.objects.filter(kind="order")
    assert orders_settled.count() == len(orders) + len(more)
    assert orders_settled.values("payment_request").distinct().count() == 8
    assert SettlementItem.objects.filter(kind="refund").count() == 1
    fee_postings = LedgerTransaction.objects.filter(kind=services.FEE_KIND).count()
    assert fee_postings == SettlementBatch.objects.count() == len({b.pk for b in batches})
    total_fees = sum(b.fees + b.vat for b in SettlementBatch.objects.all())
    assert total_fees == sum(i.fee + i.vat for i in SettlementItem.objects.all())
    assert verify_ledger().ok
    assert locking.retry_count == retries  # one lock order: nothing retried


def test_the_database_refuses_an_order_in_two_batches(market):
    market.contract()
    market.pay(5_000)
    batch = services.settlement_run_now(actor=SYSTEM, contract=SettlementContract.objects.get())
    item = batch.items.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementItem.objects.create(
            batch=batch,
            kind="order",
            payment_request=item.payment_request,
            amount=item.amount,
            occurred_at=item.occurred_at,
        )
