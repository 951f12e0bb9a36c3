"""Webhook signatures: ``Sandbox-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``.

``v1`` is the hex HMAC-SHA256, keyed with the node's webhook secret, of the bytes
``"<t>." + body``. While a secret rotates, a delivery carries one ``v1`` per live secret, so a
receiver holding either the old or the new secret accepts it. This module needs nothing but
the standard library: receivers may copy it as it is (docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "Sandbox-Signature"
DEFAULT_TOLERANCE_SECONDS = 300  # five minutes either way


class SignatureVerificationError(Exception):
    """The payload cannot be trusted: reject it (answer 400 and do nothing)."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    signatures = [f"v1={compute_signature(secret, timestamp, body)}" for secret in secrets]
    if not signatures:
        raise ValueError("At least one secret is needed to sign.")
    return ",".join([f"t={timestamp}", *signatures])


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            if timestamp is not None or not value.isdigit():
                raise SignatureVerificationError("The header needs exactly one numeric t=.")
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None:
        raise SignatureVerificationError("The header has no timestamp (t=).")
    if not signatures:
        raise SignatureVerificationError("The header has no v1 signature.")
    return timestamp, signatures


def verify_signature(
    body: bytes,
    header: str,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check ``header`` against the raw request ``body``; return the signed timestamp.

    Raises SignatureVerificationError when no v1 matches ``secret`` or when the timestamp is
    more than ``tolerance`` seconds away from ``now`` (a replayed or delayed request).
    """
    timestamp, signatures = parse_signature_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureVerificationError("The timestamp is outside the tolerance.")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureVerificationError("No signature matches the secret.")
    return timestamp
