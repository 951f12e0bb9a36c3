"""The issuer's signing keys and the nodes' holder keys (both ES256, P-256).

Issuer keys: one active at a time (a partial unique index), made on first use; rotation
retires it and makes a new one in one transaction; the JWKS lists every key, the active
one first, so credentials signed by a retired key keep verifying offline. Holder keys
follow the node keys' rules: one active per node, held by the platform (sealed) or
registered by the tenant, who then signs its presentations itself.

Both are made, sealed (under the node keys' keyring, ``NODE_KEYS_MASTER_KEY``, a purpose
each), retired and registered by the node keys' service, ``sandbox.nodekeys.keystore``.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction

from sandbox import clock
from sandbox.identities.credentials.models import HolderKey, IssuerKey
from sandbox.nodekeys import keystore
from sandbox.nodekeys.algorithms import ES256
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor

HOLDER_AUDIT = "holder_key"

# --- Issuer keys ------------------------------------------------------------------------------


def _new_issuer_key() -> IssuerKey:
    return keystore.key_create(IssuerKey, created_at=clock.now())


def issuer_key_current() -> IssuerKey:
    """The active issuer key, made now on first use."""
    return keystore.key_active(IssuerKey.objects.all(), make=_new_issuer_key)


@transaction.atomic
def issuer_key_rotate() -> IssuerKey:
    """Retire the active issuer key (it stays published) and make a new one."""
    keystore.key_retire_active(IssuerKey.objects.all(), at=clock.now())
    return _new_issuer_key()


def issuer_private(key: IssuerKey) -> ec.EllipticCurvePrivateKey:
    private: ec.EllipticCurvePrivateKey = keystore.key_private(key)
    return private


def issuer_jwks() -> dict[str, Any]:
    """Every issuer key, the active one first: what ``/jwks/issuer.json`` publishes."""
    issuer_key_current()
    return keystore.key_set(IssuerKey.objects.all(), keystore.published_jwk)


def issuer_public(kid: str) -> ec.EllipticCurvePublicKey | None:
    """A published issuer key by kid (retired ones too), for verification."""
    key = IssuerKey.objects.filter(kid=kid).first()
    return ES256.public_from_jwk(key.public_jwk) if key is not None else None


# --- Holder keys ------------------------------------------------------------------------------


def holder_key_current(*, node: Node) -> HolderKey:
    """The node's active holder key, made now (held by the platform) on first use."""
    return keystore.node_key_active(HolderKey, node=node)


def holder_key_register(*, node: Node, actor: Actor, jwk: Any) -> HolderKey:
    """Make the tenant's own P-256 public key the node's holder key: credentials issued
    from now on are bound to it, and the tenant signs their key-binding JWTs itself."""
    return keystore.node_key_register_tenants(
        HolderKey, node=node, actor=actor, jwk=jwk, audit=HOLDER_AUDIT
    )


def holder_key_rotate(*, node: Node, actor: Actor) -> HolderKey:
    """A new platform-held holder key for the node (back from a registered one, too)."""
    return keystore.node_key_rotate_to_platform(
        HolderKey, node=node, actor=actor, audit=HOLDER_AUDIT
    )


def holder_private(key: HolderKey) -> ec.EllipticCurvePrivateKey:
    """The private half of a platform-held holder key (409 ``node_signs_outside`` when
    the tenant holds it)."""
    private: ec.EllipticCurvePrivateKey = keystore.node_key_private(
        key,
        refusal="This node holds its credentials with its own registered key: make the "
        "presentation yourself and submit it.",
    )
    return private


def holder_key_json(key: HolderKey) -> dict[str, Any]:
    return {
        **keystore.published_jwk(key),
        "origin": key.origin,
        "created_at": key.created_at.isoformat(),
    }
