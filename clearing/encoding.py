"""The canonical byte encoding of a ledger transaction: its Merkle leaf.

Deterministic: the same ledger rows always give the same bytes, on any database. Integers
are big-endian; strings are UTF-8 with a length prefix; times are UTC microseconds.

Version 1 layout::

    version            u8      0x01
    id                 u64     the ledger order (LedgerTransaction.id)
    uuid               16      the id clients see
    tenant             16      the tenant's UUID, or 16 zero bytes for the platform
    posted_at          i64     microseconds since 1970-01-01T00:00:00Z
    kind               u8 length, then ASCII
    currency           3       ASCII
    amount             i64     gross amount in minor units
    is_inter_node      u8      0 or 1
    reverses           u64     the reversed transaction's id, or 0
    memo               u16 length, then UTF-8
    metadata           u32 length, then canonical JSON (keys sorted, no spaces, UTF-8)
    entry count        u16
    entries, by entry id:
      entry id         u64
      account          16      the account's UUID
      currency         3       ASCII
      amount           i64     signed minor units (credit > 0)

``clearing/verify_proof.py`` decodes this layout with the standard library alone.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from sandbox import clock
from wallets.models import Entry, LedgerTransaction

VERSION = 1
ZERO_UUID = bytes(16)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEAD = struct.Struct(">BQ16s16sq")
_MIDDLE = struct.Struct(">3sqBQ")
_ENTRY = struct.Struct(">Q16s3sq")
_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

TRANSACTION_FIELDS = (
    "id",
    "uuid",
    "tenant_id",
    "posted_at",
    "kind",
    "currency",
    "amount",
    "is_inter_node",
    "reverses_id",
    "memo",
    "metadata",
)
ENTRY_FIELDS = ("transaction_id", "id", "account_id", "currency", "amount")


def clearing_time_zone() -> ZoneInfo:
    """Days close at midnight here (Asia/Seoul unless ``CLEARING_TIME_ZONE`` says other)."""
    return ZoneInfo(settings.CLEARING_TIME_ZONE)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of ``day`` in the clearing time zone."""
    zone = clearing_time_zone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def day_of(moment: datetime) -> date:
    return moment.astimezone(clearing_time_zone()).date()


def today() -> date:
    """The clearing day it is now on the platform clock."""
    return day_of(clock.now())


def micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _uuid_bytes(value: UUID | str | None) -> bytes:
    if value is None:
        return ZERO_UUID
    return value.bytes if isinstance(value, UUID) else UUID(str(value)).bytes


def encode_raw(row: Sequence[Any], entries: Iterable[Sequence[Any]]) -> bytes:
    """The leaf from already-converted values: ``row`` is (id, uuid as 16 bytes, tenant as 16
    bytes or None, posted_at in microseconds, kind, currency, amount, is_inter_node,
    reverses id or None, memo, metadata as JSON text or a parsed value); each entry is
    (transaction id, entry id, account as 16 bytes, currency, amount)."""
    (txn_id, txn_uuid, tenant, posted, kind, currency, amount, inter, reverses, memo, meta) = row
    kind_b = kind.encode("ascii")
    memo_b = memo.encode()
    if meta is None or meta == "{}" or meta == {}:
        meta_b = b"{}"
    else:
        meta_b = canonical_json(json.loads(meta) if isinstance(meta, str) else meta)
    parts = [
        _HEAD.pack(VERSION, txn_id, txn_uuid, tenant or ZERO_UUID, posted),
        _U8.pack(len(kind_b)),
        kind_b,
        _MIDDLE.pack(currency.encode("ascii"), amount, 1 if inter else 0, reverses or 0),
        _U16.pack(len(memo_b)),
        memo_b,
        _U32.pack(len(meta_b)),
        meta_b,
    ]
    entry_parts = [
        _ENTRY.pack(entry_id, account, entry_currency.encode("ascii"), entry_amount)
        for (_txn, entry_id, account, entry_currency, entry_amount) in entries
    ]
    parts.append(_U16.pack(len(entry_parts)))
    parts.extend(entry_parts)
    return b"".join(parts)


