"""The platform's own Ed25519 signing keys: what the platform signs in its own name (the
settlement statements of ``wallets.merchant_settlement``), not on a node's behalf.

No row holds them: each is derived from a member of the node keys' keyring
(``NODE_KEYS_MASTER_KEY``, ``sandbox.keyring``) under a purpose of its own, so the private
half never rests anywhere and every process derives the same key. The keyring's first
member signs; every member's key stays published (``/jwks/platform.json``), so rotating the
master key (a new secret first, the old one kept) keeps old statements verifiable.

A detached JWS (RFC 7515 appendix F) signs content that travels separately: the compact
form ``header..signature`` leaves the payload out, and the verifier puts it back.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.keyring import Keyring
from sandbox.nodekeys import jws, keystore
from sandbox.nodekeys.algorithms import ED25519

KEYRING_PURPOSE = "platform-signing-key"


def _keyring() -> Keyring:
    return Keyring.from_setting(keystore.MASTER_KEY_SETTING, purpose=KEYRING_PURPOSE)


def _jwk(private: Ed25519PrivateKey) -> dict[str, str]:
    return ED25519.public_jwk(private.public_key())


def platform_jwks() -> dict[str, Any]:
    """Every platform key as a JWK, the signing one first."""
    ring = _keyring()
    ordered = [ring.primary, *(key_id for key_id in ring.keys if key_id != ring.primary)]
    keys = []
    for key_id in ordered:
        # 32 bytes of HKDF output are a valid Ed25519 seed.
        jwk = _jwk(ED25519.load_private(ring.keys[key_id]))
        keys.append(
            {
                **jwk,
                "kid": ED25519.thumbprint(jwk),
                "alg": ED25519.alg,
                "use": "sig",
                "status": "active" if key_id == ring.primary else "retired",
            }
        )
    return {"keys": keys}


def platform_sign_detached(*, typ: str, content: bytes) -> str:
    """A compact detached JWS over ``content`` by the platform's signing key:
    ``BASE64URL(header)..BASE64URL(signature)``, the signing input being
    ``BASE64URL(header).BASE64URL(content)``."""
    ring = _keyring()
    private = ED25519.load_private(ring.keys[ring.primary])
    header = {"alg": ED25519.alg, "kid": ED25519.thumbprint(_jwk(private)), "typ": typ}
    encoded_header = jws.b64u(jws.canonical_json(header))
    signature = private.sign(f"{encoded_header}.{jws.b64u(content)}".encode("ascii"))
    return f"{encoded_header}..{jws.b64u(signature)}"
