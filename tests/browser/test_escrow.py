"""A tester opens an escrow in the browser, releases part of it, disputes the rest and
decides the dispute with the test helper buttons; the page shows each state and event."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_clock_close import log_in
from tests.factories import NodeFactory, fund
from wallets.escrow.models import Escrow
from wallets.verification import verify_ledger

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def press(page, button: str) -> None:
    """Click a form's button and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(f"button:text-is('{button}')")


def test_a_tester_runs_an_escrow_and_its_dispute_from_the_browser(page, alice):
    buyer = NodeFactory(tenant=alice.tenant, name="Buyer")
    NodeFactory(tenant=alice.tenant, name="Shop")
    fund(buyer.wallet.accounts.get(), 50_000)

    log_in(page, alice.owner)
    page.goto("/escrows/")
    page.select_option("select[name=payer_account]", label="Buyer · Main (KRW)")
    page.select_option("select[name=payee_account]", label="Shop · Main (KRW)")
    page.fill("input[name=amount]", "10000")
    page.fill("input[name=fee_rate_bps]", "100")
    page.click("#escrow-form button")

    page.wait_for_url(re.compile(r"/escrows/[0-9a-f-]{36}/$"))
    escrow = Escrow.objects.get()
    assert escrow.terms_hash in page.inner_text("#terms-hash")
    page.fill("#release-amount", "4000")
    press(page, "Release")
    assert page.inner_text("#remaining") == "6,000"

    page.fill("#dispute-reason", "Only half arrived")
    press(page, "Open a dispute")
    page.fill("#dispute-evidence", "Tracking shows both boxes")
    press(page, "Submit evidence")
    press(page, "Payer wins (refund)")

    main = page.inner_text("main")
    assert "refunded" in main and "escrow_dispute.won" in main
    escrow.refresh_from_db()
    assert (escrow.released_amount, escrow.refunded_amount) == (4_000, 6_000)
    assert verify_ledger().ok
