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
seals only while nothing else is configured. Deploy checks (``nodekeys.E001``,
``identities.E001``, ``clearing.E001``) refuse production without a configured keyring,
since rotating ``SECRET_KEY`` would then make the sealed secrets unreadable.

Every keyring of the platform is this one class: the node, issuer and holder keys'
(``NODE_KEYS_MASTER_KEY``), the personal data keys' (``IDENTITIES_MASTER_KEY``) and the
clearing record keys' (``CLEARING_MASTER_KEY``). Only how the keys come from the secrets
(``Derivation``) may differ: the clearing record keys were wrapped under a derivation of
their own before this module existed, and keep it so that nothing stored has to change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

LEGACY = "legacy"
NONCE_BYTES = 12


class KeyringError(ValueError):
    """A sealed blob the keyring cannot open (unknown key id, wrong key or data)."""


@dataclass(frozen=True)
class Derivation:
    """How a keyring's sealing keys and key ids come from its secrets: HKDF-SHA256 under
    ``salt``, with one ``info`` per output. The default is ``for_purpose``'s."""

    salt: bytes
    kek_info: bytes = b"kek"
    legacy_info: bytes = b"legacy-kek"

    @classmethod
    def for_purpose(cls, purpose: str) -> Derivation:
        return cls(salt=f"fsbx-keyring:{purpose}".encode())

    def derive(self, secret: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=self.salt, info=info).derive(secret)

    def key_id(self, secret: str) -> str:
        return self.derive(secret.encode(), b"key-id").hex()[:16]


@dataclass(frozen=True)
class Keyring:
    """Sealing keys by key id; ``primary`` seals."""

    purpose: str
    primary: str
    keys: dict[str, bytes]

    @classmethod
    def from_secrets(
        cls,
        *,
        purpose: str,
        secrets: list[str],
        legacy_secret: str,
        derivation: Derivation | None = None,
    ) -> Keyring:
        """``secrets`` newest first (a keyring setting); ``legacy_secret`` (SECRET_KEY) gives
        the ``legacy`` member, which seals only when ``secrets`` is empty."""
        derive = derivation or Derivation.for_purpose(purpose)
        keys = {derive.key_id(s): derive.derive(s.encode(), derive.kek_info) for s in secrets}
        primary = next(iter(keys), LEGACY)
        keys[LEGACY] = derive.derive(legacy_secret.encode(), derive.legacy_info)
        return cls(purpose=purpose, primary=primary, keys=keys)

    @classmethod
    def from_setting(
        cls, setting: str, *, purpose: str, derivation: Derivation | None = None
    ) -> Keyring:
        """The keyring of a keyring setting (``NODE_KEYS_MASTER_KEY``...), ``SECRET_KEY``
        giving its ``legacy`` member."""
        value = getattr(settings, setting, None) or []
        return cls.from_secrets(
            purpose=purpose,
            secrets=[value] if isinstance(value, str) else list(value),
            legacy_secret=str(settings.SECRET_KEY),
            derivation=derivation,
        )

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
