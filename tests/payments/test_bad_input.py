"""Bad input, each refused with a documented code and no money moved (docs/payments.md):
a token for another merchant or request, a changed amount, a wrong or unknown signature,
expired requests and tokens, a replay, a refund above the payment, a malformed QR payload,
another tenant's objects."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws as jose_jws
from joserfc.jwk import OKPKey

from sandbox.nodekeys import jws
from tests.factories import NodeFactory, fund
from tests.helpers import error_code, ledger_state
from wallets.payments.services import TOKEN_TYP, account_commitment

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


def tamper(token: str, **changes) -> str:
    """The token with payload members changed, its signature kept."""
    head, body, signature = token.split(".")
    payload = json.loads(jws.b64u_decode(body))
    payload.update(changes)
    return f"{head}.{jws.b64u(jws.canonical_json(payload))}.{signature}"


class OutsideSigner:
    """A payer node whose tenant registered its own key and signs with joserfc."""

    def __init__(self, shop) -> None:
        self.key = OKPKey.generate_key("Ed25519", private=True)
        public = {
            k: v for k, v in self.key.as_dict(private=False).items() if k in ("kty", "crv", "x")
        }
        response = shop.api.post(
            f"/api/v1/nodes/{shop.payer.pk}/keys", {"jwk": public}, format="json"
        )
        assert response.status_code == 201, response.content
        self.kid = response.json()["kid"]
        self.shop = shop

    def token(self, request: dict, salt: bytes, **changes) -> str:
        now = int(time.time())
        payload = {
            "ver": 1,
            "jti": "outside-1",
            "req": request["request_hash"],
            "rid": request["id"],
            "merchant": request["node_id"],
            "amount": request["amount"],
            "currency": request["currency"],
            "payer": str(self.shop.payer.pk),
            "account": account_commitment(salt, self.shop.payer_account.pk),
            "iat": now,
            "exp": now + 300,
            **changes,
        }
        header = {"alg": "EdDSA", "kid": self.kid, "typ": TOKEN_TYP}
        return jose_jws.serialize_compact(
            header, json.dumps(payload), self.key, algorithms=["EdDSA"]
        )

    def hand_in(self, request: dict, token: str, salt: bytes):
        body = {
            "request_jws": request["jws"],
            "account_id": str(self.shop.payer_account.pk),
            "token": token,
            "salt": jws.b64u(salt),
        }
        return self.shop.post(f"/api/v1/nodes/{self.shop.payer.pk}/payment_authorizations", body)


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert error_code(response) == code, response.content


def test_a_token_for_another_request_is_refused(shop):
    ours = shop.create(order_id="B-1", amount="15000")
    other_shop = NodeFactory(tenant=shop.party.tenant, name="Other shop")
    body = {
        "account_id": str(other_shop.wallet.accounts.get().pk),
        "order_id": "B-1",
        "amount": "15000",
        "currency": "KRW",
    }
    theirs = shop.post("/api/v1/payment_requests", body).json()
    token = shop.authorize(theirs)["token"]
    state = ledger_state()
    refused(shop.redeem(ours, token), 422, "token_request_mismatch")
    assert ledger_state() == state


def test_a_token_naming_another_merchant_is_refused(shop):
    signer = OutsideSigner(shop)
    request = shop.create(order_id="B-2")
    salt = os.urandom(32)
    token = signer.token(request, salt, merchant=str(shop.payer.pk))
    refused(signer.hand_in(request, token, salt), 422, "token_merchant_mismatch")
    state = ledger_state()
    refused(shop.redeem(request, token), 422, "token_merchant_mismatch")
    assert ledger_state() == state


def test_a_changed_amount_is_refused(shop):
    request = shop.create(order_id="B-3", amount="15000")
    token = shop.authorize(request)["token"]
    state = ledger_state()
    # Changed after signing: the signature no longer holds.
    refused(shop.redeem(request, tamper(token, amount="1")), 422, "bad_signature")
    # Signed with the changed amount: the amounts do not match.
    signer = OutsideSigner(shop)
    salt = os.urandom(32)
    cheap = signer.token(request, salt, amount="1")
    refused(signer.hand_in(request, cheap, salt), 422, "amount_mismatch")
    refused(shop.redeem(request, cheap), 422, "amount_mismatch")
    assert ledger_state() == state


def test_a_wrong_or_unknown_signature_is_refused(shop):
    request = shop.create(order_id="B-4")
    token = shop.authorize(request)["token"]
    head, body, _ = token.split(".")
    stranger = Ed25519PrivateKey.generate()
    resigned = f"{head}.{body}.{jws.b64u(stranger.sign(f'{head}.{body}'.encode()))}"
    unknown = jws.sign(
        stranger, kid="nobody", typ=TOKEN_TYP, payload=json.loads(jws.b64u_decode(body))
    )
    state = ledger_state()
    refused(shop.redeem(request, resigned), 422, "bad_signature")
    refused(shop.redeem(request, unknown), 422, "unknown_key")
    refused(shop.redeem(request, "not.a-token"), 422, "malformed_token")
    refused(shop.redeem(request, request["jws"]), 422, "malformed_token")  # a request, not a token
    assert ledger_state() == state


def test_a_token_never_handed_in_is_refused(shop):
    """Validly signed by the payer's own key, but the platform cannot tell which account
    it commits to: the payer's node must hand it in first."""
    signer = OutsideSigner(shop)
    request = shop.create(order_id="B-5")
    state = ledger_state()
    refused(shop.redeem(request, signer.token(request, os.urandom(32))), 422, "unknown_token")
    assert ledger_state() == state


