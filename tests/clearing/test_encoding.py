"""The canonical leaf encoding of ledger transactions."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from uuid import UUID

import pytest

from clearing import verify_proof
from clearing.encoding import (
    ENTRY_FIELDS,
    TRANSACTION_FIELDS,
    decode_transaction,
    encode_transaction,
    iter_day_leaves,
    leaf_for,
)
from tests.clearing.conftest import DAY

TXN_UUID = UUID("11111111-2222-3333-4444-555555555555")
TENANT = UUID("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
ACCOUNT_A = UUID("00000000-0000-0000-0000-00000000000a")
ACCOUNT_B = UUID("00000000-0000-0000-0000-00000000000b")
POSTED = datetime(2025, 3, 10, 3, 4, 5, 678901, tzinfo=UTC)
ROW = (
    42,
    TXN_UUID,
    TENANT,
    POSTED,
    "transfer",
    "KRW",
    1500,
    True,
    None,
    "rent",
    {"b": 1, "a": "é"},
)
ENTRIES = [(42, 7, ACCOUNT_A, "KRW", -1500), (42, 8, ACCOUNT_B, "KRW", 1500)]


def test_it_follows_the_documented_layout_byte_for_byte():
    meta = '{"a":"é","b":1}'.encode()
    expected = (
        b"\x01"
        + struct.pack(">Q", 42)
        + TXN_UUID.bytes
        + TENANT.bytes
        + struct.pack(">q", 1_741_575_845_678_901)
        + b"\x08transfer"
        + b"KRW"
        + struct.pack(">q", 1500)
        + b"\x01"
        + struct.pack(">Q", 0)
        + b"\x00\x04rent"
        + struct.pack(">I", len(meta))
        + meta
        + b"\x00\x02"
        + struct.pack(">Q", 7)
        + ACCOUNT_A.bytes
        + b"KRW"
        + struct.pack(">q", -1500)
        + struct.pack(">Q", 8)
        + ACCOUNT_B.bytes
        + b"KRW"
        + struct.pack(">q", 1500)
    )
    assert encode_transaction(ROW, ENTRIES) == expected


def test_it_decodes_what_it_encodes_and_so_does_the_offline_verifier():
    data = encode_transaction(ROW, ENTRIES)
    decoded = decode_transaction(data)
    assert decoded.id == 42 and decoded.uuid == TXN_UUID and decoded.tenant == TENANT
    assert decoded.posted_at == POSTED and decoded.metadata == {"a": "é", "b": 1}
    assert [(e.id, e.account, e.amount) for e in decoded.entries] == [
        (7, ACCOUNT_A, -1500),
        (8, ACCOUNT_B, 1500),
    ]
    offline = verify_proof.decode_leaf(data)
    assert offline["uuid"] == str(TXN_UUID)
    assert offline["posted_at"] == "2025-03-10T03:04:05.678901Z"
    assert offline["entries"][1] == {
        "id": 8,
        "account": str(ACCOUNT_B),
        "amount": 1500,
        "currency": "KRW",
    }
    with pytest.raises(ValueError):
        decode_transaction(data + b"\x00")


@pytest.mark.parametrize(
    "position",
    range(len(ROW)),
    ids=[
        "id",
        "uuid",
        "tenant",
        "posted",
        "kind",
        "currency",
        "amount",
        "inter",
        "reverses",
        "memo",
        "metadata",
    ],
)
def test_every_field_changes_the_leaf(position):
    changed = list(ROW)
    changed[position] = {
        0: 43,
        1: UUID(int=1),
        2: None,
        3: POSTED.replace(microsecond=0),
        4: "reversal",
        5: "USD",
        6: 1501,
        7: False,
        8: 41,
        9: "Rent",
        10: {"b": 1, "a": "e"},
    }[position]
    assert encode_transaction(tuple(changed), ENTRIES) != encode_transaction(ROW, ENTRIES)
    for i in range(len(ENTRIES)):
        entries = [list(e) for e in ENTRIES]
        entries[i][4] = entries[i][4] + 1
        assert encode_transaction(ROW, entries) != encode_transaction(ROW, ENTRIES)


def test_the_day_stream_gives_each_transaction_its_own_leaf(ledger):
    txns = ledger.post(DAY, 5)
    leaves = list(iter_day_leaves(DAY))
    assert [txn_id for txn_id, _ in leaves] == sorted(t.id for t in txns)
    for txn_id, leaf in leaves:
        assert leaf == leaf_for(txn_id)
        decoded = decode_transaction(leaf)
        assert decoded.id == txn_id
        assert len(decoded.entries) == 2 and sum(e.amount for e in decoded.entries) == 0
    assert list(iter_day_leaves(DAY)) == leaves  # deterministic


def test_the_database_path_and_the_orm_path_give_the_same_bytes(ledger):
    """On PostgreSQL leaves come from raw SQL converting in the database; they must equal
    what the ORM values encode to (on SQLite both are the ORM path)."""
    from wallets.models import Entry, LedgerTransaction

    ledger.post(DAY, 4)
    for txn_id, leaf in iter_day_leaves(DAY):
        row = LedgerTransaction.objects.filter(id=txn_id).values_list(*TRANSACTION_FIELDS).get()
        entries = Entry.objects.filter(transaction_id=txn_id).order_by("id")
        assert leaf == encode_transaction(row, entries.values_list(*ENTRY_FIELDS))
