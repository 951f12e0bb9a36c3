"""Expiry follows the merchant node's test clock; every state change reaches the merchant
node's webhook, signed, with the request as the API shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.events import clocks
from sandbox.events.services import webhook_secret_current
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory, fund
from tests.helpers import error_code, pump
from wallets.payments.models import PaymentRequest

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def advance(clock, to: datetime) -> None:
    clocks.test_clock_advance(clock=clock, to=to, actor=SYSTEM)
    assert clocks.test_clock_run_advance(clock_id=clock.pk)


def test_a_request_expires_when_its_nodes_test_clock_passes_its_expiry(shop, celery_eager):
    clock = clocks.test_clock_create(
        tenant=shop.party.tenant, actor=SYSTEM, name="March", frozen_time=START
    )
    clocks.test_clock_attach(clock=clock, node=shop.merchant, actor=SYSTEM)
    request = shop.create(order_id="L-1", expires_in=600)
    assert request["expires_at"] == (START + timedelta(seconds=600)).isoformat()
    token = shop.authorize(request)["token"]

    advance(clock, START + timedelta(seconds=599))
    assert PaymentRequest.objects.get(pk=request["id"]).status == "authorized"
    advance(clock, START + timedelta(seconds=601))
    assert PaymentRequest.objects.get(pk=request["id"]).status == "expired"

    response = shop.redeem(request, token)
    assert response.status_code == 410 and error_code(response) == "request_expired"


def test_a_paid_order_reaches_the_merchants_webhook_signed(
    alice, receiver, webhook_settings, celery_eager
):
    merchant = NodeFactory(tenant=alice.tenant, name="Hooked shop", webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=merchant).secret]
    payer = NodeFactory(tenant=alice.tenant)
    fund(payer.wallet.accounts.get(), 10_000)
    body = {
        "account_id": str(merchant.wallet.accounts.get().pk),
        "order_id": "L-2",
        "amount": "3000",
        "currency": "KRW",
    }
    request = alice.api.post("/api/v1/payment_requests", body, format="json").json()
    token = alice.api.post(
        f"/api/v1/nodes/{payer.pk}/payment_authorizations",
        {"request_jws": request["jws"], "account_id": str(payer.wallet.accounts.get().pk)},
        format="json",
    ).json()["token"]
    paid = alice.api.post(
        f"/api/v1/payment_requests/{request['id']}/redeem",
        {"token": token},
        format="json",
        HTTP_IDEMPOTENCY_KEY="redeem-1",
    ).json()

    pump()

    seen = {r.json["type"]: r for r in receiver.requests}
    assert set(seen) == {
        "payment_request.created",
        "payment_request.authorized",
        "payment_request.paid",
    }
    assert all(r.verified for r in receiver.requests), [r.verify_error for r in receiver.requests]
    assert seen["payment_request.paid"].json["data"] == paid
    assert str(payer.wallet.accounts.get().pk) not in seen["payment_request.paid"].body.decode()
