"""Reads of node keys: the JWKS a node publishes, and the key behind a JWS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.nodekeys import jws, keystore
from sandbox.nodekeys.models import NodeKey
from sandbox.nodekeys.services import node_key_current
from sandbox.tenants.models import Node


def key_json(key: NodeKey) -> dict[str, Any]:
    """One key as a JWK, with its status (retired keys still verify what they signed)."""
    return {
        **keystore.published_jwk(key),
        "origin": key.origin,
        "created_at": key.created_at.isoformat(),
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


def node_jwks(node: Node) -> dict[str, Any]:
    """The node's JWKS: the active key first, then the retired ones, newest first."""
    node_key_current(node=node)  # a node older than node keys gets its first one now
    return keystore.key_set(NodeKey.objects.filter(node=node), key_json)


def key_by_kid(kid: str) -> NodeKey | None:
    return NodeKey.objects.select_related("node").filter(kid=kid).first()


def verify(
    compact: Any, *, typ: str, key_of: Callable[[str], NodeKey | None] = key_by_kid
) -> tuple[jws.Parsed, NodeKey]:
    """The parsed JWS and the node key that signed it; ``JwsError`` says what is wrong.
    ``key_of``: how to find the key of a kid, for a caller that read it already."""
    parsed = jws.parse(compact, typ=typ)
    key = key_of(parsed.kid)
    if key is None:
        raise jws.JwsError("unknown_key", f"No node publishes the key {parsed.kid[:64]!r}.")
    if not jws.signature_valid(bytes(key.public_key), parsed):
        raise jws.JwsError("bad_signature", "The signature does not verify with its key.")
    return parsed, key
