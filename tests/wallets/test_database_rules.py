"""The database itself refuses what the ledger must never contain."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tests.factories import AccountFactory, NodeFactory, fund
from wallets import services
from wallets.models import Account, Entry, LedgerTransaction
from wallets.services import TransferRequest


@pytest.mark.django_db
def test_it_refuses_a_negative_available_balance_on_an_account_without_overdraft():
    account = AccountFactory()
    fund(account, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(held_balance=11)


@pytest.mark.django_db
def test_it_refuses_zero_amount_entries():
    account = AccountFactory()
    txn = fund(account, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        Entry.objects.create(
            transaction=txn, account=account, amount=0, currency="KRW", posted_at=timezone.now()
        )


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE wallets_entry SET amount = amount * 2",
        "DELETE FROM wallets_entry",
        "UPDATE wallets_ledgertransaction SET memo = 'edited'",
        "DELETE FROM wallets_ledgertransaction",
    ],
)
def test_postgresql_refuses_to_edit_or_delete_ledger_rows(statement):
    fund(AccountFactory(), 10)
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert Entry.objects.filter(amount=10).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_an_unbalanced_transaction_at_commit():
    account = AccountFactory()
    now = timezone.now()
    with pytest.raises(IntegrityError, match="does not sum to zero"), transaction.atomic():
        txn = LedgerTransaction.objects.create(
            kind="adjustment", amount=5, currency="KRW", posted_at=now
        )
        # Balanced per row count, not per amount; checked only at COMMIT (deferred).
        Entry.objects.create(
            transaction=txn, account=account, amount=5, currency="KRW", posted_at=now
        )
        Entry.objects.create(
            transaction=txn, account=account, amount=-4, currency="KRW", posted_at=now
        )
    assert not LedgerTransaction.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_a_transaction_with_a_single_entry_or_none():
    account = AccountFactory()
    now = timezone.now()
    with pytest.raises(IntegrityError, match="at least 2"), transaction.atomic():
        txn = LedgerTransaction.objects.create(
            kind="adjustment", amount=0, currency="KRW", posted_at=now
        )
        Entry.objects.create(
            transaction=txn, account=account, amount=0 + 1, currency="KRW", posted_at=now
        )
        Entry.objects.filter(pk=-1).exists()  # nothing else: the check runs at COMMIT
    with pytest.raises(IntegrityError, match="no entries"), transaction.atomic():
        LedgerTransaction.objects.create(kind="adjustment", amount=0, currency="KRW", posted_at=now)
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_verify_ledger_passes_clean_books_and_names_each_tampered_account(capsys):
    from django.core.management import CommandError, call_command

    account, other = AccountFactory(), AccountFactory()
    fund(account, 100)
    fund(other, 100)
    call_command("verify_ledger")
    assert "consistent" in capsys.readouterr().out
    # Balances edited behind the ledger's back are each named by verify_ledger.
    Account.objects.filter(pk__in=[account.pk, other.pk]).update(posted_balance=99)
    with pytest.raises(CommandError, match="NOT consistent"):
        call_command("verify_ledger")
    errors = capsys.readouterr().err
    assert str(account.pk) in errors and str(other.pk) in errors
    assert "currency KRW does not sum to zero" in errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_entries_that_unbalance_an_already_posted_transaction():
    account, other = AccountFactory(), AccountFactory()
    txn = fund(account, 10)  # committed
    now = timezone.now()
    with pytest.raises(IntegrityError, match="after entries were added"), transaction.atomic():
        Entry.objects.create(
            transaction=txn, account=other, amount=3, currency="KRW", posted_at=now
        )
    assert Entry.objects.filter(transaction=txn).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_bulk_checks_its_own_rows_early_and_leaves_the_checks_deferred_after():
    # given
    node = NodeFactory()
    source, destination = AccountFactory(node=node), AccountFactory(node=node)
    fund(source, 100)
    request = TransferRequest(source=source, destination=destination, amount=1, currency="KRW")

    # when: a bulk (its checks run at its INSERT), then, in the same transaction, a ledger
    # transaction without entries
    services.transfer_bulk_create(tenant=source.tenant, requests=[request] * 3, mode="atomic")
    LedgerTransaction.objects.create(
        kind="adjustment", amount=5, currency="KRW", posted_at=timezone.now()
    )

    # then: that one is refused at COMMIT, not before (here: when the checks are forced)
    with pytest.raises(IntegrityError, match="has no entries"), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