def test_a_token_signed_outside_pays_once_handed_in(shop):
    signer = OutsideSigner(shop)
    request = shop.create(order_id="B-6", amount="2000")
    salt = os.urandom(32)
    token = signer.token(request, salt)
    wrong_salt = signer.hand_in(request, token, os.urandom(32))
    refused(wrong_salt, 422, "account_commitment_mismatch")
    assert signer.hand_in(request, token, salt).status_code == 201
    response = shop.redeem(request, token)
    assert response.status_code == 200 and response.json()["status"] == "paid"


def test_expired_request_and_token_answer_410(shop, operator_api):
    short = shop.create(order_id="B-7", expires_in=60)
    token = shop.authorize(short, expires_in=30)["token"]
    lasting = shop.create(order_id="B-8", expires_in=3600)
    brief = shop.authorize(lasting, expires_in=30)["token"]
    moved = operator_api.post(
        "/api/v1/operator/platform_clock/advance", {"seconds": 120}, format="json"
    )
    assert moved.status_code == 200, moved.content
    state = ledger_state()
    refused(shop.redeem(short, token), 410, "request_expired")
    refused(shop.redeem(lasting, brief), 410, "token_expired")
    refused(
        shop.post(
            f"/api/v1/nodes/{shop.payer.pk}/payment_authorizations",
            {"request_jws": short["jws"], "account_id": str(shop.payer_account.pk)},
        ),
        410,
        "request_expired",
    )
    assert ledger_state() == state


def test_a_replayed_token_answers_409_with_the_first_transaction(shop):
    request = shop.create(order_id="B-9")
    token = shop.authorize(request)["token"]
    first = shop.redeem(request, token).json()
    second_token = shop.post(
        f"/api/v1/nodes/{shop.payer.pk}/payment_authorizations",
        {"request_jws": request["jws"], "account_id": str(shop.payer_account.pk)},
    )
    refused(second_token, 409, "already_paid")
    state = ledger_state()
    replay = shop.redeem(request, token)
    refused(replay, 409, "already_paid")
    assert replay.json()["error"]["fields"]["transaction_id"] == [first["transaction_id"]]
    assert ledger_state() == state


def test_a_refund_above_the_payment_is_refused(shop):
    request = shop.create(order_id="B-10", amount="15000")
    shop.redeem(request, shop.authorize(request)["token"])
    state = ledger_state()
    refunds = f"/api/v1/payment_requests/{request['id']}/refunds"
    refused(shop.post(refunds, {"amount": "15001"}), 422, "refund_exceeds_payment")
    refused(shop.post(refunds, {"amount": "0"}), 400, "invalid_amount")
    refused(shop.post(refunds, {"amount": 5}), 400, "invalid_amount")
    assert ledger_state() == state
    unpaid = shop.create(order_id="B-11")
    refused(
        shop.post(f"/api/v1/payment_requests/{unpaid['id']}/refunds", {}), 409, "not_refundable"
    )


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("", "invalid_qr_payload"),
        ("hello", "invalid_qr_payload"),
        ("000201010212630400000", "invalid_qr_payload"),
        ("0002010102116304", "invalid_qr_payload"),
    ],
)
def test_a_malformed_qr_payload_is_400(shop, payload, code):
    response = shop.post("/api/v1/payment_qr/decode", {"payload": payload})
    assert response.status_code == 400 and error_code(response) == code, response.content


