"""The keyring that wraps the record keys of encrypted anchored records (``clearing.records``).

``CLEARING_MASTER_KEY`` is a list of secrets, newest first: the first wraps new record keys,
every one of them unwraps. Each wrapping key is HKDF-SHA256 of its secret, and is named by a
key id (derived from the secret too) stored with every wrapped key (``RecordKey.key_id``).
The legacy derivation from ``SECRET_KEY`` (key id ``legacy``) stays a member of the keyring,
so keys wrapped before ``CLEARING_MASTER_KEY`` was set still unwrap; with no
``CLEARING_MASTER_KEY`` (development) it is the first key.

Record keys: one per node, and the operators' (``RecordKey.operators``). The operators' key
was derived from the master key before it was stored: when records exist and it has no row
yet, that derivation is what is stored, so existing envelopes still open.
``rotate_record_keys`` re-wraps every record key under the first key; envelopes never
change (their digests are anchored).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction

from clearing.models import AnchoredRecord, RecordKey
from sandbox.errors import ApplicationError

LEGACY = "legacy"
ROTATE_BATCH = 500


class KeyringError(ApplicationError, ValueError):
    """A wrapped key the keyring cannot unwrap: the keyring in force (CLEARING_MASTER_KEY)
    lacks the key it was wrapped under. The server's configuration is at fault, not the
    request, and only operators can mend it (restore the key: docs/clearing.md), so a
    request that needs the key answers 503 ``record_key_unavailable`` (logged as a server
    error), never a bare 500. ``str()`` keeps the detail for operators' reports
    (verify_anchors, rotate_record_keys); clients get the message without key ids."""

    status_code = 503
    default_code = "record_key_unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(
            "The encryption key of this record cannot be unwrapped with the server's "
            "keyring: operators must restore the key it was wrapped under "
            "(CLEARING_MASTER_KEY). Nothing was changed."
        )
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


def hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fsbx-clearing", info=info).derive(
        secret
    )


def key_id(secret: str) -> str:
    return hkdf(secret.encode(), b"key-id").hex()[:16]


@dataclass(frozen=True)
class Keyring:
    primary: str
    keys: dict[str, bytes]  # key id -> wrapping key

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        return self.primary, nonce + AESGCM(self.keys[self.primary]).encrypt(nonce, key, aad)

    def unwrap(self, kid: str, wrapped: bytes, aad: bytes) -> bytes:
        wrapping = self.keys.get(kid)
        if wrapping is None:
            raise KeyringError(f"wrapped under key {kid}, which is not in the keyring")
        try:
            return AESGCM(wrapping).decrypt(wrapped[:12], wrapped[12:], aad)
        except InvalidTag:
            raise KeyringError(
                f"key {kid} of the keyring does not unwrap it "
                "(CLEARING_MASTER_KEY or SECRET_KEY is not the one it was wrapped under)"
            ) from None


def legacy_master() -> bytes:
    return hkdf(str(settings.SECRET_KEY).encode(), b"master")


def keyring() -> Keyring:
    keys = {key_id(secret): hkdf(secret.encode(), b"master") for secret in _secrets()}
    primary = next(iter(keys), LEGACY)
    keys[LEGACY] = legacy_master()
    return Keyring(primary, keys)


def _secrets() -> list[str]:
    value = getattr(settings, "CLEARING_MASTER_KEY", None) or []
    return [value] if isinstance(value, str) else list(value)


def _aad(node_id: UUID | None) -> bytes:
    return b"operators" if node_id is None else node_id.bytes


def row_label(row: RecordKey) -> str:
    return "operators' key" if row.node_id is None else f"node {row.node_id}'s key"


def unwrap_row(row: RecordKey, ring: Keyring | None = None) -> bytes:
    return (ring or keyring()).unwrap(row.key_id, bytes(row.wrapped), _aad(row.node_id))


def _stored(node_id: UUID | None, make: Callable[[], bytes]) -> bytes:
    """The record key of ``node_id`` (None: the operators), created with ``make`` on first use."""
    rows = (
        RecordKey.objects.filter(node_id=node_id)
        if node_id
        else RecordKey.objects.filter(operators=True)
    )
    row = rows.first()
    if row is None:
        kid, wrapped = keyring().wrap(make(), _aad(node_id))
        try:
            with transaction.atomic():
                row = RecordKey.objects.create(
                    node_id=node_id, operators=node_id is None, key_id=kid, wrapped=wrapped
                )
        except IntegrityError:  # created concurrently
            row = rows.get()
    return unwrap_row(row)


def _new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def node_key(node_id: UUID) -> bytes:
    return _stored(node_id, _new_key)


def _first_operators_key() -> bytes:
    if AnchoredRecord.objects.exists():  # sealed under the key derived before it was stored
        return hkdf(legacy_master(), b"operators")
    return _new_key()


def operators_key() -> bytes:
    return _stored(None, _first_operators_key)


@dataclass
class Rotation:
    rewrapped: int = 0
    failures: list[str] = field(default_factory=list)


def rotate(*, batch: int = ROTATE_BATCH, progress: Callable[[str], None] | None = None) -> Rotation:
    """Re-wrap every record key under the keyring's first key, ``batch`` rows per
    transaction. Rows already under it are skipped, so an interrupted run resumes; keys the
    keyring cannot unwrap are left as they are and listed in ``failures``."""
    ring = keyring()
    result = Rotation()
    failures = result.failures
    last_pk = 0
    total = RecordKey.objects.exclude(key_id=ring.primary).count()
    while True:
        with transaction.atomic():
            rows = list(
                RecordKey.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .exclude(key_id=ring.primary)
                .order_by("pk")[:batch]
            )
            if not rows:
                break
            for row in rows:
                try:
                    key = unwrap_row(row, ring)
                except KeyringError as exc:
                    failures.append(f"{row_label(row)}: {exc}")
                    continue
                row.key_id, row.wrapped = ring.wrap(key, _aad(row.node_id))
                row.save(update_fields=["key_id", "wrapped"])
                result.rewrapped += 1
            last_pk = rows[-1].pk
        if progress is not None:
            progress(f"{result.rewrapped + len(failures)}/{total} record keys done")
    if not failures:
        # The operators' key is stored the first time it is needed, derived from SECRET_KEY
        # when records were sealed with that derivation. Store it now (under the first key),
        # before the operator is told SECRET_KEY may change. Only when every key unwrapped:
        # then SECRET_KEY is still the one the records were sealed under.
        operators_key()
    return result
