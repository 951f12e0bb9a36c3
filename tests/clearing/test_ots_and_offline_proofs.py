"""OpenTimestamps files per anchor, and the standalone verifier on proofs we produce."""

from __future__ import annotations

import copy
import hashlib

import pytest
from bitcoin.core import (
    CBlock,
    CBlockHeader,
    CMutableTransaction,
    COutPoint,
    CTransaction,
    CTxIn,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    lx,
)
from bitcoin.core.script import OP_RETURN, CScript, CScriptWitness
from opentimestamps.core.notary import BitcoinBlockHeaderAttestation

from clearing import verify_proof
from clearing.chain import (
    EmbeddedChain,
    Payload,
    anchor_from_block,
    coinbase_for,
    mine,
)
from clearing.merkle import MerkleTree
from clearing.ots import OtsError, build_ots, parse_ots, verify_ots
from clearing.proofs import proof_document
from tests.helpers import verify_offline

LEAVES = [f"ledger transaction {i}".encode() * (1 + i % 3) for i in range(13)]


@pytest.fixture
def anchored(db):
    chain = EmbeddedChain()
    chain.append(kind="day", label="2025-01-01", root=hashlib.sha256(b"x").digest(), leaf_count=1)
    tree = MerkleTree.from_leaves(LEAVES)
    anchor = chain.append(kind="day", label="2025-01-02", root=tree.root, leaf_count=tree.size)
    return chain, tree, anchor


# --- OpenTimestamps ---------------------------------------------------------------------------


def test_the_ots_file_attests_the_root_by_the_block_header(anchored):
    chain, tree, anchor = anchored
    data = build_ots(anchor, chain.raw_block(anchor.height))
    detached = parse_ots(data)
    assert detached.file_digest == tree.root
    attestations = list(detached.timestamp.all_attestations())
    assert len(attestations) == 1
    msg, attestation = attestations[0]
    assert isinstance(attestation, BitcoinBlockHeaderAttestation)
    assert attestation.height == anchor.height == 2
    header = CBlockHeader.deserialize(chain.header(anchor.height))
    # opentimestamps' own check: the path ends in the header's merkle root.
    assert attestation.verify_against_blockheader(msg, header) == header.nTime
    result = verify_ots(data, chain.header)
    assert (result.digest, result.height, result.time) == (tree.root, 2, header.nTime)


def test_an_ots_file_fails_against_another_block(anchored):
    chain, _tree, anchor = anchored
    data = build_ots(anchor, chain.raw_block(anchor.height))
    with pytest.raises(OtsError, match="merkleroot"):
        verify_ots(data, lambda height: chain.header(height - 1))
    with pytest.raises(OtsError):
        verify_ots(data[:-3], chain.header)


def test_an_ots_file_cannot_be_made_for_a_root_not_in_the_block(anchored):
    chain, _tree, anchor = anchored
    other = chain.get(1)
    with pytest.raises(OtsError):
        build_ots(anchor, chain.raw_block(other.height))


# --- The offline verifier --------------------------------------------------------------------


def proof_for(anchored, index: int) -> dict:
    _chain, tree, anchor = anchored
    return proof_document(leaf=LEAVES[index], index=index, tree=tree, anchor=anchor)


