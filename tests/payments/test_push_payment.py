"""The push payment, end to end through the API: the merchant's signed request and its
EMVCo QR, the payer's token, one redemption, refunds, and a receipt that verifies offline.
Every JWS is checked by joserfc and every QR payload by crccheck and a TLV reader written
here, from the specification, not from our encoder."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime

import cemacqr
import pytest
from crccheck.crc import Crc16CcittFalse
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sandbox.events.models import Event
from sandbox.nodekeys import jws
from tests.helpers import error_code, ledger_state
from tests.payments.conftest import jose_verify, run_verifier
from wallets.models import LedgerTransaction
from wallets.payments.models import PaymentRequest

# joserfc warns that RFC 9864 deprecates "EdDSA" for the fully specified "Ed25519"; the
# sandbox signs with "EdDSA" (RFC 8037), which every JOSE library still verifies.
pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


def read_tlv(text: str) -> dict[str, str]:
    """EMVCo data objects: ID (2 digits), length (2 digits), value."""
    objects, i = {}, 0
    while i < len(text):
        tag, length = text[i : i + 2], int(text[i + 2 : i + 4])
        objects[tag] = text[i + 4 : i + 4 + length]
        i += 4 + length
    assert i == len(text)
    return objects


def jwks_of(client, node) -> dict:
    response = client.get(f"/jwks/nodes/{node.pk}.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    return response.json()


def test_the_request_is_signed_by_the_merchant_node_and_served_at_the_qr_url(shop, anonymous):
    request = shop.create(order_id="A-100", amount="15000", description="Two lattes")
    claims = jose_verify(request["jws"], jwks_of(anonymous, shop.merchant))
    assert claims["rid"] == request["id"] and claims["merchant"] == str(shop.merchant.pk)
    assert (claims["order_id"], claims["amount"], claims["currency"]) == ("A-100", "15000", "KRW")
    assert claims["exp"] - claims["iat"] == 900
    assert request["status"] == "requested"
    assert request["request_hash"] == jws.digest(request["jws"])

    # The QR URL serves the same JWS, to anyone, as application/jose.
    served = anonymous.get(request["url"].removeprefix("http://127.0.0.1:8000"))
    assert served.status_code == 200 and served["Content-Type"] == "application/jose"
    assert served.content.decode() == request["jws"]


def test_the_qr_payload_is_emvco_with_a_valid_crc(shop, anonymous):
    request = shop.create(order_id="A-101", amount="15000")
    payload = request["qr_payload"]
    assert payload.endswith(f"{Crc16CcittFalse.calc(payload[:-4].encode()):04X}")
    objects = read_tlv(payload)
    assert next(iter(objects)) == "00" and objects["00"] == "01"
    assert objects["01"] == "12"  # dynamic
    template = read_tlv(objects["26"])
    assert template["00"] == "ORG.FSBX.PAY" and template["25"] == request["url"]
    assert objects["53"] == "410" and objects["54"] == "15000" and objects["58"] == "KR"
    assert objects["59"] == "Gangnam Coffee" and objects["60"] == "SEOUL"
    assert read_tlv(objects["62"])["05"] == "A-101"
    assert list(objects)[-1] == "63" and len(objects["63"]) == 4

    png = anonymous.get(request["qr_png_url"].removeprefix("http://127.0.0.1:8000"))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = anonymous.get(request["qr_svg_url"].removeprefix("http://127.0.0.1:8000"))
    assert svg.status_code == 200 and ET.fromstring(svg.content).tag.endswith("svg")


def test_an_independent_emvco_reader_parses_and_validates_the_payload(shop):
    # cemacqr (a QRCPS reader none of us wrote) applies the EMVCo rules: order, formats,
    # lengths, mandatory objects and the CRC.
    request = shop.create(order_id="A-102", amount="15000")
    qr = cemacqr.parse_payload(request["qr_payload"])
    report = cemacqr.validate(qr)
    assert report.ok, report.violations
    assert qr.crc_ok and qr.point_of_initiation == "12"
    assert qr.merchant_accounts["26"]["25"] == request["url"]
    assert (qr.get("53"), qr.get("54"), qr.get_in("62", "05")) == ("410", "15000", "A-102")

    damaged = request["qr_payload"].replace("15000", "15001")
    assert not cemacqr.validate(cemacqr.parse_payload(damaged)).ok


def test_the_payer_decodes_the_qr(shop):
    request = shop.create(order_id="A-102", amount="15000")
    response = shop.post("/api/v1/payment_qr/decode", {"payload": request["qr_payload"]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["payment_request_id"] == request["id"] and body["url"] == request["url"]
    assert (body["amount"], body["currency"], body["reference"]) == ("15000", "KRW", "A-102")


def test_the_token_authorizes_this_payment_and_reveals_no_account(shop, anonymous):
    request = shop.create(order_id="A-103", amount="15000")
    authorization = shop.authorize(request)
    claims = jose_verify(authorization["token"], jwks_of(anonymous, shop.payer))
    assert claims["req"] == request["request_hash"] and claims["rid"] == request["id"]
    assert claims["merchant"] == str(shop.merchant.pk)
    assert (claims["amount"], claims["currency"]) == ("15000", "KRW")
    assert claims["exp"] - claims["iat"] == 600
    header = json.loads(jws.b64u_decode(authorization["token"].split(".")[0]))
    assert (
        header["alg"] == "EdDSA"
        and header["kid"] == jwks_of(anonymous, shop.payer)["keys"][0]["kid"]
    )
    # The account is a salted commitment: neither its id nor its number appears.
    payload = json.dumps(claims)
    assert str(shop.payer_account.pk) not in payload
    assert shop.payer_account.account_number not in payload
    assert len(jws.b64u_decode(claims["account"])) == 32
    assert PaymentRequest.objects.get(pk=request["id"]).status == "authorized"


def test_redeeming_moves_the_money_once(shop):
    request = shop.create(order_id="A-104", amount="15000")
    token = shop.authorize(request)["token"]
    before = LedgerTransaction.objects.count()

    response = shop.redeem(request, token)

    assert response.status_code == 200, response.content
    paid = response.json()
    assert paid["status"] == "paid" and paid["transaction_id"]
    assert LedgerTransaction.objects.count() == before + 1
    shop.payer_account.refresh_from_db(), shop.merchant_account.refresh_from_db()
    assert shop.payer_account.posted_balance == 85_000
    assert shop.merchant_account.posted_balance == 15_000
    txn = LedgerTransaction.objects.get(uuid=paid["transaction_id"])
    assert txn.kind == "payment" and txn.amount == 15_000
    assert txn.metadata == {"payment_request": request["id"], "token": jws.digest(token)}
    events = Event.objects.filter(object_id=request["id"])
    assert sorted(events.values_list("type", flat=True)) == [
        "payment_request.authorized",
        "payment_request.created",
        "payment_request.paid",
    ]
    assert {e.node_id for e in events} == {shop.merchant.pk}
    assert events.get(type="payment_request.paid").data == paid
    # The payer's node hears of its money leaving; the merchant's node gets no event that
    # names the payer's account.
    (ledger_event,) = Event.objects.filter(object_id=paid["transaction_id"])
    assert (ledger_event.type, ledger_event.node_id) == (
        "payment_transaction.posted",
        shop.payer.pk,
    )
    merchant_events = json.dumps(list(Event.objects.filter(node=shop.merchant).values("data")))
    assert str(shop.payer_account.pk) not in merchant_events

    # Presented again (another idempotency key): 409 naming the first transaction.
    state = ledger_state()
    again = shop.redeem(request, token)
    assert again.status_code == 409 and error_code(again) == "already_paid"
    assert again.json()["error"]["fields"]["transaction_id"] == [paid["transaction_id"]]
    # A second token for the paid order is refused too: an order is paid once.
    assert ledger_state() == state


def test_refunds_partial_then_full_never_above_the_payment(shop):
    request = shop.create(order_id="A-105", amount="15000")
    shop.redeem(request, shop.authorize(request)["token"])
    refunds = f"/api/v1/payment_requests/{request['id']}/refunds"

    first = shop.post(refunds, {"amount": "5000", "reason": "one latte was cold"})
    assert first.status_code == 201, first.content
    assert shop.api.get(f"/api/v1/payment_requests/{request['id']}").json()["status"] == (
        "partially_refunded"
    )
    state = ledger_state()
    too_much = shop.post(refunds, {"amount": "10001"})
    assert too_much.status_code == 422 and error_code(too_much) == "refund_exceeds_payment"
    assert ledger_state() == state

    rest = shop.post(refunds, {})
    assert rest.status_code == 201 and rest.json()["amount"] == "10000"
    body = shop.api.get(f"/api/v1/payment_requests/{request['id']}").json()
    assert (body["status"], body["refunded_amount"]) == ("refunded", "15000")
    shop.payer_account.refresh_from_db(), shop.merchant_account.refresh_from_db()
    assert (shop.payer_account.posted_balance, shop.merchant_account.posted_balance) == (
        100_000,
        0,
    )
    assert [r["amount"] for r in shop.api.get(refunds).json()] == ["5000", "10000"]
    nothing_left = shop.post(refunds, {"amount": "1"})
    assert nothing_left.status_code == 409 and error_code(nothing_left) == "not_refundable"


def test_cancel_stops_redemption(shop):
    request = shop.create(order_id="A-106", amount="15000")
    token = shop.authorize(request)["token"]
    canceled = shop.post(f"/api/v1/payment_requests/{request['id']}/cancel", {})
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    state = ledger_state()
    response = shop.redeem(request, token)
    assert response.status_code == 409 and error_code(response) == "request_canceled"
    assert ledger_state() == state


def test_order_ids_are_unique_per_merchant_node(shop):
    shop.create(order_id="A-107")
    body = {
        "account_id": str(shop.merchant_account.pk),
        "order_id": "A-107",
        "amount": "1",
        "currency": "KRW",
    }
    response = shop.post("/api/v1/payment_requests", body)
    assert response.status_code == 409 and error_code(response) == "duplicate_order_id"


def test_the_receipt_verifies_offline_before_and_after_the_day_closes(
    shop, operator_api, celery_eager, django_capture_on_commit_callbacks, tmp_path
):
    request = shop.create(order_id="A-108", amount="15000")
    shop.redeem(request, shop.authorize(request)["token"])
    receipt_url = f"/api/v1/payment_requests/{request['id']}/receipt"

    receipt = shop.api.get(receipt_url).json()
    assert receipt["proof"] is None and receipt["proof_status"] == "day_not_closed"
    run = run_verifier(receipt, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "signatures checked (no proof yet)" in run.stdout

    moved = operator_api.post(
        "/api/v1/operator/platform_clock/advance", {"seconds": 86_400}, format="json"
    )
    assert moved.status_code == 200, moved.content
    with django_capture_on_commit_callbacks(execute=True):
        closed = operator_api.post("/api/v1/operator/clearing/close", {}, format="json")
    assert closed.status_code == 202, closed.content

    receipt = shop.api.get(receipt_url).json()
    assert receipt["proof_status"] == "included"
    run = run_verifier(receipt, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the anchored leaf is this transaction" in run.stdout

    # A receipt with another amount, or a token of another request, does not verify.
    forged = json.loads(json.dumps(receipt))
    forged["transaction"]["amount"]["amount"] = "1500"
    assert run_verifier(forged, tmp_path).returncode == 1
    other = shop.create(order_id="A-109", amount="15000")
    forged = dict(receipt, token_jws=shop.authorize(other)["token"])
    forged["jwks"] = receipt["jwks"]
    result = run_verifier(forged, tmp_path)
    assert result.returncode == 1 and "another request" in result.stdout


def test_on_a_test_clock_the_receipt_carries_the_proof_of_the_clocks_closed_day(
    shop, celery_eager, django_capture_on_commit_callbacks, tmp_path
):
    clock = shop.post(
        "/api/v1/test_clocks", {"name": "shop", "frozen_time": "2026-03-10T11:00:00+09:00"}
    ).json()
    for node in (shop.merchant, shop.payer):
        attached = shop.post(f"/api/v1/test_clocks/{clock['id']}/attach", {"node": str(node.pk)})
        assert attached.status_code < 300, attached.content
    request = shop.create(order_id="A-200", amount="15000")
    shop.redeem(request, shop.authorize(request)["token"])
    receipt_url = f"/api/v1/payment_requests/{request['id']}/receipt"
    assert shop.api.get(receipt_url).json()["proof_status"] == "day_not_closed"

    with django_capture_on_commit_callbacks(execute=True):
        ended = shop.post(f"/api/v1/test_clocks/{clock['id']}/end_day", {})
    assert ended.status_code == 202, ended.content

    receipt = shop.api.get(receipt_url).json()
    assert receipt["proof_status"] == "included"
    assert receipt["proof"]["subject"]["test_clock"] == clock["id"]
    run = run_verifier(receipt, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the anchored leaf is this transaction" in run.stdout


def test_no_receipt_before_payment(shop):
    request = shop.create(order_id="A-110")
    response = shop.api.get(f"/api/v1/payment_requests/{request['id']}/receipt")
    assert response.status_code == 409 and error_code(response) == "not_paid"


def test_the_list_shows_states(shop):
    paid = shop.create(order_id="A-111")
    shop.redeem(paid, shop.authorize(paid)["token"])
    shop.create(order_id="A-112")
    listed = shop.api.get("/api/v1/payment_requests").json()["results"]
    assert [(r["order_id"], r["status"]) for r in listed] == [
        ("A-112", "requested"),
        ("A-111", "paid"),
    ]


def test_an_unknown_request_is_404(shop):
    response = shop.api.get(f"/api/v1/payment_requests/{uuid.uuid4()}")
    assert response.status_code == 404 and error_code(response) == "paymentrequest_not_found"


# How ``sandbox.clock`` reads a node's test clock (the ledger's lock and the redemption's
# reads read it by a join).
CLOCK_READ = 'SELECT "events_testclock"."frozen_time" AS "clock__frozen_time"'


def test_a_redemption_reads_each_nodes_clock_once_and_its_events_carry_those_times(shop):
    times = {shop.merchant: "2026-03-10T11:00:00+09:00", shop.payer: "2026-03-10T11:01:00+09:00"}
    for node, frozen_time in times.items():
        clock = shop.post("/api/v1/test_clocks", {"name": node.name, "frozen_time": frozen_time})
        attached = shop.post(
            f"/api/v1/test_clocks/{clock.json()['id']}/attach", {"node": str(node.pk)}
        )
        assert attached.status_code < 300, attached.content
    request = shop.create(order_id="A-300", amount="15000")
    token = shop.authorize(request)["token"]

    with CaptureQueriesContext(connection) as queries:
        paid = shop.redeem(request, token).json()

    # On PostgreSQL both nodes' clocks are read with the request and the authorization, by
    # a join (``wallets.payments.redeeming``); elsewhere one query each. The events reuse
    # those times.
    clock_reads = [q for q in queries if q["sql"].startswith(CLOCK_READ)]
    assert len(clock_reads) == (0 if connection.vendor == "postgresql" else 2)
    paid_event = Event.objects.get(object_id=request["id"], type="payment_request.paid")
    payer_event = Event.objects.get(object_id=paid["transaction_id"])
    assert paid_event.occurred_at == datetime.fromisoformat(times[shop.merchant])
    assert paid_event.occurred_at == datetime.fromisoformat(paid["paid_at"])
    assert payer_event.occurred_at == datetime.fromisoformat(times[shop.payer])
