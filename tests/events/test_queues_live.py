"""Bank work never waits behind webhooks: real workers, one per queue (as dev.py and the
README run them), on Redis and PostgreSQL. A webhook worker is stuck on a receiver that
takes 30 s to answer, with hundreds of deliveries queued behind; a deposit due in 2 s is
still credited within its delay plus 5 s."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.db import transaction

from sandbox.events.models import WebhookAttempt, WebhookDelivery
from sandbox.events.services import NewEvent, events_record
from tests.factories import NodeFactory
from tests.worker import wait_for
from wallets.banknet.models import Bank, Deposit
from wallets.models import Account

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

BANK_DELAY = 2
BACKLOG = 400


@pytest.fixture
def slow_receiver():
    """A webhook receiver that answers after 30 s (the sender gives up after its 10 s)."""
    seen = []
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(time.monotonic())
            stop.wait(30)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", seen
    stop.set()
    server.shutdown()
    server.server_close()


def test_a_deposit_is_credited_on_time_behind_a_webhook_backlog_and_a_slow_receiver(
    start_worker, alice, banks, slow_receiver
):
    url, seen = slow_receiver
    start_worker(queues=["webhooks"], pool="threads", concurrency=4)
    start_worker(queues=["bank"], beat=True)
    hooked = NodeFactory(tenant=alice.tenant, webhook_url=url)
    with transaction.atomic():
        events_record(
            [
                NewEvent(
                    node_id=hooked.pk,
                    tenant_id=hooked.tenant_id,
                    type="test.backlog",
                    data={"n": n},
                )
                for n in range(BACKLOG)
            ]
        )
    wait_for(lambda: len(seen) >= 4, timeout=60, message="The webhook worker never got busy.")

    # when: a deposit due in BANK_DELAY seconds, to a node of the same tenant
    Bank.objects.filter(pk="004").update(
        processing_delay_seconds=BANK_DELAY, maintenance_starts_at=None, maintenance_ends_at=None
    )
    shop = NodeFactory(tenant=alice.tenant)
    account = Account.objects.get(wallet__node=shop, currency="KRW")
    kim = alice.api.post(
        "/api/v1/bank_accounts",
        {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"},
        format="json",
    ).json()
    started = time.monotonic()
    response = alice.api.post(
        "/api/v1/test_helpers/deposits",
        {
            "from_bank_account_id": kim["id"],
            "bank_code": "004",
            "account_number": account.account_number,
            "amount": "40000",
            "currency": "KRW",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="live-deposit-1",
    )
    assert response.status_code < 300, response.content

    # then: credited within its delay plus 5 s, while the webhook backlog is still there
    deposit = wait_for(
        lambda: Deposit.objects.filter(pk=response.json()["id"]).exclude(status="pending").first(),
        timeout=60,
        interval=0.05,
    )
    answered_after = time.monotonic() - started
    assert deposit.status == "credited"
    assert answered_after <= BANK_DELAY + 5, f"answered after {answered_after:.1f} s"
    waiting = WebhookDelivery.objects.filter(node=hooked, status="pending", attempt_count=0)
    assert waiting.count() > BACKLOG / 2  # the backlog had barely moved
    assert WebhookAttempt.objects.filter(delivery__node=hooked).count() < BACKLOG / 2
    call_command("verify_ledger")
