"""The FX API as clients use it: rates, a quote, its conversion (idempotent), the error
codes of bad input with nothing moved, and the operators' rate table and desk."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import pytest

from tests.factories import OperatorFactory
from tests.fx.conftest import START, balance
from tests.helpers import api_as
from wallets.fx.models import Conversion, Pair, Quote, RateEvent


def post(client, path, body, key=None):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


@pytest.fixture
def operator_api():
    return api_as(OperatorFactory())


def quote_body(world, **terms):
    return {
        "node_id": str(world.node.pk),
        "source_currency": "KRW",
        "target_currency": "JPY",
        "sell_amount": 100_000,
        **terms,
    }


def test_a_quote_and_its_conversion_through_the_api(alice, world):
    response = post(alice.api, "/api/v1/fx/quotes", quote_body(world, lock_seconds=1800))
    assert response.status_code == 201, response.content
    quote = response.json()
    assert quote["pair"] == "JPY/KRW" and quote["status"] == "open"
    assert quote["sell_amount"] == 100_000 and quote["fee"] == 200
    assert Decimal(quote["rate"]) < Decimal(quote["reference_rate"])
    assert quote["created_at"] == START.isoformat()
    assert alice.api.get(f"/api/v1/fx/quotes/{quote['id']}").json() == quote

    body = {
        "quote_id": quote["id"],
        "source_account_id": str(world.accounts["KRW"].pk),
        "target_account_id": str(world.accounts["JPY"].pk),
        "description": "Tokyo trip",
    }
    jpy_before = balance(world.accounts["JPY"])
    first = post(alice.api, "/api/v1/fx/conversions", body, key="convert-1")
    again = post(alice.api, "/api/v1/fx/conversions", body, key="convert-1")

    assert first.status_code == 201, first.content
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    conversion = first.json()
    assert conversion["quote"]["status"] == "used"
    assert balance(world.accounts["JPY"]) == jpy_before + quote["buy_amount"]
    assert Conversion.objects.count() == 1
    assert alice.api.get(f"/api/v1/fx/conversions/{conversion['id']}").json() == conversion
    listed = alice.api.get("/api/v1/fx/conversions").json()["results"]
    assert [c["id"] for c in listed] == [conversion["id"]]

    used = post(alice.api, "/api/v1/fx/conversions", body)  # another key: a second use
    assert used.status_code == 409 and used.json()["error"]["code"] == "quote_used"


def test_an_expired_quote_is_refused_with_410(alice, world):
    quote = post(alice.api, "/api/v1/fx/quotes", quote_body(world, lock_seconds=30)).json()
    world.advance(30)
    assert alice.api.get(f"/api/v1/fx/quotes/{quote['id']}").json()["status"] == "expired"
    response = post(
        alice.api,
        "/api/v1/fx/conversions",
        {
            "quote_id": quote["id"],
            "source_account_id": str(world.accounts["KRW"].pk),
            "target_account_id": str(world.accounts["JPY"].pk),
        },
    )
    assert response.status_code == 410 and response.json()["error"]["code"] == "quote_expired"


@pytest.mark.parametrize(
    ("terms", "status", "code"),
    [
        ({"target_currency": "KRW"}, 400, "same_currency"),
        ({"target_currency": "EUR"}, 400, "unknown_currency"),
        ({"sell_amount": 10, "buy_amount": 10}, 400, "one_amount_required"),
        ({"lock_seconds": 60}, 400, "invalid_lock_duration"),
        ({"sell_amount": 999}, 422, "amount_below_minimum"),
        ({"sell_amount": 100_000_001}, 422, "amount_above_limit"),
        ({"sell_amount": -5}, 400, "invalid_amount"),
    ],
)
def test_bad_quotes_answer_a_documented_code_and_make_nothing(alice, world, terms, status, code):
    response = post(alice.api, "/api/v1/fx/quotes", quote_body(world, **terms))
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not Quote.objects.exists()


def test_an_unknown_pair_is_refused(alice, world):
    Pair.objects.filter(pk="JPY/KRW").update(enabled=False)
    response = post(alice.api, "/api/v1/fx/quotes", quote_body(world))
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_pair"


def test_insufficient_funds_answer_422_and_move_nothing(alice, world):
    krw = world.accounts["KRW"]
    quote = post(
        alice.api, "/api/v1/fx/quotes", quote_body(world, sell_amount=balance(krw) + 1)
    ).json()
    response = post(
        alice.api,
        "/api/v1/fx/conversions",
        {
            "quote_id": quote["id"],
            "source_account_id": str(krw.pk),
            "target_account_id": str(world.accounts["JPY"].pk),
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert alice.api.get(f"/api/v1/fx/quotes/{quote['id']}").json()["status"] == "open"
    assert not Conversion.objects.exists()


def test_the_rates_follow_the_nodes_clock_and_replay_the_same(alice, world):
    rates = alice.api.get(f"/api/v1/fx/rates?node_id={world.node.pk}").json()
    assert datetime.fromisoformat(rates["at"]) == START
    assert {p["code"] for p in rates["pairs"]} == {
        "USD/KRW", "USD/JPY", "JPY/KRW", "BTC/USD", "BTC/KRW", "BTC/JPY",
    }  # fmt: skip
    path = f"/api/v1/fx/rates/history?pair=USD-KRW&hours=24&points=25&node_id={world.node.pk}"
    history = alice.api.get(path).json()
    assert len(history["points"]) == 25
    assert len({p["mid"] for p in history["points"]}) > 1  # it moves
    assert alice.api.get(path).json() == history  # and replays


def test_operators_pin_jump_and_edit_the_table_and_see_the_desk(alice, world, operator_api):
    pinned = operator_api.post(
        "/api/v1/operator/fx/pairs/USD-KRW/events", {"kind": "pin", "value": "1400"}, format="json"
    )
    assert pinned.status_code == 201, pinned.content
    assert Decimal(pinned.json()["mid"]) == 1400
    jumped = operator_api.post(
        "/api/v1/operator/fx/pairs/USD-KRW/events", {"kind": "jump", "value": "-100"}, format="json"
    )
    assert Decimal(jumped.json()["mid"]) == 1386  # 1400 less 1%
    assert RateEvent.objects.filter(pair="USD/KRW").count() == 2
    edited = operator_api.patch(
        "/api/v1/operator/fx/pairs/USD-KRW", {"spread_bps": 80, "fee_bps": 0}, format="json"
    )
    assert edited.status_code == 200 and edited.json()["spread_bps"] == 80

    post(alice.api, "/api/v1/fx/quotes", quote_body(world, target_currency="USD"))
    desk = operator_api.get("/api/v1/operator/fx/desk").json()
    assert {p["currency"] for p in desk["positions"]} == {"KRW", "USD", "JPY", "BTC"}

    refused = alice.api.get("/api/v1/operator/fx/desk")
    assert refused.status_code == 403
