"""Merkle trees as in RFC 9162 §2.1 (the same construction as RFC 6962 §2.1).

For an ordered list of byte strings ``D[0:n]``:

* the empty tree hashes to ``SHA-256()``;
* a leaf hashes to ``SHA-256(0x00 || d)``;
* an inner node hashes to ``SHA-256(0x01 || left || right)``, where the left subtree holds
  the largest power of two of leaves smaller than ``n`` ("MTH" in the RFC).

The tree is built bottom-up, one level at a time: each level pairs neighbours and carries an
odd last node up unchanged. That yields exactly the RFC's tree (node ``j`` of level ``k``
is ``MTH(D[j*2^k : min((j+1)*2^k, n)])``), without recursion and without a Python object
per node: every level is kept as one contiguous ``bytes`` of 32-byte hashes, so a tree of
1,000,000 leaves holds about 64 MB and answers any proof with O(log n) slicing.

Inclusion (audit) paths and consistency proofs follow RFC 9162 §2.1.3.1 and §2.1.4.1, and
their verification follows §2.1.3.2 and §2.1.4.2 step by step. Indices count from zero.
"""

from __future__ import annotations

import gc
import hashlib
import mmap
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Protocol

from sandbox.config import env_choice

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof was asked for something the tree cannot prove (bad index or size)."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an inner node."""
    return _sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): the RFC's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


# The two loops below are the whole cost of building a tree. Each is a list comprehension
# with one concatenation and one hashlib call per hash: measured on CPython 3.11 this beats
# map() pipelines and hashlib's copy(), and leaves no per-node object but the digest.


def _hash_leaves(leaves: Iterable[bytes]) -> list[bytes]:
    sha256 = _sha256
    return [sha256(b"\x00" + d).digest() for d in leaves]


def _hash_level(nodes: list[bytes]) -> list[bytes]:
    """The next level up: neighbours paired, an odd last node carried up unchanged."""
    sha256 = _sha256
    # zip() over one iterator twice yields neighbours without copying the level; with an odd
    # count it stops before the last node.
    it = iter(nodes)
    parents = [sha256(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=False)]
    if len(nodes) & 1:
        parents.append(nodes[-1])
    return parents


# --- Two processes for large trees ----------------------------------------------------------
#
# hashlib holds the GIL for inputs this small, so threads cannot help; a forked process can.
# Node ``j`` of level ``k`` covers ``D[j*2^k : (j+1)*2^k]`` whatever lies right of it, so if
# the leaves are cut at a multiple of ``2^SPLIT_LEVEL``, levels 0..SPLIT_LEVEL of the two
# parts, each built on its own, concatenate into those of the whole tree (an odd node is
# only ever carried at the very end, which belongs to the right part). Above, the few
# remaining levels are built as usual. A child process builds the right part and writes its
# levels into an anonymous shared mapping made before the fork (a pipe cost a third of the
# hashing time in copies and context switches); the root is bit for bit the one-process root.

# Off unless CLEARING_HASH_PROCESSES=2. The child shares the parent's pages copy-on-write,
# and merely reading a leaf writes its reference count: where the leaves lie scattered over
# a large heap (as they do in a close, between the rows they were encoded from), both
# processes fault in copies of the pages they read. For 1,000,000 leaves
# (bench/anchoring.py) its runs spread from 0.69 s to 1.24 s on a quiet machine, and up to
# 2 s on a busy one, against 0.89 to 1.02 s in one process: a gamble, not a default.
TWO_PROCESSES = env_choice("CLEARING_HASH_PROCESSES", ("1", "2"), "1") == "2"
PARALLEL_MIN_LEAVES = 1 << 16  # below this, forking costs more than it saves
SPLIT_LEVEL = 12


def _levels_upto(nodes: list[bytes], top: int) -> list[list[bytes]]:
    """Levels 0..``top`` of the tree whose level 0 is ``nodes`` (a level that is already a
    single node repeats: it is carried up unchanged)."""
    levels = [nodes]
    while len(levels) <= top:
        nodes = _hash_level(nodes) if len(nodes) > 1 else nodes
        levels.append(nodes)
    return levels