def test_the_standalone_verifier_accepts_our_proofs(anchored, tmp_path):
    result = verify_offline(proof_for(anchored, 5), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID" in result.stdout
    for index in range(len(LEAVES)):
        assert verify_proof.verify(proof_for(anchored, index))


def tampered_documents(doc: dict):
    """(what, document) pairs, each changed in one place."""

    def changed(mutate):
        copy_ = copy.deepcopy(doc)
        mutate(copy_)
        return copy_

    def flip(hex_string: str, position: int = 0) -> str:
        data = bytearray.fromhex(hex_string)
        data[position] ^= 0x01
        return data.hex()

    def leaf(d):
        d["leaf"] = flip(d["leaf"])
        del d["leaf_hash"]  # so that the audit path, not the stated hash, must catch it

    yield "leaf byte", changed(leaf)
    yield "leaf hash", changed(lambda d: d.update(leaf_hash=flip(d["leaf_hash"])))
    yield "leaf index", changed(lambda d: d.update(leaf_index=d["leaf_index"] + 1))
    yield "tree size", changed(lambda d: d.update(tree_size=d["tree_size"] + 1))
    yield "path entry", changed(lambda d: d["audit_path"].__setitem__(1, flip(d["audit_path"][1])))
    yield "path dropped", changed(lambda d: d["audit_path"].pop())
    yield "path extended", changed(lambda d: d["audit_path"].append(d["root"]))
    yield "root", changed(lambda d: d.update(root=flip(d["root"])))

    def tx_root(d):
        tx = bytes.fromhex(d["anchor"]["transaction"])
        at = tx.index(bytes.fromhex(d["root"]))
        d["anchor"]["transaction"] = flip(tx.hex(), at + 3)

    yield "root in OP_RETURN", changed(tx_root)
    yield "txid", changed(lambda d: d["anchor"].update(txid=flip(d["anchor"]["txid"])))
    yield "tx index", changed(lambda d: d["anchor"].update(tx_index=1))
    yield (
        "header merkle root",
        changed(lambda d: d["anchor"].update(block_header=flip(d["anchor"]["block_header"], 40))),
    )
    yield (
        "header bits",
        changed(lambda d: d["anchor"].update(block_header=flip(d["anchor"]["block_header"], 75))),
    )
    yield (
        "block hash",
        changed(lambda d: d["anchor"].update(block_hash=flip(d["anchor"]["block_hash"]))),
    )
    yield "format", changed(lambda d: d.update(format="something/2"))


def test_the_standalone_verifier_rejects_every_tampered_proof(anchored, tmp_path):
    doc = proof_for(anchored, 7)
    for what, bad in tampered_documents(doc):
        with pytest.raises(verify_proof.ProofInvalid):
            verify_proof.verify(bad)
            pytest.fail(f"accepted a proof with a changed {what}")
    result = verify_offline(next(d for w, d in tampered_documents(doc) if w == "root"), tmp_path)
    assert result.returncode == 1
    assert "FAIL" in result.stdout


def test_the_verifier_checks_proof_of_work(anchored):
    doc = proof_for(anchored, 0)
    header = bytearray.fromhex(doc["anchor"]["block_header"])
    # Find a nonce whose hash misses the regtest target, and claim it.
    for nonce in range(1000):
        header[76:80] = nonce.to_bytes(4, "little")
        digest = hashlib.sha256(hashlib.sha256(bytes(header)).digest()).digest()
        if int.from_bytes(digest, "little") > verify_proof.target_from_bits(0x207FFFFF):
            break
    doc["anchor"]["block_header"] = header.hex()
    doc["anchor"].pop("block_hash")
    with pytest.raises(verify_proof.ProofInvalid, match="proof of work"):
        verify_proof.verify(doc)


def test_a_proof_cannot_be_built_for_another_leaf(anchored):
    chain, tree, anchor = anchored
    with pytest.raises(ValueError):
        proof_document(leaf=LEAVES[1], index=2, tree=tree, anchor=anchor)
    with pytest.raises(ValueError):
        proof_document(leaf=LEAVES[1], index=1, tree=tree, anchor=chain.get(1))


def test_the_verifier_follows_an_anchor_that_is_not_the_coinbase():
    """What a Bitcoin Core backend would produce: the anchor is an ordinary, witness-carrying
    transaction somewhere in a block of several."""
    tree = MerkleTree.from_leaves(LEAVES)
    payload = Payload("day", tree.root, tree.size, "2025-01-02").encode()
    others = [
        CTransaction(
            [CTxIn(COutPoint(lx(f"{i:064x}"), 0), CScript([b"sig"]))],
            [CTxOut(1000, CScript([b"\x51"]))],
        )
        for i in range(1, 4)
    ]
    anchor_tx = CMutableTransaction(
        [CTxIn(COutPoint(lx("ab" * 32), 1))],
        [CTxOut(0, CScript([OP_RETURN, payload])), CTxOut(5000, CScript([b"\x51"]))],
    )
    anchor_tx.wit = CTxWitness([CTxInWitness(CScriptWitness([b"\x30" * 71, b"\x02" * 33]))])
    anchor_tx = CTransaction.from_tx(anchor_tx)
    txs = [coinbase_for(7, b"FSBX-coinbase"), others[0], anchor_tx, others[1], others[2]]
    merkle = CBlock.build_merkle_tree_from_txs(txs)[-1]
    nonce = mine(prev_hash=bytes(32), merkle_root=merkle, time=1_700_000_000)
    block = CBlock(
        nVersion=0x20000000,
        hashPrevBlock=bytes(32),
        hashMerkleRoot=merkle,
        nTime=1_700_000_000,
        nBits=0x207FFFFF,
        nNonce=nonce,
        vtx=txs,
    )
    anchor = anchor_from_block(block, 7)
    assert anchor.tx_index == 2 and len(anchor.tx_branch) == 3
    assert anchor.txid == anchor_tx.GetTxid()[::-1].hex()
    doc = proof_document(leaf=LEAVES[3], index=3, tree=tree, anchor=anchor)
    # The verifier parses the segwit serialization and still finds the txid.
    doc["anchor"]["transaction"] = anchor_tx.serialize().hex()
    assert verify_proof.verify(doc)
    ots = build_ots(anchor, block.serialize())
    assert verify_ots(ots, lambda height: block.get_header().serialize()).height == 7
