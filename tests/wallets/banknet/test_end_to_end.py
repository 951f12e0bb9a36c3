"""Every bank outcome end to end: API requests here, a real Celery worker in another
process consuming from Redis (not eager), webhooks to a local receiver, and
``verify_ledger`` after each. PostgreSQL and Redis only (CI: CELERY_BROKER_URL=redis://…).

The worker runs for the whole module; a ticker thread plays Celery beat (relay and sweep
every second, where beat does it every five) so that delays of a second or two resolve
quickly. ``tests/events/test_outbox.py`` runs the real beat.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from sandbox.events.models import Event, WebhookDelivery
from sandbox.events.queue import enqueue
from sandbox.events.services import webhook_secret_current
from sandbox.events.tasks import relay_outbox, sweep_due_actions
from tests.factories import NodeFactory
from tests.worker import (
    WorkerProcess,
    broker_url_or_skip,
    database_url,
    new_prefix,
    point_celery_at,
    use_key_prefix,
    wait_for,
)
from wallets.banknet.models import Bank, Deposit, Withdrawal
from wallets.banks import new_account_number
from wallets.models import Account

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory):
    broker = broker_url_or_skip()
    database_url()  # skips on SQLite
    prefix = new_prefix()
    process = WorkerProcess(
        broker, beat=False, tmp_path=tmp_path_factory.mktemp("worker"), prefix=prefix
    )
    process.prefix = prefix
    process.wait_ready()
    yield process
    process.stop()


@pytest.fixture
def live(worker, celery_eager):
    """This process publishes to the worker's broker; a ticker plays beat. The worker
    pauses between tests, so no task of one test runs into the next one's database."""
    app = celery_eager
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    use_key_prefix(app, worker.prefix)
    point_celery_at(app, broker_url_or_skip(), eager=False)
    stop = threading.Event()

    def tick():
        while not stop.wait(1.0):
            enqueue(relay_outbox)
            enqueue(sweep_due_actions)

    worker.resume(app)
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    yield worker
    stop.set()
    ticker.join(5)
    worker.pause(app)
    use_key_prefix(app, None)
    point_celery_at(app, saved[0], eager=saved[1])


