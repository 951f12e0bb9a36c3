"""Large inter-node transactions: encrypted for their two nodes and the operators, and
anchored at once (within a minute), not only in the day's tree.

A transaction is *large* when it is inter-node and its amount reaches the operators'
threshold for its currency (``AnchorThreshold``). Its record is the transaction's canonical
leaf bytes (``clearing.encoding``: the same bytes as its leaf in the day's tree), encrypted
with AES-256-GCM under a fresh data key; the data key is wrapped (AES-256-GCM again) once
for each reader: each node the transaction touches and the operators. The envelope's
SHA-256 is anchored in its own block (``kind=transaction``, label ``tx-<uuid hex>``).

Envelope, version 1 (integers big-endian)::

    "FSBXREC1"          8 bytes
    nonce              12        for the record
    length              4        of the ciphertext (tag included)
    ciphertext     length        AES-GCM(data key, nonce, leaf, aad = "FSBXREC1" || txn uuid)
    readers             1        count
    per reader:
      kind              1        1 = node, 2 = operators
      id               16        the node's UUID, or zeros for the operators
      nonce            12
      wrapped key      48        AES-GCM(reader key, nonce, data key, aad = kind || id)

Reader keys: each node has a random 256-bit key, and so have the operators (``RecordKey``),
stored wrapped under the clearing keyring (``clearing.keys``: ``CLEARING_MASTER_KEY``, or in
development a key derived from ``SECRET_KEY``). A node's tenant can fetch its node's key
through the API and open envelopes offline.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, transaction
from django.utils import timezone

from clearing import keys
from clearing.chain import get_chain
from clearing.encoding import leaf_for
from clearing.jobs import ANCHOR_SCAN_LABEL, failure_recorded, job_create, job_finish, job_start
from clearing.models import (
    AnchorBlock,
    AnchorCursor,
    AnchoredRecord,
    AnchorThreshold,
    Job,
)
from sandbox import clock
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor, audit_record
from wallets.models import Entry, LedgerTransaction

MAGIC = b"FSBXREC1"
NODE, OPERATORS = 1, 2
_READER = struct.Struct(">B16s12s48s")
SCAN_BATCH = 5000
SCAN_LAG = timedelta(minutes=5)


class RecordError(ValueError):
    """An envelope that is malformed, or that this key cannot open."""


def operators_key() -> bytes:
    return keys.operators_key()


def node_key(node: Node | UUID) -> bytes:
    """The node's record key, created on first use."""
    return keys.node_key(node.pk if isinstance(node, Node) else node)


# --- Envelopes -----------------------------------------------------------------------------


def seal(*, plaintext: bytes, txn_uuid: UUID, readers: list[tuple[int, bytes, bytes]]) -> bytes:
    """Encrypt ``plaintext`` for ``readers`` ((kind, 16-byte id, key) each)."""
    data_key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, MAGIC + txn_uuid.bytes)
    parts = [MAGIC, nonce, struct.pack(">I", len(ciphertext)), ciphertext, bytes([len(readers)])]
    for kind, reader_id, key in readers:
        wrap_nonce = os.urandom(12)
        wrapped = AESGCM(key).encrypt(wrap_nonce, data_key, bytes([kind]) + reader_id)
        parts.append(_READER.pack(kind, reader_id, wrap_nonce, wrapped))
    return b"".join(parts)


@dataclass(frozen=True)
class Envelope:
    nonce: bytes
    ciphertext: bytes
    readers: list[tuple[int, bytes, bytes, bytes]]  # kind, id, nonce, wrapped key


def parse(envelope: bytes) -> Envelope:
    try:
        if envelope[:8] != MAGIC:
            raise RecordError("Not an FSBXREC1 envelope.")
        nonce = envelope[8:20]
        (length,) = struct.unpack_from(">I", envelope, 20)
        ciphertext = envelope[24 : 24 + length]
        pos = 24 + length
        count = envelope[pos]
        pos += 1
        readers = []
        for _ in range(count):
            readers.append(_READER.unpack_from(envelope, pos))
            pos += _READER.size
    except (struct.error, IndexError) as exc:
        raise RecordError(f"Malformed envelope: {exc}") from None
    if pos != len(envelope) or len(ciphertext) != length:
        raise RecordError("Malformed envelope: wrong length.")
    return Envelope(nonce, ciphertext, readers)


def open_envelope(
    envelope: bytes, *, txn_uuid: UUID, kind: int, reader_id: bytes, key: bytes
) -> bytes:
    """The plaintext, for a reader holding ``key``; ``RecordError`` for anyone else."""
    parsed = parse(envelope)
    for r_kind, r_id, r_nonce, wrapped in parsed.readers:
        if (r_kind, r_id) != (kind, reader_id):
            continue
        try:
            data_key = AESGCM(key).decrypt(r_nonce, wrapped, bytes([kind]) + reader_id)
            return AESGCM(data_key).decrypt(parsed.nonce, parsed.ciphertext, MAGIC + txn_uuid.bytes)
        except InvalidTag:
            raise RecordError("This key cannot open the record.") from None
    raise RecordError("The record is not encrypted for this reader.")


def open_for_node(record: AnchoredRecord, node: Node) -> bytes:
    return open_envelope(
        bytes(record.envelope),
        txn_uuid=record.transaction.uuid,
        kind=NODE,
        reader_id=node.pk.bytes,
        key=node_key(node),
    )


def open_for_operators(record: AnchoredRecord) -> bytes:
    return open_envelope(
        bytes(record.envelope),
        txn_uuid=record.transaction.uuid,
        kind=OPERATORS,
        reader_id=bytes(16),
        key=operators_key(),
    )


