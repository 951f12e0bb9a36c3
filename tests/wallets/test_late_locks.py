"""Late locks (``wallets.locking``): a single transfer's accounts are locked by their balance
UPDATEs, with the COMMIT. What the row says when it is locked decides: an account closed,
or money spent, between the read and the COMMIT refuses the transfer exactly as if it had
been locked up front, and nothing moves. One lock order still holds: transfers that cross
never deadlock, and a hot account loses no credit."""

import threading
import uuid
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from sandbox.errors import Conflict, Unprocessable
from sandbox.tenants.models import Tenant
from sandbox.tenants.services import SYSTEM
from tests.factories import AccountFactory, NodeFactory, TenantFactory, api_key_for, fund
from tests.helpers import error_code, run_in_one_lock_order
from wallets import locking, posting, services
from wallets.idempotency import REPLAY_HEADER
from wallets.models import Account, IdempotencyKey, LedgerTransaction
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


# --- Over HTTP, with an Idempotency-Key ------------------------------------------------------


def between_the_read_and_the_commit(monkeypatch, work):
    """Run ``work`` on another connection once, when a transfer has read its accounts
    without locking them and queued their late UPDATEs for the COMMIT."""
    pending, original = [work], posting.apply_late

    def apply_late(deltas):
        if deltas and pending:
            elsewhere(pending.pop())
        original(deltas)

    monkeypatch.setattr(posting, "apply_late", apply_late)


def before_the_retry(monkeypatch, work):
    """Run ``work`` on another connection once, when a late change has been refused and
    rolled back, before the transaction runs again with its accounts locked up front."""
    pending, original = [work], locking.late_refused

    def late_refused(exc):
        refused = original(exc)
        if refused and pending:
            elsewhere(pending.pop())
        return refused

    monkeypatch.setattr(locking, "late_refused", late_refused)


@dataclass
class Shop:
    """A tenant's node: a payer (1,000 KRW), a merchant and another payee, and an API
    client with the tenant's key."""

    tenant: Tenant
    client: APIClient
    payer: Account
    merchant: Account
    other: Account

    def pay(self, amount, *, key):
        body = {
            "source_account_id": str(self.payer.pk),
            "destination_account_id": str(self.merchant.pk),
            "amount": str(amount),
            "currency": "KRW",
            "memo": "late",
        }
        return self.client.post("/api/v1/transfers", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def shop():
    tenant = TenantFactory()
    node = NodeFactory(tenant=tenant)
    payer, merchant, other = (AccountFactory(node=node) for _ in range(3))
    fund(payer, 1_000)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(tenant)}")
    return Shop(tenant, client, payer, merchant, other)


def payer_spends_700(shop):
    request = TransferRequest(source=shop.payer, destination=shop.other, amount=700, currency="KRW")
    services.transfer_create(tenant=shop.tenant, request=request)


def merchant_closes(shop):
    services.account_close(account=shop.merchant, actor=SYSTEM)


@pytest.mark.parametrize(
    ("meanwhile", "status", "code", "left"),
    [
        (payer_spends_700, 422, "insufficient_funds", [300, 0]),
        (merchant_closes, 409, "account_closed", [1_000, 0]),
    ],
)
def test_a_transfer_refused_late_over_http_answers_as_if_locked_up_front_and_keeps_no_key(
    shop, monkeypatch, meanwhile, status, code, left
):
    between_the_read_and_the_commit(monkeypatch, lambda: meanwhile(shop))
    fallbacks = locking.late_fallback_count

    response = shop.pay(800, key="order-1")

    assert (response.status_code, error_code(response)) == (status, code)
    assert locking.late_fallback_count == fallbacks + 1  # refused late, answered up front
    assert not LedgerTransaction.objects.filter(memo="late").exists()
    # A refused request stores nothing, not even its key: a retry runs again ...
    assert not IdempotencyKey.objects.filter(tenant=shop.tenant, key="order-1").exists()
    replay = shop.pay(800, key="order-1")
    # ... and, nothing having changed, is refused alike.
    assert (replay.status_code, replay.json()) == (response.status_code, response.json())
    assert REPLAY_HEADER not in replay
    assert not LedgerTransaction.objects.filter(memo="late").exists()
    assert balances(shop.payer, shop.merchant) == left
    call_command("verify_ledger")


def test_a_transfer_refused_late_over_http_that_fits_when_run_again_posts_once(shop, monkeypatch):
    between_the_read_and_the_commit(monkeypatch, lambda: payer_spends_700(shop))
    before_the_retry(monkeypatch, lambda: fund(shop.payer, 1_000))  # the money is back
    fallbacks = locking.late_fallback_count

    response = shop.pay(800, key="order-1")

    assert response.status_code == 201, response.content
    assert locking.late_fallback_count == fallbacks + 1  # posted by the retry, locks up front
    [posted] = LedgerTransaction.objects.filter(memo="late")
    assert response.json()["id"] == str(posted.uuid)
    stored = IdempotencyKey.objects.get(tenant=shop.tenant, key="order-1")
    assert (stored.response_status, stored.response_body) == (201, response.json())
    replay = shop.pay(800, key="order-1")
    assert (replay.status_code, replay.json()) == (201, response.json())
    assert replay[REPLAY_HEADER] == "true"
    assert LedgerTransaction.objects.filter(memo="late").count() == 1
    assert balances(shop.payer, shop.merchant, shop.other) == [1_000 - 700 + 1_000 - 800, 800, 700]
    call_command("verify_ledger")
