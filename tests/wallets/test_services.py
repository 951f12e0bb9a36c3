"""Wallets, accounts, transfers, holds and reversals through the service layer."""

from datetime import timedelta

import pytest

from sandbox import clock
from sandbox.errors import ApplicationError
from sandbox.tenants.services import SYSTEM
from tests.factories import AccountFactory, NodeFactory, TenantFactory, fund
from wallets import services
from wallets.models import Account, Entry, Hold, LedgerTransaction
from wallets.services import TransferRequest
from wallets.verification import verify_ledger

pytestmark = pytest.mark.django_db


def refreshed(account: Account) -> Account:
    account.refresh_from_db()
    return account


def transfer(source, destination, amount, **extra):
    return services.transfer_create(
        tenant=source.tenant,
        request=TransferRequest(
            source=source, destination=destination, amount=amount, currency=source.currency, **extra
        ),
    )


def test_it_gives_each_new_node_a_wallet_with_a_main_account_in_its_base_currency():
    node = NodeFactory(base_currency="USD")
    wallet = node.wallet
    (main,) = wallet.accounts.all()
    assert (main.name, main.currency, main.tenant_id) == ("Main", "USD", node.tenant_id)
    assert main.posted_balance == main.pending_balance == main.held_balance == 0
    assert main.bank_code == "004" and len(main.account_number) == 14


def test_it_draws_check_digited_unique_account_numbers():
    from wallets.banks import is_valid_account_number

    node = NodeFactory()
    accounts = [AccountFactory(node=node) for _ in range(5)]
    numbers = {a.account_number for a in accounts}
    assert len(numbers) == 5
    assert all(is_valid_account_number(n) for n in numbers)


def test_it_moves_money_and_books_both_legs():
    node = NodeFactory()
    source, destination = AccountFactory(node=node), AccountFactory(node=node)
    fund(source, 10_000)

    result = transfer(source, destination, 2_500, memo="rent", metadata={"invoice": "A-1"})

    txn = result.transaction
    assert (txn.kind, txn.amount, txn.currency, txn.memo) == ("transfer", 2_500, "KRW", "rent")
    assert txn.metadata == {"invoice": "A-1"} and not txn.is_inter_node
    assert sorted(e.amount for e in Entry.objects.filter(transaction=txn)) == [-2_500, 2_500]
    assert refreshed(source).posted_balance == 7_500
    assert refreshed(destination).posted_balance == 2_500
    assert refreshed(source).lock_version == 2  # the deposit and the transfer
    assert verify_ledger().ok


def test_it_marks_transfers_between_nodes_as_inter_node():
    tenant = TenantFactory()
    a = AccountFactory(node=NodeFactory(tenant=tenant))
    b = AccountFactory(node=NodeFactory(tenant=tenant))
    fund(a, 100)
    assert transfer(a, b, 100).transaction.is_inter_node


def test_it_refuses_to_overdraw_and_writes_nothing():
    node = NodeFactory()
    source, destination = AccountFactory(node=node), AccountFactory(node=node)
    fund(source, 100)
    before = LedgerTransaction.objects.count()
    with pytest.raises(ApplicationError) as refused:
        transfer(source, destination, 101)
    assert refused.value.code == "insufficient_funds" and refused.value.status_code == 422
    assert LedgerTransaction.objects.count() == before
    assert refreshed(source).posted_balance == 100


def test_it_honours_balance_conditions_and_lock_versions():
    node = NodeFactory()
    source, destination = AccountFactory(node=node), AccountFactory(node=node)
    fund(source, 1_000)
    with pytest.raises(ApplicationError) as refused:
        transfer(source, destination, 600, available_at_least=500)
    assert refused.value.code == "balance_condition_failed"
    transfer(source, destination, 500, available_at_least=500)

    version = refreshed(source).lock_version
    with pytest.raises(ApplicationError) as stale:
        transfer(source, destination, 1, lock_version=version - 1)
    assert stale.value.code == "lock_version_mismatch"
    transfer(source, destination, 1, lock_version=version)
    assert refreshed(source).posted_balance == 499


def test_it_refuses_transfers_to_the_same_account_closed_accounts_and_other_currencies():
    node = NodeFactory()
    krw, usd = AccountFactory(node=node), AccountFactory(node=node, currency="USD")
    fund(krw, 100)
    with pytest.raises(ApplicationError) as same:
        transfer(krw, krw, 1)
    assert same.value.code == "same_account"
    with pytest.raises(ApplicationError) as mismatch:
        transfer(krw, usd, 1)
    assert mismatch.value.code == "currency_mismatch"
    empty = AccountFactory(node=node)
    services.account_close(account=empty, actor=SYSTEM)
    with pytest.raises(ApplicationError) as closed:
        transfer(krw, refreshed(empty), 1)
    assert closed.value.code == "account_closed"


def test_it_closes_only_empty_accounts():
    account = AccountFactory()
    fund(account, 1)
    with pytest.raises(ApplicationError) as refused:
        services.account_close(account=account, actor=SYSTEM)
    assert refused.value.code == "account_not_empty"
    assert refreshed(account).status == "open"


