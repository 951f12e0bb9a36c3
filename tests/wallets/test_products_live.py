"""Push payments, escrow and merchant settlement with a real Celery worker in another
process (not eager), on PostgreSQL and Redis: the worker runs the test-clock advances, the
scheduled actions they make due (an escrow's timeout, a settlement cycle), the bank's payout
and the signed webhooks. The worker and its beat-playing ticker are the bank network's
(``tests/wallets/banknet/test_end_to_end.py``); ``verify_ledger`` runs after each test."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.factories import NodeFactory, fund
from tests.wallets.banknet import test_end_to_end as bank_e2e
from tests.worker import wait_for
from wallets.banknet.models import AccountLink
from wallets.models import Account

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

worker = bank_e2e.worker  # the real worker, for this module (a fixture)
live = bank_e2e.live  # this process publishes to it; a ticker plays beat (a fixture)
delivered = bank_e2e.delivered


@pytest.fixture
def shop(alice, receiver, live, banks, webhook_settings):
    """Alice's node with a webhook receiver, and Kim's account at KB (the bank network's)."""
    shop = bank_e2e.Shop(alice, receiver, live)
    yield shop
    call_command("verify_ledger")  # raises CommandError if the books are off


def a_node_of(shop, name: str, funds: int = 0):
    node = NodeFactory(tenant=shop.party.tenant, name=name)
    account = Account.objects.get(wallet__node=node, currency="KRW")
    if funds:
        fund(account, funds)
    return node, account


def a_test_clock(shop, at: str, *nodes) -> dict:
    clock = shop.post("/api/v1/test_clocks", {"name": "live", "frozen_time": at}).json()
    for node in nodes:
        shop.post(f"/api/v1/test_clocks/{clock['id']}/attach", {"node": str(node.pk)})
    return clock


def advance(shop, clock: dict, to: str) -> None:
    """Advance through the API; the worker runs it, and the clock is ready once it is done."""
    shop.post(f"/api/v1/test_clocks/{clock['id']}/advance", {"frozen_time": to})
    wait_for(
        lambda: shop.api.get(f"/api/v1/test_clocks/{clock['id']}").json()["status"] == "ready",
        timeout=45,
        message=f"The advance never finished. Worker:\n{shop.worker.output()[-3000:]}",
    )


def pay(shop, payer, payer_account, order_id: str, amount: str) -> dict:
    """The merchant (the shop's node) asks, the payer's node signs a token, the merchant
    redeems it: each step through the API."""
    request = shop.post(
        "/api/v1/payment_requests",
        {
            "account_id": str(shop.account.pk),
            "order_id": order_id,
            "amount": amount,
            "currency": "KRW",
        },
        money=True,
    ).json()
    token = shop.post(
        f"/api/v1/nodes/{payer.pk}/payment_authorizations",
        {"request_jws": request["jws"], "account_id": str(payer_account.pk)},
        money=True,
    ).json()["token"]
    paid = shop.post(
        f"/api/v1/payment_requests/{request['id']}/redeem", {"token": token}, money=True
    ).json()
    return {**paid, "token": token}


def test_a_push_payment_is_paid_once_and_the_merchant_hears_it_signed(shop, receiver):
    payer, payer_account = a_node_of(shop, "Minjun's wallet", funds=50_000)

    paid = pay(shop, payer, payer_account, "live-1", "15000")

    assert paid["status"] == "paid"
    again = shop.api.post(
        f"/api/v1/payment_requests/{paid['id']}/redeem",
        {"token": paid["token"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="live-replay",
    )
    assert again.status_code == 409, again.content
    assert again.json()["error"]["code"] == "already_paid"
    [hook] = delivered(receiver, "payment_request.paid")
    assert hook.json["object_id"] == paid["id"]
    assert shop.balances()[0] == 15_000


def test_an_escrow_times_out_when_the_worker_advances_its_clock(shop, receiver):
    fund(shop.account, 30_000)
    _payee, payee_account = a_node_of(shop, "Seller")
    clock = a_test_clock(shop, "2026-09-15T10:00:00+09:00", shop.node, _payee)
    escrow = shop.post(
        "/api/v1/escrows",
        {
            "payer_account_id": str(shop.account.pk),
            "payee_account_id": str(payee_account.pk),
            "amount": "10000",
            "currency": "KRW",
            "release_condition": "manual",
            "timeout_seconds": 3600,
        },
        money=True,
    ).json()
    assert shop.balances()[2] == 10_000  # held

    advance(shop, clock, "2026-09-15T11:00:01+09:00")

    escrow = shop.api.get(f"/api/v1/escrows/{escrow['id']}").json()
    assert escrow["status"] == "refunded"
    assert shop.balances() == (30_000, 0, 0)
    delivered(receiver, "escrow.timed_out")


def test_a_settlement_cycle_pays_the_merchant_out_through_the_bank(shop, receiver):
    payer, payer_account = a_node_of(shop, "Minjun's wallet", funds=100_000)
    link = shop.post(
        f"/api/v1/nodes/{shop.node.pk}/account_links",
        {
            "bank_code": "004",
            "account_number": shop.kim["account_number"],
            "holder_name": "Kim Minjun",
        },
    ).json()
    code = AccountLink.objects.get(pk=link["id"]).code  # what the 1-won deposit's memo says
    shop.post(f"/api/v1/account_links/{link['id']}/confirm", {"code": code})
    clock = a_test_clock(shop, "2026-09-15T10:00:00+09:00", shop.node, payer)  # a Tuesday
    shop.post(
        f"/api/v1/nodes/{shop.node.pk}/settlement_contract",
        {
            "cycle": "daily",
            "delay_days": 1,
            "fee_rate_bps": 250,
            "account_id": str(shop.account.pk),
            "link_id": link["id"],
        },
    )
    pay(shop, payer, payer_account, "order-1", "20000")

    advance(shop, clock, "2026-09-16T10:00:00+09:00")  # the T+1 run
    advance(shop, clock, "2026-09-16T11:00:00+09:00")  # the bank has answered

    listed = shop.api.get("/api/v1/settlement_batches", {"node": str(shop.node.pk)}).json()
    [batch] = listed["results"]
    assert batch["status"] == "paid_out", batch
    assert (batch["gross"], batch["fees"], batch["vat"]) == ("20000", "500", "50")
    assert shop.balances() == (0, 0, 0)
    delivered(receiver, "settlement_batch.paid_out")
