"""The node page is the hub: a tester sends a deposit from it and sees the result where
the button was, with the balances updated, without a reload."""

from __future__ import annotations

import pytest

from tests.browser.test_clock_close import log_in
from tests.factories import NodeFactory
from wallets.banknet.models import BankAccount, Deposit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_deposit_from_the_node_page_shows_its_result_in_place(page, alice, banks):
    long_name = "Seoul-shop-" + "x" * 109  # 120 characters, no place to break
    node = NodeFactory(tenant=alice.tenant, name=long_name, country="KR", base_currency="KRW")
    log_in(page, alice.owner)
    page.goto("/nodes/")
    assert "flag" not in page.inner_text("table")  # no CSS class names as text
    assert fits(page)
    page.goto(f"/nodes/{node.pk}/")
    assert fits(page)  # an over-long name wraps instead of widening the page
    page.evaluate("window.notReloaded = true")
    deposit = page.locator("[data-testid=action-deposit]")

    # given a new node without a simulated customer, the deposit form offers one in place
    deposit.locator("button:has-text('Open a simulated customer')").click()
    page.wait_for_selector("[data-testid=action-deposit] [data-testid=action-result]")
    sender = BankAccount.objects.get(tenant=alice.tenant)
    assert sender.currency == "KRW" and sender.bank.country == "KR"

    # its defaults: from the node's customer, to the node's own account
    assert deposit.locator("select[name=sender]").input_value() == str(sender.pk)
    main = node.wallet.accounts.get()
    assert deposit.locator("select[name=account]").input_value() == str(main.pk)

    # when the tester types an amount as people write it
    deposit.locator("input[name=amount]").fill("25,000")
    deposit.locator("button:has-text('Send it')").click()

    # then the result shows under the button, and the balances change, without a reload
    page.wait_for_selector(
        "[data-testid=action-deposit] [data-testid=action-result]:has-text('Deposit sent')"
    )
    assert page.evaluate("window.notReloaded") is True
    assert Deposit.objects.get(tenant=alice.tenant).amount == 25_000
    assert "25,000" in page.inner_text("#node-balances")  # pending, then credited

    # and a refusal says why, in the same place, keeping what was typed
    deposit.locator("input[name=amount]").fill("1e3")
    deposit.locator("button:has-text('Send it')").click()
    page.wait_for_selector("[data-testid=action-deposit] .error:has-text('exponent')")
    assert deposit.locator("input[name=amount]").input_value() == "1e3"
    assert Deposit.objects.filter(tenant=alice.tenant).count() == 1
    assert page.evaluate("window.notReloaded") is True
