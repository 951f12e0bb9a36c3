"""Withdrawals and outgoing transfers: held at request, paid or released when the bank
answers, returned later; every outcome leaves the books balanced."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sandbox.errors import ApplicationError, Conflict, Unprocessable
from sandbox.events.models import Event
from sandbox.tenants.services import SYSTEM
from tests.wallets.banknet.conftest import SEOUL, World
from wallets import services as ledger
from wallets.banknet import bank_accounts, network_banks, withdrawals
from wallets.banknet.models import Bank, StatementLine, Withdrawal
from wallets.models import Account, Hold

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]


@pytest.fixture
def funded(world) -> World:
    world.fund(100_000)
    return world


def test_a_transfer_is_held_then_paid_when_the_bank_answers(funded):
    w = funded.transfer(30_000)
    assert funded.balance() == (100_000, 0, 30_000)  # available 70,000
    assert w.status == "pending" and w.kind == "transfer"

    funded.advance(timedelta(seconds=10))

    w.refresh_from_db()
    assert w.status == "succeeded" and w.transaction is not None
    assert w.resolved_at == w.due_at  # when the bank answered on the clock, not the wall clock
    assert funded.balance() == (70_000, 0, 0)
    assert Hold.objects.get(pk=w.hold_id).status == "captured"
    line = StatementLine.objects.filter(bank_account=funded.kim, amount=30_000).get()
    assert "Seoul shop" in line.memo
    assert list(
        Event.objects.filter(object_id=str(w.pk))
        .order_by("created_at")
        .values_list("type", flat=True)
    ) == ["transfer.created", "transfer.succeeded"]


@pytest.mark.parametrize(
    "setup,reason",
    [
        (lambda w: {"holder": "Lee Seoyeon"}, "holder_name_mismatch"),
        (lambda w: {"number": "999999999999"}, "account_not_found"),
        (
            lambda w: bank_accounts.bank_account_close(bank_account=w.kim, actor=SYSTEM) and {},
            "account_closed",
        ),
    ],
)
def test_the_bank_refuses_and_the_hold_is_released(funded, setup, reason):
    kwargs = setup(funded)
    w = funded.transfer(30_000, **kwargs)
    funded.advance(timedelta(minutes=1))
    w.refresh_from_db()
    assert (w.status, w.failure_reason) == ("failed", reason)
    assert w.resolved_at == w.due_at
    assert funded.balance() == (100_000, 0, 0)
    assert Hold.objects.get(pk=w.hold_id).status == "voided"
    assert Event.objects.get(type="transfer.failed").data["failure_reason"] == reason


def test_holder_names_match_regardless_of_case_spacing_and_width(funded):
    w = funded.transfer(1_000, holder="  kim  MINJUN ")
    funded.advance(timedelta(minutes=1))
    w.refresh_from_db()
    assert w.status == "succeeded"


def test_the_bank_refuses_during_its_maintenance_window(alice):
    world = World(alice, start=datetime(2025, 3, 4, 23, 20, tzinfo=SEOUL))
    world.fund(10_000)
    world.advance(timedelta(minutes=10))  # 23:30:05: maintenance has begun
    w = world.transfer(5_000)
    world.advance(timedelta(minutes=1))
    w.refresh_from_db()
    assert (w.status, w.failure_reason) == ("failed", "bank_maintenance")
    assert world.balance() == (10_000, 0, 0)


def test_the_daily_limit_of_the_paying_bank_counts_the_local_day(funded):
    Bank.objects.filter(pk="004").update(daily_withdrawal_limit=50_000)
    first = funded.transfer(30_000)
    second = funded.transfer(30_000)
    funded.advance(timedelta(minutes=1))
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "succeeded"
    assert (second.status, second.failure_reason) == ("failed", "daily_limit_exceeded")

    funded.advance(timedelta(days=1))  # a new day in Seoul
    third = funded.transfer(30_000)
    funded.advance(timedelta(minutes=1))
    third.refresh_from_db()
    assert third.status == "succeeded"


def test_insufficient_funds_are_refused_at_once_and_nothing_is_created(funded):
    with pytest.raises(Unprocessable) as refused:
        funded.transfer(100_001)
    assert refused.value.code == "insufficient_funds"
    assert not Withdrawal.objects.exists()
    assert funded.balance() == (100_000, 0, 0)


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"bank": "999"}, "unknown_bank"),
        ({"number": "12-34"}, "invalid_account_number"),
        ({"bank": "021000021", "number": "12345678"}, "currency_mismatch"),
        ({"holder": " "}, "invalid_holder_name"),
    ],
)
def test_bad_transfers_are_refused_and_change_nothing(funded, kwargs, code):
    with pytest.raises(ApplicationError) as refused:
        funded.transfer(1_000, **kwargs)
    assert refused.value.code == code
    assert not Withdrawal.objects.exists()
    assert funded.balance() == (100_000, 0, 0)


def test_the_next_n_withdrawals_fail_as_the_tester_asked_then_work_again(funded):
    withdrawals.tester_withdrawal_rule(
        node=funded.node, actor=SYSTEM, action="fail", count=2, reason="insufficient_funds"
    )
    transfers = [funded.transfer(1_000) for _ in range(3)]
    funded.advance(timedelta(minutes=1))
    outcomes = [(w.status, w.failure_reason) for w in Withdrawal.objects.order_by("created_at")]
    assert outcomes == [("failed", "insufficient_funds")] * 2 + [("succeeded", "")]
    assert funded.balance() == (99_000, 0, 0)
    assert len(transfers) == 3


def test_a_delayed_withdrawal_waits_the_extra_time(funded):
    withdrawals.tester_withdrawal_rule(
        node=funded.node, actor=SYSTEM, action="delay", count=1, delay_seconds=7200
    )
    slow = funded.transfer(1_000)
    fast = funded.transfer(1_000)
    funded.advance(timedelta(hours=1))
    assert Withdrawal.objects.get(pk=fast.pk).status == "succeeded"
    assert Withdrawal.objects.get(pk=slow.pk).status == "pending"
    funded.advance(timedelta(hours=1, seconds=10))
    assert Withdrawal.objects.get(pk=slow.pk).status == "succeeded"


def test_an_offline_bank_holds_withdrawals_until_it_is_back(funded):
    network_banks.tester_bank_offline(tenant=funded.tenant, bank=funded.kb, actor=SYSTEM)
    w = funded.transfer(10_000)
    funded.advance(timedelta(hours=5))
    assert Withdrawal.objects.get(pk=w.pk).status == "pending"
    assert funded.balance() == (100_000, 0, 10_000)

    network_banks.tester_bank_online(tenant=funded.tenant, bank=funded.kb, actor=SYSTEM)
    funded.advance(timedelta(seconds=1))
    assert Withdrawal.objects.get(pk=w.pk).status == "succeeded"


def test_a_bank_that_stays_offline_fails_the_withdrawal_after_three_days(funded):
    network_banks.tester_bank_offline(tenant=funded.tenant, bank=funded.kb, actor=SYSTEM)
    w = funded.transfer(10_000)
    funded.advance(timedelta(days=3, minutes=1))
    w.refresh_from_db()
    assert (w.status, w.failure_reason) == ("failed", "bank_unavailable")
    assert funded.balance() == (100_000, 0, 0)


def test_a_us_bank_pays_at_its_next_business_hour(alice):
    # Friday 18:00 in New York is Saturday 08:00 in Seoul.
    friday_evening = datetime(2025, 3, 7, 18, 0, tzinfo=ZoneInfo("America/New_York"))
    world = World(alice, start=friday_evening)
    usd = ledger.account_create(
        wallet=world.account.wallet, actor=SYSTEM, currency="USD", name="USD", bank_code="004"
    )
    world.account = usd
    chase = bank_accounts.bank_account_create(
        tenant=world.tenant,
        actor=SYSTEM,
        bank_code="021000021",
        account_number="000123456789",
        holder_name="Jane Doe",
    )
    world.deposit(5_000_00, number=usd.account_number, currency="USD", sender=_usd_sender(world))
    world.advance(timedelta(minutes=1))
    assert world.balance(usd) == (5_000_00, 0, 0)

    w = withdrawals.withdrawal_create(
        actor=SYSTEM,
        account=usd,
        amount=100_00,
        currency="USD",
        bank_code="021000021",
        account_number=chase.account_number,
        holder_name="Jane Doe",
    )
    monday_9am = datetime(2025, 3, 10, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert w.due_at == monday_9am
    world.advance(monday_9am - timedelta(minutes=1) - world.now())  # across the DST change
    assert Withdrawal.objects.get(pk=w.pk).status == "pending"
    world.advance(timedelta(minutes=2))
    assert Withdrawal.objects.get(pk=w.pk).status == "succeeded"


def test_a_usd_transfer_meets_the_receiving_us_banks_limit_in_dollars(alice):
    # the reviewer's case: KB's limit is 50,000,000 won; Chase's is $25,000.00
    # Tuesday 11:00 in New York: Chase works; 01:00 Wednesday in Seoul, past KB's maintenance
    tuesday_11am = datetime(2025, 3, 4, 11, 0, tzinfo=ZoneInfo("America/New_York"))
    world = World(alice, start=tuesday_11am)
    usd = ledger.account_create(
        wallet=world.account.wallet, actor=SYSTEM, currency="USD", name="USD", bank_code="004"
    )
    world.account = usd
    bank_accounts.bank_account_create(
        tenant=world.tenant,
        actor=SYSTEM,
        bank_code="021000021",
        account_number="000123456789",
        holder_name="Jane Doe",
    )
    world.deposit(60_000_00, number=usd.account_number, currency="USD", sender=_usd_sender(world))
    world.advance(timedelta(minutes=1))

    def pay(cents):
        return withdrawals.withdrawal_create(
            actor=SYSTEM,
            account=usd,
            amount=cents,
            currency="USD",
            bank_code="021000021",
            account_number="000123456789",
            holder_name="Jane Doe",
        )

    too_much, within = pay(30_000_00), pay(25_000_00)
    world.advance(timedelta(minutes=2))
    too_much.refresh_from_db()
    within.refresh_from_db()
    assert (too_much.status, too_much.failure_reason) == ("failed", "daily_limit_exceeded")
    assert within.status == "succeeded"
    assert within.local_date == tuesday_11am.date()  # New York's day, Chase's limit
    another_cent = pay(1)
    world.advance(timedelta(minutes=2))
    another_cent.refresh_from_db()
    assert (another_cent.status, another_cent.failure_reason) == (
        "failed",
        "daily_limit_exceeded",
    )
    assert world.balance(usd) == (35_000_00, 0, 0)


def _usd_sender(world):
    return bank_accounts.bank_account_create(
        tenant=world.tenant,
        actor=SYSTEM,
        bank_code="026009593",
        account_number="4455667788",
        holder_name="Acme Corp",
        holder_type="company",
    )


def test_a_paid_transfer_can_come_back_and_is_reversed(funded):
    w = funded.transfer(30_000)
    funded.advance(timedelta(minutes=1))
    withdrawals.withdrawal_return(withdrawal=Withdrawal.objects.get(pk=w.pk), actor=SYSTEM)
    w.refresh_from_db()
    assert (w.status, w.return_reason) == ("returned", "account_closed")
    assert w.return_transaction.reverses_id == w.transaction_id
    assert funded.balance() == (100_000, 0, 0)
    assert Event.objects.filter(type="transfer.returned").exists()
    with pytest.raises(Conflict):
        withdrawals.withdrawal_return(withdrawal=w, actor=SYSTEM)


def test_a_return_to_a_closed_virtual_account_waits_in_suspense(funded):
    w = funded.transfer(100_000)
    funded.advance(timedelta(minutes=1))
    ledger.account_close(account=funded.account, actor=SYSTEM)

    withdrawals.withdrawal_return(withdrawal=Withdrawal.objects.get(pk=w.pk), actor=SYSTEM)

    suspense = Account.objects.get(kind="platform", purpose="suspense", currency="KRW")
    assert suspense.posted_balance == 100_000


def test_a_failed_or_pending_transfer_cannot_come_back(funded):
    w = funded.transfer(1_000)
    with pytest.raises(Conflict):
        withdrawals.withdrawal_return(withdrawal=w, actor=SYSTEM)


def test_processing_twice_pays_once(funded):
    w = funded.transfer(1_000)
    funded.advance(timedelta(minutes=1))
    assert withdrawals.withdrawal_process(withdrawal_id=w.pk) is None
    assert funded.balance() == (99_000, 0, 0)


def test_a_bank_coming_back_does_not_skip_a_testers_delay(funded):
    withdrawals.tester_withdrawal_rule(
        node=funded.node, actor=SYSTEM, action="delay", count=1, delay_seconds=7200
    )
    network_banks.tester_bank_offline(tenant=funded.tenant, bank=funded.kb, actor=SYSTEM)
    w = funded.transfer(1_000)
    network_banks.tester_bank_online(tenant=funded.tenant, bank=funded.kb, actor=SYSTEM)
    funded.advance(timedelta(hours=1))
    assert Withdrawal.objects.get(pk=w.pk).status == "pending"
    funded.advance(timedelta(hours=1, seconds=10))
    assert Withdrawal.objects.get(pk=w.pk).status == "succeeded"
