"""The close log: the heads of the closed days, in day order, as an RFC 9162 tree.

Each closed day adds one leaf (``close_log_leaf``); the log's root after a day is stored with
its close (``DayClose.log_root``), and its consistency proofs show that no closed day was
ever rewritten or dropped.
"""

from __future__ import annotations

from datetime import date

from clearing.merkle import MerkleTree
from clearing.models import DayClose


def close_log_leaf(day: date, leaf_count: int, root_hex: str) -> bytes:
    """A close-log leaf: version 0x01, the day as ASCII YYYY-MM-DD, the leaf count (u64,
    big-endian) and the day's root. Everything in it is anchored in the day's block, so
    the whole close log can be rebuilt from the chain alone."""
    return (
        b"\x01" + day.isoformat().encode() + leaf_count.to_bytes(8, "big") + bytes.fromhex(root_hex)
    )


def close_log_leaves(*, through_sequence: int | None = None) -> list[bytes]:
    closes = DayClose.objects.filter(status=DayClose.Status.CLOSED).order_by("sequence")
    if through_sequence is not None:
        closes = closes.filter(sequence__lte=through_sequence)
    return [
        close_log_leaf(c.day, c.leaf_count, c.root)
        for c in closes.only("day", "leaf_count", "root")
    ]


def close_log_tree(*, through_sequence: int | None = None) -> MerkleTree:
    return MerkleTree.from_leaves(close_log_leaves(through_sequence=through_sequence))
