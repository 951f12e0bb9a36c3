"""The nodes' bitcoin on the embedded regtest chain: keys, signed payments, blocks."""

from __future__ import annotations

import hashlib

import pytest
from bip32 import BIP32
from bitcoin.core import CBlock, CBlockHeader, CMutableTransaction, CTransaction, Hash160, b2lx, lx
from bitcoin.core.script import OP_CHECKSIG, OP_DUP, OP_EQUALVERIFY, OP_HASH160, CScript
from bitcoin.core.scripteval import SCRIPT_VERIFY_P2SH, VerifyScript, VerifyScriptError
from bitcoinutils.keys import PublicKey
from bitcoinutils.setup import setup as bitcoinutils_setup
from django.db import transaction

from clearing.chain import (
    build_block,
    check_block,
    get_chain,
    mined_transaction,
    op_return_payloads,
    root_from_branch,
    verify_raw_blocks,
)
from clearing.remittance import bitcoin
from clearing.remittance.models import BitcoinKey, PlatformSeed
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def p2pkh(pubkey_hex: str) -> CScript:
    return CScript(
        [OP_DUP, OP_HASH160, Hash160(bytes.fromhex(pubkey_hex)), OP_EQUALVERIFY, OP_CHECKSIG]
    )


@pytest.fixture
def desk_and_nodes():
    desk, seoul, tokyo = (
        NodeFactory(name="Desk"),
        NodeFactory(name="Seoul"),
        NodeFactory(name="Tokyo"),
    )
    return bitcoin.node_key(desk), bitcoin.node_key(seoul), bitcoin.node_key(tokyo)


def test_it_derives_one_bip32_key_per_node_from_a_sealed_seed(desk_and_nodes):
    _desk, seoul, _tokyo = desk_and_nodes
    assert [k.index for k in desk_and_nodes] == [0, 1, 2]
    assert bitcoin.node_key(seoul.node) == seoul  # stable
    seed_row = PlatformSeed.objects.get()
    seed = bitcoin._seed()
    assert seed not in bytes(seed_row.sealed)  # sealed at rest (AES-GCM)
    wallet = BIP32.from_seed(seed, network="test")
    for key in desk_and_nodes:
        assert wallet.get_pubkey_from_path(key.path).hex() == key.pubkey
    # bitcoin-utils (another library) reads the same regtest P2PKH address.
    bitcoinutils_setup("regtest")
    for key in desk_and_nodes:
        assert PublicKey.from_hex(key.pubkey).get_address().to_string() == key.address
        assert key.address[0] in "mn"


def test_signed_payments_pass_verifyscript_and_blocks_still_verify(desk_and_nodes):
    desk, seoul, tokyo = desk_and_nodes
    chain = get_chain()
    chain.append(kind="day", label="2025-03-10", root=hashlib.sha256(b"d").digest(), leaf_count=3)
    bitcoin.fund(desk, at_least=1_000_000)
    funding = CBlock.deserialize(chain.raw_block(chain.height()))
    assert funding.vtx[0].vout[1].scriptPubKey == p2pkh(desk.pubkey)
    assert funding.vtx[0].vout[1].nValue == 50 * 100_000_000

    with transaction.atomic():
        leg2 = bitcoin.pay(sender=desk, to=seoul, amount=250_000 + bitcoin.NETWORK_FEE)
        leg3 = bitcoin.pay(sender=seoul, to=tokyo, amount=250_000)
    assert mined_transaction(b2lx(leg3.GetTxid())) is None  # waiting in the mempool
    anchor = chain.append(
        kind="day", label="2025-03-11", root=hashlib.sha256(b"e").digest(), leaf_count=4
    )
    block = CBlock.deserialize(chain.raw_block(anchor.height))
    check_block(block)
    assert [b2lx(t.GetTxid()) for t in block.vtx[1:]] == [
        b2lx(leg2.GetTxid()),
        b2lx(leg3.GetTxid()),
    ]
    # Every input's signature, by python-bitcoinlib's script interpreter.
    outputs = {
        (b2lx(t.GetTxid()), n): o for t in (funding.vtx[0], leg2) for n, o in enumerate(t.vout)
    }
    for tx in (leg2, leg3):
        for i, txin in enumerate(tx.vin):
            spent = outputs[(b2lx(txin.prevout.hash), txin.prevout.n)]
            VerifyScript(txin.scriptSig, spent.scriptPubKey, tx, i, (SCRIPT_VERIFY_P2SH,))
    assert leg3.vout[0].scriptPubKey == p2pkh(tokyo.pubkey) and leg3.vout[0].nValue == 250_000
    # The anchor still proves its day, and the whole chain verifies (spends included).
    assert anchor.tx_index == 0 and anchor.label == "2025-03-11"
    assert root_from_branch(lx(anchor.txid), 0, anchor.tx_branch) == block.hashMerkleRoot
    assert chain.verify() == []
    # The payment's Merkle branch leads to the header.
    mined = mined_transaction(b2lx(leg3.GetTxid()))
    assert mined is not None and mined.height == anchor.height and mined.tx_index == 2
    txid = CTransaction.deserialize(mined.raw_tx).GetTxid()
    header = CBlockHeader.deserialize(mined.header)
    assert root_from_branch(txid, mined.tx_index, mined.tx_branch) == header.hashMerkleRoot
    assert b2lx(header.GetHash()) == mined.block_hash == anchor.block_hash
    assert bitcoin.balance(tokyo) == 250_000


def test_a_tampered_signature_fails_verifyscript_and_chain_verification(desk_and_nodes):
    desk, seoul, _ = desk_and_nodes
    chain = get_chain()
    bitcoin.fund(desk, at_least=1)
    with transaction.atomic():
        tx = bitcoin.pay(sender=desk, to=seoul, amount=10_000)
    chain.append(kind="day", label="2025-03-12", root=hashlib.sha256(b"f").digest(), leaf_count=1)
    blocks = list(chain.blocks())
    assert verify_raw_blocks(blocks) == []
    # Pay someone else with the same signature: the script refuses it.
    forged = CMutableTransaction.from_tx(tx)
    forged.vout[0].nValue = 20_000
    funding = CBlock.deserialize(blocks[1]).vtx[0]
    with pytest.raises(VerifyScriptError):
        VerifyScript(
            forged.vin[0].scriptSig, funding.vout[1].scriptPubKey, forged, 0, (SCRIPT_VERIFY_P2SH,)
        )
    # A block carrying the forgery, re-mined and relinked, is caught by the spend checks.
    block = CBlock.deserialize(blocks[2])
    rebuilt = build_block(
        height=2,
        prev_hash=CBlock.deserialize(blocks[1]).GetHash(),
        prev_time=CBlock.deserialize(blocks[1]).nTime,
        payload=op_return_payloads(block.vtx[0])[0],
        txs=[CTransaction.from_tx(forged)],
    )
    problems = verify_raw_blocks([*blocks[:2], rebuilt.serialize()])
    assert any("fails its script" in p.message for p in problems)
    assert BitcoinKey.objects.count() == 3
