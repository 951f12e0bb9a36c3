"""The escrow pages: a list of escrows and disputes with their states, an escrow's page
with its terms hash, movements and events, and every action from the browser."""

from __future__ import annotations

import uuid

import pytest

from sandbox.tenants.models import AuditLogEntry
from tests.factories import NodeFactory, fund
from wallets.escrow.models import Escrow, EscrowDispute

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(alice):
    buyer = NodeFactory(tenant=alice.tenant, name="Buyer node")
    shop = NodeFactory(tenant=alice.tenant, name="Shop node")
    payer, payee = buyer.wallet.accounts.get(), shop.wallet.accounts.get()
    fund(payer, 30_000)
    return payer, payee


def open_escrow(alice, payer, payee, **extra) -> Escrow:
    form = {
        "idempotency_key": str(uuid.uuid4()),
        "payer_account": str(payer.pk),
        "payee_account": str(payee.pk),
        "amount": "10000",
        "release_condition": "manual",
        "timeout_seconds": "86400",
        "dispute_window_seconds": "3600",
        "fee_rate_bps": "100",
        "fixed_fee": "0",
        "description": "Desk",
    }
    form.update(extra)
    response = alice.web.post("/escrows/", form)
    assert response.status_code == 302, response.content[:2000]
    return Escrow.objects.get()


def test_a_tester_opens_releases_and_refunds_from_the_browser(alice, accounts):
    payer, payee = accounts
    escrow = open_escrow(alice, payer, payee)

    page = alice.web.get(f"/escrows/{escrow.pk}/").content.decode()
    assert escrow.terms_hash in page and "bound to its hold" in page and "escrow.created" in page

    alice.web.post(f"/escrows/{escrow.pk}/release/", {"amount": "2500", "idempotency_key": "k1"})
    alice.web.post(f"/escrows/{escrow.pk}/release/", {"amount": "2500", "idempotency_key": "k1"})
    escrow.refresh_from_db()
    assert escrow.released_amount == 2_500  # the same form twice released once

    alice.web.post(f"/escrows/{escrow.pk}/refund/", {"idempotency_key": "k2"})
    escrow.refresh_from_db()
    assert escrow.status == "refunded"
    after = alice.web.post(f"/escrows/{escrow.pk}/release/", {"amount": "1"}, follow=True)
    assert "escrow_refunded" in after.content.decode()

    listing = alice.web.get("/escrows/").content.decode()
    assert "refunded" in listing and "Buyer node → Shop node" in listing


def test_a_dispute_from_the_browser(alice, accounts):
    payer, payee = accounts
    escrow = open_escrow(alice, payer, payee)

    alice.web.post(f"/escrows/{escrow.pk}/dispute/", {"reason": "Scratched"})
    dispute = EscrowDispute.objects.get()
    alice.web.post(f"/escrow-disputes/{dispute.pk}/evidence/", {"evidence": "Photos"})
    alice.web.post(f"/escrow-disputes/{dispute.pk}/lose/", {"idempotency_key": "k3"})

    dispute.refresh_from_db()
    escrow.refresh_from_db()
    assert (dispute.status, escrow.status) == ("lost", "released")
    assert AuditLogEntry.objects.filter(action="test_helper.escrow_dispute_lose").count() == 1
    page = alice.web.get(f"/escrows/{escrow.pk}/").content.decode()
    assert "escrow_dispute.lost" in page and "escrow_dispute.evidence_submitted" in page
    assert "Scratched" in alice.web.get("/escrows/").content.decode()


def test_a_refused_form_says_why_and_holds_nothing(alice, accounts):
    payer, payee = accounts
    form = {
        "idempotency_key": str(uuid.uuid4()),
        "payer_account": str(payer.pk),
        "payee_account": str(payee.pk),
        "amount": "99999",
        "release_condition": "manual",
        "timeout_seconds": "86400",
        "dispute_window_seconds": "3600",
        "fee_rate_bps": "0",
        "fixed_fee": "0",
    }

    response = alice.web.post("/escrows/", form)

    assert response.status_code == 200
    assert "Insufficient funds" in response.content.decode()
    assert not Escrow.objects.exists()


def test_the_list_filters_by_status(alice, accounts):
    payer, payee = accounts
    open_escrow(alice, payer, payee)

    assert "Desk" not in alice.web.get("/escrows/", {"status": "refunded"}).content.decode()
    assert "Desk" in alice.web.get("/escrows/", {"status": "held"}).content.decode()
