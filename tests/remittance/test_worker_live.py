"""A KRW -> JPY remittance run by a real Celery worker in another process (the clearing
queue, Redis broker, PostgreSQL), as CI runs it: the API records it, the worker runs the
legs, and the books balance."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command

from clearing.chain import get_chain
from tests.factories import NodeFactory, fund
from tests.worker import wait_for
from wallets.fx import services as fx_services

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]


def test_a_real_worker_runs_every_leg(alice, start_worker):
    fx_services.pairs_seed()  # again, if a transactional test flushed the migrated table
    worker = start_worker(queues=["clearing"])
    seoul = NodeFactory(tenant=alice.tenant, name="Seoul", country="KR", base_currency="KRW")
    tokyo = NodeFactory(tenant=alice.tenant, name="Tokyo", country="JP", base_currency="JPY")
    sender, beneficiary = seoul.wallet.accounts.get(), tokyo.wallet.accounts.get()
    fund(sender, 1_000_000)

    response = alice.api.post(
        "/api/v1/remittances",
        {
            "sender_account_id": str(sender.pk),
            "beneficiary_account_id": str(beneficiary.pk),
            "amount": "300000",
            "originator": {"name": "Kim Minjun"},
            "beneficiary": {"name": "Sato Yui"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 201, response.content
    url = f"/api/v1/remittances/{response.json()['id']}"

    done = wait_for(
        lambda: (r := alice.api.get(url).json())["status"] == "outgoing_payment_sent" and r,
        timeout=90,
        message=f"The worker never finished. Worker:\n{worker.output()[-3000:]}",
    )
    assert [leg["kind"] for leg in done["legs"]] == [
        "debit_sender",
        "buy_btc",
        "send_btc",
        "sell_btc",
        "credit_beneficiary",
    ]
    beneficiary.refresh_from_db()
    assert beneficiary.posted_balance == int(done["target_amount"]) > 0
    assert get_chain().verify() == []
    call_command("verify_ledger")  # raises CommandError if the books are off
