"""The nodes' bitcoin: BIP32 keys from a sealed platform seed, regtest P2PKH addresses,
coins, and transactions signed with python-bitcoinlib into the embedded chain's mempool.

* The platform seed (32 random bytes) is made on first use and sealed at rest with the
  ``CLEARING_MASTER_KEY`` keyring under the purpose ``remittance-bitcoin-seed``.
* Node ``n`` (in order of first use) gets the key at ``m/44'/1'/n'/0/0`` (BIP44, coin type 1:
  test networks), derived with the ``bip32`` package; its address is regtest P2PKH
  (version byte 111, so it starts with ``m`` or ``n``).
* The FX desk's coins come from blocks mined on demand whose coinbase pays the regtest
  subsidy to the desk's address (``fund``). The embedded chain does not enforce Bitcoin's
  100-block coinbase maturity; everything else a node would check (signatures, no double
  spend, no money created) is checked by ``clearing.chain.verify_raw_blocks``.
* Every transaction pays a flat network fee (``NETWORK_FEE`` satoshis) out of its inputs.
"""

from __future__ import annotations

import hashlib
import os

from bip32 import BIP32
from bitcoin.base58 import CBase58Data
from bitcoin.core import (
    CMutableTransaction,
    CMutableTxIn,
    CMutableTxOut,
    COutPoint,
    CTransaction,
    CTxOut,
    Hash160,
    b2lx,
    lx,
)
from bitcoin.core.script import (
    OP_CHECKSIG,
    OP_DUP,
    OP_EQUALVERIFY,
    OP_HASH160,
    SIGHASH_ALL,
    CScript,
    SignatureHash,
)
from bitcoin.core.scripteval import SCRIPT_VERIFY_P2SH, VerifyScript
from bitcoin.wallet import CKey
from django.db import IntegrityError, transaction

from clearing.chain import block_subsidy, get_chain, mempool_add
from clearing.models import AnchorBlock
from clearing.remittance.models import BitcoinKey, Coin, PlatformSeed
from sandbox.errors import Conflict
from sandbox.keyring import Keyring
from sandbox.tenants.models import Node

SEED_PURPOSE = "remittance-bitcoin-seed"
REGTEST_P2PKH_VERSION = 111
NETWORK_FEE = 1_000  # satoshis per transaction (about 4 sat/vB for 1 input, 2 outputs)
FUNDING_LABEL = "fund/{height}"


def _keyring() -> Keyring:
    return Keyring.from_setting("CLEARING_MASTER_KEY", purpose=SEED_PURPOSE)


def _seed() -> bytes:
    row = PlatformSeed.objects.filter(id=1).first()
    if row is None:
        key_id, sealed = _keyring().seal(os.urandom(32), aad=b"platform-seed")
        try:
            with transaction.atomic():
                row = PlatformSeed.objects.create(id=1, key_id=key_id, sealed=sealed)
        except IntegrityError:
            row = PlatformSeed.objects.get(id=1)  # made concurrently
    return _keyring().open(row.key_id, bytes(row.sealed), aad=b"platform-seed")


def _wallet() -> BIP32:
    return BIP32.from_seed(_seed(), network="test")


def p2pkh_address(pubkey: bytes) -> str:
    return str(CBase58Data.from_bytes(Hash160(pubkey), REGTEST_P2PKH_VERSION))


def script_pubkey(key: BitcoinKey) -> CScript:
    h160 = Hash160(bytes.fromhex(key.pubkey))
    return CScript([OP_DUP, OP_HASH160, h160, OP_EQUALVERIFY, OP_CHECKSIG])


def node_key(node: Node) -> BitcoinKey:
    """The node's bitcoin key, derived on first use."""
    key = BitcoinKey.objects.filter(node=node).first()
    if key is not None:
        return key
    for _attempt in range(5):
        last = BitcoinKey.objects.order_by("-index").values_list("index", flat=True).first()
        index = 0 if last is None else last + 1
        pubkey = _wallet().get_pubkey_from_path(f"m/44'/1'/{index}'/0/0")
        try:
            with transaction.atomic():
                return BitcoinKey.objects.create(
                    node=node, index=index, pubkey=pubkey.hex(), address=p2pkh_address(pubkey)
                )
        except IntegrityError:
            key = BitcoinKey.objects.filter(node=node).first()
            if key is not None:
                return key  # made concurrently for this node; else the index was taken
    raise Conflict("Could not allot a bitcoin key: too much contention.", code="busy")


def _private_key(key: BitcoinKey) -> CKey:
    secret = _wallet().get_privkey_from_path(key.path)
    private = CKey(secret, compressed=True)
    if private.pub.hex() != key.pubkey:
        raise RuntimeError(f"The platform seed does not derive {key.address}'s key.")
    return private


