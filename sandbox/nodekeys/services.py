"""Writes of node keys: create (with the node, or lazily), rotate, register a tenant's own
key, and sign on a node's behalf.

A node has one active key at a time (a partial unique index); rotation retires it and
makes a new one in the same transaction. Retired keys stay published and keep verifying
what they signed. When the active key is one the tenant registered, the tenant signs
outside the sandbox and ``node_sign`` refuses: the platform holds no private half for it.
The machinery (sealing, one active key, registering) is ``keystore``'s, shared with the
credential keys.
"""

from __future__ import annotations

from typing import Any

from sandbox import clock
from sandbox.nodekeys import jws, keystore
from sandbox.nodekeys.models import NodeKey
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor

AUDIT = "node_key"


def node_key_create(*, node: Node) -> NodeKey:
    """The node's first signing key; ``node_create`` calls it in its transaction."""
    return keystore.key_create(
        NodeKey,
        created_at=clock.now(node_id=node.pk),
        node=node,
        origin=NodeKey.Origin.PLATFORM,
    )


def node_key_current(*, node: Node) -> NodeKey:
    """The node's active key, made now for a node created before node keys existed."""
    return keystore.node_key_active(NodeKey, node=node)


def node_key_rotate(*, node: Node, actor: Actor) -> NodeKey:
    """Retire the active key and give the node a new one held by the platform."""
    return keystore.node_key_rotate_to_platform(NodeKey, node=node, actor=actor, audit=AUDIT)


def node_key_register(*, node: Node, actor: Actor, jwk: Any) -> NodeKey:
    """Make the tenant's own public key (an Ed25519 JWK) the node's active key: from now on
    the tenant signs for the node outside the sandbox."""
    return keystore.node_key_register_tenants(NodeKey, node=node, actor=actor, jwk=jwk, audit=AUDIT)


def node_sign(*, node: Node, typ: str, payload: dict[str, Any]) -> str:
    """A compact JWS of ``payload`` by the node's active key, signed by the platform on the
    node's behalf (409 ``node_signs_outside`` when the tenant holds the key)."""
    key = node_key_current(node=node)
    private = keystore.node_key_private(
        key,
        refusal="This node signs with its own registered key, outside the sandbox: send the "
        "signed JWS instead.",
    )
    return jws.sign(private, kid=key.kid, typ=typ, payload=payload)
