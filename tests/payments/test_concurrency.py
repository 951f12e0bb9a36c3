"""One token, presented by many clients at once (PostgreSQL, threads with their own
connections): exactly one payment, the others 409 naming it; and concurrent refunds never
return more than was paid."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from sandbox.errors import ApplicationError
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory, TenantFactory, fund
from tests.helpers import run_in_threads
from wallets import locking
from wallets.models import LedgerTransaction
from wallets.payments import services
from wallets.payments.models import PaymentRequest, Redemption, Refund
from wallets.verification import verify_ledger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 8


def paid_setup(amount: int = 8_000):
    tenant = TenantFactory()
    merchant, payer = NodeFactory(tenant=tenant), NodeFactory(tenant=tenant)
    payer_account = payer.wallet.accounts.get()
    fund(payer_account, 100_000)
    request = services.payment_request_create(
        actor=SYSTEM,
        account=merchant.wallet.accounts.get(),
        order_id="race-1",
        amount=amount,
        currency="KRW",
    )
    authorization = services.payment_authorize(
        tenant=tenant,
        actor=SYSTEM,
        payer_node=payer,
        account=payer_account,
        request_jws=request.jws,
    )
    return request, authorization, payer_account


def test_concurrent_redemptions_of_one_token_pay_once():
    request, authorization, payer_account = paid_setup()
    retries = locking.retry_count

    def redeem(_):
        fresh = PaymentRequest.objects.get(pk=request.pk)
        return services.payment_redeem(request=fresh, token=authorization.jws, actor=SYSTEM)

    results = run_in_threads(redeem, THREADS)

    paid = [r for r in results if isinstance(r, PaymentRequest)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(paid) == 1, results
    assert len(refused) == THREADS - 1, results
    txn = paid[0].transaction
    assert {(e.code, e.status_code) for e in refused} == {("already_paid", 409)}
    assert all(e.fields["transaction_id"] == [str(txn.uuid)] for e in refused)
    assert LedgerTransaction.objects.filter(kind="payment").count() == 1
    assert Redemption.objects.count() == 1
    payer_account.refresh_from_db()
    assert payer_account.posted_balance == 100_000 - 8_000
    assert verify_ledger().ok
    assert locking.retry_count == retries  # one lock order: no deadlock retried


def test_concurrent_refunds_never_return_more_than_was_paid():
    request, authorization, _ = paid_setup(amount=5_000)
    services.payment_redeem(request=request, token=authorization.jws, actor=SYSTEM)

    def refund(_):
        fresh = PaymentRequest.objects.get(pk=request.pk)
        return services.payment_refund(request=fresh, actor=SYSTEM, amount=1_000)

    results = run_in_threads(refund, THREADS)

    done = [r for r in results if isinstance(r, Refund)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(done) == 5 and len(refused) == THREADS - 5, results
    assert {e.code for e in refused} <= {"refund_exceeds_payment", "not_refundable"}
    request.refresh_from_db()
    assert (request.status, request.refunded_amount) == ("refunded", 5_000)
    assert verify_ledger().ok


def test_the_database_refuses_a_second_redemption_of_a_request():
    """The backstop under the code: one Redemption row per request, whatever happens above."""
    request, authorization, _ = paid_setup()
    paid = services.payment_redeem(request=request, token=authorization.jws, actor=SYSTEM)
    with pytest.raises(IntegrityError), transaction.atomic():
        Redemption.objects.create(
            request=paid,
            authorization=authorization,
            transaction=LedgerTransaction.objects.exclude(pk=paid.transaction_id).first(),
            created_at=paid.paid_at,
        )