def _level_counts(n: int, top: int) -> list[int]:
    """Node counts of levels 0..``top`` of a tree over ``n`` leaves."""
    counts = [n]
    while len(counts) <= top:
        counts.append((counts[-1] + 1) // 2)
    return counts


def _can_fork() -> bool:
    """Fork only a single-threaded process on a machine with more than one core: the child
    of a threaded one (a threaded web server) could inherit a lock another thread held."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and threading.active_count() == 1


def _parallel(items: Sequence[bytes], *, leaves: bool) -> tuple[list[bytes], list[bytes]] | None:
    """Levels 0..SPLIT_LEVEL of the tree over ``items`` (leaf bytes, or leaf hashes), built
    in two processes: the levels below SPLIT_LEVEL as joined bytes, and its nodes. None
    where that is not worth it or not possible."""
    n = len(items)
    if not TWO_PROCESSES or n < PARALLEL_MIN_LEAVES or not _can_fork():
        return None
    unit = 1 << SPLIT_LEVEL
    cut = max(unit, (n // 2 + unit // 2) // unit * unit)
    right_counts = _level_counts(n - cut, SPLIT_LEVEL)
    shared = mmap.mmap(-1, sum(right_counts) * HASH_SIZE)  # MAP_SHARED | MAP_ANONYMOUS

    def levels_of(part: Sequence[bytes]) -> list[list[bytes]]:
        return _levels_upto(_hash_leaves(part) if leaves else list(part), SPLIT_LEVEL)

    pid = os.fork()
    if pid == 0:  # the child: hash the right part into the mapping, and leave at once
        status = 1
        try:
            # No garbage collection: it would touch (and so copy) every page of the parent's
            # heap, and could finalize a database connection the parent still uses.
            gc.disable()
            offset = 0
            for level in levels_of(items[cut:]):
                data = b"".join(level)
                shared[offset : offset + len(data)] = data
                offset += len(data)
            status = 0
        finally:
            os._exit(status)  # no atexit, no finalizers: the parent owns every resource
    try:
        left = levels_of(items[:cut])
    finally:
        _, status = os.waitpid(pid, 0)
    if status != 0:
        shared.close()
        raise RuntimeError(f"Merkle hashing process failed (status {status}).")
    # Levels below the top stay joined bytes; only the top becomes nodes to build on.
    joined: list[bytes] = []
    offset = 0
    for level, count in zip(left, right_counts, strict=True):
        size = count * HASH_SIZE
        level.append(shared[offset : offset + size])
        joined.append(b"".join(level))
        offset += size
    shared.close()
    top = joined.pop()
    return joined, [top[i : i + HASH_SIZE] for i in range(0, len(top), HASH_SIZE)]


class Level(Protocol):
    """A level of a tree: its nodes joined, sliced by byte offsets."""

    def __getitem__(self, key: slice, /) -> bytes: ...


class MerkleTree:
    """An immutable RFC 9162 Merkle tree over a fixed, ordered list of leaves.

    Build it with :meth:`from_leaves` (leaf byte strings) or :meth:`from_leaf_hashes`.
    Besides the root of all leaves, it answers roots, inclusion proofs and consistency
    proofs for any prefix ``D[0:size]``, which is what an append-only log needs.

    ``levels`` (leaves first, root last) only need to support slicing to ``bytes``: a tree
    stored elsewhere (``clearing.storage``) passes objects that fetch slices on demand.
    """

    __slots__ = ("_levels", "size")

    def __init__(self, levels: Sequence[Level], size: int) -> None:
        self._levels = levels
        self.size = size

    def level_bytes(self, level: int) -> bytes:
        """Level ``level``'s nodes, joined (of a tree built in memory)."""
        return self._levels[level][:]

    # --- Construction -------------------------------------------------------------------

    @classmethod
    def from_leaves(cls, leaves: Iterable[bytes]) -> MerkleTree:
        """The tree over ``leaves`` (the raw leaf bytes ``d``, in log order)."""
        leaves = leaves if isinstance(leaves, Sequence) else list(leaves)
        lower = _parallel(leaves, leaves=True)
        if lower is not None:
            return cls._build(lower[1], below=lower[0])
        return cls._build(_hash_leaves(leaves))

    @classmethod
    def from_leaf_hashes(cls, hashes: Iterable[bytes]) -> MerkleTree:
        """The tree over leaves whose hashes ``SHA-256(0x00 || d)`` are already known."""
        nodes = list(hashes)
        for node in nodes:
            if len(node) != HASH_SIZE:
                raise ValueError("Leaf hashes must be 32 bytes long.")
        lower = _parallel(nodes, leaves=False)
        if lower is not None:
            return cls._build(lower[1], below=lower[0])
        return cls._build(nodes)

    @classmethod
    def _build(cls, nodes: list[bytes], below: Sequence[bytes] = ()) -> MerkleTree:
        """The tree from level ``nodes`` up, over the (joined) levels ``below`` it."""
        size = len(below[0]) // HASH_SIZE if below else len(nodes)
        levels = list(below)
        while len(nodes) > 1:
            parents = _hash_level(nodes)
            levels.append(b"".join(nodes))
            nodes = parents
        levels.append(b"".join(nodes))  # the root alone (or nothing for an empty tree)
        return cls(levels, size)

    # --- Reading ------------------------------------------------------------------------

    @property
    def root(self) -> bytes:
        """``MTH(D[0:n])``; the hash of the empty string for an empty tree."""
        return self._levels[-1][:HASH_SIZE] if self.size else EMPTY_ROOT

    @property
    def levels(self) -> int:
        """The number of stored levels (leaves included); 0 for the empty tree."""
        return len(self._levels) if self.size else 0

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise ProofError(f"Leaf index {index} is outside a tree of {self.size} leaves.")
        return self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE]

    def root_at(self, size: int) -> bytes:
        """``MTH(D[0:size])``: the root this log had when it held ``size`` leaves."""
        if not 0 <= size <= self.size:
            raise ProofError(f"Size {size} is outside a tree of {self.size} leaves.")
        return self._subtree(0, size) if size else EMPTY_ROOT

    def _subtree(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])`` for ranges the RFC's recursion visits (``start`` aligned)."""
        width = end - start
        level = (width - 1).bit_length()  # smallest k with 2^k >= width
        index = start >> level
        if index << level == start and end == min(start + (1 << level), self.size):
            # Stored: node ``index`` of that level covers exactly [start, end).
            offset = index * HASH_SIZE
            return self._levels[level][offset : offset + HASH_SIZE]
        k = _split(width)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    # --- Proofs -------------------------------------------------------------------------

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """``PATH(index, D[0:size])`` (RFC 9162 §2.1.3.1), from the leaf's sibling upwards."""
        size = self.size if size is None else size
        if not 0 < size <= self.size:
            raise ProofError(f"Size {size} is outside a tree of {self.size} leaves.")
        if not 0 <= index < size:
            raise ProofError(f"Leaf index {index} is outside a tree of {size} leaves.")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """``PROOF(first, D[0:second])`` (RFC 9162 §2.1.4.1): ``D[0:first]`` is a prefix of
        ``D[0:second]``. Empty when both sizes are equal."""
        second = self.size if second is None else second
        if not 0 < second <= self.size:
            raise ProofError(f"Size {second} is outside a tree of {self.size} leaves.")
        if not 0 < first <= second:
            raise ProofError(f"First size {first} must be between 1 and {second}.")
        proof: list[bytes] = []
        start, end, m, complete = 0, second, first, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start += k
                m -= k
                complete = False
        if not complete:
            proof.append(self._subtree(start, end))
        proof.reverse()
        return proof


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """``MTH`` of ``leaves`` without keeping the levels."""
    nodes = _hash_leaves(leaves)
    if not nodes:
        return EMPTY_ROOT
    while len(nodes) > 1:
        nodes = _hash_level(nodes)
    return nodes[0]


# --- Verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -------------------------------------------


def _shift_to_set_bit(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift both until the lowest bit of ``fn`` is set or ``fn`` is 0."""
    while fn and not fn & 1:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root_from_inclusion_proof(
    leaf: bytes, index: int, size: int, path: Sequence[bytes]
) -> bytes | None:
    """The root that ``path`` leads to from leaf hash ``leaf``; ``None`` if the path cannot
    belong to a tree of ``size`` leaves (too long, too short, index out of range)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                fn, sn = _shift_to_set_bit(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``leaf`` (a leaf *hash*) sits at ``index`` of the tree of ``size`` leaves
    whose root is ``root``."""
    return root_from_inclusion_proof(leaf, index, size, path) == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether the tree of ``first`` leaves with ``first_root`` is a prefix of the tree of
    ``second`` leaves with ``second_root``."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # every tree extends the empty one
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: its root is a node of the proof
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                fn, sn = _shift_to_set_bit(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
