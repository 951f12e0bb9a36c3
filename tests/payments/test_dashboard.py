"""The dashboard: the merchant's requests and checkout page, the payer's wallet app."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from wallets.payments.models import PaymentRequest

pytestmark = pytest.mark.django_db


def test_a_merchant_creates_a_request_and_sees_its_qr(shop):
    web = shop.party.web
    page = web.get("/payments/")
    assert page.status_code == 200
    response = web.post(
        "/payments/",
        {
            "account": str(shop.merchant_account.pk),
            "order_id": "W-1",
            "amount": "4500",
            "description": "Americano",
            "expires_in": "900",
        },
    )
    assert response.status_code == 302, response.content
    payment = PaymentRequest.objects.get(order_id="W-1")
    checkout = web.get(response["Location"])
    assert checkout.status_code == 200
    html = checkout.content.decode()
    assert "<svg" in html and payment.qr_payload in html
    assert 'data-status="requested"' in html and "hx-get" in html


def test_the_payer_app_opens_the_qr_and_approves(shop):
    payment = PaymentRequest.objects.get(pk=shop.create(order_id="W-2", amount="4500")["id"])
    web = shop.party.web
    opened = web.get(f"/payments/pay/?payload={quote(payment.qr_payload)}")
    assert opened.status_code == 200
    html = opened.content.decode()
    assert "Pay 4,500 KRW to Gangnam Coffee" in html and "signature verified" in html
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    approved = web.post(
        "/payments/pay/",
        {
            "payload": payment.qr_payload,
            "account": str(shop.payer_account.pk),
            "idempotency_key": key,
        },
    )
    assert approved.status_code == 200 and "Paid: transaction" in approved.content.decode()
    # A double submit (same form, same key) pays once.
    web.post(
        "/payments/pay/",
        {
            "payload": payment.qr_payload,
            "account": str(shop.payer_account.pk),
            "idempotency_key": key,
        },
    )
    shop.payer_account.refresh_from_db()
    assert shop.payer_account.posted_balance == 100_000 - 4500
    status = web.get(f"/payments/{payment.pk}/status/").content.decode()
    assert 'data-status="paid"' in status and "payment_request.paid" in status


def test_the_payer_app_refuses_a_broken_qr(shop):
    page = shop.party.web.get("/payments/pay/?payload=000201")
    assert page.status_code == 200 and "does not end with its CRC" in page.content.decode()


def test_refund_and_cancel_from_the_checkout_page(shop):
    paid = shop.create(order_id="W-3", amount="4500")
    shop.redeem(paid, shop.authorize(paid)["token"])
    web = shop.party.web
    web.post(f"/payments/{paid['id']}/refund/", {"amount": "500", "idempotency_key": "r1"})
    assert PaymentRequest.objects.get(pk=paid["id"]).status == "partially_refunded"
    open_one = shop.create(order_id="W-4")
    web.post(f"/payments/{open_one['id']}/cancel/")
    assert PaymentRequest.objects.get(pk=open_one["id"]).status == "canceled"


def test_a_nodes_keys_page_lists_and_rotates(shop):
    web = shop.party.web
    page = web.get(f"/payments/nodes/{shop.merchant.pk}/keys/").content.decode()
    assert page.count("badge active") == 1 and "badge retired" not in page
    assert web.post(f"/payments/nodes/{shop.merchant.pk}/keys/").status_code == 302
    page = web.get(f"/payments/nodes/{shop.merchant.pk}/keys/").content.decode()
    assert page.count("badge active") == 1 and page.count("badge retired") == 1
