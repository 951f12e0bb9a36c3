"""The dashboard: the rates page with its chart, the quote-and-convert box (htmx, the
result in place; a double submit converts once), and the operators' desk page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tests.factories import OperatorFactory
from tests.fx.conftest import balance
from tests.helpers import web_as
from wallets.fx.models import Conversion, Pair, Quote, RateEvent

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_rates_page_charts_a_pair_on_the_nodes_clock(alice, world):
    page = alice.web.get(f"/fx/?pair=BTC-KRW&hours=6&node={world.node.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    ET.fromstring(svg)  # well-formed SVG (the standard library's parser)
    assert "BTC/KRW mid rate over 6 h" in html and "<polyline" in svg
    assert "Seoul remit&#x27;s test clock" in html or "Seoul remit's test clock" in html
    for code in ("USD/KRW", "JPY/KRW", "BTC/JPY"):
        assert code in html


def test_a_quote_then_its_conversion_in_place(alice, world):
    web = alice.web
    quoted = web.post(
        "/fx/quote/",
        {
            "node": str(world.node.pk),
            "source_currency": "USD",
            "target_currency": "JPY",
            "side": "sell",
            "amount": "250.00",
            "lock_seconds": "300",
        },
        **HTMX,
    )
    assert quoted.status_code == 200
    html = quoted.content.decode()
    assert html.startswith('<div id="quote-box">') and "You get" in html
    quote = Quote.objects.get()
    assert quote.sell_amount == 25_000 and quote.source_currency == "USD"
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    body = {
        "quote": str(quote.pk),
        "idempotency_key": key,
        "source_account": str(world.accounts["USD"].pk),
        "target_account": str(world.accounts["JPY"].pk),
    }
    jpy = balance(world.accounts["JPY"])

    converted = web.post("/fx/convert/", body, **HTMX)
    again = web.post("/fx/convert/", body, **HTMX)  # the same form sent twice

    assert "Converted 250.00 USD into" in converted.content.decode()
    assert "Converted 250.00 USD into" in again.content.decode()
    assert Conversion.objects.count() == 1
    assert balance(world.accounts["JPY"]) == jpy + quote.buy_amount


def test_a_refused_quote_shows_why_in_the_box(alice, world):
    response = alice.web.post(
        "/fx/quote/",
        {
            "node": str(world.node.pk),
            "source_currency": "KRW",
            "target_currency": "USD",
            "side": "sell",
            "amount": "5",
            "lock_seconds": "30",
        },
        **HTMX,
    )
    assert response.status_code == 200
    assert "The desk converts at least 1000 KRW." in response.content.decode()
    assert not Quote.objects.exists()


def test_operators_edit_pin_and_see_the_desk(db):
    web = web_as(OperatorFactory())
    page = web.get("/fx/operator/")
    assert page.status_code == 200 and "Positions and P&amp;L" in page.content.decode()

    web.post(
        "/fx/operator/",
        {
            "pair": "USD/JPY",
            "form": "edit",
            "USD-JPY-spread_bps": "75",
            "USD-JPY-fee_bps": "10",
            "USD-JPY-volatility_bps": "900",
            "USD-JPY-seed": "11",
            "USD-JPY-enabled": "on",
        },
    )
    web.post(
        "/fx/operator/",
        {
            "pair": "USD/JPY",
            "form": "event",
            "USD-JPY-event-kind": "pin",
            "USD-JPY-event-value": "155",
        },
    )
    pair = Pair.objects.get(pk="USD/JPY")
    assert (pair.spread_bps, pair.fee_bps, pair.seed) == (75, 10, 11)
    assert RateEvent.objects.get(pair=pair).value == 155
    assert "mid now 155" in web.get("/fx/operator/").content.decode()


def test_tenants_cannot_open_the_operator_page(alice):
    response = alice.web.get("/fx/operator/")
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("path", ["/fx/quote/", "/fx/convert/"])
def test_the_forms_take_posts_only(alice, path):
    assert alice.web.get(path).status_code == 405
