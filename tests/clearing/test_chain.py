"""The embedded anchor chain: real regtest blocks that other Bitcoin libraries accept."""

from __future__ import annotations

import hashlib
import struct

import pytest
from bitcoin.core import CBlock, CMutableTransaction, ValidationError, b2lx
from bitcoin.core.script import OP_RETURN, CScript
from bitcoinutils.block import Block as UtilsBlock
from django.db import IntegrityError, transaction

from clearing.chain import (
    GENESIS_BLOCK,
    MAX_PAYLOAD,
    REGTEST_BITS,
    REGTEST_TARGET,
    ChainError,
    EmbeddedChain,
    Payload,
    build_block,
    check_block,
    coinbase_height,
    merkle_branch,
    mine,
    op_return_payloads,
    root_from_branch,
    verify_raw_blocks,
)
from clearing.models import AnchorBlock
from tests.helpers import run_in_threads

pytestmark = pytest.mark.django_db

REGTEST_GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
REGTEST_MAGIC = bytes.fromhex("fabfb5da")


def root(n: int) -> bytes:
    return hashlib.sha256(f"root {n}".encode()).digest()


@pytest.fixture
def chain() -> EmbeddedChain:
    return EmbeddedChain()


@pytest.fixture
def three_days(chain):
    return [
        chain.append(kind="day", label=f"2025-01-0{n}", root=root(n), leaf_count=n * 10)
        for n in (1, 2, 3)
    ]


def test_it_starts_from_bitcoins_regtest_genesis(chain):
    assert chain.height() == 0
    genesis = chain.get(0)
    assert genesis.block_hash == REGTEST_GENESIS_HASH
    assert genesis.kind == "genesis"
    assert chain.raw_block(0) == GENESIS_BLOCK.serialize()


def test_it_appends_blocks_that_pass_checkblock_and_link_up(chain, three_days):
    assert chain.height() == 3
    previous = REGTEST_GENESIS_HASH
    for height, anchor in enumerate(three_days, start=1):
        raw = chain.raw_block(height)
        block = CBlock.deserialize(raw)
        check_block(block)  # python-bitcoinlib's CheckBlock under regtest rules
        assert len(anchor.header) == 80
        assert block.get_header().serialize() == raw[:80] == anchor.header
        assert b2lx(block.hashPrevBlock) == previous == anchor.prev_hash
        assert block.nBits == REGTEST_BITS == 0x207FFFFF
        assert int.from_bytes(block.GetHash(), "little") <= REGTEST_TARGET
        assert block.hashMerkleRoot == block.calc_merkle_root()
        assert coinbase_height(block.vtx[0]) == height
        (payload,) = op_return_payloads(block.vtx[0])
        assert len(payload) <= MAX_PAYLOAD
        assert payload[:4] == b"FSBX" and payload[6:38] == root(height)
        assert anchor.root == root(height) and anchor.leaf_count == height * 10
        previous = anchor.block_hash
    assert chain.verify() == []


def test_every_block_parses_with_bitcoin_utils(chain, three_days):
    for height in range(chain.height() + 1):
        raw = chain.raw_block(height)
        # bitcoin-utils reads blocks as Bitcoin Core stores them in blk*.dat files.
        parsed = UtilsBlock.from_raw(REGTEST_MAGIC + struct.pack("<I", len(raw)) + raw)
        assert parsed.get_magic_bytes() == ("fabfb5da", "regtest")
        header = parsed.get_block_header()
        assert header.get_block_hash() == chain.get(height).block_hash
        assert header.get_target_bits() == REGTEST_BITS
        assert parsed.get_transactions_count() == 1
        assert parsed.get_transactions()[0].get_txid() == chain.get(height).txid
        if height:
            # bitcoin-utils answers these in hex, display order.
            assert header.get_previous_block_hash() == chain.get(height - 1).block_hash
            assert header.get_merkle_root() == chain.get(height).txid


def test_it_anchors_a_label_once(chain):
    first = chain.append(kind="day", label="2025-02-01", root=root(1), leaf_count=1)
    again = chain.append(kind="day", label="2025-02-01", root=root(1), leaf_count=1)
    assert again == first
    assert chain.height() == 1
    with pytest.raises(ChainError, match="already anchored"):
        chain.append(kind="day", label="2025-02-01", root=root(2), leaf_count=1)
    assert AnchorBlock.objects.count() == 2


def test_it_refuses_payloads_over_80_bytes(chain):
    with pytest.raises(ChainError):
        chain.append(kind="day", label="x" * 39, root=root(1), leaf_count=1)
    assert len(Payload("day", root(1), 1, "x" * 38).encode()) == MAX_PAYLOAD
    with pytest.raises(ChainError):
        Payload.decode(b"FSBX" + bytes(77))
    with pytest.raises(ChainError):
        Payload("day", b"short", 1, "2025-01-01").encode()


def test_it_mines_real_proof_of_work():
    prev, merkle = bytes(32), hashlib.sha256(b"m").digest()
    # An easy but not trivial target: one hash in 2^12 qualifies.
    bits = 0x1F0FFFFF
    nonce = mine(prev_hash=prev, merkle_root=merkle, time=1_700_000_000, bits=bits)
    header = struct.pack("<i32s32sIII", 0x20000000, prev, merkle, 1_700_000_000, bits, nonce)
    digest = hashlib.sha256(hashlib.sha256(header).digest()).digest()
    assert int.from_bytes(digest, "little") <= 0x0FFFFF << (8 * (0x1F - 3))


