"""A quote and its conversion reach the node's webhook, signed, each event's data the
object as the API shows it."""

from __future__ import annotations

import uuid

import pytest

from sandbox.events.services import webhook_secret_current
from tests.factories import AccountFactory, NodeFactory, fund
from tests.helpers import pump

pytestmark = pytest.mark.django_db


def test_quote_created_used_and_conversion_completed_arrive_signed(
    alice, receiver, webhook_settings, celery_eager
):
    node = NodeFactory(tenant=alice.tenant, name="Hooked remitter", webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=node).secret]
    won = node.wallet.accounts.get()
    fund(won, 1_000_000)
    dollars = AccountFactory(node=node, currency="USD", name="Dollars")
    quote = alice.api.post(
        "/api/v1/fx/quotes",
        {
            "node_id": str(node.pk),
            "source_currency": "KRW",
            "target_currency": "USD",
            "sell_amount": 500_000,
        },
        format="json",
    ).json()
    conversion = alice.api.post(
        "/api/v1/fx/conversions",
        {
            "quote_id": quote["id"],
            "source_account_id": str(won.pk),
            "target_account_id": str(dollars.pk),
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    ).json()

    pump()

    seen = {r.json["type"]: r for r in receiver.requests if r.json["type"].startswith("fx.")}
    assert set(seen) == {"fx.quote.created", "fx.quote.used", "fx.conversion.completed"}
    assert all(r.verified for r in receiver.requests), [r.verify_error for r in receiver.requests]
    assert seen["fx.quote.created"].json["data"] == quote
    assert seen["fx.quote.used"].json["data"] == conversion["quote"]
    assert seen["fx.conversion.completed"].json["data"] == conversion
