"""The one service for signing keys at rest (``sandbox.nodekeys.keystore``): the nodes'
Ed25519 keys, the credential issuer's and the holders' ES256 keys are made by their
algorithm, sealed the same way, and open as they were sealed before the service was
shared."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import IntegrityError, transaction
from joserfc.jwk import ECKey, OKPKey

from sandbox.errors import Conflict
from sandbox.identities.credentials import es256, keys
from sandbox.identities.credentials.models import HolderKey, IssuerKey
from sandbox.keyring import Keyring, KeyringError
from sandbox.nodekeys import jws, keystore, selectors, services
from sandbox.nodekeys.algorithms import ED25519, ES256
from sandbox.nodekeys.jws import JwsError
from sandbox.nodekeys.models import NodeKey
from sandbox.tenants.services import SYSTEM, node_deactivate
from tests.factories import NodeFactory

SECRET = "k" * 20 + "-node-keys-master-key-KKKK"
KINDS = [NodeKey, IssuerKey, HolderKey]


def _current(model):
    if model is IssuerKey:
        return keys.issuer_key_current()
    current = services.node_key_current if model is NodeKey else keys.holder_key_current
    return current(node=NodeFactory())


@pytest.mark.django_db
@pytest.mark.parametrize("model", KINDS)
def test_each_kind_of_key_is_made_by_its_algorithm_and_rests_sealed(model, settings):
    settings.NODE_KEYS_MASTER_KEY = [SECRET]
    key = _current(model)
    algorithm = model.ALGORITHM
    assert key.kid == algorithm.thumbprint(key.jwk)
    assert key.sealing_key_id == keystore.keyring(model).primary != "legacy"
    private = keystore.key_private(key)
    raw = algorithm.private_bytes(private)
    assert len(bytes(key.sealed_private_key)) == 12 + len(raw) + 16  # nonce, key, tag
    assert raw not in bytes(key.sealed_private_key)
    assert algorithm.public_jwk(algorithm.public_key(private)) == key.jwk


# --- Keys sealed before the service was shared ------------------------------------------------


def _ed25519_as_before():
    """(private, its raw serialization, public columns, kid) as nodekeys.services made them."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    kid = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": jws.b64u(public)}).thumbprint()
    return raw, {"public_key": public}, kid


def _p256_as_before():
    """The same for credentials.keys: the private scalar, 32 bytes big-endian."""
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": jws.b64u(numbers.x.to_bytes(32, "big")),
        "y": jws.b64u(numbers.y.to_bytes(32, "big")),
    }
    raw = private.private_numbers().private_value.to_bytes(32, "big")
    return raw, {"public_jwk": jwk}, ECKey.import_key(jwk).thumbprint()


AS_BEFORE = {
    # model: (how its key was made, its keyring purpose, the owner in the associated data)
    NodeKey: (_ed25519_as_before, "node-signing-keys", lambda key: key.node_id),
    IssuerKey: (_p256_as_before, "credential-issuer-keys", lambda key: "issuer"),
    HolderKey: (_p256_as_before, "credential-holder-keys", lambda key: key.node_id),
}


def _signs(key) -> bool:
    """Whether the service signs with ``key`` so that its published key verifies."""
    if isinstance(key, NodeKey):
        compact = services.node_sign(node=key.node, typ="t", payload={"n": 1})
        return selectors.verify(compact, typ="t")[1] == key
    private = keys.issuer_private(key) if isinstance(key, IssuerKey) else keys.holder_private(key)
    parsed = es256.parse(es256.sign(private, header={"kid": key.kid}, payload={"n": 1}))
    return es256.signature_valid(ES256.public_from_jwk(key.public_jwk), parsed)


@pytest.mark.django_db
@pytest.mark.parametrize("model", KINDS)
def test_a_key_sealed_before_the_service_was_shared_still_signs(model, settings):
    settings.NODE_KEYS_MASTER_KEY = [SECRET]
    key = _current(model)
    make, purpose, owner = AS_BEFORE[model]
    raw, public_columns, kid = make()
    old_ring = Keyring.from_secrets(
        purpose=purpose, secrets=[SECRET], legacy_secret=settings.SECRET_KEY
    )
    key.kid = kid
    for column, value in public_columns.items():
        setattr(key, column, value)
    key.sealing_key_id, key.sealed_private_key = old_ring.seal(
        raw, aad=f"{owner(key)}:{kid}".encode()
    )
    key.save()
    key.refresh_from_db()
    assert _signs(key)


@pytest.mark.django_db
def test_a_sealed_half_opens_only_as_its_own_kind_and_row(settings):
    settings.NODE_KEYS_MASTER_KEY = [SECRET]
    issuer = keys.issuer_key_current()
    holder = keys.holder_key_current(node=NodeFactory())
    holder.sealed_private_key = issuer.sealed_private_key  # another kind's keyring
    with pytest.raises(KeyringError, match="credential-holder-keys"):
        keystore.key_private(holder)
    other = keys.holder_key_current(node=NodeFactory())
    other.sealed_private_key = keys.holder_key_current(node=holder.node).sealed_private_key
    with pytest.raises(KeyringError, match="does not open"):  # another node's row
        keystore.key_private(other)


# --- The rules every kind of key shares -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("model", KINDS)
def test_a_retired_key_says_when(model):
    key = _current(model)
    with pytest.raises(IntegrityError), transaction.atomic():
        type(key).objects.filter(pk=key.pk).update(status="retired")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("register", "jwk"),
    [
        (services.node_key_register, {"kty": "OKP", "crv": "Ed25519", "x": "not a key"}),
        (keys.holder_key_register, {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
    ],
)
def test_a_deactivated_nodes_keys_cannot_change_whatever_is_sent(register, jwk):
    node = NodeFactory()
    node_deactivate(node=node, actor=SYSTEM)
    node.refresh_from_db()
    with pytest.raises(Conflict) as refused:
        register(node=node, actor=SYSTEM, jwk=jwk)
    assert refused.value.code == "node_inactive"


# --- The algorithms ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [ED25519, ES256])
def test_a_private_half_loads_back_from_what_is_sealed(algorithm):
    private = algorithm.generate()
    loaded = algorithm.load_private(algorithm.private_bytes(private))
    assert algorithm.public_jwk(algorithm.public_key(loaded)) == algorithm.public_jwk(
        algorithm.public_key(private)
    )


@pytest.mark.parametrize(
    ("algorithm", "other"), [(ED25519, ES256), (ES256, ED25519)], ids=["EdDSA", "ES256"]
)
def test_a_public_jwk_is_accepted_only_for_its_own_algorithm_and_without_d(algorithm, other):
    private = algorithm.generate()
    jwk = algorithm.public_jwk(algorithm.public_key(private))
    assert algorithm.public_jwk(algorithm.public_from_jwk({**jwk, "use": "sig"})) == jwk
    foreign = other.public_jwk(other.public_key(other.generate()))
    refused = [foreign, {**jwk, "d": "AA"}, {**jwk, "alg": other.alg}, {**jwk, "x": "AA"}, "jwk"]
    for bad in refused:
        with pytest.raises(JwsError) as error:
            algorithm.public_from_jwk(bad)
        assert error.value.code == "invalid_jwk"
