"""Closed days' Merkle trees in the database, in chunks, so that a proof reads about one
chunk per level (about 20 small rows for a day of a million transactions) and never
rebuilds the tree."""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence

from django.db.models import Q

from clearing.merkle import HASH_SIZE, MerkleTree
from clearing.models import DayClose, TreeChunk

CHUNK = 1024  # nodes per chunk: 32 KiB of hashes
ID_LEVEL = -1
_CHUNK_BYTES = CHUNK * HASH_SIZE


def store_tree(close: DayClose, tree: MerkleTree, txn_ids: Sequence[int]) -> None:
    """Replace whatever a previous attempt left for ``close`` with ``tree``'s levels and the
    transaction ids in leaf order. Call inside a transaction."""
    TreeChunk.objects.filter(close=close).delete()
    rows: list[TreeChunk] = []
    for level in range(tree.levels):
        data = tree.level_bytes(level)
        for index, offset in enumerate(range(0, len(data), _CHUNK_BYTES)):
            rows.append(
                TreeChunk(
                    close=close, level=level, index=index, data=data[offset : offset + _CHUNK_BYTES]
                )
            )
    for index, start in enumerate(range(0, len(txn_ids), CHUNK)):
        ids = txn_ids[start : start + CHUNK]
        rows.append(
            TreeChunk(
                close=close,
                level=ID_LEVEL,
                index=index,
                first_id=ids[0],
                data=struct.pack(f">{len(ids)}Q", *ids),
            )
        )
    TreeChunk.objects.bulk_create(rows, batch_size=100)


class _StoredLevel:
    """One level of a stored tree; slices are fetched by chunk and cached."""

    def __init__(self, tree: StoredTree, level: int) -> None:
        self._tree = tree
        self._level = level

    def __getitem__(self, key: slice) -> bytes:
        start = key.start or 0
        chunk = start // _CHUNK_BYTES
        offset = start - chunk * _CHUNK_BYTES
        data = self._tree._chunk(self._level, chunk)
        return data[offset : offset + (key.stop - start)]


class StoredTree(MerkleTree):
    """A closed day's tree, read from ``TreeChunk`` rows on demand."""

    __slots__ = ("_cache", "_close_id")

    def __init__(self, close: DayClose) -> None:
        self._close_id = close.pk
        self._cache: dict[tuple[int, int], bytes] = {}
        super().__init__([_StoredLevel(self, lvl) for lvl in range(close.levels)], close.leaf_count)

    def _chunk(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            self._fetch({key})
        return self._cache[key]

    def _fetch(self, keys: set[tuple[int, int]]) -> None:
        wanted = Q()
        for level, index in keys:
            wanted |= Q(level=level, index=index)
        rows = TreeChunk.objects.filter(wanted, close_id=self._close_id)
        for level, index, data in rows.values_list("level", "index", "data"):
            self._cache[(level, index)] = bytes(data)
        missing = keys - self._cache.keys()
        if missing:
            raise LookupError(
                f"Tree chunks {sorted(missing)} of close {self._close_id} are missing."
            )

    def prefetch_path(self, index: int) -> None:
        """Fetch, in one query, every chunk the inclusion proof of leaf ``index`` reads."""
        keys = {(0, index // CHUNK)}
        width = self.size
        for level in range(self.levels):
            sibling = (index >> level) ^ 1
            if sibling < width:
                keys.add((level, sibling // CHUNK))
            width = (width + 1) // 2
        keys.add((self.levels - 1, 0))
        self._fetch(keys - self._cache.keys())


def leaf_index(close: DayClose, txn_id: int) -> int | None:
    """The leaf index of transaction ``txn_id`` in ``close``'s tree, if it is a leaf."""
    chunk = (
        TreeChunk.objects.filter(close=close, level=ID_LEVEL, first_id__lte=txn_id)
        .order_by("-first_id")
        .values_list("index", "data")
        .first()
    )
    if chunk is None:
        return None
    index, data = chunk
    data = bytes(data)
    ids = struct.unpack(f">{len(data) // 8}Q", data)
    position = bisect.bisect_left(ids, txn_id)
    if position < len(ids) and ids[position] == txn_id:
        return index * CHUNK + position
    return None


def stored_ids(close: DayClose) -> list[int]:
    """Every transaction id of a closed day, in leaf order."""
    ids: list[int] = []
    rows = TreeChunk.objects.filter(close=close, level=ID_LEVEL).order_by("index")
    for data in rows.values_list("data", flat=True).iterator(chunk_size=100):
        data = bytes(data)
        ids.extend(struct.unpack(f">{len(data) // 8}Q", data))
    return ids


def stored_leaf_hashes(close: DayClose) -> bytes:
    """The day's leaf hashes, concatenated."""
    rows = TreeChunk.objects.filter(close=close, level=0).order_by("index")
    return b"".join(bytes(d) for d in rows.values_list("data", flat=True).iterator(chunk_size=100))