def encode_transaction(row: Sequence[Any], entries: Iterable[Sequence[Any]]) -> bytes:
    """The leaf for one transaction as the ORM returns it: ``row`` holds
    ``TRANSACTION_FIELDS`` in order, each entry ``ENTRY_FIELDS`` in order (entries sorted
    by entry id)."""
    (txn_id, txn_uuid, tenant, posted_at, kind, currency, amount, inter, reverses, memo, meta) = row
    raw_row = (
        txn_id,
        _uuid_bytes(txn_uuid),
        None if tenant is None else _uuid_bytes(tenant),
        micros(posted_at),
        kind,
        currency,
        amount,
        inter,
        reverses,
        memo,
        meta,
    )
    raw_entries = [(t, i, _uuid_bytes(a), c, m) for (t, i, a, c, m) in entries]
    return encode_raw(raw_row, raw_entries)


@dataclass(frozen=True)
class DecodedEntry:
    id: int
    account: UUID
    currency: str
    amount: int


@dataclass(frozen=True)
class DecodedTransaction:
    id: int
    uuid: UUID
    tenant: UUID | None
    posted_at: datetime
    kind: str
    currency: str
    amount: int
    is_inter_node: bool
    reverses: int | None
    memo: str
    metadata: Any
    entries: tuple[DecodedEntry, ...]


