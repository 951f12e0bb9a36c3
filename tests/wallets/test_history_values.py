"""The history's API list (``GET /api/v1/transactions``) reads plain values
(``selectors.history_values_page``) and renders them with ``presenters.transaction_values``:
its answers are those of the path it replaced (model instances through
``presenters.transaction_data``), byte for byte, page after page, cursors included, and the
other readers of ``transaction_data`` (a transfer's answer, the detail) still agree."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.request import Request
from rest_framework.response import Response

from tests.factories import AccountFactory, NodeFactory, fund
from wallets import presenters, selectors
from wallets.api import TransactionListApi, _limit
from wallets.locking import retrying
from wallets.posting import Leg, Posting, post_one

pytestmark = pytest.mark.django_db


def previous_get(self, request: Request) -> Response:
    """``TransactionListApi.get`` as it was: model instances and ``transaction_data``."""
    params = request.query_params
    filters = selectors.history_filters(tenant=self.tenant, params=params)
    limit = _limit(params.get("limit"))
    rows, cursor = selectors.history_page(
        tenant=self.tenant, filters=filters, cursor=params.get("cursor"), limit=limit
    )
    next_url = None
    if cursor:
        query = params.copy()
        query["cursor"] = cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return Response(
        {
            "results": [presenters.transaction_data(t, entries) for t, entries in rows],
            "next": next_url,
        }
    )


@pytest.fixture
def books(alice):
    """Transactions of every sort: several currencies (0, 2 and 8 decimals) in one
    transaction, a reversal, unicode and nested metadata, an empty memo, null fields."""
    node = NodeFactory(tenant=alice.tenant)
    other = NodeFactory(tenant=alice.tenant, country="JP", base_currency="JPY")
    krw = node.wallet.accounts.get()
    usd = AccountFactory(node=node, currency="USD", name="Dollars")
    btc = AccountFactory(node=node, currency="BTC", name="Coins")
    far_krw = AccountFactory(node=other, currency="KRW", name="Far")
    far_usd = AccountFactory(node=other, currency="USD", name="Far dollars")
    far_btc = AccountFactory(node=other, currency="BTC", name="Far coins")
    fund(krw, 1_000_000)
    fund(usd, 123_456)
    fund(btc, 250_000_001)
    post = retrying(post_one)
    post(
        Posting(
            kind="adjustment",
            legs=[
                Leg(krw.pk, -1_500, "KRW"),
                Leg(far_krw.pk, 1_500, "KRW"),
                Leg(usd.pk, -1_05, "USD"),
                Leg(far_usd.pk, 1_05, "USD"),
                Leg(btc.pk, -1, "BTC"),
                Leg(far_btc.pk, 1, "BTC"),
            ],
            tenant_id=alice.tenant.pk,
            memo="Trois monnaies, 세 통화 ☃",
            metadata={"note": '한국어 \u2603 "quoted" \\', "nested": {"é": [1, 2.5, None, True]}},
            is_inter_node=True,
        )
    )
    for amount in ("1", "99", "12345"):
        response = alice.api.post(
            "/api/v1/transfers",
            {
                "source_account_id": str(krw.pk),
                "destination_account_id": str(far_krw.pk),
                "amount": amount,
                "currency": "KRW",
                "metadata": {"order": amount, "emoji": "💸"},
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content
    reversed_id = response.json()["id"]
    response = alice.api.post(
        f"/api/v1/transactions/{reversed_id}/reverse",
        {"memo": "undo", "metadata": {}},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 201, response.content
    return {"krw": krw, "usd": usd, "far_krw": far_krw, "reversed": reversed_id}


def answer(response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")
    return response.status_code, response.content, headers


def every_page(alice, url: str) -> list[tuple]:
    pages = []
    while url:
        response = alice.api.get(url)
        pages.append(answer(response))
        url = response.json()["next"] if response.status_code == 200 else None
    return pages


def queries(books) -> list[str]:
    krw, far_krw = books["krw"], books["far_krw"]
    return [
        "/api/v1/transactions",
        "/api/v1/transactions?limit=1",
        "/api/v1/transactions?limit=2",
        "/api/v1/transactions?limit=3&currency=KRW",
        f"/api/v1/transactions?limit=2&account={krw.pk}",
        f"/api/v1/transactions?limit=2&counterparty={far_krw.pk}",
        f"/api/v1/transactions?account={krw.pk}&counterparty={far_krw.account_number}",
        "/api/v1/transactions?kind=reversal",
        "/api/v1/transactions?kind=nothing",
        "/api/v1/transactions?currency=KRW&min_amount=50&limit=1",
        "/api/v1/transactions?cursor=not-a-cursor",
    ]


def test_it_answers_what_the_model_instance_path_answered_page_after_page(
    alice, books, monkeypatch
):
    new = {url: every_page(alice, url) for url in queries(books)}
    monkeypatch.setattr(TransactionListApi, "get", previous_get)
    old = {url: every_page(alice, url) for url in queries(books)}
    assert new == old
    assert len(new["/api/v1/transactions?limit=1"]) == 8  # a page per transaction
    body = new["/api/v1/transactions"][0][1].decode()
    for shown in ("한국어 ☃", "💸", '"reverses":"', '"reverses":null', '"amount":"0.00000001"'):
        assert shown in body


def test_each_row_is_what_transaction_data_makes_of_the_same_transaction(alice, books):
    filters = selectors.history_filters(tenant=alice.tenant, params={})
    values, values_cursor = selectors.history_values_page(
        tenant=alice.tenant, filters=filters, limit=6
    )
    rows, cursor = selectors.history_page(tenant=alice.tenant, filters=filters, limit=6)
    assert values_cursor == cursor is not None
    assert [presenters.history_values_data(v) for v in values] == [
        presenters.transaction_data(t, entries) for t, entries in rows
    ]


def test_the_detail_shows_a_row_of_the_list(alice, books):
    listed = {t["id"]: t for t in alice.api.get("/api/v1/transactions").json()["results"]}
    reversal = next(t for t in listed.values() if t["reverses"] == books["reversed"])
    detail = alice.api.get(f"/api/v1/transactions/{reversal['id']}").json()
    assert detail.pop("reversed_by") is None
    assert detail == reversal
