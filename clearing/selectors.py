"""Reads for clearing: proofs, closes, the chain file, the close log."""

from __future__ import annotations

import struct
from datetime import date
from typing import Any

from clearing.chain import get_chain
from clearing.closing import close_log_leaf, close_log_tree
from clearing.encoding import day_of, leaf_for
from clearing.merkle import ProofError, leaf_hash
from clearing.models import AnchorBlock, DayClose
from clearing.ots import build_ots
from clearing.proofs import proof_document
from clearing.storage import StoredTree, leaf_index
from sandbox.errors import ApplicationError, Conflict, NotFound
from wallets import selectors as wallet_selectors

REGTEST_MAGIC = bytes.fromhex("fabfb5da")
LEAF_FORMAT = "ledger-transaction/1"


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApplicationError(
            f"{value!r} is not a day (YYYY-MM-DD).", code="invalid_day"
        ) from None


def closed_day_get(day: date) -> DayClose:
    close = DayClose.objects.select_related("anchor").filter(day=day).first()
    if close is None or not close.is_closed:
        raise NotFound(f"{day} is not closed.", code="day_not_closed")
    return close


def transaction_proof(*, tenant: Any, transaction_id: Any) -> dict[str, Any]:
    """The whole proof for one of ``tenant``'s transactions (404 for anyone else's)."""
    txn = wallet_selectors.transaction_get(tenant=tenant, transaction_id=transaction_id)
    day = day_of(txn.posted_at)
    close = DayClose.objects.filter(day=day, status=DayClose.Status.CLOSED).first()
    if close is None:
        raise Conflict(
            f"The transaction's day ({day}) is not closed yet; its proof exists once it is.",
            code="day_not_closed",
        )
    index = leaf_index(close, txn.id)
    if index is None:
        raise Conflict(
            "The transaction is not in its day's anchored tree: the ledger changed after the "
            "close. Operators are alerted by verify_anchors.",
            code="not_anchored",
        )
    tree = StoredTree(close)
    tree.prefetch_path(index)
    leaf = leaf_for(txn.id)
    if leaf_hash(leaf) != tree.leaf_hash(index):
        raise Conflict(
            "The transaction differs from the anchored one: the ledger changed after the close.",
            code="not_anchored",
        )
    anchor = get_chain().find(kind=AnchorBlock.Kind.DAY, label=day.isoformat())
    if anchor is None:
        raise Conflict(f"No block anchors {day}.", code="not_anchored")
    doc = proof_document(
        leaf=leaf,
        index=index,
        tree=tree,
        anchor=anchor,
        subject={
            "transaction": str(txn.uuid),
            "leaf_format": LEAF_FORMAT,
            "day": day.isoformat(),
        },
    )
    log = close_log_tree(through_sequence=close.sequence)
    doc["close_log"] = {
        "sequence": close.sequence,
        "size": log.size,
        "leaf": close_log_leaf(day, close.leaf_count, close.root).hex(),
        "audit_path": [h.hex() for h in log.inclusion_proof(close.sequence)],
        "root": close.log_root,
    }
    return doc


def close_log_consistency(*, first: int, second: int) -> dict[str, Any]:
    """RFC 9162 consistency proof between the close log at ``first`` and ``second`` days."""
    log = close_log_tree()
    try:
        proof = log.consistency_proof(first, second)
    except ProofError as exc:
        raise ApplicationError(str(exc), code="invalid_log_size") from None
    return {
        "first": first,
        "second": second,
        "first_root": log.root_at(first).hex(),
        "second_root": log.root_at(second).hex(),
        "proof": [h.hex() for h in proof],
    }


def close_log_head() -> dict[str, Any]:
    log = close_log_tree()
    return {"size": log.size, "root": log.root.hex()}


def ots_for_day(day: date) -> bytes:
    close = closed_day_get(day)
    chain = get_chain()
    anchor = chain.get(close.anchor.height)
    return build_ots(anchor, chain.raw_block(anchor.height))


def chain_file() -> bytes:
    """The whole chain as Bitcoin Core stores it in ``blk*.dat``: per block, the regtest
    magic, the block's size (u32, little-endian) and the block."""
    parts = []
    for raw in get_chain().blocks():
        parts += [REGTEST_MAGIC, struct.pack("<I", len(raw)), raw]
    return b"".join(parts)


def chain_summary() -> list[dict[str, Any]]:
    get_chain().height()  # the genesis exists from the first look on
    rows = AnchorBlock.objects.order_by("height").values(
        "height",
        "block_hash",
        "prev_id",
        "kind",
        "label",
        "root",
        "leaf_count",
        "txid",
        "block_time",
    )
    return [
        {
            "height": r["height"],
            "block_hash": r["block_hash"],
            "prev_hash": r["prev_id"] or "0" * 64,
            "kind": r["kind"],
            "label": r["label"],
            "root": r["root"],
            "transactions": r["leaf_count"],
            "txid": r["txid"],
            "time": r["block_time"],
        }
        for r in rows
    ]
