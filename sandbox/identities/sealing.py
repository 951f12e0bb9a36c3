"""Envelope encryption of personal data: a data key per row, wrapped by the KEK keyring.

- A data key (DEK) is 32 random bytes, made for one person (or node identity) and used for
  nothing else. Each field is AES-256-GCM under it with a random 96-bit nonce; the associated
  data names the row and the field, so a ciphertext copied to another row or column does
  not open.
- The DEK is stored wrapped by the primary key of the ``IDENTITIES_MASTER_KEY`` keyring
  (``sandbox.keyring``: HKDF per purpose, AES-256-GCM), with the key id; any key of the
  keyring unwraps, so rotation is re-wrapping, never re-encrypting the data.
- Blind indexes are HMAC-SHA256 under a key derived (HKDF, one ``info`` per field) from the
  tenant's random index key, which is itself wrapped like a DEK.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sandbox.keyring import Keyring, KeyringError

KEYRING_PURPOSE = "identities-data-keys"
KEY_BYTES = 32
NONCE_BYTES = 12

__all__ = ["KeyringError", "SealingError"]


class SealingError(ValueError):
    """A field that does not open under its data key (tampered, moved, or the wrong key)."""


def keyring() -> Keyring:
    return Keyring.from_setting("IDENTITIES_MASTER_KEY", purpose=KEYRING_PURPOSE)


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _wrap_aad(kind: str, owner_id: Any) -> bytes:
    return f"fsbx-identities:{kind}:{owner_id}".encode()


def wrap(key: bytes, *, kind: str, owner_id: Any, ring: Keyring | None = None) -> tuple[str, bytes]:
    """(KEK id, wrapped key): the key sealed under the keyring's primary KEK, bound to its
    owner (``kind`` "person", "node_identity" or "index", and the owner's id)."""
    return (ring or keyring()).seal(key, aad=_wrap_aad(kind, owner_id))


def unwrap(
    kek_id: str,
    wrapped: bytes | memoryview,
    *,
    kind: str,
    owner_id: Any,
    ring: Keyring | None = None,
) -> bytes:
    return (ring or keyring()).open(kek_id, bytes(wrapped), aad=_wrap_aad(kind, owner_id))


def _field_aad(kind: str, owner_id: Any, field: str) -> bytes:
    return f"fsbx-identities:{kind}:{owner_id}:{field}".encode()


def seal_field(dek: bytes, value: str, *, kind: str, owner_id: Any, field: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    aad = _field_aad(kind, owner_id, field)
    return nonce + AESGCM(dek).encrypt(nonce, value.encode(), aad)


def open_field(
    dek: bytes, sealed: bytes | memoryview, *, kind: str, owner_id: Any, field: str
) -> str:
    blob = bytes(sealed)
    try:
        plain = AESGCM(dek).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _field_aad(kind, owner_id, field)
        )
    except InvalidTag:
        raise SealingError(f"The {field} of {kind} {owner_id} does not open.") from None
    return plain.decode()


def blind_index(index_key: bytes, *, field: str, normalized: str) -> str:
    """Hex HMAC-SHA256 of a normalized value under a key derived for this field only."""
    field_key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"fsbx-identities:blind-index",
        info=field.encode(),
    ).derive(index_key)
    return hmac.new(field_key, normalized.encode(), hashlib.sha256).hexdigest()
