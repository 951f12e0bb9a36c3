"""The database itself refuses what the ledger must never contain."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tests.factories import AccountFactory, NodeFactory, TenantFactory, fund
from wallets import services
from wallets.models import Account, Entry, Hold, LedgerTransaction
from wallets.posting import Leg, Posting, post_one
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


def insert_transaction(legs, *, tenant_id=None) -> None:
    """Insert a ledger transaction and its entries (account, amount) in one statement, as
    ``wallets.posting`` does on PostgreSQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH txn AS (
                INSERT INTO wallets_ledgertransaction
                       (uuid, tenant_id, kind, memo, metadata, amount, currency,
                        is_inter_node, posted_at)
                VALUES (gen_random_uuid(), %s, 'adjustment', '', '{}', 5, 'KRW', false, now())
                RETURNING id
            )
            INSERT INTO wallets_entry (transaction_id, account_id, amount, currency, posted_at)
            SELECT txn.id, leg.account, leg.amount, 'KRW', now()
              FROM txn, unnest(%s::uuid[], %s::bigint[]) AS leg(account, amount)
            """,
            [tenant_id, [str(a.pk) for a, _ in legs], [amount for _, amount in legs]],
        )


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_an_unbalanced_transaction_at_the_end_of_its_statement():
    account, other = AccountFactory(), AccountFactory()
    with pytest.raises(IntegrityError, match="does not sum to zero"), transaction.atomic():
        # Balanced per row count, not per amount.
        insert_transaction([(account, 5), (other, -4)])
    assert not LedgerTransaction.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_a_transaction_with_a_single_entry_or_none():
    account = AccountFactory()
    now = timezone.now()
    with pytest.raises(IntegrityError, match="at least 2"), transaction.atomic():
        insert_transaction([(account, 1)])
    # Entries come in the transaction's own statement: not later.
    with pytest.raises(IntegrityError, match="no entries"), transaction.atomic():
        LedgerTransaction.objects.create(kind="adjustment", amount=0, currency="KRW", posted_at=now)
    assert not LedgerTransaction.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_accepts_a_balanced_transaction_inserted_with_its_entries():
    account, other = AccountFactory(), AccountFactory()
    insert_transaction([(account, 5), (other, -5)], tenant_id=account.tenant_id)
    assert Entry.objects.filter(transaction__tenant=account.tenant).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_ledger_rows_naming_a_missing_account_transaction_or_tenant():
    account, other = AccountFactory(), AccountFactory()
    txn = fund(account, 10)
    ghost = Account(pk=uuid.uuid4())
    with pytest.raises(IntegrityError, match=r"account_id .* is not present"), transaction.atomic():
        insert_transaction([(account, 5), (ghost, -5)])
    with pytest.raises(IntegrityError, match=r"tenant_id .* is not present"), transaction.atomic():
        insert_transaction([(account, 5), (other, -5)], tenant_id=uuid.uuid4())
    with (
        pytest.raises(IntegrityError, match=r"transaction_id .* is not present"),
        transaction.atomic(),
    ):
        Entry.objects.create(
            transaction_id=txn.pk + 1000,
            account=account,
            amount=1,
            currency="KRW",
            posted_at=timezone.now(),
        )


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_to_delete_an_account_or_tenant_the_ledger_names_at_commit():
    account, other = AccountFactory(), AccountFactory()
    fund(account, 10)
    bare = TenantFactory()  # nothing else names it
    insert_transaction([(account, 5), (other, -5)], tenant_id=bare.pk)
    for statement, params in (
        ("DELETE FROM wallets_account WHERE id = %s", [account.pk]),
        ("DELETE FROM tenants_tenant WHERE id = %s", [bare.pk]),
    ):
        with (
            pytest.raises(IntegrityError, match="still referenced"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, params)  # accepted: refused at COMMIT, forced here
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert Account.objects.filter(pk=account.pk).exists()


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
def test_postgresql_refuses_entries_added_by_a_later_statement_of_the_same_transaction():
    account, other = AccountFactory(), AccountFactory()
    with pytest.raises(IntegrityError, match="after entries were added"), transaction.atomic():
        insert_transaction([(account, 5), (other, -5)])
        # Same database transaction, no savepoint: the same xid as the posted rows.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO wallets_entry (transaction_id, account_id, amount, currency, "
                "posted_at) SELECT max(id), %s, 1000000, 'KRW', now() "
                "FROM wallets_ledgertransaction",
                [str(other.pk)],
            )
    assert not LedgerTransaction.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_bulk_checks_its_own_rows_early_and_leaves_the_checks_deferred_after():
    # given
    node = NodeFactory()
    source, destination = AccountFactory(node=node), AccountFactory(node=node)
    fund(source, 100)
    request = TransferRequest(source=source, destination=destination, amount=1, currency="KRW")

    # when: a bulk (its checks run at its INSERT), then, in the same transaction, a hold on
    # an account that does not exist (a deferred foreign key)
    services.transfer_bulk_create(tenant=source.tenant, requests=[request] * 3, mode="atomic")
    now = timezone.now()
    Hold.objects.create(
        account_id=uuid.uuid4(),
        counterparty=destination,
        amount=1,
        currency="KRW",
        created_at=now,
        expires_at=now,
    )

    # then: that one is refused at COMMIT, not before (here: when the checks are forced)
    with pytest.raises(IntegrityError, match="foreign key"), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
def test_the_database_refuses_a_second_reversal_of_a_transaction():
    # given: a transfer, reversed once (and many transactions that reverse nothing)
    node = NodeFactory()
    source, destination = AccountFactory(node=node), AccountFactory(node=node)
    fund(source, 100)
    request = TransferRequest(source=source, destination=destination, amount=10, currency="KRW")
    original = services.transfer_create(tenant=None, request=request).transaction
    services.transaction_reverse(transaction_=original, tenant=None)
    reversal = Posting(
        kind="reversal",
        legs=[Leg(source.pk, 10, "KRW"), Leg(destination.pk, -10, "KRW")],
        reverses_id=original.pk,
    )

    # when: a second reversal, past the service's own check
    with pytest.raises(IntegrityError), transaction.atomic():
        post_one(reversal)

    # then
    assert LedgerTransaction.objects.filter(reverses=original).count() == 1
    assert LedgerTransaction.objects.filter(reverses__isnull=True).count() > 1