# --- Tampering ------------------------------------------------------------------------------


def raw_chain(chain) -> list[bytes]:
    return list(chain.blocks())


def test_verification_catches_a_changed_root(chain, three_days):
    blocks = raw_chain(chain)
    block = CBlock.deserialize(blocks[2])
    tampered_tx = CMutableTransaction.from_tx(block.vtx[0])
    script = CScript([OP_RETURN, Payload("day", root(99), 20, "2025-01-02").encode()])
    tampered_tx.vout[0].scriptPubKey = script
    # Same header (committing to the old root), one transaction with another root.
    forged = blocks[2][:80] + b"\x01" + tampered_tx.serialize()
    blocks[2] = forged
    problems = verify_raw_blocks(blocks)
    assert [p.height for p in problems] == [2]
    assert "CheckBlock" in problems[0].message


def test_verification_catches_a_reforged_block_by_the_broken_link(chain, three_days):
    blocks = raw_chain(chain)
    old = CBlock.deserialize(blocks[2])
    prev = CBlock.deserialize(blocks[1])
    payload = Payload("day", root(99), 20, "2025-01-02").encode()
    # The forger re-mines block 2 properly; block 3 still points at the original.
    forged = build_block(height=2, prev_hash=prev.GetHash(), prev_time=prev.nTime, payload=payload)
    assert forged.GetHash() != old.GetHash()
    blocks[2] = forged.serialize()
    problems = verify_raw_blocks(blocks)
    assert [(p.height, p.message) for p in problems] == [
        (3, "does not link to the block before it")
    ]


def test_verification_catches_removed_and_reordered_blocks(chain, three_days):
    blocks = raw_chain(chain)
    assert verify_raw_blocks(blocks[:2] + blocks[3:])  # block 2 removed
    assert verify_raw_blocks([blocks[0], blocks[2], blocks[1], blocks[3]])
    assert verify_raw_blocks(blocks[1:])  # no genesis


def test_verification_catches_a_block_without_work(chain, three_days):
    blocks = raw_chain(chain)
    block = CBlock.deserialize(blocks[1])
    for nonce in range(1000):  # find a nonce that does NOT meet the target
        candidate = CBlock(
            nVersion=block.nVersion,
            hashPrevBlock=block.hashPrevBlock,
            hashMerkleRoot=block.hashMerkleRoot,
            nTime=block.nTime,
            nBits=block.nBits,
            nNonce=nonce,
            vtx=list(block.vtx),
        )
        if int.from_bytes(candidate.GetHash(), "little") > REGTEST_TARGET:
            break
    with pytest.raises(ValidationError, match="hash doesn't match nBits"):
        check_block(candidate)
    problems = verify_raw_blocks([blocks[0], candidate.serialize()])
    assert any("hash doesn't match nBits" in p.message for p in problems)


def test_the_database_keeps_blocks_append_only(chain, three_days):
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        AnchorBlock.objects.filter(height=2).update(label="2099-01-01")
    assert AnchorBlock.objects.get(height=2).label == "2025-01-02"


def test_the_database_refuses_a_fork(chain, three_days):
    genesis = AnchorBlock.objects.get(height=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        AnchorBlock.objects.create(
            height=9,
            block_hash="ab" * 32,
            prev=genesis,  # block 1 already follows the genesis
            kind="day",
            label="fork",
            txid="cd" * 32,
            block_time=genesis.block_time,
            raw=b"",
        )


def test_verify_reports_columns_that_disagree_with_their_block(chain, three_days):
    tip = AnchorBlock.objects.get(height=3)
    block = build_block(
        height=4,
        prev_hash=bytes.fromhex(tip.block_hash)[::-1],
        prev_time=int(tip.block_time.timestamp()),
        payload=Payload("day", root(4), 4, "2025-01-04").encode(),
    )
    AnchorBlock.objects.create(
        height=4,
        block_hash=b2lx(block.GetHash()),
        prev=tip,
        kind="day",
        label="2025-01-05",  # the block says 2025-01-04
        root=root(4).hex(),
        leaf_count=4,
        txid=b2lx(block.vtx[0].GetTxid()),
        block_time=tip.block_time,
        raw=block.serialize(),
    )
    messages = [str(p) for p in chain.verify()]
    assert "block 4: column label disagrees with the block" in messages
    assert "block 4: column block_time disagrees with the block" in messages


def test_bitcoin_merkle_branches_match_python_bitcoinlib():
    for count in range(1, 12):
        txids = [hashlib.sha256(bytes([i])).digest() for i in range(count)]
        expected = CBlock.build_merkle_tree_from_txids(txids)[-1]
        for index in range(count):
            branch = merkle_branch(txids, index)
            assert root_from_branch(txids[index], index, branch) == expected


# --- Concurrency ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_make_one_straight_chain():
    EmbeddedChain().height()  # the genesis, before the race
    results = run_in_threads(
        lambda i: EmbeddedChain().append(
            kind="transaction", label=f"tx-{i}", root=root(i), leaf_count=1
        ),
        4,
    )
    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.height for r in results) == [1, 2, 3, 4]
    assert EmbeddedChain().verify() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_anchors_of_one_day_make_one_block():
    results = run_in_threads(
        lambda i: EmbeddedChain().append(
            kind="day", label="2025-03-01", root=root(7), leaf_count=7
        ),
        4,
    )
    assert all(not isinstance(r, Exception) for r in results), results
    assert {r.block_hash for r in results} == {results[0].block_hash}
    assert AnchorBlock.objects.filter(kind="day").count() == 1
