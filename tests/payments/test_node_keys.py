"""Node signing keys: one per node from its creation (or on first use), rotatable with the
old keys still published and verifying, private halves sealed at rest under the configured
keyring, and a tenant's own key, for which the platform never signs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.checks import run_checks
from joserfc.jwk import KeySet

from sandbox.events import clocks
from sandbox.keyring import Keyring, KeyringError
from sandbox.nodekeys import jws, keystore, services
from sandbox.nodekeys.algorithms import ED25519
from sandbox.nodekeys.models import NodeKey
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory
from tests.helpers import error_code
from tests.payments.conftest import jose_verify

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]
SECRET_A = "a" * 40
SECRET_B = "b" * 40


def test_a_new_node_has_one_active_key_published_as_jwks(alice, anonymous):
    node = NodeFactory(tenant=alice.tenant)
    key = NodeKey.objects.get(node=node)
    assert key.is_active and key.origin == "platform"
    jwks = anonymous.get(f"/jwks/nodes/{node.pk}.json").json()
    assert alice.api.get(f"/api/v1/nodes/{node.pk}/keys").json() == jwks
    (published,) = jwks["keys"]
    assert published["kid"] == key.kid == ED25519.thumbprint(key.jwk)
    assert "d" not in published
    # joserfc reads the set, and computes the same RFC 7638 thumbprint.
    imported = KeySet.import_key_set({"keys": [{k: published[k] for k in ("kty", "crv", "x")}]})
    assert imported.keys[0].thumbprint() == key.kid


def test_a_node_older_than_node_keys_gets_one_on_first_use(alice, anonymous):
    node = NodeFactory(tenant=alice.tenant)
    NodeKey.objects.filter(node=node).delete()
    jwks = anonymous.get(f"/jwks/nodes/{node.pk}.json").json()
    assert len(jwks["keys"]) == 1 and NodeKey.objects.filter(node=node).count() == 1


def test_rotation_retires_the_old_key_which_keeps_verifying(shop, anonymous):
    request = shop.create(order_id="K-1")
    old_kid = NodeKey.objects.get(node=shop.merchant).kid
    response = shop.api.post(f"/api/v1/nodes/{shop.merchant.pk}/keys/rotate", {}, format="json")
    assert response.status_code == 201 and response.json()["kid"] != old_kid
    jwks = anonymous.get(f"/jwks/nodes/{shop.merchant.pk}.json").json()
    assert [(k["kid"], k["status"]) for k in jwks["keys"]] == [
        (response.json()["kid"], "active"),
        (old_kid, "retired"),
    ]
    assert jose_verify(request["jws"], jwks)["rid"] == request["id"]
    # A request signed before the rotation is still paid.
    assert shop.redeem(request, shop.authorize(request)["token"]).status_code == 200
    new = shop.create(order_id="K-2")
    assert jws.parse(new["jws"], typ="fsbx.payment-request+jws").kid == response.json()["kid"]


def test_private_keys_are_sealed_under_the_first_key_of_the_ring(alice, settings):
    settings.NODE_KEYS_MASTER_KEY = [SECRET_A]
    node = NodeFactory(tenant=alice.tenant)
    key = NodeKey.objects.get(node=node)
    assert key.sealing_key_id != "legacy"
    assert len(bytes(key.sealed_private_key)) == 12 + 32 + 16  # nonce, key, tag
    # A newer key first: the older one still opens what it sealed; signing goes on.
    settings.NODE_KEYS_MASTER_KEY = [SECRET_B, SECRET_A]
    assert services.node_sign(node=node, typ="t", payload={"n": 1})
    # Without it, the keyring refuses, naming the key id.
    settings.NODE_KEYS_MASTER_KEY = [SECRET_B]
    with pytest.raises(KeyringError, match=key.sealing_key_id):
        services.node_sign(node=node, typ="t", payload={"n": 1})


def test_a_sealed_key_opens_only_for_its_own_row():
    ring = Keyring.from_secrets(purpose="test", secrets=[SECRET_A], legacy_secret="x")
    kid, sealed = ring.seal(b"secret", aad=b"node-1")
    assert ring.open(kid, sealed, aad=b"node-1") == b"secret"
    with pytest.raises(KeyringError):
        ring.open(kid, sealed, aad=b"node-2")
    other = Keyring.from_secrets(purpose="other", secrets=[SECRET_A], legacy_secret="x")
    assert other.keys[other.primary] != ring.keys[ring.primary]  # one secret, two uses


def test_a_registered_key_means_the_platform_never_signs(shop):
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    jwk = ED25519.raw_public_jwk(public)
    response = shop.api.post(f"/api/v1/nodes/{shop.merchant.pk}/keys", {"jwk": jwk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["origin"] == "tenant" and response.json()["kid"] == ED25519.thumbprint(
        jwk
    )
    body = {
        "account_id": str(shop.merchant_account.pk),
        "order_id": "K-3",
        "amount": "100",
        "currency": "KRW",
    }
    refused = shop.post("/api/v1/payment_requests", body)
    assert refused.status_code == 409 and error_code(refused) == "node_signs_outside"
    again = shop.api.post(f"/api/v1/nodes/{shop.merchant.pk}/keys", {"jwk": jwk}, format="json")
    assert again.status_code == 409 and error_code(again) == "key_already_registered"
    # Rotating gives the node back a platform key.
    shop.api.post(f"/api/v1/nodes/{shop.merchant.pk}/keys/rotate", {}, format="json")
    assert shop.post("/api/v1/payment_requests", body).status_code == 201


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "OKP", "crv": "Ed25519", "x": jws.b64u(bytes(32)), "d": jws.b64u(bytes(32))},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "Ed25519", "x": "too-short"},
        "not a jwk",
    ],
)
def test_only_public_ed25519_jwks_are_registered(shop, jwk):
    response = shop.api.post(f"/api/v1/nodes/{shop.merchant.pk}/keys", {"jwk": jwk}, format="json")
    assert response.status_code == 400 and error_code(response) == "invalid_jwk"
    assert NodeKey.objects.filter(node=shop.merchant).count() == 1


def test_production_needs_a_node_keys_master_key(settings):
    settings.DEBUG = False
    settings.NODE_KEYS_MASTER_KEY = []
    assert "nodekeys.E001" in [m.id for m in run_checks(include_deployment_checks=True)]
    settings.NODE_KEYS_MASTER_KEY = [SECRET_A]
    assert "nodekeys.E001" not in [m.id for m in run_checks(include_deployment_checks=True)]


def test_retirement_is_judged_on_the_nodes_clock(shop):
    """A payer node on a test clock a year ahead signs a token, then rotates its key: the
    token, signed before the retirement on that clock, is still redeemed; one signed with
    the retired key afterwards is refused."""
    clock = clocks.test_clock_create(
        tenant=shop.party.tenant,
        actor=SYSTEM,
        name="Next year",
        frozen_time=datetime.now(UTC) + timedelta(days=365),
    )
    clocks.test_clock_attach(clock=clock, node=shop.payer, actor=SYSTEM)
    request = shop.create(order_id="K-4")
    token = shop.authorize(request)["token"]
    old = NodeKey.objects.get(node=shop.payer)
    services.node_key_rotate(node=shop.payer, actor=SYSTEM)
    assert shop.redeem(request, token).status_code == 200

    late = shop.create(order_id="K-5")
    fresh = shop.authorize(late)["token"]
    body = fresh.split(".")[1]
    claims = json.loads(jws.b64u_decode(body))
    claims["iat"] += 3600  # after the retirement, on the node's clock
    private = Ed25519PrivateKey.from_private_bytes(
        keystore.keyring(NodeKey).open(
            old.sealing_key_id,
            bytes(old.sealed_private_key),
            aad=f"{shop.payer.pk}:{old.kid}".encode(),
        )
    )
    forged = jws.sign(private, kid=old.kid, typ="fsbx.payment-token+jws", payload=claims)
    response = shop.redeem(late, forged)
    assert response.status_code == 422 and error_code(response) == "key_retired"