class Shop:
    """Alice's node with a webhook receiver, its KRW account, Kim's account at KB (004)."""

    def __init__(self, party, receiver, worker):
        Bank.objects.filter(pk__in=["004", "088"]).update(
            processing_delay_seconds=1, maintenance_starts_at=None, maintenance_ends_at=None
        )
        self.party, self.api, self.worker = party, party.api, worker
        self.node = NodeFactory(tenant=party.tenant, webhook_url=receiver.url)
        receiver.secrets = [webhook_secret_current(node=self.node).secret]
        self.account = Account.objects.get(wallet__node=self.node, currency="KRW")
        self.kim = self.post(
            "/api/v1/bank_accounts",
            {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"},
        ).json()
        self.keys = 0

    def post(self, path, body=None, money=False):
        headers = {}
        if money:
            self.keys += 1
            headers["HTTP_IDEMPOTENCY_KEY"] = f"e2e-{self.keys}"
        response = self.api.post(path, body or {}, format="json", **headers)
        assert response.status_code < 400 or response.status_code == 402, response.content
        return response

    def deposit(self, amount, number=None):
        return self.post(
            "/api/v1/test_helpers/deposits",
            {
                "from_bank_account_id": self.kim["id"],
                "bank_code": "004",
                "account_number": number or self.account.account_number,
                "amount": str(amount),
                "currency": "KRW",
            },
            money=True,
        ).json()

    def transfer(self, amount, holder="Kim Minjun", number="123456789012"):
        return self.post(
            "/api/v1/bank_transfers",
            {
                "account_id": str(self.account.pk),
                "bank_code": "004",
                "account_number": number,
                "holder_name": holder,
                "amount": str(amount),
                "currency": "KRW",
            },
            money=True,
        ).json()

    def settled(self, model, pk, timeout=45):
        def done():
            row = model.objects.get(pk=pk)
            return row if row.status != "pending" else None

        return wait_for(
            done, timeout=timeout, message=f"Still pending. Worker:\n{self.worker.output()[-3000:]}"
        )

    def fund(self, amount):
        self.settled(Deposit, self.deposit(amount)["id"])

    def balances(self):
        self.account.refresh_from_db()
        a = self.account
        return a.posted_balance, a.pending_balance, a.held_balance


@pytest.fixture
def shop(alice, receiver, live):
    shop = Shop(alice, receiver, live)
    yield shop
    call_command("verify_ledger")  # raises CommandError if the books are off


def delivered(receiver, event_type, count=1):
    """Wait until the receiver saw ``count`` signed events of ``event_type``."""

    def seen():
        got = [r for r in receiver.requests if r.json["type"] == event_type]
        return got if len(got) >= count else None

    found = wait_for(seen, timeout=45, message=f"No {event_type} webhook arrived.")
    assert all(r.verified for r in found)
    return found


def test_a_deposit_is_credited_by_the_worker(shop, receiver):
    deposit = shop.deposit(40_000)
    assert shop.balances() == (0, 40_000, 0)
    assert shop.settled(Deposit, deposit["id"]).status == "credited"
    assert shop.balances() == (40_000, 0, 0)
    [hook] = delivered(receiver, "deposit.credited")
    assert hook.json["object_id"] == deposit["id"]


def test_a_deposit_to_an_unknown_account_goes_back(shop, receiver):
    deposit = shop.deposit(10_000, number=new_account_number())
    row = shop.settled(Deposit, deposit["id"])
    assert (row.status, row.return_reason) == ("returned", "account_not_found")
    statement = shop.api.get(f"/api/v1/bank_accounts/{shop.kim['id']}").json()["statement"]
    assert [line["amount"] for line in statement] == ["10000", "-10000"]


def test_a_transfer_is_paid(shop, receiver):
    shop.fund(50_000)
    transfer = shop.transfer(20_000)
    assert shop.balances() == (50_000, 0, 20_000)
    assert shop.settled(Withdrawal, transfer["id"]).status == "succeeded"
    assert shop.balances() == (30_000, 0, 0)
    delivered(receiver, "transfer.succeeded")


@pytest.mark.parametrize(
    "reason", ["holder_name_mismatch", "account_closed", "bank_maintenance", "daily_limit_exceeded"]
)
def test_the_bank_refuses_a_transfer_and_the_hold_is_released(shop, receiver, reason):
    shop.fund(50_000)
    holder = "Kim Minjun"
    if reason == "holder_name_mismatch":
        holder = "Park Jiho"
    elif reason == "account_closed":
        shop.post(f"/api/v1/bank_accounts/{shop.kim['id']}/close")
    elif reason == "bank_maintenance":
        now = datetime.now(SEOUL)
        Bank.objects.filter(pk="004").update(
            maintenance_starts_at=(now - timedelta(hours=1)).time(),
            maintenance_ends_at=(now + timedelta(hours=1)).time(),
        )
    elif reason == "daily_limit_exceeded":
        Bank.objects.filter(pk="004").update(daily_withdrawal_limit=10_000)
    transfer = shop.transfer(20_000, holder=holder)
    row = shop.settled(Withdrawal, transfer["id"])
    assert (row.status, row.failure_reason) == ("failed", reason)
    assert shop.balances() == (50_000, 0, 0)
    [hook] = delivered(receiver, "transfer.failed")
    assert hook.json["data"]["failure_reason"] == reason


def test_a_forced_failure_then_a_normal_payment(shop, receiver):
    shop.fund(50_000)
    shop.post(
        f"/api/v1/test_helpers/nodes/{shop.node.pk}/fail_withdrawals",
        {"count": 1, "reason": "insufficient_funds"},
    )
    first, second = shop.transfer(10_000), shop.transfer(10_000)
    assert shop.settled(Withdrawal, first["id"]).failure_reason == "insufficient_funds"
    assert shop.settled(Withdrawal, second["id"]).status == "succeeded"
    assert shop.balances() == (40_000, 0, 0)


def test_a_paid_transfer_comes_back(shop, receiver):
    shop.fund(50_000)
    transfer = shop.transfer(20_000)
    shop.settled(Withdrawal, transfer["id"])
    returned = shop.post(
        f"/api/v1/test_helpers/withdrawals/{transfer['id']}/return",
        {"reason": "account_closed"},
        money=True,
    ).json()
    assert returned["status"] == "returned"
    assert shop.balances() == (50_000, 0, 0)
    delivered(receiver, "transfer.returned")


def test_an_offline_bank_holds_the_transfer_until_it_is_back(shop, receiver):
    shop.fund(50_000)
    shop.post("/api/v1/test_helpers/banks/004/offline")
    transfer = shop.transfer(5_000)
    wait_for(
        lambda: Event.objects.filter(type="transfer.created", object_id=transfer["id"]).exists()
    )
    time.sleep(3)  # the bank's second has passed; nothing may happen while it is offline
    assert Withdrawal.objects.get(pk=transfer["id"]).status == "pending"
    shop.post("/api/v1/test_helpers/banks/004/online")
    assert shop.settled(Withdrawal, transfer["id"]).status == "succeeded"


def test_card_payments_and_their_webhooks(shop, receiver):
    body = {
        "account_id": str(shop.account.pk),
        "amount": "30000",
        "currency": "KRW",
        "card_number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2099,
        "cvc": "123",
    }
    payment = shop.post("/api/v1/card_payments", body, money=True).json()
    shop.post(f"/api/v1/card_payments/{payment['id']}/capture", money=True)
    shop.post(f"/api/v1/card_payments/{payment['id']}/refund", {"amount": "1000"}, money=True)
    declined = shop.post(
        "/api/v1/card_payments", {**body, "card_number": "4000000000000002"}, money=True
    )
    assert declined.status_code == 402
    for event_type in (
        "card_payment.authorized",
        "card_payment.captured",
        "card_payment.partially_refunded",
        "card_payment.declined",
    ):
        delivered(receiver, event_type)
    assert shop.balances() == (29_000, 0, 0)


def test_a_test_clock_advanced_by_the_worker_credits_a_deposit(shop, receiver):
    clock = shop.post(
        "/api/v1/test_clocks", {"name": "e2e", "frozen_time": "2025-03-04T10:00:00+09:00"}
    ).json()
    shop.post(f"/api/v1/test_clocks/{clock['id']}/attach", {"node": str(shop.node.pk)})
    deposit = shop.deposit(7_000)
    assert Deposit.objects.get(pk=deposit["id"]).status == "pending"
    shop.post(
        f"/api/v1/test_clocks/{clock['id']}/advance", {"frozen_time": "2025-03-04T10:01:00+09:00"}
    )
    wait_for(lambda: shop.api.get(f"/api/v1/test_clocks/{clock['id']}").json()["status"] == "ready")
    assert Deposit.objects.get(pk=deposit["id"]).status == "credited"
    [hook] = delivered(receiver, "deposit.credited")
    assert hook.json["occurred_at"].startswith("2025-03-04T01:00:01")
    assert WebhookDelivery.objects.filter(status="succeeded").exists()


def test_a_withdrawal_to_a_link_verified_with_one_won_is_paid(shop, receiver):
    shop.fund(50_000)
    link = shop.post(
        f"/api/v1/nodes/{shop.node.pk}/account_links",
        {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"},
    ).json()
    # The bank sent Kim 1 won whose memo carries the code, as a real bank's statement would.
    statement = shop.api.get(f"/api/v1/bank_accounts/{shop.kim['id']}").json()["statement"]
    code = next(line for line in statement if line["amount"] == "1")["memo"].split()[-1]
    confirmed = shop.post(f"/api/v1/account_links/{link['id']}/confirm", {"code": code}).json()
    assert confirmed["status"] == "verified"

    withdrawal = shop.post(
        "/api/v1/withdrawals",
        {
            "account_id": str(shop.account.pk),
            "link_id": link["id"],
            "amount": "15000",
            "currency": "KRW",
        },
        money=True,
    ).json()

    assert shop.settled(Withdrawal, withdrawal["id"]).status == "succeeded"
    assert shop.balances() == (35_000, 0, 0)  # the 1 won came from the platform, not the node
    delivered(receiver, "account_link.verified")
    delivered(receiver, "withdrawal.succeeded")


def test_a_deposit_to_a_closed_virtual_account_goes_back(shop, receiver):
    spare = shop.post(
        "/api/v1/accounts", {"node_id": str(shop.node.pk), "currency": "KRW", "name": "Spare"}
    ).json()
    shop.post(f"/api/v1/accounts/{spare['id']}/close")
    deposit = shop.deposit(9_000, number=spare["account_number"])
    row = shop.settled(Deposit, deposit["id"])
    assert (row.status, row.return_reason) == ("returned", "account_closed")
    [hook] = delivered(receiver, "deposit.returned")
    assert hook.json["data"]["return_reason"] == "account_closed"


def test_a_card_payment_that_needs_a_challenge(shop, receiver):
    body = {
        "account_id": str(shop.account.pk),
        "amount": "12000",
        "currency": "KRW",
        "card_number": "4000000000003220",
        "exp_month": 12,
        "exp_year": 2099,
        "cvc": "123",
    }
    payment = shop.post("/api/v1/card_payments", body, money=True).json()
    assert payment["status"] == "requires_challenge"
    passed = shop.post(
        f"/api/v1/card_payments/{payment['id']}/challenge", {"passed": True}, money=True
    ).json()
    assert passed["status"] == "authorized"
    delivered(receiver, "card_payment.authorized")
