"""Checkout in the browser: the merchant shows the QR, the payer's wallet app opens it and
approves, the merchant's page turns "paid" by itself; once the day is closed the receipt
verifies offline."""

from __future__ import annotations

import pytest

from tests.factories import DEFAULT_PASSWORD, NodeFactory, fund
from tests.payments.conftest import run_verifier
from wallets.payments.models import PaymentRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, user) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def test_checkout_qr_payer_approves_merchant_sees_paid_receipt_verifies(
    page, alice, operator_api, celery_eager, tmp_path
):
    merchant = NodeFactory(tenant=alice.tenant, name="Gangnam Coffee")
    payer = NodeFactory(tenant=alice.tenant, name="Minjun's wallet")
    fund(payer.wallet.accounts.get(), 50_000)
    log_in(page, alice.owner)

    # The merchant creates the request and shows its QR.
    page.goto("/payments/")
    page.select_option("select[name=account]", str(merchant.wallet.accounts.get().pk))
    page.fill("input[name=order_id]", "T-1")
    page.fill("input[name=amount]", "4500")
    page.fill("input[name=description]", "Americano")
    page.click("text=Create and show the QR")
    page.wait_for_url("**/payments/*/")
    assert page.locator(".qr svg").count() == 1
    assert page.get_attribute("#payment-status", "data-status") == "requested"
    payload = page.text_content("#qr-payload")

    # The payer's wallet app, in another tab, opens the QR and approves.
    wallet = page.context.new_page()
    wallet.goto("/payments/pay/")
    wallet.fill("textarea[name=payload]", payload)
    with wallet.expect_navigation():
        wallet.click("text=Open")
    assert "Pay 4,500 KRW to Gangnam Coffee" in wallet.inner_text("main")
    assert "signature verified" in wallet.inner_text("main")
    wallet.select_option("select[name=account]", str(payer.wallet.accounts.get().pk))
    with wallet.expect_navigation():
        wallet.click("#approve")
    assert "Paid: transaction" in wallet.inner_text("#payer-result")

    # The merchant's page turns paid by itself (htmx polling), without a reload.
    page.wait_for_selector("#payment-status[data-status=paid]", timeout=15_000)
    page.screenshot(path=str(tmp_path / "checkout-paid.png"), full_page=True)
    payment = PaymentRequest.objects.get(order_id="T-1")
    assert payment.status == "paid"

    # The day closes; the receipt, fetched with the merchant's session, verifies offline.
    moved = operator_api.post(
        "/api/v1/operator/platform_clock/advance", {"seconds": 86_400}, format="json"
    )
    assert moved.status_code == 200, moved.content
    closed = operator_api.post("/api/v1/operator/clearing/close", {}, format="json")
    assert closed.status_code == 202, closed.content
    receipt = page.request.get(f"/api/v1/payment_requests/{payment.pk}/receipt").json()
    assert receipt["proof_status"] == "included", receipt["proof_status"]
    result = run_verifier(receipt, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID: paid once, anchored." in result.stdout
