"""Round trips to PostgreSQL of one API redemption (``wallets.payments.redeeming``), and
that what rides with its COMMIT is all there: a count, so deterministic."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from sandbox.dbtrace import RoundTrips
from sandbox.events.models import Event, ScheduledAction
from sandbox.tenants.models import AuditLogEntry
from tests.helpers import error_code
from wallets.models import Account
from wallets.payments.models import PaymentRequest, Redemption

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def redeem(shop, request: dict, token: str, key: str | None = None):
    """The response, and the round trips of the request but its API key's lookup."""
    with RoundTrips(connection) as trips:
        connection.close_if_unusable_or_obsolete()  # as at the start of a served request
        response = shop.post(
            f"/api/v1/payment_requests/{request['id']}/redeem", {"token": token}, key=key
        )
    return response, [m for m in trips.messages if not m.startswith('Query "SELECT k.id')]


def test_a_redemption_takes_four_round_trips_besides_its_api_key(shop):
    warm = shop.create(order_id="R-0")
    redeem(shop, warm, shop.authorize(warm)["token"])  # the persistent connection
    request = shop.create(order_id="R-1")
    token = shop.authorize(request)["token"]

    response, trips = redeem(shop, request, token)

    assert response.status_code == 200, response.content
    # BEGIN with the idempotency claim and the redemption's reads (the request locked, the
    # keys, the authorization, the nodes' clocks); the net debit caps; the posting's
    # INSERT with the accounts' read; the balances, the redemption, the request, the
    # expiry's cancellation, the audit entry, the events and the stored answer, with the
    # COMMIT.
    assert len(trips) == 4, trips
    assert trips[0].startswith('Query "BEGIN;')


def test_what_rides_with_the_commit_is_committed_and_replayed(shop):
    request = shop.create(order_id="R-2", amount="15000")
    token = shop.authorize(request)["token"]
    key = str(uuid.uuid4())

    first, _ = redeem(shop, request, token, key=key)
    again, _ = redeem(shop, request, token, key=key)

    assert first.status_code == again.status_code == 200, first.content
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    paid = first.json()
    row = PaymentRequest.objects.select_related("transaction").get(pk=request["id"])
    assert row.status == "paid" and str(row.transaction.uuid) == paid["transaction_id"]
    assert row.paid_at.isoformat() == paid["paid_at"]
    redemption = Redemption.objects.get(request=row)
    assert redemption.transaction_id == row.transaction_id
    assert redemption.created_at == row.paid_at
    assert str(redemption.authorization.jws) == token
    assert Account.objects.get(pk=shop.payer_account.pk).posted_balance == 100_000 - 15_000
    assert Account.objects.get(pk=shop.merchant_account.pk).posted_balance == 15_000
    expiry = ScheduledAction.objects.get(key=f"payreq:{request['id']}")
    assert expiry.status == ScheduledAction.Status.CANCELLED and expiry.finished_at is not None
    audit = AuditLogEntry.objects.get(action="payment_request.paid", target_id=request["id"])
    assert audit.tenant_id == shop.party.tenant.pk
    assert audit.actor_api_key is not None and audit.actor_label.startswith("API key ")
    assert (audit.target_type, audit.target_label) == ("paymentrequest", "Order R-2 (paid)")
    assert audit.data == {} and not audit.is_operator_action
    payer_event, paid_event = Event.objects.filter(
        type__in=["payment_transaction.posted", "payment_request.paid"]
    ).order_by("created_at")
    assert (payer_event.node_id, payer_event.object_id) == (shop.payer.pk, paid["transaction_id"])
    assert payer_event.object_type == "ledgertransaction"
    assert [e["direction"] for e in payer_event.data["entries"]] == ["debit", "credit"]
    assert (paid_event.node_id, paid_event.object_id) == (shop.merchant.pk, request["id"])
    assert paid_event.object_type == "paymentrequest" and paid_event.data == paid
    assert paid_event.tenant_id == payer_event.tenant_id == shop.party.tenant.pk


def test_a_token_redeemed_twice_answers_409_naming_the_first_transaction(shop):
    request = shop.create(order_id="R-3")
    token = shop.authorize(request)["token"]
    first, _ = redeem(shop, request, token)

    again, _ = redeem(shop, request, token)

    assert again.status_code == 409 and error_code(again) == "already_paid"
    assert first.json()["transaction_id"] in again.json()["error"]["message"]
    assert Redemption.objects.filter(request_id=request["id"]).count() == 1
