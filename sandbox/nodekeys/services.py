"""Writes of node keys: create (with the node, or lazily), rotate, register a tenant's own
key, and sign on a node's behalf.

A node has one active key at a time (a partial unique index); rotation retires it and
makes a new one in the same transaction. Retired keys stay published and keep verifying
what they signed. When the active key is one the tenant registered, the tenant signs
outside the sandbox and ``node_sign`` refuses: the platform holds no private half for it.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import IntegrityError, transaction

from sandbox import clock
from sandbox.errors import Conflict
from sandbox.keyring import Keyring
from sandbox.nodekeys import jws
from sandbox.nodekeys.models import NodeKey
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor, audit_record

KEYRING_PURPOSE = "node-signing-keys"


def keyring() -> Keyring:
    return Keyring.from_secrets(
        purpose=KEYRING_PURPOSE,
        secrets=list(getattr(settings, "NODE_KEYS_MASTER_KEY", None) or []),
        legacy_secret=str(settings.SECRET_KEY),
    )


def _aad(node_id: Any, kid: str) -> bytes:
    # The sealed half opens only as this node's key with this kid: a copied blob does not.
    return f"{node_id}:{kid}".encode()


def _platform_key(node: Node) -> NodeKey:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    raw_private = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    kid = jws.thumbprint(public)
    sealing_key_id, sealed = keyring().seal(raw_private, aad=_aad(node.pk, kid))
    return NodeKey(
        node=node,
        kid=kid,
        public_key=public,
        origin=NodeKey.Origin.PLATFORM,
        sealed_private_key=sealed,
        sealing_key_id=sealing_key_id,
        created_at=clock.now(node_id=node.pk),
    )


def node_key_create(*, node: Node) -> NodeKey:
    """The node's first signing key; ``node_create`` calls it in its transaction."""
    key = _platform_key(node)
    key.save(force_insert=True)
    return key


def node_key_current(*, node: Node) -> NodeKey:
    """The node's active key, made now for a node created before node keys existed."""
    key = NodeKey.objects.filter(node=node, status=NodeKey.Status.ACTIVE).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            return node_key_create(node=node)
    except IntegrityError:  # made concurrently: the partial unique index decided
        return NodeKey.objects.get(node=node, status=NodeKey.Status.ACTIVE)


def _retire_active(node: Node) -> NodeKey | None:
    current = (
        NodeKey.objects.select_for_update().filter(node=node, status=NodeKey.Status.ACTIVE).first()
    )
    if current is not None:
        current.status = NodeKey.Status.RETIRED
        # The node's clock, as the ``iat`` of what the key signed: a JWS made after the
        # retirement is refused by comparing the two (``key_retired``).
        current.retired_at = clock.now(node_id=node.pk)
        current.save(update_fields=["status", "retired_at"])
    return current


def _check_active(node: Node) -> None:
    if not node.is_active:
        raise Conflict("A deactivated node's keys cannot change.", code="node_inactive")


@transaction.atomic
def node_key_rotate(*, node: Node, actor: Actor) -> NodeKey:
    """Retire the active key and give the node a new one held by the platform."""
    _check_active(node)
    old = _retire_active(node)
    key = node_key_create(node=node)
    audit_record(
        actor=actor,
        action="node_key.rotated",
        tenant=node.tenant,
        target=node,
        data={"kid": key.kid, "retired_kid": old.kid if old else None},
    )
    return key


@transaction.atomic
def node_key_register(*, node: Node, actor: Actor, jwk: Any) -> NodeKey:
    """Make the tenant's own public key (an Ed25519 JWK) the node's active key: from now on
    the tenant signs for the node outside the sandbox."""
    _check_active(node)
    try:
        public = jws.public_key_from_jwk(jwk)
    except jws.JwsError as exc:
        raise Conflict(exc.message, code=exc.code, status_code=400) from None
    kid = jws.thumbprint(public)
    if NodeKey.objects.filter(kid=kid).exists():
        raise Conflict("This key is already registered.", code="key_already_registered")
    old = _retire_active(node)
    key = NodeKey.objects.create(
        node=node,
        kid=kid,
        public_key=public,
        origin=NodeKey.Origin.TENANT,
        created_at=clock.now(node_id=node.pk),
    )
    audit_record(
        actor=actor,
        action="node_key.registered",
        tenant=node.tenant,
        target=node,
        data={"kid": kid, "retired_kid": old.kid if old else None},
    )
    return key


def node_sign(*, node: Node, typ: str, payload: dict[str, Any]) -> str:
    """A compact JWS of ``payload`` by the node's active key, signed by the platform on the
    node's behalf (409 ``node_signs_outside`` when the tenant holds the key)."""
    key = node_key_current(node=node)
    if key.origin != NodeKey.Origin.PLATFORM or key.sealed_private_key is None:
        raise Conflict(
            "This node signs with its own registered key, outside the sandbox: send the "
            "signed JWS instead.",
            code="node_signs_outside",
        )
    raw = keyring().open(
        key.sealing_key_id, bytes(key.sealed_private_key), aad=_aad(node.pk, key.kid)
    )
    return jws.sign(
        Ed25519PrivateKey.from_private_bytes(raw), kid=key.kid, typ=typ, payload=payload
    )
