#!/usr/bin/env python3
"""Check a Fintech Sandbox inclusion proof offline, with nothing but Python's standard library.

    python verify_proof.py proof.json

Copy this one file anywhere; it imports nothing from the sandbox. It checks, in order:

1. the leaf hash is SHA-256(0x00 || leaf bytes)                       (RFC 9162 §2.1.1)
2. the audit path leads from that leaf hash to the root               (RFC 9162 §2.1.3.2)
3. the anchor transaction's OP_RETURN output carries "FSBX", that root and the tree size
4. the transaction's id, through its merkle branch, is the block header's merkle root
5. the header is 80 bytes, hashes to the block hash, and meets the target its ``bits`` claim
   (a target no easier than Bitcoin regtest's minimum work)
6. if present, the leaf decodes to the ledger transaction named in ``subject`` (its layout
   is documented in clearing/encoding.py), and the day's head is in the close log

The anchor is a platform day's close (kind "D", labelled with the day), a test clock's
close (kind "C", a tenant's simulated day, labelled "<day>/<close id>"; no close log, which
holds platform days only) or a large transaction's record (kind "T").

It prints one line per check and exits 0 only if every check passes (1 otherwise, 2 if the
file cannot be read). What it cannot know offline is that this block is part of the chain
you trust: compare the block hash with the chain you downloaded (``/api/v1/clearing/chain``)
or with the sandbox dashboard.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import struct
import sys
import uuid
from typing import Any

FORMAT = "fsbx-inclusion-proof/1"
KINDS = {b"D": "day", b"C": "clock", b"T": "transaction"}
TAG = b"FSBX"
OP_RETURN = 0x6A
# Bitcoin regtest's proof-of-work limit: no header may claim an easier target.
POW_LIMIT = 2**255 - 1


class ProofInvalid(Exception):
    pass


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def dsha256(data: bytes) -> bytes:
    return sha256(sha256(data))


def unhex(value: Any, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise ProofInvalid(f"{what} must be a hex string")
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise ProofInvalid(f"{what} is not hex") from None
    if length is not None and len(data) != length:
        raise ProofInvalid(f"{what} must be {length} bytes, not {len(data)}")
    return data


# --- RFC 9162 ------------------------------------------------------------------------------


def root_from_audit_path(leaf_hash: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2, step by step."""
    if not 0 <= index < size:
        raise ProofInvalid(f"leaf index {index} is outside a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            raise ProofInvalid("the audit path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("the audit path is shorter than the tree is deep")
    return r


# --- Bitcoin transactions and headers --------------------------------------------------------


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProofInvalid("the transaction is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def varint(self) -> int:
        first = self.take(1)[0]
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        return int.from_bytes(self.take(size), "little")


def parse_transaction(raw: bytes) -> tuple[bytes, list[bytes]]:
    """(txid in internal byte order, output scripts). Witness data, if any, is left out of
    the txid as Bitcoin does."""
    r = Reader(raw)
    version = r.take(4)
    segwit = raw[4:6] == b"\x00\x01"
    if segwit:
        r.take(2)
    body_start = r.pos
    input_count = r.varint()
    for _ in range(input_count):
        r.take(36)
        r.take(r.varint())
        r.take(4)
    scripts = []
    for _ in range(r.varint()):
        r.take(8)
        scripts.append(r.take(r.varint()))
    body_end = r.pos
    if segwit:  # one witness stack per input
        for _ in range(input_count):
            for _ in range(r.varint()):
                r.take(r.varint())
    locktime = r.take(4)
    if r.pos != len(raw):
        raise ProofInvalid("the transaction has trailing bytes")
    return dsha256(version + raw[body_start:body_end] + locktime), scripts


def op_return_data(script: bytes) -> bytes | None:
    """The data of an ``OP_RETURN <one push>`` script, else None."""
    if len(script) < 2 or script[0] != OP_RETURN:
        return None
    op, pos = script[1], 2
    if op <= 75:
        size = op
    elif op == 0x4C and len(script) >= 3:
        size, pos = script[2], 3
    elif op == 0x4D and len(script) >= 4:
        size, pos = int.from_bytes(script[2:4], "little"), 4
    else:
        return None
    return script[pos:] if len(script) == pos + size else None


def target_from_bits(bits: int) -> int:
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    if bits & 0x00800000:
        raise ProofInvalid("the header's bits encode a negative target")
    return mantissa >> (8 * (3 - exponent)) if exponent <= 3 else mantissa << (8 * (exponent - 3))


# --- The leaf: a ledger transaction (layout in clearing/encoding.py) -------------------------


def decode_leaf(leaf: bytes) -> dict[str, Any]:
    """The ledger transaction a version 1 leaf encodes, as plain JSON-style values."""
    try:
        version, txn_id, raw_uuid, tenant, posted = struct.unpack_from(">BQ16s16sq", leaf, 0)
        if version != 1:
            raise ProofInvalid(f"unknown leaf version {version}")
        pos = 49
        kind_len = leaf[pos]
        kind = leaf[pos + 1 : pos + 1 + kind_len].decode("ascii")
        pos += 1 + kind_len
        currency, amount, inter, reverses = struct.unpack_from(">3sqBQ", leaf, pos)
        pos += 20
        (memo_len,) = struct.unpack_from(">H", leaf, pos)
        memo = leaf[pos + 2 : pos + 2 + memo_len].decode()
        pos += 2 + memo_len
        (meta_len,) = struct.unpack_from(">I", leaf, pos)
        metadata = json.loads(leaf[pos + 4 : pos + 4 + meta_len])
        pos += 4 + meta_len
        (count,) = struct.unpack_from(">H", leaf, pos)
        pos += 2
        entries = []
        for _ in range(count):
            entry_id, account, entry_currency, entry_amount = struct.unpack_from(
                ">Q16s3sq", leaf, pos
            )
            pos += 35
            entries.append(
                {
                    "id": entry_id,
                    "account": str(uuid.UUID(bytes=account)),
                    "amount": entry_amount,
                    "currency": entry_currency.decode("ascii"),
                }
            )
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise ProofInvalid(f"the leaf is not a ledger transaction: {exc}") from None
    if pos != len(leaf):
        raise ProofInvalid("the leaf has trailing bytes")
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=posted)
    return {
        "id": txn_id,
        "uuid": str(uuid.UUID(bytes=raw_uuid)),
        "tenant": None if tenant == bytes(16) else str(uuid.UUID(bytes=tenant)),
        "posted_at": moment.isoformat(timespec="microseconds") + "Z",
        "kind": kind,
        "currency": currency.decode("ascii"),
        "amount": amount,
        "is_inter_node": bool(inter),
        "reverses": reverses or None,
        "memo": memo,
        "metadata": metadata,
        "entries": entries,
    }


# --- The whole document ----------------------------------------------------------------------


def verify(doc: dict[str, Any]) -> list[str]:
    """Check ``doc``; return what was checked, or raise ``ProofInvalid`` at the first failure."""
    done: list[str] = []
    if doc.get("format") != FORMAT:
        raise ProofInvalid(f"unknown proof format {doc.get('format')!r}")

    leaf = unhex(doc.get("leaf"), "leaf")
    leaf_hash = sha256(b"\x00" + leaf)
    if "leaf_hash" in doc and unhex(doc["leaf_hash"], "leaf_hash", 32) != leaf_hash:
        raise ProofInvalid("leaf_hash is not SHA-256(0x00 || leaf)")
    done.append(f"leaf hash {leaf_hash.hex()} = SHA-256(0x00 || {len(leaf)} leaf bytes)")
    subject = doc.get("subject") or {}
    if subject.get("leaf_format") == "ledger-transaction/1":
        txn = decode_leaf(leaf)
        if subject.get("transaction") not in (None, txn["uuid"]):
            raise ProofInvalid("the leaf encodes another transaction than the subject")
        legs = ", ".join(f"{e['amount']:+d} {e['currency']}" for e in txn["entries"])
        done.append(
            f"the leaf is transaction {txn['uuid']} ({txn['kind']}, {txn['amount']} "
            f"{txn['currency']} minor units, posted {txn['posted_at']}; entries {legs})"
        )

    index, size = doc.get("leaf_index"), doc.get("tree_size")
    if not isinstance(index, int) or not isinstance(size, int) or isinstance(index, bool):
        raise ProofInvalid("leaf_index and tree_size must be integers")
    path = [unhex(h, "audit_path entry", 32) for h in doc.get("audit_path", [])]
    root = unhex(doc.get("root"), "root", 32)
    if root_from_audit_path(leaf_hash, index, size, path) != root:
        raise ProofInvalid("the audit path does not lead to the root")
    done.append(f"audit path of {len(path)} hashes: leaf {index} of {size} -> root {root.hex()}")

    anchor = doc.get("anchor")
    if not isinstance(anchor, dict):
        raise ProofInvalid("the anchor is missing")
    txid, scripts = parse_transaction(unhex(anchor.get("transaction"), "anchor transaction"))
    payloads = [d for s in scripts if (d := op_return_data(s)) is not None and d[:4] == TAG]
    if len(payloads) != 1:
        raise ProofInvalid(f"the transaction has {len(payloads)} FSBX OP_RETURN outputs, not 1")
    payload = payloads[0]
    if len(payload) > 80:
        raise ProofInvalid(f"the OP_RETURN payload is {len(payload)} bytes, over 80")
    if len(payload) < 42 or payload[4] != 1:
        raise ProofInvalid("the OP_RETURN payload is not an FSBX version 1 anchor")
    if payload[6:38] != root:
        raise ProofInvalid("the OP_RETURN output carries another root")
    if int.from_bytes(payload[38:42], "big") != size:
        raise ProofInvalid("the OP_RETURN output carries another tree size")
    kind = KINDS.get(payload[5:6])
    if kind is None:
        raise ProofInvalid(f"the OP_RETURN payload has an unknown anchor kind {payload[5:6]!r}")
    if anchor.get("kind", kind) != kind:
        raise ProofInvalid(f"the document says a {anchor.get('kind')} anchor; the block has {kind}")
    label = payload[42:].decode("ascii", "replace")
    day = subject.get("day")
    if day is not None and kind != "transaction" and label.partition("/")[0] != day:
        raise ProofInvalid(f"the anchor is labelled {label}, not the subject's day {day}")
    done.append(f"transaction {txid[::-1].hex()} carries the root in OP_RETURN ({kind} {label})")
    if "txid" in anchor and anchor["txid"] != txid[::-1].hex():
        raise ProofInvalid("the document's txid is not the transaction's")

    header = unhex(anchor.get("block_header"), "block header", 80)
    tx_index = anchor.get("tx_index")
    if not isinstance(tx_index, int) or tx_index < 0:
        raise ProofInvalid("tx_index must be a non-negative integer")
    node, position = txid, tx_index
    branch = [unhex(h, "merkle branch entry", 32) for h in anchor.get("tx_merkle_branch", [])]
    for sibling in branch:
        node = dsha256(sibling + node) if position & 1 else dsha256(node + sibling)
        position >>= 1
    if position != 0:
        raise ProofInvalid("tx_index does not fit the merkle branch")
    if node != header[36:68]:
        raise ProofInvalid("the transaction is not in the block's merkle root")
    done.append(f"transaction {tx_index} of the block: merkle branch -> header merkle root")

    block_hash = dsha256(header)
    bits = int.from_bytes(header[72:76], "little")
    target = target_from_bits(bits)
    if not 0 < target <= POW_LIMIT:
        raise ProofInvalid(f"bits {bits:#010x} claim less work than regtest's minimum")
    if int.from_bytes(block_hash, "little") > target:
        raise ProofInvalid("the block hash does not meet its target (no proof of work)")
    if "block_hash" in anchor and anchor["block_hash"] != block_hash[::-1].hex():
        raise ProofInvalid("the document's block hash is not the header's")
    done.append(
        f"header hashes to block {block_hash[::-1].hex()} (height {anchor.get('height')}), "
        f"meeting target bits {bits:#010x}"
    )

    log = doc.get("close_log")
    if log is not None:  # optional: the day's place in the platform's close log
        if kind != "day":
            raise ProofInvalid("only a platform day's close is in the close log")
        log_leaf = unhex(log.get("leaf"), "close log leaf")
        expected = b"\x01" + label.encode("ascii") + size.to_bytes(8, "big") + root
        if log_leaf != expected:
            raise ProofInvalid("the close log leaf is not this day's head")
        log_path = [unhex(h, "close log path entry", 32) for h in log.get("audit_path", [])]
        log_root = unhex(log.get("root"), "close log root", 32)
        sequence, log_size = log.get("sequence"), log.get("size")
        if not isinstance(sequence, int) or not isinstance(log_size, int):
            raise ProofInvalid("close log sequence and size must be integers")
        found = root_from_audit_path(sha256(b"\x00" + log_leaf), sequence, log_size, log_path)
        if found != log_root:
            raise ProofInvalid("the close log path does not lead to the close log root")
        done.append(f"the day is entry {sequence} of the close log with root {log_root.hex()}")
    return done


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} proof.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"cannot read {argv[1]}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(doc, dict):
        print("FAIL: the proof is not a JSON object")
        return 1
    try:
        for line in verify(doc):
            print(f"ok   {line}")
    except ProofInvalid as exc:
        print(f"FAIL {exc}")
        return 1
    print("VALID: the leaf is anchored in this block.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
