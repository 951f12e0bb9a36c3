"""A settlement cycle end to end on a test clock: the orders of the period are gathered,
fees and VAT posted to the platform, the net paid out through the bank network; a failed
and a returned payout put the money back once and the next batch carries it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sandbox import clock
from sandbox.errors import Conflict
from sandbox.events import clocks
from sandbox.events.models import Event, ScheduledAction
from sandbox.events.services import webhook_secret_current
from sandbox.tenants.models import Node
from sandbox.tenants.services import SYSTEM
from tests.settlement.conftest import SEOUL, Market
from wallets import services as ledger
from wallets.banknet import withdrawals
from wallets.banknet.models import StatementLine, Withdrawal, WithdrawalRule
from wallets.merchant_settlement import calendar, presenters, services
from wallets.merchant_settlement.models import SettlementBatch, SettlementItem
from wallets.models import Account

pytestmark = pytest.mark.django_db

Status = SettlementBatch.Status


def _kst(day: int, hour: int, month: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SEOUL)


def _batch(run_date_day: int) -> SettlementBatch:
    return SettlementBatch.objects.get(run_date=f"2026-09-{run_date_day:02d}")


def _events(batch: SettlementBatch) -> list[str]:
    return list(
        Event.objects.filter(object_id=str(batch.pk))
        .order_by("occurred_at", "created_at")
        .values_list("type", flat=True)
    )


def _fees_balance() -> int:
    return ledger.platform_account(purpose=Account.Purpose.FEES, currency="KRW").posted_balance


def test_a_cycle_pays_out_then_a_failed_and_a_returned_payout_carry_over(market, books_balance):
    market.contract(fee_rate_bps=250)
    fees_before = _fees_balance()
    first = market.pay(10_000)
    market.pay(20_000)
    market.refund(first, 5_000)

    # given the T+1 run of Wednesday 16 at 10:00 KST
    market.advance_to(_kst(16, 10))
    batch = _batch(16)
    assert batch.status == Status.POSTED
    assert (batch.order_count, batch.refund_count) == (2, 1)
    assert (batch.gross, batch.refunds, batch.fees, batch.vat) == (30_000, 5_000, 750, 75)
    assert batch.net == batch.payout_amount == 24_175
    market.account.refresh_from_db()
    assert (market.account.posted_balance, market.account.held_balance) == (24_175, 24_175)
    assert _fees_balance() - fees_before == 825

    # when the bank answers, the batch is paid out and the money is at the bank
    market.advance(timedelta(hours=1))
    batch.refresh_from_db()
    assert batch.status == Status.PAID_OUT
    assert market.balance() == 0
    assert StatementLine.objects.filter(
        bank_account=market.bank_account, amount=24_175, reference=str(batch.withdrawal_id)
    ).exists()
    assert _events(batch) == ["settlement_batch.posted", "settlement_batch.paid_out"]
    event = Event.objects.get(object_id=str(batch.pk), type="settlement_batch.paid_out")
    assert event.data == presenters.batch_json(batch)

    # a failed payout: the hold is released and the net carried to the next batch
    withdrawals.tester_withdrawal_rule(
        node=market.merchant, actor=SYSTEM, action="fail", count=1, reason="account_closed"
    )
    market.pay(40_000)
    market.advance_to(_kst(17, 11))
    failed = _batch(17)
    assert failed.status == Status.PAYOUT_FAILED
    assert failed.failure_reason == "account_closed"
    assert failed.carried_out == failed.net == 40_000 - 1_000 - 100
    market.account.refresh_from_db()
    assert (market.account.posted_balance, market.account.held_balance) == (38_900, 0)
    assert _events(failed) == ["settlement_batch.posted", "settlement_batch.payout_failed"]

    # the next batch takes the carry, pays out, and the bank sends it back
    market.pay(1_000)
    market.advance_to(_kst(18, 11))
    carried = _batch(18)
    failed.refresh_from_db()
    assert failed.carried_into_id == carried.pk
    assert carried.carried_in == 38_900
    assert carried.net == 38_900 + 1_000 - 25 - 2
    assert carried.status == Status.PAID_OUT and market.balance() == 0

    returned = withdrawals.withdrawal_return(
        withdrawal=Withdrawal.objects.get(pk=carried.withdrawal_id), actor=SYSTEM
    )
    carried.refresh_from_db()
    assert carried.status == Status.PAYOUT_RETURNED
    assert carried.carried_out == carried.payout_amount == 39_873
    assert market.balance() == 39_873
    # exactly once: a second return is refused, following the withdrawal again changes nothing
    with pytest.raises(Conflict):
        withdrawals.withdrawal_return(withdrawal=returned, actor=SYSTEM)
    services.batch_follow_withdrawal(Withdrawal.objects.get(pk=carried.withdrawal_id))
    assert market.balance() == 39_873
    assert _events(carried).count("settlement_batch.payout_returned") == 1

    # Monday 21 (after the weekend): only the carry, paid out again
    market.advance_to(_kst(21, 11))
    last = _batch(21)
    assert (last.order_count, last.carried_in, last.status) == (0, 39_873, Status.PAID_OUT)
    assert market.balance() == 0
    assert not SettlementBatch.objects.filter(run_date__in=["2026-09-19", "2026-09-20"]).exists()
    assert SettlementItem.objects.filter(kind="order").count() == 4


def test_below_the_minimum_the_net_waits_for_the_next_batch(market, books_balance):
    market.contract(minimum_payout=10_000, fee_rate_bps=0, fixed_fee=100)
    market.pay(6_000)
    market.advance_to(_kst(16, 11))
    small = _batch(16)
    assert (small.status, small.net, small.payout_amount) == (Status.CARRIED_OVER, 5_890, 0)
    assert small.carried_out == 5_890 and small.withdrawal_id is None
    market.pay(6_000)
    market.advance_to(_kst(17, 11))
    enough = _batch(17)
    assert (enough.carried_in, enough.net, enough.status) == (5_890, 11_780, Status.PAID_OUT)
    assert market.balance() == 0


def test_the_run_after_chuseok_settles_the_days_it_held_back(
    alice, banks, webhook_settings, celery_eager, books_balance
):
    market = Market(alice, start=_kst(23, 9))
    market.contract()
    market.pay(10_000)  # Wednesday 23 (T+1: paid on Monday 28)
    market.advance_to(_kst(26, 12))  # Saturday, in the holidays
    market.pay(20_000)
    market.advance_to(_kst(28, 11))
    assert list(SettlementBatch.objects.values_list("run_date", flat=True)) == [
        datetime(2026, 9, 28).date()
    ]
    batch = _batch(28)
    assert (batch.order_count, batch.gross, batch.status) == (2, 30_000, Status.PAID_OUT)
    action = ScheduledAction.objects.get(kind=services.CYCLE_KIND, status="pending")
    assert action.payload["run_date"] == "2026-09-29"


def test_running_a_cycle_twice_makes_one_batch(market, books_balance):
    contract = market.contract()
    market.pay(10_000)
    market.advance_to(_kst(16, 11))
    assert (
        services.settlement_cycle_run(contract_id=contract.pk, run_date=_batch(16).run_date) is None
    )
    assert SettlementBatch.objects.count() == 1
    with pytest.raises(Conflict) as refused:
        services.settlement_run_now(actor=SYSTEM, contract=contract)
    assert refused.value.code == "nothing_to_settle"
    assert WithdrawalRule.objects.count() == 0


def test_each_transition_goes_out_as_a_signed_webhook(market, receiver, alice):
    Node.objects.filter(pk=market.merchant.pk).update(webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=market.merchant).secret]
    market.contract()
    withdrawals.tester_withdrawal_rule(
        node=market.merchant, actor=SYSTEM, action="fail", count=1, reason="daily_limit_exceeded"
    )
    market.pay(10_000)
    market.advance_to(_kst(16, 11))
    batch = _batch(16)
    seen = [r.json for r in receiver.requests if r.json["type"].startswith("settlement_batch.")]
    assert [e["type"] for e in seen] == [
        "settlement_batch.posted",
        "settlement_batch.payout_failed",
    ]
    assert all(r.verified for r in receiver.requests)
    shown = alice.api.get(f"/api/v1/settlement_batches/{batch.pk}").json()
    assert seen[-1]["data"] == shown
    assert shown["failure_reason"] == "daily_limit_exceeded" and shown["carried_out"] == "9725"


def test_the_next_cycle_follows_the_node_when_it_leaves_its_test_clock(market):
    contract = market.contract()
    assert contract.next_run_date.isoformat() == "2026-09-16"
    clocks.test_clock_detach(clock=market.clock, node=market.merchant, actor=SYSTEM)
    contract.refresh_from_db()
    platform_today = calendar.local_date(clock.now())
    assert contract.next_run_date == calendar.next_run_date("daily", 1, platform_today)
    pending = ScheduledAction.objects.get(kind=services.CYCLE_KIND, status="pending")
    assert pending.payload["run_date"] == contract.next_run_date.isoformat()


def test_a_payout_the_account_cannot_cover_fails_at_once_and_is_carried(market, books_balance):
    market.contract()
    market.pay(10_000)
    # the merchant spends most of it before the cycle
    ledger.transfer_create(
        tenant=market.tenant,
        request=ledger.TransferRequest(
            source=market.account,
            destination=market.payer_account,
            amount=9_000,
            currency="KRW",
        ),
    )
    market.advance_to(_kst(16, 11))
    batch = _batch(16)
    assert (batch.status, batch.withdrawal_id) == (Status.PAYOUT_FAILED, None)
    assert batch.failure_reason and batch.carried_out == batch.payout_amount == 9_725
    assert _events(batch) == ["settlement_batch.posted", "settlement_batch.payout_failed"]
    market.account.refresh_from_db()
    assert (market.account.posted_balance, market.account.held_balance) == (725, 0)
    assert not Withdrawal.objects.exists()
