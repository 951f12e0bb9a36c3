"""The anchor chain: where closed days' Merkle roots are fixed, in Bitcoin's format.

``AnchorChain`` is the interface the rest of clearing uses. ``EmbeddedChain`` implements it
inside our database as a real Bitcoin *regtest* chain:

* height 0 is Bitcoin's regtest genesis block (python-bitcoinlib ships it);
* every anchor is one block with a real 80-byte header — version, previous block hash,
  merkle root of its transactions, time, regtest ``bits`` 0x207fffff, and a nonce found by
  actual proof of work (about two hashes on average at regtest difficulty);
* its only transaction is a coinbase whose scriptSig starts with the height (BIP 34) and
  whose one output is ``OP_RETURN <payload>`` with the payload below (at most 80 bytes,
  Bitcoin Core's standard ``-datacarriersize``).

Anchor payload, 42 + len(label) bytes::

    "FSBX"        4 bytes   tag
    version       1 byte    0x01
    kind          1 byte    b"D" a day's close, b"T" a large inter-node transaction,
                            b"C" a test clock's close (a tenant's simulated day)
    root         32 bytes   RFC 9162 Merkle root (or the record's digest for b"T")
    leaf count    4 bytes   big-endian
    label      <= 38 bytes  ASCII: "2025-01-31" for b"D"; for b"C" the clock's day and
                            the close's id, "2025-01-31/17"

Replacing it with Bitcoin Core (regtest or testnet, over JSON-RPC) means one more
``AnchorChain`` subclass and nothing else: ``append`` builds a transaction with the same
OP_RETURN output (``createrawtransaction`` with a ``data`` output, then
``fundrawtransaction`` / ``signrawtransactionwithwallet`` / ``sendrawtransaction``), waits
for it to be mined (``generatetoaddress 1`` on regtest), and returns an ``Anchor`` filled
from ``getrawtransaction`` (``raw_tx``), ``getblockheader <hash> false`` (``header``) and
``gettxoutproof`` (``tx_index`` and ``tx_branch``); ``raw_block`` is ``getblock <hash> 0``.
The anchor transaction is then an ordinary transaction, not the coinbase, which is why an
``Anchor`` carries a merkle branch: proofs, ``.ots`` files and the offline verifier already
handle any position in any block. The local ``AnchorBlock`` table would remain as the index
from day to block.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import bitcoin.core
from bitcoin.core import CBlock as _CBlock
from bitcoin.core import CoreRegTestParams as _CoreRegTestParams
from bitcoin.core import (
    COutPoint,
    CTransaction,
    CTxIn,
    CTxOut,
    ValidationError,
    b2lx,
    lx,
)
from bitcoin.core.script import OP_RETURN, CScript, CScriptInvalidError
from bitcoin.core.scripteval import SCRIPT_VERIFY_P2SH, VerifyScript, VerifyScriptError
from bitcoin.core.serialize import uint256_from_compact
from django.db import IntegrityError, transaction

from clearing.models import AnchorBlock, MempoolTransaction

TAG = b"FSBX"
PAYLOAD_VERSION = 1
MAX_PAYLOAD = 80
MAX_LABEL = 38
REGTEST_BITS = 0x207FFFFF
REGTEST_TARGET = uint256_from_compact(REGTEST_BITS)
BLOCK_VERSION = 0x20000000  # BIP 9 "version bits" with no deployment signalled
TX_VERSION = 2
# Bitcoin Core rejects headers more than two hours ahead of its clock.
MAX_FUTURE_DRIFT = 2 * 60 * 60

KIND_CODES: dict[str, bytes] = {
    AnchorBlock.Kind.DAY: b"D",
    AnchorBlock.Kind.TRANSACTION: b"T",
    AnchorBlock.Kind.CLOCK: b"C",
}
KIND_BY_CODE = {code: kind for kind, code in KIND_CODES.items()}

GENESIS_BLOCK: _CBlock = _CoreRegTestParams.GENESIS_BLOCK
GENESIS_LABEL = "bitcoin regtest genesis"


class ChainError(Exception):
    """Something the chain refuses: a payload too big, a conflicting anchor."""


# --- Payload --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    kind: str
    root: bytes
    leaf_count: int
    label: str

    def encode(self) -> bytes:
        if self.kind not in KIND_CODES:
            raise ChainError(f"Cannot anchor kind {self.kind!r}.")
        if len(self.root) != 32:
            raise ChainError("An anchored root is 32 bytes.")
        if not 0 <= self.leaf_count < 2**32:
            raise ChainError("The leaf count does not fit in 4 bytes.")
        label = self.label.encode("ascii")
        data = (
            TAG
            + bytes([PAYLOAD_VERSION])
            + KIND_CODES[self.kind]
            + self.root
            + self.leaf_count.to_bytes(4, "big")
            + label
        )
        if len(label) > MAX_LABEL or len(data) > MAX_PAYLOAD:
            raise ChainError(f"OP_RETURN payload of {len(data)} bytes exceeds {MAX_PAYLOAD}.")
        return data

    @classmethod
    def decode(cls, data: bytes) -> Payload:
        if len(data) > MAX_PAYLOAD:
            raise ChainError(f"OP_RETURN payload of {len(data)} bytes exceeds {MAX_PAYLOAD}.")
        if len(data) < 42 or data[:4] != TAG or data[4] != PAYLOAD_VERSION:
            raise ChainError("Not an FSBX anchor payload.")
        kind = KIND_BY_CODE.get(data[5:6])
        if kind is None:
            raise ChainError(f"Unknown anchor kind {data[5:6]!r}.")
        try:
            label = data[42:].decode("ascii")
        except UnicodeDecodeError:
            raise ChainError("The anchor label is not ASCII.") from None
        return cls(kind, data[6:38], int.from_bytes(data[38:42], "big"), label)


def op_return_payloads(tx: CTransaction) -> list[bytes]:
    """The data pushed by each ``OP_RETURN <data>`` output of ``tx``."""
    found = []
    for out in tx.vout:
        script = out.scriptPubKey
        if len(script) and script[0] == OP_RETURN:
            try:
                ops = list(script)
            except CScriptInvalidError:
                continue
            if len(ops) == 2 and isinstance(ops[1], bytes):
                found.append(ops[1])
    return found


# --- Anchors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """Where a root was fixed: enough to prove it offline (see ``clearing.proofs``)."""

    height: int
    block_hash: str  # hex, display (reversed) order, as Bitcoin Core prints it
    prev_hash: str
    kind: str
    label: str
    root: bytes
    leaf_count: int
    time: int  # the header's nTime, seconds since the epoch
    header: bytes  # the 80 bytes
    raw_tx: bytes  # the anchoring transaction, serialized without witness
    tx_index: int  # its position in the block
    tx_branch: tuple[bytes, ...]  # sibling hashes from the txid up to the header's merkle root

    @property
    def txid(self) -> str:
        return b2lx(dsha256(self.raw_tx))


def dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def merkle_branch(txids: Sequence[bytes], index: int) -> list[bytes]:
    """Bitcoin's merkle branch for ``txids[index]`` (internal byte order), bottom up.

    Bitcoin pairs an odd level's last hash with itself, so its sibling is itself."""
    branch: list[bytes] = []
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        branch.append(level[index ^ 1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return branch


def root_from_branch(txid: bytes, index: int, branch: Sequence[bytes]) -> bytes:
    node = txid
    for sibling in branch:
        node = dsha256(sibling + node) if index & 1 else dsha256(node + sibling)
        index //= 2
    return node


def anchor_from_block(block: _CBlock, height: int, tx_index: int | None = None) -> Anchor:
    """The ``Anchor`` for the FSBX payload in ``block`` (the genesis has none)."""
    txs = list(block.vtx)
    if tx_index is None:
        tx_index = next((i for i, tx in enumerate(txs) if anchor_payload(tx)), 0)
    tx = txs[tx_index]
    payload = anchor_payload(tx)
    header = block.get_header().serialize()
    return Anchor(
        height=height,
        block_hash=b2lx(block.GetHash()),
        prev_hash=b2lx(block.hashPrevBlock),
        kind=payload.kind if payload else AnchorBlock.Kind.GENESIS,
        label=payload.label if payload else GENESIS_LABEL,
        root=payload.root if payload else b"",
        leaf_count=payload.leaf_count if payload else 0,
        time=block.nTime,
        header=header,
        raw_tx=tx.serialize({"include_witness": False}),
        tx_index=tx_index,
        tx_branch=tuple(merkle_branch([t.GetTxid() for t in txs], tx_index)),
    )


def anchor_payload(tx: CTransaction) -> Payload | None:
    for data in op_return_payloads(tx):
        try:
            return Payload.decode(data)
        except ChainError:
            continue
    return None


# --- Building blocks --------------------------------------------------------------------------


def coinbase_for(height: int, payload: bytes, payout: Sequence[CTxOut] = ()) -> CTransaction:
    """A coinbase that carries ``payload`` in its first output, OP_RETURN, and pays nothing
    else unless ``payout`` outputs are given (a block mined to fund the FX desk)."""
    if len(payload) > MAX_PAYLOAD:
        raise ChainError(f"OP_RETURN payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}.")
    script_sig = CScript([height, TAG])  # BIP 34: the height first
    return CTransaction(
        [CTxIn(COutPoint(), script_sig, 0xFFFFFFFF)],
        [CTxOut(0, CScript([OP_RETURN, payload])), *payout],
        nLockTime=0,
        nVersion=TX_VERSION,
    )


def block_subsidy(height: int) -> int:
    """Regtest's block reward in satoshis: 50 BTC, halved every 150 blocks."""
    halvings = height // 150
    return 0 if halvings >= 64 else (50 * 100_000_000) >> halvings


def mine(*, prev_hash: bytes, merkle_root: bytes, time: int, bits: int = REGTEST_BITS) -> int:
    """Find a nonce whose header hash meets ``bits``: real proof of work, regtest-easy."""
    target = uint256_from_compact(bits)
    prefix = struct.pack("<i32s32sII", BLOCK_VERSION, prev_hash, merkle_root, time, bits)
    sha256 = hashlib.sha256
    for nonce in range(2**32):
        digest = sha256(sha256(prefix + struct.pack("<I", nonce)).digest()).digest()
        if int.from_bytes(digest, "little") <= target:
            return nonce
    raise ChainError("No nonce meets the target at this time; try another timestamp.")


def build_block(
    *,
    height: int,
    prev_hash: bytes,
    prev_time: int,
    payload: bytes,
    txs: Sequence[CTransaction] = (),
    payout: Sequence[CTxOut] = (),
) -> _CBlock:
    """The next block: its coinbase (the anchor payload, and ``payout`` if any) followed by
    ``txs``, the signed transactions taken from the mempool, in order."""
    coinbase = coinbase_for(height, payload, payout)
    vtx = [coinbase, *txs]
    merkle_root = _CBlock(vtx=vtx).calc_merkle_root()
    # Strictly after the previous block keeps the median-time-past rule satisfied.
    # Real time, not the platform clock operators can move: Bitcoin rejects headers more
    # than two hours ahead of real time, and a block's time is a physical fact.
    now = int(time.time())
    block_time = max(now, prev_time + 1)
    nonce = mine(prev_hash=prev_hash, merkle_root=merkle_root, time=block_time)
    return _CBlock(
        nVersion=BLOCK_VERSION,
        hashPrevBlock=prev_hash,
        hashMerkleRoot=merkle_root,
        nTime=block_time,
        nBits=REGTEST_BITS,
        nNonce=nonce,
        vtx=vtx,
    )


# --- Checking blocks --------------------------------------------------------------------------

_params_lock = threading.Lock()


@contextmanager
def regtest_params() -> Iterator[None]:
    """python-bitcoinlib checks against one process-wide set of chain parameters; swap in
    regtest's only while we check, so nobody else's mainnet/testnet use is disturbed."""
    with _params_lock:
        saved = bitcoin.core.coreparams
        bitcoin.core.coreparams = _CoreRegTestParams()
        try:
            yield
        finally:
            bitcoin.core.coreparams = saved


def check_block(block: _CBlock, *, cur_time: int | None = None) -> None:
    """python-bitcoinlib's ``CheckBlock`` under regtest rules (proof of work against the
    header's bits, merkle root, coinbase shape, sizes). Raises ``ValidationError``."""
    with regtest_params():
        bitcoin.core.CheckBlock(block, cur_time=cur_time)


@dataclass(frozen=True)
class ChainProblem:
    height: int
    message: str

    def __str__(self) -> str:
        return f"block {self.height}: {self.message}"


def coinbase_height(tx: CTransaction) -> int | None:
    """The height a coinbase's scriptSig starts with (BIP 34), read from the raw script."""
    script = bytes(tx.vin[0].scriptSig) if tx.vin else b""
    if not script:
        return None
    op = script[0]
    if op == 0x00:
        return 0
    if 0x51 <= op <= 0x60:  # OP_1 .. OP_16
        return op - 0x50
    if 0x01 <= op <= 0x08 and len(script) > op:  # a push of the little-endian number
        return int.from_bytes(script[1 : 1 + op], "little")
    return None


def verify_raw_blocks(raw_blocks: Sequence[bytes], *, now: int | None = None) -> list[ChainProblem]:
    """Check a whole chain from its raw blocks, in height order: regtest genesis first,
    every block valid by ``CheckBlock``, linked to the one before, proof of work at the
    regtest target, BIP 34 height, times increasing, exactly one FSBX payload, and every
    payment transaction spending real, unspent outputs with valid signatures."""
    problems: list[ChainProblem] = []
    now = int(time.time()) if now is None else now
    prev: _CBlock | None = None
    coins: Coins = {}
    for height, raw in enumerate(raw_blocks):
        try:
            block = _CBlock.deserialize(raw)
        except Exception as exc:  # any malformed bytes
            problems.append(ChainProblem(height, f"cannot be parsed ({exc})"))
            prev = None
            continue
        if block.serialize() != raw:
            problems.append(ChainProblem(height, "has trailing or non-canonical bytes"))
        if height == 0:
            if block.GetHash() != GENESIS_BLOCK.GetHash():
                problems.append(ChainProblem(0, "is not Bitcoin's regtest genesis block"))
            prev = block
            continue
        try:
            check_block(block, cur_time=now)
        except ValidationError as exc:
            problems.append(ChainProblem(height, f"fails CheckBlock: {exc}"))
        if block.nBits != REGTEST_BITS:
            problems.append(ChainProblem(height, f"has bits {block.nBits:#x}, not regtest's"))
        if prev is not None:
            if block.hashPrevBlock != prev.GetHash():
                problems.append(ChainProblem(height, "does not link to the block before it"))
            if block.nTime <= prev.nTime:
                problems.append(ChainProblem(height, "is not later than the block before it"))
        if coinbase_height(block.vtx[0]) != height:
            problems.append(ChainProblem(height, "coinbase does not commit to its height"))
        payloads = [p for tx in block.vtx if (p := anchor_payload(tx)) is not None]
        if len(payloads) != 1:
            problems.append(ChainProblem(height, f"carries {len(payloads)} FSBX payloads, not 1"))
        problems += _check_spends(block, height, coins)
        prev = block
    return problems


Coins = dict[tuple[bytes, int], CTxOut]


def _check_spends(block: _CBlock, height: int, coins: Coins) -> list[ChainProblem]:
    """The contextual rules CheckBlock leaves out, for the chain's payment transactions:
    every input spends an unspent output of an earlier transaction, its script verifies
    (python-bitcoinlib's ``VerifyScript``, P2SH rules), no transaction creates money, and
    the coinbase claims at most the subsidy plus the fees. ``coins`` (the unspent outputs
    so far) is updated in place."""
    problems: list[ChainProblem] = []
    fees = 0
    for index, tx in enumerate(block.vtx):
        txid = tx.GetTxid()
        if index:
            value_in = 0
            for i, txin in enumerate(tx.vin):
                spent = coins.pop((txin.prevout.hash, txin.prevout.n), None)
                if spent is None:
                    problems.append(
                        ChainProblem(height, f"tx {b2lx(txid)} spends a missing or spent output")
                    )
                    continue
                value_in += spent.nValue
                try:
                    VerifyScript(txin.scriptSig, spent.scriptPubKey, tx, i, (SCRIPT_VERIFY_P2SH,))
                except VerifyScriptError as exc:
                    problems.append(
                        ChainProblem(height, f"tx {b2lx(txid)} input {i} fails its script: {exc}")
                    )
            value_out = sum(out.nValue for out in tx.vout)
            if value_out > value_in:
                problems.append(ChainProblem(height, f"tx {b2lx(txid)} spends more than it has"))
            fees += max(value_in - value_out, 0)
        for n, out in enumerate(tx.vout):
            if out.nValue and not (len(out.scriptPubKey) and out.scriptPubKey[0] == OP_RETURN):
                coins[(txid, n)] = out
    claimed = sum(out.nValue for out in block.vtx[0].vout) if block.vtx else 0
    if claimed > block_subsidy(height) + fees:
        problems.append(ChainProblem(height, "coinbase claims more than the subsidy and fees"))
    return problems


# --- The interface ----------------------------------------------------------------------------


class AnchorChain(ABC):
    """Where roots are anchored. Blocks are numbered from 0 (the genesis)."""

    @abstractmethod
    def append(
        self,
        *,
        kind: str,
        label: str,
        root: bytes,
        leaf_count: int,
        payout: Sequence[CTxOut] = (),
    ) -> Anchor:
        """Anchor ``root`` under (``kind``, ``label``) and return where it landed. The block
        also mines every transaction waiting in the mempool; ``payout`` adds outputs to its
        coinbase (the block reward, for whoever mined it).

        Idempotent: anchoring the same root under the same label again returns the first
        anchor; a different root under a used label raises ``ChainError``."""

    @abstractmethod
    def find(self, *, kind: str, label: str) -> Anchor | None:
        """The anchor stored under (``kind``, ``label``), if any."""

    @abstractmethod
    def get(self, height: int) -> Anchor:
        """The anchor at ``height``; ``KeyError`` if there is none."""

    @abstractmethod
    def raw_block(self, height: int) -> bytes:
        """The serialized block at ``height``."""

    @abstractmethod
    def height(self) -> int:
        """The height of the tip."""

    def header(self, height: int) -> bytes:
        return self.get(height).header

    def blocks(self, start: int = 0) -> Iterator[bytes]:
        for height in range(start, self.height() + 1):
            yield self.raw_block(height)

    def verify(self) -> list[ChainProblem]:
        return verify_raw_blocks(list(self.blocks()))


class EmbeddedChain(AnchorChain):
    """The regtest chain kept in ``AnchorBlock`` rows (see the module docstring)."""

    def _ensure_genesis(self) -> AnchorBlock:
        genesis = AnchorBlock.objects.filter(height=0).first()
        if genesis is not None:
            return genesis
        try:
            with transaction.atomic():
                return AnchorBlock.objects.create(**_row_fields(GENESIS_BLOCK, 0, prev=None))
        except IntegrityError:  # created concurrently
            return AnchorBlock.objects.get(height=0)

    def append(
        self,
        *,
        kind: str,
        label: str,
        root: bytes,
        leaf_count: int,
        payout: Sequence[CTxOut] = (),
    ) -> Anchor:
        payload = Payload(kind, root, leaf_count, label).encode()
        self._ensure_genesis()
        for _attempt in range(8):
            existing = self.find(kind=kind, label=label)
            if existing is not None:
                if existing.root != root or existing.leaf_count != leaf_count:
                    raise ChainError(
                        f"{kind} {label} is already anchored with another root "
                        f"({existing.root.hex()}) at height {existing.height}."
                    )
                return existing
            try:
                with transaction.atomic():
                    tip = AnchorBlock.objects.select_for_update().order_by("-height").first()
                    assert tip is not None  # the genesis exists
                    # The mempool's waiting transactions, locked after the tip (one order).
                    waiting = list(
                        MempoolTransaction.objects.select_for_update()
                        .filter(block__isnull=True)
                        .order_by("id")
                    )
                    block = build_block(
                        height=tip.height + 1,
                        prev_hash=lx(tip.block_hash),
                        prev_time=int(tip.block_time.timestamp()),
                        payload=payload,
                        txs=[CTransaction.deserialize(bytes(w.raw)) for w in waiting],
                        payout=payout,
                    )
                    check_block(block)
                    row = AnchorBlock.objects.create(**_row_fields(block, tip.height + 1, prev=tip))
                    for position, mined in enumerate(waiting, start=1):
                        mined.block = row
                        mined.position = position
                    MempoolTransaction.objects.bulk_update(waiting, ["block", "position"])
                return _anchor_from_row(row)
            except IntegrityError:
                # Another writer took this height (or this label) first: look again.
                continue
        raise ChainError("Could not append to the anchor chain: too much contention.")

    def find(self, *, kind: str, label: str) -> Anchor | None:
        row = AnchorBlock.objects.filter(kind=kind, label=label).first()
        return _anchor_from_row(row) if row is not None else None

    def get(self, height: int) -> Anchor:
        if height == 0:
            return _anchor_from_row(self._ensure_genesis())
        row = AnchorBlock.objects.filter(height=height).first()
        if row is None:
            raise KeyError(height)
        return _anchor_from_row(row)

    def raw_block(self, height: int) -> bytes:
        if height == 0:
            self._ensure_genesis()
        raw = AnchorBlock.objects.filter(height=height).values_list("raw", flat=True).first()
        if raw is None:
            raise KeyError(height)
        return bytes(raw)

    def height(self) -> int:
        self._ensure_genesis()
        return AnchorBlock.objects.order_by("-height").values_list("height", flat=True)[0]

    def blocks(self, start: int = 0) -> Iterator[bytes]:
        self._ensure_genesis()
        rows = AnchorBlock.objects.filter(height__gte=start).order_by("height")
        for raw in rows.values_list("raw", flat=True).iterator(chunk_size=500):
            yield bytes(raw)

    def verify(self) -> list[ChainProblem]:
        """The raw chain's own checks, then every derived column against its block."""
        rows = list(AnchorBlock.objects.order_by("height"))
        problems: list[ChainProblem] = []
        for expected, row in enumerate(rows):
            if row.height != expected:
                problems.append(ChainProblem(expected, "is missing"))
                break
        problems += verify_raw_blocks([bytes(row.raw) for row in rows])
        for row in rows:
            try:
                block = _CBlock.deserialize(bytes(row.raw))
            except Exception:
                continue  # already reported
            fields = _row_fields(block, row.height, prev=None)
            for name in ("block_hash", "kind", "label", "root", "leaf_count", "txid", "block_time"):
                if getattr(row, name) != fields[name]:
                    problems.append(
                        ChainProblem(row.height, f"column {name} disagrees with the block")
                    )
            if row.height and row.prev_id != b2lx(block.hashPrevBlock):
                problems.append(
                    ChainProblem(row.height, "column prev_hash disagrees with the block")
                )
        return problems


def _row_fields(block: _CBlock, height: int, *, prev: AnchorBlock | None) -> dict:
    anchor = anchor_from_block(block, height)
    return {
        "height": height,
        "block_hash": anchor.block_hash,
        "prev": prev,
        "kind": anchor.kind,
        "label": anchor.label,
        "root": anchor.root.hex(),
        "leaf_count": anchor.leaf_count,
        "txid": anchor.txid,
        "block_time": datetime.fromtimestamp(anchor.time, tz=UTC),
        "raw": block.serialize(),
    }


def _anchor_from_row(row: AnchorBlock) -> Anchor:
    return anchor_from_block(_CBlock.deserialize(bytes(row.raw)), row.height)


# --- The mempool -----------------------------------------------------------------------------


def mempool_add(tx: CTransaction) -> str:
    """Queue a signed transaction for the next block of the embedded chain; the same
    transaction again is a no-op. Returns its txid. The caller checks the transaction
    (``clearing.remittance.bitcoin`` signs and verifies it); the chain's verification checks
    it again once mined."""
    txid = b2lx(tx.GetTxid())
    MempoolTransaction.objects.get_or_create(txid=txid, defaults={"raw": tx.serialize()})
    return txid


@dataclass(frozen=True)
class MinedTransaction:
    """Where a payment transaction was mined: enough to prove it offline."""

    txid: str
    height: int
    block_hash: str
    header: bytes
    raw_tx: bytes
    tx_index: int
    tx_branch: tuple[bytes, ...]


def mined_transaction(txid: str) -> MinedTransaction | None:
    """The block and Merkle branch of a mined mempool transaction; None while it waits."""
    row = MempoolTransaction.objects.filter(txid=txid, block__isnull=False).first()
    if row is None or row.block is None or row.position is None:
        return None
    block = _CBlock.deserialize(bytes(row.block.raw))
    txids = [t.GetTxid() for t in block.vtx]
    return MinedTransaction(
        txid=txid,
        height=row.block.height,
        block_hash=b2lx(block.GetHash()),
        header=block.get_header().serialize(),
        raw_tx=block.vtx[row.position].serialize(),
        tx_index=row.position,
        tx_branch=tuple(merkle_branch(txids, row.position)),
    )


def get_chain() -> AnchorChain:
    """The chain in use. One place to switch to a Bitcoin Core backend later."""
    return EmbeddedChain()
