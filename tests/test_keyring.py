"""The one keyring class every sealed secret goes through (``sandbox.keyring``)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sandbox.keyring import LEGACY, Derivation, Keyring, KeyringError

NEW = "n" * 20 + "-the-newest-secret-NNNN"
OLD = "o" * 20 + "-an-older-secret-OOOOOO"


def _hkdf(secret: str, *, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret.encode())


def test_the_default_derivation_is_hkdf_under_a_salt_per_purpose(settings):
    # What every sealed node, issuer, holder and data key was sealed under: it may not move.
    settings.NODE_KEYS_MASTER_KEY = [NEW, OLD]
    ring = Keyring.from_setting("NODE_KEYS_MASTER_KEY", purpose="node-signing-keys")
    salt = b"fsbx-keyring:node-signing-keys"
    new_id = _hkdf(NEW, salt=salt, info=b"key-id").hex()[:16]
    assert ring.primary == new_id
    assert ring.keys[new_id] == _hkdf(NEW, salt=salt, info=b"kek")
    assert ring.keys[LEGACY] == _hkdf(settings.SECRET_KEY, salt=salt, info=b"legacy-kek")
    assert len(ring.keys) == 3


def test_one_secret_gives_other_keys_for_other_purposes(settings):
    settings.NODE_KEYS_MASTER_KEY = [NEW]
    issuer = Keyring.from_setting("NODE_KEYS_MASTER_KEY", purpose="credential-issuer-keys")
    holder = Keyring.from_setting("NODE_KEYS_MASTER_KEY", purpose="credential-holder-keys")
    assert issuer.keys[issuer.primary] != holder.keys[holder.primary]
    key_id, sealed = issuer.seal(b"secret", aad=b"owner")
    with pytest.raises(KeyringError, match="not in the credential-holder-keys keyring"):
        holder.open(key_id, sealed, aad=b"owner")


def test_a_derivation_of_its_own_is_kept_whole(settings):
    settings.CLEARING_MASTER_KEY = NEW  # a single secret may be given as a string
    derivation = Derivation(salt=b"some-salt", kek_info=b"master", legacy_info=b"master")
    ring = Keyring.from_setting("CLEARING_MASTER_KEY", purpose="x", derivation=derivation)
    assert ring.primary == derivation.key_id(NEW)
    assert ring.keys[ring.primary] == _hkdf(NEW, salt=b"some-salt", info=b"master")
    assert ring.keys[LEGACY] == _hkdf(settings.SECRET_KEY, salt=b"some-salt", info=b"master")


def test_the_first_secret_seals_every_secret_opens_and_the_data_is_bound(settings):
    settings.NODE_KEYS_MASTER_KEY = [OLD]
    key_id, sealed = Keyring.from_setting("NODE_KEYS_MASTER_KEY", purpose="p").seal(
        b"secret", aad=b"row-1"
    )
    settings.NODE_KEYS_MASTER_KEY = [NEW, OLD]
    ring = Keyring.from_setting("NODE_KEYS_MASTER_KEY", purpose="p")
    assert ring.open(key_id, sealed, aad=b"row-1") == b"secret"
    assert ring.seal(b"secret", aad=b"row-1")[0] == ring.primary != key_id
    with pytest.raises(KeyringError, match="does not open"):
        ring.open(key_id, sealed, aad=b"row-2")
    settings.NODE_KEYS_MASTER_KEY = []
    assert Keyring.from_setting("NODE_KEYS_MASTER_KEY", purpose="p").primary == LEGACY