def test_a_changed_qr_payload_fails_its_crc(shop):
    payload = shop.create(order_id="B-12", amount="15000")["qr_payload"]
    changed = payload.replace("540515000", "54041500")  # a shorter amount, CRC kept
    response = shop.post("/api/v1/payment_qr/decode", {"payload": changed})
    refused(response, 400, "qr_crc_mismatch")
    static = shop.post(
        "/api/v1/payment_qr/decode", {"payload": payload.replace("010212", "010211")}
    )
    assert static.status_code == 400


def test_request_input_is_checked(shop):
    def create(**changes):
        body = {
            "account_id": str(shop.merchant_account.pk),
            "order_id": "B-13",
            "amount": "15000",
            "currency": "KRW",
            **changes,
        }
        return shop.post("/api/v1/payment_requests", body)

    refused(create(amount="1.5"), 400, "invalid_precision")
    refused(create(amount="-1"), 400, "invalid_amount")
    refused(create(amount=15000), 400, "invalid_amount")
    refused(create(currency="USD"), 400, "currency_mismatch")
    refused(create(expires_in=5), 400, "invalid_expiry")
    refused(create(surprise=1), 400, "unknown_field")


def test_another_tenants_objects_are_not_found(shop, outsider):
    request = shop.create(order_id="B-14")
    token = shop.authorize(request)["token"]
    intruder = NodeFactory(tenant=outsider.tenant)
    account = intruder.wallet.accounts.get()
    fund(account, 50_000)
    state = ledger_state()
    # The outsider cannot authorize alice's request from its own node, nor redeem its token.
    body = {"request_jws": request["jws"], "account_id": str(account.pk)}
    response = outsider.api.post(
        f"/api/v1/nodes/{intruder.pk}/payment_authorizations", body, format="json"
    )
    refused(response, 404, "paymentrequest_not_found")
    response = outsider.api.post(
        f"/api/v1/payment_requests/{request['id']}/redeem",
        {"token": token},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    refused(response, 404, "paymentrequest_not_found")
    # Nor pay alice's request from alice's payer account through its own node.
    body = {"request_jws": request["jws"], "account_id": str(shop.payer_account.pk)}
    response = outsider.api.post(
        f"/api/v1/nodes/{intruder.pk}/payment_authorizations", body, format="json"
    )
    refused(response, 404, "account_not_found")
    assert ledger_state() == state


def test_the_payer_pays_only_from_its_own_node(shop):
    request = shop.create(order_id="B-15")
    body = {"request_jws": request["jws"], "account_id": str(shop.merchant_account.pk)}
    response = shop.post(f"/api/v1/nodes/{shop.payer.pk}/payment_authorizations", body)
    refused(response, 400, "account_not_in_node")


def test_a_merchant_node_that_signs_outside_sends_its_signed_request(shop):
    key = OKPKey.generate_key("Ed25519", private=True)
    public = {k: v for k, v in key.as_dict(private=False).items() if k in ("kty", "crv", "x")}
    registered = shop.api.post(
        f"/api/v1/nodes/{shop.merchant.pk}/keys", {"jwk": public}, format="json"
    ).json()
    rid, now = str(uuid.uuid4()), int(time.time())
    claims = {
        "ver": 1,
        "rid": rid,
        "merchant": str(shop.merchant.pk),
        "account": str(shop.merchant_account.pk),
        "order_id": "B-16",
        "amount": "2500",
        "currency": "KRW",
        "description": "",
        "iat": now,
        "exp": now + 600,
    }

    def sign(**changes) -> str:
        header = {"alg": "EdDSA", "kid": registered["kid"], "typ": "fsbx.payment-request+jws"}
        payload = json.dumps({**claims, **changes})
        return jose_jws.serialize_compact(header, payload, key, algorithms=["EdDSA"])

    body = {
        "account_id": str(shop.merchant_account.pk),
        "order_id": "B-16",
        "amount": "2500",
        "currency": "KRW",
    }
    refused(shop.post("/api/v1/payment_requests", body), 409, "node_signs_outside")
    refused(
        shop.post("/api/v1/payment_requests", {**body, "jws": sign(amount="25")}),
        422,
        "request_mismatch",
    )
    refused(
        shop.post("/api/v1/payment_requests", {**body, "jws": sign(exp=now + 10)}),
        400,
        "invalid_expiry",
    )
    created = shop.post("/api/v1/payment_requests", {**body, "jws": sign()})
    assert created.status_code == 201, created.content
    request = created.json()
    assert request["id"] == rid and request["jws"] == sign()
    paid = shop.redeem(request, shop.authorize(request)["token"])
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
