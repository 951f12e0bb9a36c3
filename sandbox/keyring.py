"""A keyring of key-encryption keys from configuration: seal secrets at rest.

A keyring setting (``sandbox.config.env_keyring``) is a list of secrets, newest first: the
first seals new secrets, every one of them opens. Each sealing key is HKDF-SHA256 of its
secret, under a salt of its own per use (``purpose``), so one configured secret never
yields the same key for two uses; it is named by a key id derived from the secret, stored
next to every sealed blob. Sealing is AES-256-GCM with a random 96-bit nonce and the
caller's associated data (what the secret belongs to), so a blob moved to another row does
not open.

The keyring used before a deployment sets its variable is derived from ``SECRET_KEY``
(key id ``legacy``): it stays a member, so what was sealed in development still opens; it
seals only while nothing else is configured. Deploy checks (``nodekeys.E001``) refuse
production without a configured keyring, since rotating ``SECRET_KEY`` would then make the
sealed secrets unreadable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LEGACY = "legacy"
NONCE_BYTES = 12


class KeyringError(ValueError):
    """A sealed blob the keyring cannot open (unknown key id, wrong key or data)."""


def _hkdf(secret: bytes, *, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


@dataclass(frozen=True)
class Keyring:
    """Sealing keys by key id; ``primary`` seals."""

    purpose: str
    primary: str
    keys: dict[str, bytes]

    @classmethod
    def from_secrets(cls, *, purpose: str, secrets: list[str], legacy_secret: str) -> Keyring:
        """``secrets`` newest first (a keyring setting); ``legacy_secret`` (SECRET_KEY) gives
        the ``legacy`` member, which seals only when ``secrets`` is empty."""
        salt = f"fsbx-keyring:{purpose}".encode()
        keys = {
            _hkdf(s.encode(), salt=salt, info=b"key-id").hex()[:16]: _hkdf(
                s.encode(), salt=salt, info=b"kek"
            )
            for s in secrets
        }
        primary = next(iter(keys), LEGACY)
        keys[LEGACY] = _hkdf(legacy_secret.encode(), salt=salt, info=b"legacy-kek")
        return cls(purpose=purpose, primary=primary, keys=keys)

    def seal(self, plaintext: bytes, *, aad: bytes) -> tuple[str, bytes]:
        """(key id, nonce || ciphertext || tag) under the primary key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.primary]).encrypt(nonce, plaintext, aad)
        return self.primary, nonce + sealed

    def open(self, key_id: str, sealed: bytes, *, aad: bytes) -> bytes:
        key = self.keys.get(key_id)
        if key is None:
            raise KeyringError(
                f"sealed under key {key_id}, which is not in the {self.purpose} keyring"
            )
        try:
            return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise KeyringError(
                f"key {key_id} of the {self.purpose} keyring does not open this blob"
            ) from None
