"""A tester quotes and converts in the browser: the quote appears in place (htmx), then the
conversion, with no page load; the rates chart is on the page, under the strict CSP."""

from __future__ import annotations

import pytest

from tests.browser.test_clock_close import log_in
from tests.factories import AccountFactory, NodeFactory, fund
from wallets.fx import services as fx
from wallets.fx.models import Conversion
from wallets.verification import verify_ledger

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_tester_quotes_and_converts_in_place(page, alice):
    fx.pairs_seed()  # the migrated table, flushed by an earlier transactional test
    node = NodeFactory(tenant=alice.tenant, name="Seoul remit")
    fund(node.wallet.accounts.get(), 2_000_000)
    AccountFactory(node=node, currency="JPY", name="Yen")

    log_in(page, alice.owner)
    page.goto("/fx/?pair=JPY-KRW")
    assert page.locator("figure.chart svg polyline").count() == 1
    page.select_option("select[name=source_currency]", "KRW")
    page.select_option("select[name=target_currency]", "JPY")
    page.fill("input[name=amount]", "100000")
    page.click("#quote-box button")
    page.wait_for_selector("#quote-box dl.quote")
    assert "You get" in page.inner_text("#quote-box")

    page.select_option("select[name=target_account]", index=0)
    page.click("#quote-box button:text-is('Convert')")
    page.wait_for_selector("#quote-box .flash.success")

    assert "Converted 100,000 KRW into" in page.inner_text("#quote-box")
    conversion = Conversion.objects.get()
    assert conversion.quote.sell_amount == 100_000
    assert verify_ledger().ok