def test_it_places_captures_part_of_and_releases_a_hold():
    node = NodeFactory()
    card, merchant = AccountFactory(node=node), AccountFactory(node=node)
    fund(card, 1_000)
    hold = services.hold_place(
        tenant=card.tenant, account=card, counterparty=merchant, amount=800, currency="KRW"
    )
    assert refreshed(card).available_balance == 200 and card.held_balance == 800
    with pytest.raises(ApplicationError) as refused:
        transfer(card, merchant, 201)
    assert refused.value.code == "insufficient_funds"

    hold = services.hold_capture(hold=hold, amount=300)
    assert (hold.status, hold.captured_amount) == ("captured", 300)
    card = refreshed(card)
    assert (card.posted_balance, card.held_balance, card.available_balance) == (700, 0, 700)
    assert refreshed(merchant).posted_balance == 300
    assert hold.capture_transaction.kind == "hold_capture"
    with pytest.raises(ApplicationError) as twice:
        services.hold_capture(hold=hold)
    assert twice.value.code == "hold_not_pending"
    assert verify_ledger().ok


def test_it_voids_a_hold_and_refuses_captures_beyond_it():
    node = NodeFactory()
    card, merchant = AccountFactory(node=node), AccountFactory(node=node)
    fund(card, 500)
    hold = services.hold_place(
        tenant=card.tenant, account=card, counterparty=merchant, amount=500, currency="KRW"
    )
    with pytest.raises(ApplicationError) as beyond:
        services.hold_capture(hold=hold, amount=501)
    assert beyond.value.code == "capture_exceeds_hold"
    services.hold_void(hold=hold)
    assert refreshed(card).available_balance == 500
    assert Hold.objects.get(pk=hold.pk).status == "voided"


def test_it_expires_due_holds_once(monkeypatch):
    node = NodeFactory()
    card, merchant = AccountFactory(node=node), AccountFactory(node=node)
    fund(card, 500)
    hold = services.hold_place(
        tenant=card.tenant,
        account=card,
        counterparty=merchant,
        amount=400,
        currency="KRW",
        expires_at=clock.now() + timedelta(minutes=5),
    )
    assert services.holds_expire_due() == 0
    later = clock.now() + timedelta(minutes=6)
    monkeypatch.setattr("sandbox.clock.now", lambda **_: later)
    with pytest.raises(ApplicationError) as expired:
        services.hold_capture(hold=hold)
    assert expired.value.code == "hold_expired"

    from wallets.tasks import expire_due_holds, expire_hold

    assert expire_due_holds() == 1
    assert expire_hold(str(hold.pk)) is False  # a second run finds nothing to do
    assert Hold.objects.get(pk=hold.pk).status == "expired"
    assert refreshed(card).available_balance == 500
    assert verify_ledger().ok


def test_it_reverses_a_transfer_exactly_once():
    node = NodeFactory()
    a, b = AccountFactory(node=node), AccountFactory(node=node)
    fund(a, 300)
    original = transfer(a, b, 300).transaction
    reversal = services.transaction_reverse(transaction_=original, tenant=a.tenant).transaction
    assert reversal.reverses_id == original.pk and reversal.kind == "reversal"
    assert refreshed(a).posted_balance == 300 and refreshed(b).posted_balance == 0
    with pytest.raises(ApplicationError) as again:
        services.transaction_reverse(transaction_=original, tenant=a.tenant)
    assert again.value.code == "already_reversed"
    with pytest.raises(ApplicationError) as of_reversal:
        services.transaction_reverse(transaction_=reversal, tenant=a.tenant)
    assert of_reversal.value.code == "cannot_reverse_reversal"


def test_it_lets_tenants_reverse_only_their_own_transfers():
    account = AccountFactory()
    deposit = fund(account, 100)
    with pytest.raises(ApplicationError) as refused:
        services.transaction_reverse(transaction_=deposit, tenant=account.tenant)
    assert refused.value.code == "not_reversible"


def test_it_posts_bulk_transfers_independently_with_a_result_each():
    node = NodeFactory()
    a, b = AccountFactory(node=node), AccountFactory(node=node)
    fund(a, 100)
    requests = [
        TransferRequest(source=a, destination=b, amount=60, currency="KRW"),
        TransferRequest(source=a, destination=b, amount=60, currency="KRW"),  # 40 left: refused
        TransferRequest(source=b, destination=a, amount=10, currency="KRW"),
    ]
    results = services.transfer_bulk_create(tenant=a.tenant, requests=requests, mode="independent")
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error.code == "insufficient_funds"
    assert refreshed(a).posted_balance == 50 and refreshed(b).posted_balance == 50
    assert verify_ledger().ok


def test_it_posts_bulk_transfers_atomically_or_not_at_all():
    node = NodeFactory()
    a, b = AccountFactory(node=node), AccountFactory(node=node)
    fund(a, 100)
    requests = [
        TransferRequest(source=a, destination=b, amount=60, currency="KRW"),
        TransferRequest(source=a, destination=b, amount=60, currency="KRW"),
    ]
    before = LedgerTransaction.objects.count()
    with pytest.raises(ApplicationError) as refused:
        services.transfer_bulk_create(tenant=a.tenant, requests=requests, mode="atomic")
    assert refused.value.code == "insufficient_funds"
    assert refused.value.fields["items"]["1"]["code"] == "insufficient_funds"
    assert LedgerTransaction.objects.count() == before
    assert refreshed(a).posted_balance == 100


def test_platform_accounts_balance_every_currency_to_zero():
    for currency in ("KRW", "USD", "BTC"):
        fund(AccountFactory(currency=currency), 12_345)
    from django.db.models import Sum

    totals = Account.objects.values("currency").annotate(total=Sum("posted_balance"))
    assert {row["currency"]: row["total"] for row in totals} == {"KRW": 0, "USD": 0, "BTC": 0}