def decode_transaction(data: bytes) -> DecodedTransaction:
    """The inverse of ``encode_transaction`` (raises ``ValueError`` on malformed bytes)."""
    try:
        version, txn_id, raw_uuid, tenant, posted = _HEAD.unpack_from(data, 0)
        if version != VERSION:
            raise ValueError(f"Unknown leaf version {version}.")
        pos = _HEAD.size
        (kind_len,) = _U8.unpack_from(data, pos)
        kind = data[pos + 1 : pos + 1 + kind_len].decode("ascii")
        pos += 1 + kind_len
        currency, amount, inter, reverses = _MIDDLE.unpack_from(data, pos)
        pos += _MIDDLE.size
        (memo_len,) = _U16.unpack_from(data, pos)
        memo = data[pos + 2 : pos + 2 + memo_len].decode()
        pos += 2 + memo_len
        (meta_len,) = _U32.unpack_from(data, pos)
        metadata = json.loads(data[pos + 4 : pos + 4 + meta_len])
        pos += 4 + meta_len
        (count,) = _U16.unpack_from(data, pos)
        pos += 2
        entries = []
        for _ in range(count):
            entry_id, account, entry_currency, entry_amount = _ENTRY.unpack_from(data, pos)
            entries.append(
                DecodedEntry(entry_id, UUID(bytes=account), entry_currency.decode(), entry_amount)
            )
            pos += _ENTRY.size
    except (struct.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Malformed leaf: {exc}") from exc
    if pos != len(data):
        raise ValueError("Malformed leaf: trailing bytes.")
    return DecodedTransaction(
        id=txn_id,
        uuid=UUID(bytes=raw_uuid),
        tenant=None if tenant == ZERO_UUID else UUID(bytes=tenant),
        posted_at=_EPOCH + timedelta(microseconds=posted),
        kind=kind,
        currency=currency.decode(),
        amount=amount,
        is_inter_node=bool(inter),
        reverses=reverses or None,
        memo=memo,
        metadata=metadata,
        entries=tuple(entries),
    )


# --- Reading the ledger -----------------------------------------------------------------------


def day_transactions(day: date) -> QuerySet[LedgerTransaction]:
    start, end = day_bounds(day)
    return LedgerTransaction.objects.filter(posted_at__gte=start, posted_at__lt=end)


# On PostgreSQL the rows come through raw SQL that converts in the database what Python
# would convert slowly (UUIDs to their 16 bytes, times to microseconds, JSON to text), over
# server-side cursors in binary format. Elsewhere the ORM path gives the same bytes.
_PG_TRANSACTIONS = """
    SELECT t.id, uuid_send(t.uuid), uuid_send(t.tenant_id),
           (extract(epoch FROM t.posted_at) * 1000000)::bigint,
           t.kind, t.currency, t.amount, t.is_inter_node, t.reverses_id, t.memo, t.metadata::text
      FROM wallets_ledgertransaction t
     WHERE {where}
     ORDER BY t.id
"""
_PG_ENTRIES = """
    SELECT e.transaction_id, e.id, uuid_send(e.account_id), e.currency, e.amount
      FROM wallets_entry e
      JOIN wallets_ledgertransaction t ON t.id = e.transaction_id
     WHERE {where}
     ORDER BY e.transaction_id, e.id
"""


def _pg_rows(sql: str, params: Sequence[Any], itersize: int) -> Iterator[tuple]:
    connection.ensure_connection()
    name = f"clearing_{uuid4().hex}"
    with connection.connection.cursor(name=name, withhold=not connection.in_atomic_block) as cur:
        cur.itersize = itersize
        cur.execute(sql, params, binary=True)
        yield from cur


def _merge(
    txns: Iterable[Sequence[Any]],
    entries: Iterable[Sequence[Any]],
    encode: Callable[[Sequence[Any], Iterable[Sequence[Any]]], bytes],
) -> Iterator[tuple[int, bytes]]:
    entry_iter = iter(entries)
    pending = next(entry_iter, None)
    for row in txns:
        txn_id = row[0]
        own: list[Sequence[Any]] = []
        while pending is not None and pending[0] <= txn_id:
            if pending[0] == txn_id:
                own.append(pending)
            pending = next(entry_iter, None)
        yield txn_id, encode(row, own)


def iter_day_leaves(day: date, *, chunk_size: int = 5000) -> Iterator[tuple[int, bytes]]:
    """(transaction id, leaf bytes) for every transaction of ``day``, in ledger order.

    Two ordered streams merged: the day's transactions by id, and their entries by
    (transaction id, entry id)."""
    start, end = day_bounds(day)
    if connection.vendor == "postgresql":
        where = "t.posted_at >= %s AND t.posted_at < %s"
        yield from _merge(
            _pg_rows(_PG_TRANSACTIONS.format(where=where), [start, end], chunk_size),
            _pg_rows(_PG_ENTRIES.format(where=where), [start, end], chunk_size * 2),
            encode_raw,
        )
        return
    txns = day_transactions(day).order_by("id").values_list(*TRANSACTION_FIELDS)
    entries = (
        Entry.objects.filter(transaction__posted_at__gte=start, transaction__posted_at__lt=end)
        .order_by("transaction_id", "id")
        .values_list(*ENTRY_FIELDS)
    )
    yield from _merge(
        txns.iterator(chunk_size=chunk_size),
        entries.iterator(chunk_size=chunk_size),
        encode_transaction,
    )


def iter_leaves(ids: Iterable[int]) -> Iterator[tuple[int, bytes]]:
    """(transaction id, leaf bytes) for the transactions ``ids``, in ledger order, read in
    batches the same two ways as ``iter_day_leaves`` (identical bytes). Ids no longer in the
    ledger are left out: callers compare what comes back with what they asked for."""
    wanted = sorted(set(ids))
    if connection.vendor == "postgresql":
        for start in range(0, len(wanted), _PG_ID_BATCH):
            batch = wanted[start : start + _PG_ID_BATCH]
            where = "t.id = ANY(%s)"
            yield from _merge(
                _pg_rows(_PG_TRANSACTIONS.format(where=where), [batch], 5000),
                _pg_rows(_PG_ENTRIES.format(where=where), [batch], 10000),
                encode_raw,
            )
        return
    # SQLite allows 999 query parameters in older builds.
    for start in range(0, len(wanted), _ORM_ID_BATCH):
        batch = wanted[start : start + _ORM_ID_BATCH]
        txns = LedgerTransaction.objects.filter(id__in=batch).order_by("id")
        entries = Entry.objects.filter(transaction_id__in=batch).order_by("transaction_id", "id")
        yield from _merge(
            txns.values_list(*TRANSACTION_FIELDS),
            entries.values_list(*ENTRY_FIELDS),
            encode_transaction,
        )


_PG_ID_BATCH = 20_000
_ORM_ID_BATCH = 900


def leaf_for(txn_id: int) -> bytes:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_TRANSACTIONS.format(where="t.id = %s"), [txn_id])
            row = cursor.fetchone()
            if row is None:
                raise LedgerTransaction.DoesNotExist(txn_id)
            cursor.execute(_PG_ENTRIES.format(where="t.id = %s"), [txn_id])
            entries = cursor.fetchall()
        return encode_raw(_bytes_row(row), [_bytes_entry(e) for e in entries])
    row = LedgerTransaction.objects.filter(id=txn_id).values_list(*TRANSACTION_FIELDS).get()
    entries = Entry.objects.filter(transaction_id=txn_id).order_by("id").values_list(*ENTRY_FIELDS)
    return encode_transaction(row, entries)


def _bytes_row(row: Sequence[Any]) -> tuple:
    """Text-format cursors return bytea as memoryview; the struct packs want bytes."""
    row = list(row)
    row[1] = bytes(row[1])
    row[2] = None if row[2] is None else bytes(row[2])
    return tuple(row)


def _bytes_entry(entry: Sequence[Any]) -> tuple:
    return (entry[0], entry[1], bytes(entry[2]), entry[3], entry[4])