# --- Anchoring -------------------------------------------------------------------------------


def transaction_nodes(txn_id: int) -> list[UUID]:
    """The nodes whose wallets a transaction's entries touch, in id order."""
    ids = (
        Entry.objects.filter(transaction_id=txn_id, account__wallet__isnull=False)
        .values_list("account__wallet__node_id", flat=True)
        .distinct()
    )
    return sorted(set(ids))


def record_label(txn: LedgerTransaction) -> str:
    return f"tx-{txn.uuid.hex}"


def anchor_transaction(txn: LedgerTransaction) -> AnchoredRecord:
    """Encrypt and anchor one transaction (idempotent: a second call returns the first
    record, and its block)."""
    record = AnchoredRecord.objects.filter(transaction=txn).first()
    if record is None:
        nodes = transaction_nodes(txn.id)
        readers = [(NODE, node_id.bytes, node_key(node_id)) for node_id in nodes]
        readers.append((OPERATORS, bytes(16), operators_key()))
        envelope = seal(plaintext=leaf_for(txn.id), txn_uuid=txn.uuid, readers=readers)
        try:
            with transaction.atomic():
                record = AnchoredRecord.objects.create(
                    transaction=txn, envelope=envelope, digest=hashlib.sha256(envelope).hexdigest()
                )
                # The stubs take ints for primary keys; nodes' are UUIDs, which Django takes.
                record.nodes.set(nodes)  # type: ignore[arg-type]
        except IntegrityError:  # another worker sealed it first: theirs is the record
            record = AnchoredRecord.objects.get(transaction=txn)
    if record.anchor_id is None:
        anchor = get_chain().append(
            kind=AnchorBlock.Kind.TRANSACTION,
            label=record_label(txn),
            root=bytes.fromhex(record.digest),
            leaf_count=1,
        )
        AnchoredRecord.objects.filter(pk=record.pk, anchor__isnull=True).update(
            anchor=AnchorBlock.objects.get(height=anchor.height), anchored_at=timezone.now()
        )
        record.refresh_from_db()
    return record


def is_large(txn: LedgerTransaction, thresholds: dict[str, int]) -> bool:
    limit = thresholds.get(txn.currency)
    return txn.is_inter_node and limit is not None and txn.amount >= limit


def anchor_large_transactions(*, limit: int = SCAN_BATCH) -> list[AnchoredRecord]:
    """Anchor the large inter-node transactions posted since the last scan.

    Ids are handed out before commit, so a transaction with a smaller id can become
    visible after a larger one. The scan therefore rereads everything above its cursor and
    moves the cursor only past transactions posted more than ``SCAN_LAG`` ago; each
    transaction is claimed by its unique ``AnchoredRecord``, so repeated or concurrent
    scans anchor it once."""
    thresholds = dict(AnchorThreshold.objects.values_list("currency", "min_amount"))
    cursor, _ = AnchorCursor.objects.get_or_create(id=1)
    txns = list(
        LedgerTransaction.objects.filter(id__gt=cursor.last_transaction_id).order_by("id")[:limit]
    )
    anchored = set(
        AnchoredRecord.objects.filter(
            transaction_id__in=[t.id for t in txns], anchor__isnull=False
        ).values_list("transaction_id", flat=True)
    )
    done = [
        anchor_transaction(txn)
        for txn in txns
        if txn.id not in anchored and is_large(txn, thresholds)
    ]
    settled_before = clock.now() - SCAN_LAG
    through = cursor.last_transaction_id
    for txn in txns:
        if txn.posted_at > settled_before:
            break
        through = txn.id
    AnchorCursor.objects.filter(id=1, last_transaction_id__lt=through).update(
        last_transaction_id=through
    )
    return done


def anchor_scan(*, triggered_by: str) -> list[AnchoredRecord]:
    """``anchor_large_transactions``, each anchoring recorded as a done job; a failure of
    the scan is a failed job operators can retry."""
    try:
        done = anchor_large_transactions()
    except Exception as exc:
        job = job_create(kind=Job.Kind.ANCHOR, label=ANCHOR_SCAN_LABEL, triggered_by=triggered_by)
        job_finish(job, error=f"{type(exc).__name__}: {exc}")
        raise
    for record in done:
        job = job_create(
            kind=Job.Kind.ANCHOR, label=str(record.transaction.uuid), triggered_by=triggered_by
        )
        job_finish(
            job,
            count=1,
            root=record.digest,
            block_height=record.anchor.height if record.anchor is not None else None,
            note="Encrypted for its nodes and the operators.",
        )
    return done


def anchor_job_run(job: Job) -> AnchoredRecord:
    """Run the claimed anchoring ``job`` (an operator's retry): its label is the
    transaction's id. Idempotent, as ``anchor_transaction``."""
    job_start(job, total=1)
    with failure_recorded(job):
        record = anchor_transaction(LedgerTransaction.objects.get(uuid=job.label))
    job_finish(
        job,
        count=1,
        root=record.digest,
        block_height=record.anchor.height if record.anchor is not None else None,
        note="Anchored.",
    )
    return record


@transaction.atomic
def threshold_set(*, currency: str, min_amount: int | None, actor: Actor) -> None:
    """Anchor inter-node transactions of at least ``min_amount`` (minor units) of
    ``currency`` at once; None removes the threshold. Audited."""
    if min_amount is None:
        AnchorThreshold.objects.filter(currency=currency).delete()
    else:
        AnchorThreshold.objects.update_or_create(
            currency=currency, defaults={"min_amount": min_amount}
        )
    audit_record(
        actor=actor,
        action="clearing.threshold_set",
        tenant=None,
        data={"currency": currency, "min_amount": min_amount},
    )
