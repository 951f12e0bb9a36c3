"""Proof documents: everything needed to check, offline, that a leaf was anchored.

The document is JSON (``PROOF_FORMAT``); ``clearing/verify_proof.py`` checks it with the
standard library alone. Fields:

``leaf``              the canonical leaf bytes ``d`` (hex)
``leaf_hash``         ``SHA-256(0x00 || d)`` (hex)
``leaf_index``        position in the tree, from 0
``tree_size``         leaves in the tree
``audit_path``        RFC 9162 inclusion path, sibling first (hex)
``root``              the tree's root (hex)
``anchor.transaction``  the anchoring Bitcoin transaction, serialized (hex); its OP_RETURN
                      output carries the root (``clearing.chain`` documents the payload)
``anchor.tx_index`` / ``anchor.tx_merkle_branch``  the transaction's place in its block
                      (branch hashes in Bitcoin's internal byte order, bottom up)
``anchor.block_header``  the block's 80-byte header (hex)
``anchor.block_hash`` / ``anchor.height`` / ``anchor.txid``  for display and cross-checks
``subject``           what the leaf is, in words (not needed to verify)
"""

from __future__ import annotations

from typing import Any

from clearing.chain import Anchor
from clearing.merkle import MerkleTree

PROOF_FORMAT = "fsbx-inclusion-proof/1"


def proof_document(
    *,
    leaf: bytes,
    index: int,
    tree: MerkleTree,
    anchor: Anchor,
    subject: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The proof that ``leaf`` is leaf ``index`` of ``tree`` whose root ``anchor`` fixed."""
    if tree.leaf_hash(index) != MerkleTree.from_leaves([leaf]).root:
        raise ValueError(f"The leaf bytes are not leaf {index} of this tree.")
    if anchor.root != tree.root or anchor.leaf_count != tree.size:
        raise ValueError("The anchor does not hold this tree's root and size.")
    return {
        "format": PROOF_FORMAT,
        "subject": subject or {},
        "leaf": leaf.hex(),
        "leaf_hash": tree.leaf_hash(index).hex(),
        "leaf_index": index,
        "tree_size": tree.size,
        "audit_path": [h.hex() for h in tree.inclusion_proof(index)],
        "root": tree.root.hex(),
        "anchor": {
            "chain": "bitcoin-regtest",
            "kind": anchor.kind,
            "label": anchor.label,
            "height": anchor.height,
            "block_hash": anchor.block_hash,
            "block_header": anchor.header.hex(),
            "txid": anchor.txid,
            "transaction": anchor.raw_tx.hex(),
            "tx_index": anchor.tx_index,
            "tx_merkle_branch": [h.hex() for h in anchor.tx_branch],
        },
    }
