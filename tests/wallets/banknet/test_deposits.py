"""Deposits to virtual account numbers: pending at once, credited after the bank's delay,
returned when the account is unknown, closed or in another currency."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sandbox.errors import ApplicationError
from sandbox.events import scheduling
from sandbox.events.models import Event
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory
from tests.wallets.banknet.conftest import SEOUL
from wallets import banks
from wallets import services as ledger
from wallets.banknet import network_banks
from wallets.banknet.models import Deposit, StatementLine
from wallets.models import Account, Entry

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]


def test_a_deposit_is_pending_at_once_and_credited_after_the_banks_delay(world):
    deposit = world.deposit(50_000, memo="invoice 7")
    assert world.balance() == (0, 50_000, 0)

    world.advance(timedelta(seconds=4))
    assert Deposit.objects.get(pk=deposit.pk).status == "pending"

    world.advance(timedelta(seconds=2))
    deposit.refresh_from_db()
    assert deposit.status == "credited" and deposit.transaction is not None
    assert world.balance() == (50_000, 0, 0)
    assert list(
        Event.objects.filter(object_id=str(deposit.pk))
        .order_by("created_at")
        .values_list("type", flat=True)
    ) == ["deposit.created", "deposit.credited"]
    credited = Event.objects.get(type="deposit.credited")
    assert credited.node == world.node and credited.data["amount"] == "50000"
    assert credited.occurred_at == deposit.due_at == world.now() - timedelta(seconds=1)
    assert deposit.resolved_at == deposit.due_at  # the clock's time, not the wall clock's
    assert StatementLine.objects.get(bank_account=world.kim).amount == -50_000


@pytest.mark.parametrize("case", ["unknown", "closed", "other_currency"])
def test_a_deposit_that_cannot_be_credited_goes_back_to_the_sender(world, case):
    number = banks.new_account_number()
    expected = "account_not_found"
    if case == "closed":
        closed = ledger.account_create(
            wallet=world.account.wallet, actor=SYSTEM, currency="KRW", name="old", bank_code="004"
        )
        ledger.account_close(account=closed, actor=SYSTEM)
        number, expected = closed.account_number, "account_closed"
    elif case == "other_currency":
        usd = ledger.account_create(
            wallet=world.account.wallet, actor=SYSTEM, currency="USD", name="usd", bank_code="004"
        )
        number, expected = usd.account_number, "currency_mismatch"
    entries_before = Entry.objects.count()

    deposit = world.deposit(10_000, number=number, bank_code="004")
    world.advance(timedelta(minutes=1))
    scheduling.sweep()  # unknown numbers bounce at once, on real time

    deposit.refresh_from_db()
    assert deposit.status == "returned" and deposit.return_reason == expected
    assert Entry.objects.count() == entries_before  # the money never entered the ledger
    lines = list(StatementLine.objects.filter(bank_account=world.kim).order_by("id"))
    assert [line.amount for line in lines] == [-10_000, 10_000]
    assert Event.objects.filter(type="deposit.returned", object_id=str(deposit.pk)).exists()


def test_another_tenants_account_number_is_as_unknown_as_any(world, outsider):
    theirs = Account.objects.get(wallet__node=NodeFactory(tenant=outsider.tenant))
    deposit = world.deposit(10_000, number=theirs.account_number)
    scheduling.sweep()
    deposit.refresh_from_db()
    assert deposit.status == "returned" and deposit.return_reason == "account_not_found"
    theirs.refresh_from_db()
    assert (theirs.posted_balance, theirs.pending_balance) == (0, 0)


@pytest.mark.parametrize(
    "change,code",
    [
        ({"bank_code": "999"}, "unknown_bank"),
        ({"bank_code": "021000021"}, "not_a_virtual_account_bank"),
        ({"number": "12345"}, "invalid_account_number"),
        ({"number": "91234567890124"}, "invalid_account_number"),  # check digit wrong
        ({"currency": "USD"}, "currency_mismatch"),
    ],
)
def test_bad_deposits_are_refused_and_change_nothing(world, change, code):
    good = world.account.account_number
    if "number" in change and change["number"] == "91234567890124":
        change = {"number": good[:-1] + str((int(good[-1]) + 1) % 10)}
    with pytest.raises(ApplicationError) as refused:
        world.deposit(1000, **change)
    assert refused.value.code == code
    assert not Deposit.objects.exists() and not StatementLine.objects.exists()
    assert world.balance() == (0, 0, 0)


def test_a_deposit_during_the_nightly_maintenance_waits_for_its_end(alice):
    from tests.wallets.banknet.conftest import World

    world = World(alice, start=datetime(2025, 3, 4, 23, 40, tzinfo=SEOUL))
    deposit = world.deposit(7_000)
    assert deposit.due_at == datetime(2025, 3, 5, 0, 30, tzinfo=SEOUL)

    world.advance(timedelta(minutes=49))
    assert world.balance() == (0, 7_000, 0)
    world.advance(timedelta(minutes=2))
    assert world.balance() == (7_000, 0, 0)


def test_a_deposit_waits_while_the_bank_is_offline_for_this_tenant(world):
    network_banks.tester_bank_offline(tenant=world.tenant, bank=world.kb, actor=SYSTEM)
    deposit = world.deposit(3_000)
    world.advance(timedelta(hours=2))
    assert Deposit.objects.get(pk=deposit.pk).status == "pending"

    assert network_banks.tester_bank_online(tenant=world.tenant, bank=world.kb, actor=SYSTEM) == 1
    world.advance(timedelta(seconds=1))
    assert Deposit.objects.get(pk=deposit.pk).status == "credited"


def test_the_extra_delay_of_a_simulated_deposit_is_honoured(world):
    deposit = world.deposit(1_000, delay_seconds=3600)
    world.advance(timedelta(minutes=59))
    assert Deposit.objects.get(pk=deposit.pk).status == "pending"
    world.advance(timedelta(minutes=2))
    assert Deposit.objects.get(pk=deposit.pk).status == "credited"


def test_a_credited_deposit_tells_the_node_of_the_payment_and_of_the_balance(world):
    # docs/webhooks.md: bank events follow the payment, ledger events the balance.
    deposit = world.deposit(50_000)
    world.advance(timedelta(seconds=6))
    deposit.refresh_from_db()
    assert deposit.status == "credited"

    types = Event.objects.filter(node=world.node, type__regex=r"^(deposit|hold)\.")
    assert sorted(types.values_list("type", flat=True)) == [
        "deposit.created",
        "deposit.credited",
        "hold.captured",
        "hold.placed",
    ]
    placed = Event.objects.get(node=world.node, type="hold.placed")
    captured = Event.objects.get(node=world.node, type="hold.captured")
    assert placed.object_id == captured.object_id == str(deposit.hold_id)
    assert placed.data["direction"] == "credit"
    assert captured.data["capture_transaction_id"] == str(deposit.transaction.uuid)
    assert placed.created_at < captured.created_at
