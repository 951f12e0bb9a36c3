"""A KRW -> JPY remittance in the browser: the form, the remittance page that follows each
leg live (htmx polling), and, once the day is closed, a receipt that verifies offline."""

from __future__ import annotations

import uuid

import pytest

from tests.browser.test_checkout import log_in
from tests.factories import NodeFactory, fund
from tests.remittance.conftest import run_verifier
from wallets.fx import services as fx_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def send(page, sender, beneficiary, amount: str, memo: str = "") -> None:
    page.goto("/remittances/")
    page.select_option("select[name=sender_account]", str(sender.pk))
    page.select_option("select[name=beneficiary_account]", str(beneficiary.pk))
    page.fill("input[name=amount]", amount)
    page.fill("input[name=originator_name]", "Kim Minjun")
    page.fill("input[name=beneficiary_name]", "Sato Yui")
    page.fill("input[name=memo]", memo)
    with page.expect_navigation():
        page.click("#remittance-form button[type=submit]")


def test_a_krw_to_jpy_remittance_from_the_browser_whose_receipt_verifies_offline(
    page, alice, operator_api, celery_eager, tmp_path
):
    fx_services.pairs_seed()  # again, if a transactional test flushed the migrated table
    seoul = NodeFactory(tenant=alice.tenant, name="Seoul", country="KR", base_currency="KRW")
    tokyo = NodeFactory(tenant=alice.tenant, name="Tokyo", country="JP", base_currency="JPY")
    sender, beneficiary = seoul.wallet.accounts.get(), tokyo.wallet.accounts.get()
    fund(sender, 1_000_000)
    log_in(page, alice.owner)

    # A delayed one waits in processing; the page follows it as the test helper moves it.
    send(page, sender, beneficiary, "200000", memo="DELAYED")
    page.wait_for_url("**/remittances/*/")
    assert page.get_attribute("#remittance-status", "data-status") == "processing"
    assert page.locator("#legs tr[data-leg]").count() == 1
    assert page.text_content("#originator-name") == "Kim Minjun"
    remittance_id = page.url.rstrip("/").rsplit("/", 1)[1]
    moved = alice.api.post(
        f"/api/v1/test_helpers/remittances/{remittance_id}/advance",
        {"status": "outgoing_payment_sent"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert moved.status_code == 200, moved.content
    page.wait_for_selector("#remittance-status[data-status=outgoing_payment_sent]")
    assert page.locator("#legs tr[data-leg]").count() == 5

    # An immediate one: the worker (eager here) has run every leg by the time the page shows.
    send(page, sender, beneficiary, "150000")
    page.wait_for_selector("#remittance-status[data-status=outgoing_payment_sent]")
    page.screenshot(path=str(tmp_path / "remittance.png"), full_page=True)
    second = page.url.rstrip("/").rsplit("/", 1)[1]

    # The day closes; the receipt, fetched with the session, verifies offline.
    advanced = operator_api.post(
        "/api/v1/operator/platform_clock/advance", {"seconds": 86_400}, format="json"
    )
    assert advanced.status_code == 200, advanced.content
    closed = operator_api.post("/api/v1/operator/clearing/close", {}, format="json")
    assert closed.status_code == 202, closed.content
    for remittance in (remittance_id, second):
        receipt = page.request.get(f"/api/v1/remittances/{remittance}/receipt").json()
        result = run_verifier(receipt, tmp_path, "--require-proofs")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "the remittance receipt verifies" in result.stdout
