"""Late locks (``wallets.locking``): a single transfer's accounts are locked by their balance
UPDATEs, with the COMMIT. What the row says when it is locked decides: an account closed,
or money spent, between the read and the COMMIT refuses the transfer exactly as if it had
been locked up front, and nothing moves. One lock order still holds: transfers that cross
never deadlock, and a hot account loses no credit."""

import threading
import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from sandbox.errors import Conflict, Unprocessable
from sandbox.tenants.services import SYSTEM
from tests.factories import AccountFactory, NodeFactory, TenantFactory, api_key_for, fund
from tests.helpers import run_in_one_lock_order
from wallets import locking, services
from wallets.models import Account, LedgerTransaction
from wallets.posting import Condition, Leg, Posting, _late, post_one
from wallets.services import TransferRequest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def elsewhere(work):
    """Run ``work`` on another connection, committed before this returns: what a concurrent
    request does between this transaction's read of the accounts and its COMMIT."""
    errors = []

    def run():
        try:
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not errors, errors


def transfer(source, destination, amount, memo=""):
    return Posting(
        kind="transfer",
        legs=[Leg(source.pk, -amount, "KRW"), Leg(destination.pk, amount, "KRW")],
        tenant_id=source.tenant_id,
        memo=memo,
    )


def balances(*accounts):
    return [Account.objects.get(pk=a.pk).posted_balance for a in accounts]


def test_a_credit_to_an_account_closed_before_the_commit_is_refused_and_nothing_moves():
    node = NodeFactory()
    source, destination = AccountFactory(node=node), AccountFactory(node=node)
    fund(source, 1_000)
    fallbacks = locking.late_fallback_count

    def body():
        result = post_one(transfer(source, destination, 300, memo="late"), lock_late=True)
        # Nothing locks the destination yet: a concurrent close goes through.
        elsewhere(lambda: services.account_close(account=destination, actor=SYSTEM))
        return result

    with pytest.raises(Conflict) as refused:
        locking.run_retrying(body)

    assert refused.value.code == "account_closed"
    assert locking.late_fallback_count == fallbacks + 1  # refused late, answered up front
    assert balances(source, destination) == [1_000, 0]
    assert not LedgerTransaction.objects.filter(memo="late").exists()
    call_command("verify_ledger")


def test_a_debit_whose_money_went_before_the_commit_is_refused_and_nothing_moves():
    node = NodeFactory()
    source, destination, other = (AccountFactory(node=node) for _ in range(3))
    fund(source, 1_000)

    def body():
        result = post_one(transfer(source, destination, 800, memo="late"), lock_late=True)
        elsewhere(lambda: locking.run_retrying(lambda: post_one(transfer(source, other, 700))))
        return result

    with pytest.raises(Unprocessable) as refused:
        locking.run_retrying(body)

    assert refused.value.code == "insufficient_funds"
    assert "300" in refused.value.message  # read from the locked row: what is left
    assert balances(source, destination, other) == [300, 0, 700]
    assert not LedgerTransaction.objects.filter(memo="late").exists()
    call_command("verify_ledger")


def test_a_refused_late_change_names_the_account_under_its_own_sqlstate():
    account = AccountFactory()
    fund(account, 100)
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as c:
        c.execute(
            "SELECT wallets_apply_late(%s::uuid[], %s::bigint[], %s::bigint[])",
            [[account.pk], [-101], [1]],
        )
    assert locking.late_refused(refused.value)
    assert refused.value.__cause__.sqlstate == locking.LATE_REFUSED_SQLSTATE
    assert str(account.pk) in str(refused.value)
    assert balances(account) == [100]  # nothing moved


def test_a_transfer_in_someone_elses_transaction_locks_up_front():
    # Only the transaction's owner can run it again after a late refusal.
    assert not locking.late_locks_allowed()
    with transaction.atomic():
        assert not locking.late_locks_allowed()
    assert locking.run_retrying(locking.late_locks_allowed)
    with transaction.atomic():
        assert not locking.run_retrying(locking.late_locks_allowed)


def test_only_accounts_above_every_account_locked_up_front_are_locked_late():
    low, high = sorted([uuid.uuid4(), uuid.uuid4()])
    legs = [Leg(low, -5, "KRW"), Leg(high, 5, "KRW")]
    plain = Posting(kind="transfer", legs=legs)
    high_checked = Posting(kind="transfer", legs=legs, conditions=[Condition(high, 0)])
    low_checked = Posting(kind="transfer", legs=legs, conditions=[Condition(low, 0)])
    held = Posting(kind="transfer", legs=legs, held={low: -5})

    assert _late(plain, {low, high}) == {low, high}
    assert _late(high_checked, {low, high}) == set()  # low would be locked after high
    assert _late(low_checked, {low, high}) == {high}
    assert _late(held, {low, high}) == {high}


def test_crossing_transfers_never_deadlock_and_keep_the_books():
    tenant = TenantFactory()
    nodes = [NodeFactory(tenant=tenant) for _ in range(2)]
    accounts = [AccountFactory(node=nodes[i % 2]) for i in range(3)]
    for account in accounts:
        fund(account, 100_000)

    def work(index):
        # Every pair of accounts, both ways at once: A->B beside B->A, round a triangle.
        source = Account.objects.get(pk=accounts[index % 3].pk)
        destination = Account.objects.get(pk=accounts[(index + 1 + index // 3 % 2) % 3].pk)
        for _ in range(25):
            services.transfer_create(
                tenant=tenant,
                request=TransferRequest(
                    source=source, destination=destination, amount=index + 1, currency="KRW"
                ),
            )

    run_in_one_lock_order(work, 6)

    sent, received = [0, 0, 0], [0, 0, 0]
    for index in range(6):
        sent[index % 3] += 25 * (index + 1)
        received[(index + 1 + index // 3 % 2) % 3] += 25 * (index + 1)
    expected = [100_000 - s + r for s, r in zip(sent, received, strict=True)]
    assert balances(*accounts) == expected
    call_command("verify_ledger")


def test_a_hot_merchant_paid_by_everyone_over_http_gets_every_credit_exactly():
    tenant = TenantFactory()
    node = NodeFactory(tenant=tenant)
    merchant = AccountFactory(node=node, name="Merchant")
    payers = [AccountFactory(node=node) for _ in range(8)]
    for payer in payers:
        fund(payer, 10_000)
    secret = api_key_for(tenant)

    def work(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        body = {
            "source_account_id": str(payers[index].pk),
            "destination_account_id": str(merchant.pk),
            "amount": "13",
            "currency": "KRW",
        }
        for _ in range(20):
            response = client.post(
                "/api/v1/transfers", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
            )
            assert response.status_code == 201, response.content

    run_in_one_lock_order(work, 8)

    merchant.refresh_from_db()
    assert merchant.posted_balance == 8 * 20 * 13
    assert merchant.lock_version == 8 * 20
    assert balances(*payers) == [10_000 - 20 * 13] * 8
    call_command("verify_ledger")
