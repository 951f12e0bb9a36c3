"""Compact JWS with ES256 (ECDSA P-256, SHA-256; RFC 7518 3.4).

SD-JWT credentials (RFC 9901) are signed with ES256, the algorithm every SD-JWT library
verifies (the reference ``sd-jwt`` library checks key-binding JWTs with ES256 only), so the
issuer's keys and the holders' keys are P-256. The keys (made, serialized, read from a
JWK) are ``sandbox.nodekeys.algorithms.ES256``'s, and the base64url, canonical-JSON and
splitting helpers the node keys' (``sandbox.nodekeys.jws``), whose ``JwsError`` says what is
wrong; the signatures come from ``cryptography``, and the tests check every JWS made here
with libraries none of us wrote (jwcrypto through ``sd-jwt``, and joserfc).
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sandbox.nodekeys.algorithms import ES256
from sandbox.nodekeys.jws import JwsError, Parsed, b64u, canonical_json, split_compact

ALG = ES256.alg
COORDINATE_BYTES = ES256.COORDINATE_BYTES
MAX_COMPACT_LENGTH = 16_384


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


def parse(compact: Any) -> Parsed:
    """Split and decode a compact ES256 JWS; the signature is not checked here."""
    parsed = split_compact(compact, max_length=MAX_COMPACT_LENGTH, malformed="malformed")
    if parsed.header.get("alg") != ALG:
        raise JwsError("unsupported_algorithm", 'Only "alg": "ES256" is accepted.')
    if "crit" in parsed.header:
        raise JwsError("malformed", "No critical header parameters are understood.")
    return parsed


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
