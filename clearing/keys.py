"""The keyring that wraps the record keys of encrypted anchored records (``clearing.records``).

``CLEARING_MASTER_KEY`` is a keyring setting (``sandbox.keyring``): a list of secrets, newest
first; the first wraps new record keys, every one of them unwraps, and the legacy key derived
from ``SECRET_KEY`` (key id ``legacy``) stays a member, so keys wrapped before
``CLEARING_MASTER_KEY`` was set still unwrap; with no ``CLEARING_MASTER_KEY`` (development)
it is the first key. The record keys were wrapped before the shared keyring existed, under
a derivation of their own (``DERIVATION``): the shared keyring keeps it, so every stored
key id and wrapped key stays as it was.

Record keys: one per node, and the operators' (``RecordKey.operators``). The operators' key
was derived from the master key before it was stored: when records exist and it has no row
yet, that derivation is what is stored, so existing envelopes still open.
``rotate_record_keys`` re-wraps every record key under the first key; envelopes never
change (their digests are anchored).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, transaction

from clearing.models import AnchoredRecord, RecordKey
from sandbox import keyring as shared
from sandbox.errors import ApplicationError
from sandbox.keyring import LEGACY, Derivation, Keyring

KEYRING_PURPOSE = "clearing-record-keys"
# The derivation the record keys were first wrapped under: HKDF under one salt for every
# use, "master" naming both the configured and the legacy wrapping keys.
DERIVATION = Derivation(salt=b"fsbx-clearing", kek_info=b"master", legacy_info=b"master")
ROTATE_BATCH = 500


class KeyringError(ApplicationError, shared.KeyringError):
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


def keyring() -> Keyring:
    return Keyring.from_setting(
        "CLEARING_MASTER_KEY", purpose=KEYRING_PURPOSE, derivation=DERIVATION
    )


def legacy_master() -> bytes:
    """The wrapping key derived from ``SECRET_KEY`` (the keyring's ``legacy`` member)."""
    return keyring().keys[LEGACY]


def _aad(node_id: UUID | None) -> bytes:
    return b"operators" if node_id is None else node_id.bytes


def row_label(row: RecordKey) -> str:
    return "operators' key" if row.node_id is None else f"node {row.node_id}'s key"


def unwrap_row(row: RecordKey, ring: Keyring | None = None) -> bytes:
    try:
        return (ring or keyring()).open(row.key_id, bytes(row.wrapped), aad=_aad(row.node_id))
    except shared.KeyringError as exc:
        raise KeyringError(
            f"{exc} (CLEARING_MASTER_KEY, or SECRET_KEY for the {LEGACY} key, is not the one "
            "it was wrapped under)"
        ) from None


def _stored(node_id: UUID | None, make: Callable[[], bytes]) -> bytes:
    """The record key of ``node_id`` (None: the operators), created with ``make`` on first use."""
    rows = (
        RecordKey.objects.filter(node_id=node_id)
        if node_id
        else RecordKey.objects.filter(operators=True)
    )
    row = rows.first()
    if row is None:
        kid, wrapped = keyring().seal(make(), aad=_aad(node_id))
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
        return DERIVATION.derive(legacy_master(), b"operators")
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
                row.key_id, row.wrapped = ring.seal(key, aad=_aad(row.node_id))
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
