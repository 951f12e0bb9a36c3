"""Compact JWS (RFC 7515) with Ed25519 (RFC 8037, ``alg`` EdDSA), and the JOSE basics every
JWS of the sandbox shares (base64url, canonical JSON, splitting, ``JwsError``). The keys
themselves, Ed25519 and P-256, are ``algorithms``'.

Small on purpose: one algorithm, compact serialization only, the payload a JSON object in
canonical form (sorted keys, no spaces), so the bytes that were signed can be rebuilt and
hashed by anyone. Signatures come from ``cryptography``; the tests check every JWS and JWK
made here with an independent JOSE library (joserfc).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG = "EdDSA"
MAX_COMPACT_LENGTH = 16_384


class JwsError(ValueError):
    """A JWS or JWK that cannot be accepted; ``code`` says why (machine-readable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Strict base64url without padding: the alphabet only, and canonical (re-encodes equal)."""
    # ``issuperset`` walks the text in C: a character at a time in Python cost a redemption,
    # which reads three JWS, more than checking their signatures.
    if not isinstance(text, str) or not _ALPHABET.issuperset(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if b64u(data) != text:
        raise ValueError("not canonical base64url")
    return data


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(private_key: Ed25519PrivateKey, *, kid: str, typ: str, payload: dict[str, Any]) -> str:
    header = {"alg": ALG, "kid": kid, "typ": typ}
    signing_input = f"{b64u(canonical_json(header))}.{b64u(canonical_json(payload))}"
    signature = private_key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64u(signature)}"


@dataclass(frozen=True)
class Parsed:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> str:
        return str(self.header["kid"])


def split_compact(compact: Any, *, max_length: int, malformed: str) -> Parsed:
    """A compact JWS's header, payload, signing input and signature, decoded but not
    checked; a ``JwsError`` of code ``malformed`` says what is malformed. Shared by every
    JWS the sandbox reads (node keys' EdDSA here, the credential keys' ES256)."""
    if not isinstance(compact, str) or not compact or len(compact) > max_length:
        raise JwsError(malformed, "Not a compact JWS.")
    parts = compact.split(".")
    if len(parts) != 3:
        raise JwsError(malformed, "A compact JWS has three parts separated by dots.")
    try:
        header = json.loads(b64u_decode(parts[0]))
        payload = json.loads(b64u_decode(parts[1]))
        signature = b64u_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise JwsError(malformed, "A part of the JWS is not base64url JSON.") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise JwsError(malformed, "The JWS header and payload must be JSON objects.")
    return Parsed(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def parse(compact: Any, *, typ: str) -> Parsed:
    """Split and decode a compact JWS of type ``typ``; the signature is not checked here."""
    parsed = split_compact(compact, max_length=MAX_COMPACT_LENGTH, malformed="malformed_jws")
    header = parsed.header
    if header.get("alg") != ALG:
        raise JwsError("unsupported_algorithm", 'Only "alg": "EdDSA" (Ed25519) is accepted.')
    if set(header) - {"alg", "kid", "typ"}:
        # "crit", "jku", "x5u"...: nothing we would honour, so nothing we accept.
        raise JwsError("malformed_jws", "The JWS header has members other than alg, kid, typ.")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise JwsError("malformed_jws", "The JWS header names no key (kid).")
    if header.get("typ") != typ:
        raise JwsError("wrong_type", f'Expected a JWS of "typ": "{typ}".')
    return parsed


def signature_valid(public_key: bytes, parsed: Parsed) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            parsed.signature, parsed.signing_input
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def digest(compact: str) -> str:
    """The hash that binds a token to a request: SHA-256 of the compact JWS, base64url."""
    return b64u(hashlib.sha256(compact.encode("ascii")).digest())
