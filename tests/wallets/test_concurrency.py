"""Real concurrency on PostgreSQL: threads with their own connections hammer overlapping
accounts. No lost update, no negative balance, no deadlock or serialization error reaches
a caller, and verify_ledger is clean at the end."""

import random
import uuid

import pytest
from django.core.management import call_command
from django.db.models import Sum
from rest_framework.test import APIClient

from sandbox.errors import ApplicationError
from tests.factories import AccountFactory, NodeFactory, TenantFactory, api_key_for, fund
from tests.helpers import run_in_one_lock_order
from wallets import services
from wallets.models import Account, Hold, LedgerTransaction
from wallets.services import TransferRequest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def test_many_transfers_holds_and_bulks_over_overlapping_accounts_keep_the_books():
    tenant = TenantFactory()
    nodes = [NodeFactory(tenant=tenant) for _ in range(2)]
    accounts = [AccountFactory(node=nodes[i % 2]) for i in range(6)]
    for account in accounts:
        fund(account, 5_000)
    ids = [a.pk for a in accounts]
    refusals = []

    def work(index):
        rng = random.Random(index)
        for step in range(40):
            source_id, destination_id = rng.sample(ids, 2)
            source = Account.objects.get(pk=source_id)
            destination = Account.objects.get(pk=destination_id)
            try:
                if step % 10 == 9:
                    requests = [
                        TransferRequest(
                            source=source,
                            destination=destination,
                            amount=rng.randint(1, 300),
                            currency="KRW",
                        )
                        for _ in range(5)
                    ]
                    services.transfer_bulk_create(
                        tenant=tenant, requests=requests, mode="independent"
                    )
                elif step % 7 == 3:
                    hold = services.hold_place(
                        tenant=tenant,
                        account=source,
                        counterparty=destination,
                        amount=rng.randint(1, 500),
                        currency="KRW",
                    )
                    if rng.random() < 0.5:
                        services.hold_capture(hold=hold, amount=max(1, hold.amount // 2))
                    else:
                        services.hold_void(hold=hold)
                else:
                    services.transfer_create(
                        tenant=tenant,
                        request=TransferRequest(
                            source=source,
                            destination=destination,
                            amount=rng.randint(1, 900),
                            currency="KRW",
                        ),
                    )
            except ApplicationError as error:
                assert error.code == "insufficient_funds", error.code
                refusals.append(error.code)

    run_in_one_lock_order(work, THREADS)

    balances = Account.objects.filter(pk__in=ids)
    assert balances.aggregate(t=Sum("posted_balance"))["t"] == 6 * 5_000  # nothing lost
    assert all(a.posted_balance >= 0 and a.held_balance == 0 for a in balances)
    assert not Hold.objects.filter(status="pending").exists()
    assert LedgerTransaction.objects.filter(kind="transfer").count() > 100
    call_command("verify_ledger")  # raises CommandError if anything is off


def test_a_hot_merchant_credited_by_everyone_loses_no_update():
    tenant = TenantFactory()
    node = NodeFactory(tenant=tenant)
    merchant = AccountFactory(node=node, name="Merchant")
    payers = [AccountFactory(node=node) for _ in range(THREADS)]
    for payer in payers:
        fund(payer, 10_000)

    def work(index):
        payer = Account.objects.get(pk=payers[index].pk)
        for _ in range(30):
            services.transfer_create(
                tenant=tenant,
                request=TransferRequest(
                    source=payer, destination=merchant, amount=7, currency="KRW"
                ),
            )

    run_in_one_lock_order(work, THREADS)
    merchant.refresh_from_db()
    assert merchant.posted_balance == THREADS * 30 * 7
    assert merchant.lock_version == THREADS * 30
    call_command("verify_ledger")


def test_concurrent_retries_with_one_idempotency_key_move_money_once():
    tenant = TenantFactory()
    node = NodeFactory(tenant=tenant)
    source, destination = node.wallet.accounts.get(), AccountFactory(node=node)
    fund(source, 1_000)
    secret = api_key_for(tenant)
    key = str(uuid.uuid4())
    body = {
        "source_account_id": str(source.pk),
        "destination_account_id": str(destination.pk),
        "amount": "250",
        "currency": "KRW",
    }
    answers = []

    def work(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        response = client.post("/api/v1/transfers", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        answers.append((response.status_code, response.json()["id"]))

    run_in_one_lock_order(work, 6)
    assert {status for status, _ in answers} == {201}
    assert len({txn_id for _, txn_id in answers}) == 1
    source.refresh_from_db()
    assert source.posted_balance == 750
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 1