def balance(key: BitcoinKey) -> int:
    """Satoshis in the key's unspent coins (mined or in the mempool)."""
    coins = Coin.objects.filter(key=key, spent_by="")
    return sum(coins.values_list("amount", flat=True))


def _record_outputs(tx: CTransaction) -> None:
    txid = b2lx(tx.GetTxid())
    keys = {script_pubkey(k): k for k in BitcoinKey.objects.all()}
    for n, out in enumerate(tx.vout):
        key = keys.get(out.scriptPubKey)
        if key is not None and out.nValue:
            Coin.objects.get_or_create(
                txid=txid, vout=n, defaults={"key": key, "amount": out.nValue}
            )


def fund(key: BitcoinKey, *, at_least: int) -> None:
    """Mine blocks whose coinbase pays the regtest subsidy to ``key`` until it holds
    ``at_least`` satoshis. Each funding block anchors its label like any other block."""
    chain = get_chain()
    while balance(key) < at_least:
        height = chain.height() + 1
        subsidy = block_subsidy(height)
        if not subsidy:
            raise Conflict("The regtest chain pays no more subsidy.", code="chain_exhausted")
        label = FUNDING_LABEL.format(height=height)
        anchor = chain.append(
            kind=AnchorBlock.Kind.TRANSACTION,
            label=label,
            root=hashlib.sha256(f"{label} {key.address}".encode()).digest(),
            leaf_count=0,
            payout=[CTxOut(subsidy, script_pubkey(key))],
        )
        _record_outputs(CTransaction.deserialize(anchor.raw_tx))


def _select(key: BitcoinKey, needed: int) -> list[Coin]:
    coins = list(Coin.objects.select_for_update().filter(key=key, spent_by="").order_by("id"))
    chosen: list[Coin] = []
    for coin in coins:
        if sum(c.amount for c in chosen) >= needed:
            break
        chosen.append(coin)
    total = sum(c.amount for c in chosen)
    if total < needed:
        raise Conflict(
            f"{key.address} holds {total} satoshis; {needed} are needed.",
            code="insufficient_coins",
        )
    return chosen


def pay(
    *, sender: BitcoinKey, to: BitcoinKey, amount: int, fee_payer: BitcoinKey | None = None
) -> CTransaction:
    """A signed transaction paying ``amount`` satoshis from ``sender``'s coins to ``to``,
    with ``NETWORK_FEE`` to the miner paid by ``fee_payer`` (the FX desk: its own input and
    change, so the nodes' addresses move exactly the ledger's amounts), change back to each.
    Every input is checked with ``VerifyScript``; the transaction is queued in the mempool.
    Must run inside the caller's database transaction: the coins it spends are locked and
    marked spent in it."""
    payer = fee_payer or sender
    if payer.pk == sender.pk:
        funding = [(sender, _select(sender, amount + NETWORK_FEE), amount + NETWORK_FEE)]
    else:
        funding = [
            (sender, _select(sender, amount), amount),
            (payer, _select(payer, NETWORK_FEE), NETWORK_FEE),
        ]
    inputs: list[tuple[BitcoinKey, Coin]] = []
    outputs = [CMutableTxOut(amount, script_pubkey(to))]
    for key, coins, needed in funding:
        inputs += [(key, c) for c in coins]
        change = sum(c.amount for c in coins) - needed
        if change:
            outputs.append(CMutableTxOut(change, script_pubkey(key)))
    tx = CMutableTransaction(
        [CMutableTxIn(COutPoint(lx(c.txid), c.vout)) for _, c in inputs], outputs, nVersion=2
    )
    private = {key.pk: _private_key(key) for key, _, _ in funding}
    for i, (key, _coin) in enumerate(inputs):
        spk = script_pubkey(key)
        sighash = SignatureHash(spk, tx, i, SIGHASH_ALL)
        signature = private[key.pk].sign(sighash) + bytes([SIGHASH_ALL])
        tx.vin[i].scriptSig = CScript([signature, private[key.pk].pub])
        VerifyScript(tx.vin[i].scriptSig, spk, tx, i, (SCRIPT_VERIFY_P2SH,))
    final = CTransaction.from_tx(tx)
    txid = mempool_add(final)
    Coin.objects.filter(id__in=[c.id for _, c in inputs]).update(spent_by=txid)
    _record_outputs(final)
    return final


def mine(*, label: str, root: bytes, miner: BitcoinKey) -> int:
    """Mine the mempool now, in a block of its own (kind "transaction", ``label``, ``root``)
    whose coinbase pays the regtest subsidy to ``miner``. Returns the block's height."""
    chain = get_chain()
    height = chain.height() + 1
    anchor = chain.append(
        kind=AnchorBlock.Kind.TRANSACTION,
        label=label,
        root=root,
        leaf_count=1,
        payout=[CTxOut(block_subsidy(height), script_pubkey(miner))],
    )
    _record_outputs(CTransaction.deserialize(anchor.raw_tx))
    return anchor.height
