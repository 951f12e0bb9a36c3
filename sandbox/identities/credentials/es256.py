"""Compact JWS with ES256 (ECDSA P-256, SHA-256; RFC 7518 3.4) and P-256 JWKs.

SD-JWT credentials (RFC 9901) are signed with ES256, the algorithm every SD-JWT library
verifies (the reference ``sd-jwt`` library checks key-binding JWTs with ES256 only), so the
issuer's keys and the holders' keys are P-256. The base64url and canonical-JSON helpers are
the node keys' (``sandbox.nodekeys.jws``); the signatures come from ``cryptography``, and
the tests check every JWS made here with libraries none of us wrote (jwcrypto through
``sd-jwt``, and joserfc).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sandbox.nodekeys.jws import b64u, b64u_decode, canonical_json, split_compact

ALG = "ES256"
COORDINATE_BYTES = 32
MAX_COMPACT_LENGTH = 16_384


class Es256Error(ValueError):
    """A JWS or JWK that cannot be accepted; ``code`` says why (machine-readable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def generate() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The private scalar, 32 bytes big-endian (what gets sealed at rest)."""
    return key.private_numbers().private_value.to_bytes(COORDINATE_BYTES, "big")


def private_from_bytes(raw: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The JWK of a P-256 public key (its required members only)."""
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64u(numbers.x.to_bytes(COORDINATE_BYTES, "big")),
        "y": b64u(numbers.y.to_bytes(COORDINATE_BYTES, "big")),
    }


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC JWK: SHA-256 of crv, kty, x, y in that order."""
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    return b64u(hashlib.sha256(canonical_json(members)).digest())


def public_key_from_jwk(jwk: Any) -> ec.EllipticCurvePublicKey:
    """The public key of a P-256 public JWK; refuses private or other keys."""
    if not isinstance(jwk, dict):
        raise Es256Error("invalid_jwk", "The key must be a JWK object.")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise Es256Error("invalid_jwk", 'Only P-256 keys ("kty": "EC", "crv": "P-256").')
    if "d" in jwk:
        raise Es256Error("invalid_jwk", "Send the public key only: the JWK has a private part (d).")
    if jwk.get("alg", ALG) != ALG or jwk.get("use", "sig") != "sig":
        raise Es256Error("invalid_jwk", 'The key must be for signatures with "alg": "ES256".')
    try:
        x = b64u_decode(str(jwk.get("x", "")))
        y = b64u_decode(str(jwk.get("y", "")))
        if len(x) != COORDINATE_BYTES or len(y) != COORDINATE_BYTES:
            raise ValueError("wrong length")
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        )
        return numbers.public_key()
    except ValueError:
        raise Es256Error("invalid_jwk", "x and y must be a point of P-256 in base64url.") from None


def sign(
    key: ec.EllipticCurvePrivateKey, *, header: dict[str, Any], payload: dict[str, Any]
) -> str:
    """A compact JWS; ``alg`` is set here."""
    signing_input = (
        f"{b64u(canonical_json({**header, 'alg': ALG}))}.{b64u(canonical_json(payload))}"
    )
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(COORDINATE_BYTES, "big") + s.to_bytes(COORDINATE_BYTES, "big")
    return f"{signing_input}.{b64u(signature)}"


@dataclass(frozen=True)
class Parsed:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse(compact: Any) -> Parsed:
    """Split and decode a compact ES256 JWS; the signature is not checked here."""
    try:
        header, payload, signing_input, signature = split_compact(
            compact, max_length=MAX_COMPACT_LENGTH
        )
    except ValueError as error:
        raise Es256Error("malformed", str(error)) from None
    if header.get("alg") != ALG:
        raise Es256Error("unsupported_algorithm", 'Only "alg": "ES256" is accepted.')
    if "crit" in header:
        raise Es256Error("malformed", "No critical header parameters are understood.")
    return Parsed(header, payload, signing_input, signature)


def signature_valid(key: ec.EllipticCurvePublicKey, parsed: Parsed) -> bool:
    if len(parsed.signature) != 2 * COORDINATE_BYTES:
        return False
    r = int.from_bytes(parsed.signature[:COORDINATE_BYTES], "big")
    s = int.from_bytes(parsed.signature[COORDINATE_BYTES:], "big")
    try:
        key.verify(encode_dss_signature(r, s), parsed.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
