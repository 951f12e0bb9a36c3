#!/usr/bin/env python3
"""Check a Fintech Sandbox remittance receipt offline, with nothing but Python's standard library.

    python verify_remittance.py receipt.json [--require-proofs]

Copy this file together with ``verify_proof.py`` (same folder) anywhere; it imports nothing
from the sandbox. It checks, in order:

1. the format, and that the receipt's legs are the remittance's legs (same kinds, same
   transaction ids, in order)
2. for each leg with a proof: ``verify_proof.verify`` (leaf, audit path, Bitcoin anchor) and
   that the anchored leaf is this leg's transaction, naming this remittance and this leg in
   its metadata; the same for each reversal of a failed remittance
3. the bitcoin transaction: its txid is the send leg's, it pays ``amount_sats`` (the send
   leg's amount) to the receiving node's P2PKH script, and its Merkle branch leads to the
   block header's Merkle root; the header hashes to the block hash and meets its target
4. with python-bitcoinlib installed (optional): ``CheckTransaction``, and each input's
   signature by ``VerifyScript`` against the previous outputs the receipt lists

A leg whose day is not closed yet has no proof: the verifier says so, and fails only with
``--require-proofs``. It prints one line per check and exits 0 only if all pass (1
otherwise, 2 if the file cannot be read). What it cannot know offline is that the blocks are
the sandbox's chain: compare the block hashes with ``/api/v1/clearing/chain``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import sys
from decimal import Decimal
from types import ModuleType
from typing import Any


def _sibling(name: str) -> ModuleType:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_fsbx_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is missing: copy it next to this file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verify_proof = _sibling("verify_proof")

FORMAT = "fsbx-remittance-receipt/1"
FORWARD = ["debit_sender", "buy_btc", "send_btc", "sell_btc", "credit_beneficiary"]
EXPONENTS = {"KRW": 0, "USD": 2, "JPY": 0, "BTC": 8}
POW_LIMIT = 2**255 - 1


class ReceiptInvalid(Exception):
    pass


def dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def unhex(value: Any, what: str, length: int | None = None) -> bytes:
    try:
        data = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise ReceiptInvalid(f"{what} is not hex") from None
    if length is not None and len(data) != length:
        raise ReceiptInvalid(f"{what} is {len(data)} bytes, not {length}")
    return data


def minor_units(amount: Any, currency: Any) -> int:
    if currency not in EXPONENTS or not isinstance(amount, str):
        raise ReceiptInvalid(f"unknown amount {amount!r} {currency!r}")
    return int(Decimal(amount).scaleb(EXPONENTS[currency]))


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    first = raw[pos]
    if first < 0xFD:
        return first, pos + 1
    size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(raw[pos + 1 : pos + 1 + size], "little"), pos + 1 + size


def parse_outputs(raw: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """A legacy (non-witness) transaction's txid and its outputs (value, script)."""
    try:
        pos = 4
        count, pos = _varint(raw, pos)
        for _ in range(count):
            pos += 36
            length, pos = _varint(raw, pos)
            pos += length + 4
        count, pos = _varint(raw, pos)
        outputs = []
        for _ in range(count):
            (value,) = struct.unpack_from("<q", raw, pos)
            length, pos = _varint(raw, pos + 8)
            outputs.append((value, raw[pos : pos + length]))
            pos += length
        pos += 4
    except (IndexError, KeyError, struct.error):
        raise ReceiptInvalid("the bitcoin transaction cannot be parsed") from None
    if pos != len(raw):
        raise ReceiptInvalid("the bitcoin transaction has trailing bytes (or a witness)")
    return dsha256(raw), outputs


def _check_leg_proof(
    proof: dict[str, Any], remittance_id: str, kind: str, txn_id: str, done: list[str], label: str
) -> None:
    try:
        verify_proof.verify(proof)
    except verify_proof.ProofInvalid as exc:
        raise ReceiptInvalid(f"leg {label}: {exc}") from None
    leaf = verify_proof.decode_leaf(unhex(proof.get("leaf"), "leaf"))
    if leaf["uuid"] != txn_id:
        raise ReceiptInvalid(f"leg {label}: the proof is of transaction {leaf['uuid']}")
    metadata = leaf["metadata"]
    if metadata.get("remittance") != remittance_id or metadata.get("leg") != kind:
        raise ReceiptInvalid(f"leg {label}: the anchored transaction names another remittance/leg")
    done.append(f"leg {label}: transaction {txn_id} is in its anchored day ({leaf['kind']})")


def _check_bitcoin(btc: dict[str, Any], send_leg: dict[str, Any], done: list[str]) -> bytes:
    raw = unhex(btc.get("transaction"), "bitcoin transaction")
    txid, outputs = parse_outputs(raw)
    if txid[::-1].hex() != btc.get("txid") or btc.get("txid") != send_leg.get("bitcoin_txid"):
        raise ReceiptInvalid("the bitcoin transaction is not the send leg's")
    amount = minor_units(send_leg.get("amount_in"), "BTC")
    if btc.get("amount_sats") != amount:
        raise ReceiptInvalid("the bitcoin amount is not the send leg's")
    script = unhex(btc.get("receiver_script_pubkey"), "receiver script")
    if len(script) != 25 or script[:3] != b"\x76\xa9\x14" or script[23:] != b"\x88\xac":
        raise ReceiptInvalid("the receiver script is not P2PKH")
    if (amount, script) not in outputs:
        raise ReceiptInvalid("the bitcoin transaction does not pay the amount to the receiver")
    done.append(f"bitcoin tx {btc['txid']} pays {amount} sats to {btc.get('receiver_address')}")
    header = unhex(btc.get("block_header"), "block header", 80)
    node, position = txid, btc.get("tx_index")
    if not isinstance(position, int) or position < 0:
        raise ReceiptInvalid("tx_index must be a non-negative integer")
    for sibling in [unhex(h, "merkle branch entry", 32) for h in btc.get("tx_merkle_branch", [])]:
        node = dsha256(sibling + node) if position & 1 else dsha256(node + sibling)
        position >>= 1
    if position != 0 or node != header[36:68]:
        raise ReceiptInvalid("the bitcoin transaction is not in the block's Merkle root")
    block_hash = dsha256(header)
    target = verify_proof.target_from_bits(int.from_bytes(header[72:76], "little"))
    if not 0 < target <= POW_LIMIT or int.from_bytes(block_hash, "little") > target:
        raise ReceiptInvalid("the block header does not meet its proof-of-work target")
    if block_hash[::-1].hex() != btc.get("block_hash"):
        raise ReceiptInvalid("the block hash is not the header's")
    done.append(
        f"Merkle branch of {len(btc.get('tx_merkle_branch', []))} hashes -> header of block "
        f"{btc['block_hash']} (height {btc.get('block_height')}), proof of work met"
    )
    return raw


def _deeper(raw: bytes, btc: dict[str, Any], done: list[str]) -> None:
    """python-bitcoinlib's own checks, when it is installed."""
    try:
        from bitcoin.core import CheckTransaction, CScript, CTransaction, lx
        from bitcoin.core.scripteval import SCRIPT_VERIFY_P2SH, VerifyScript
    except ImportError:
        done.append("python-bitcoinlib not installed: signatures not checked")
        return
    tx = CTransaction.deserialize(raw)
    try:
        CheckTransaction(tx)
        prevouts = {(lx(p["txid"]), p["vout"]): p for p in btc.get("prevouts", [])}
        for i, txin in enumerate(tx.vin):
            prev = prevouts.get((txin.prevout.hash, txin.prevout.n))
            if prev is None:
                raise ReceiptInvalid(f"input {i}: its previous output is not in the receipt")
            script = CScript(unhex(prev.get("script_pubkey"), "previous script"))
            VerifyScript(txin.scriptSig, script, tx, i, (SCRIPT_VERIFY_P2SH,))
    except ReceiptInvalid:
        raise
    except Exception as exc:  # python-bitcoinlib's validation errors
        raise ReceiptInvalid(f"python-bitcoinlib refuses the transaction: {exc}") from None
    done.append(f"python-bitcoinlib: CheckTransaction and VerifyScript of {len(tx.vin)} inputs")


def verify(doc: dict[str, Any], *, require_proofs: bool = False) -> list[str]:
    """Check ``doc``; return what was checked, or raise ``ReceiptInvalid``."""
    done: list[str] = []
    if doc.get("format") != FORMAT:
        raise ReceiptInvalid(f"unknown receipt format {doc.get('format')!r}")
    remittance = doc.get("remittance") or {}
    remittance_id = str(remittance.get("id"))
    described = remittance.get("legs") or []
    legs = doc.get("legs") or []
    if [(leg.get("kind"), leg.get("transaction_id")) for leg in described] != [
        (leg.get("kind"), leg.get("transaction_id")) for leg in legs
    ]:
        raise ReceiptInvalid("the receipt's legs are not the remittance's legs")
    kinds = [leg["kind"] for leg in described if leg.get("kind") in FORWARD]
    if kinds != FORWARD[: len(kinds)]:
        raise ReceiptInvalid("the legs are not in the remittance's order")
    done.append(f"remittance {remittance_id}: {remittance.get('status')}, legs {', '.join(kinds)}")
    missing = 0
    for leg in legs:
        for entry, kind in ((leg, leg["kind"]), (leg.get("reversal"), f"{leg['kind']} reversal")):
            if entry is None:
                continue
            if entry.get("proof") is None:
                missing += 1
                done.append(f"leg {kind}: no proof yet ({entry.get('proof_error')})")
                continue
            _check_leg_proof(
                entry["proof"], remittance_id, leg["kind"], entry["transaction_id"], done, kind
            )
    if missing and require_proofs:
        raise ReceiptInvalid(f"{missing} legs have no proof yet")
    send = next((leg for leg in described if leg.get("kind") == "send_btc"), None)
    btc = doc.get("bitcoin")
    if send is not None:
        if not isinstance(btc, dict):
            raise ReceiptInvalid("the bitcoin leg was sent but the receipt has no bitcoin part")
        raw = _check_bitcoin(btc, send, done)
        _deeper(raw, btc, done)
    return done


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__)
        return 2
    try:
        with open(args[0], encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args[0]}: {exc}")
        return 2
    try:
        for line in verify(doc, require_proofs="--require-proofs" in argv):
            print(f"ok  {line}")
    except (ReceiptInvalid, verify_proof.ProofInvalid) as exc:
        print(f"FAIL  {exc}")
        return 1
    print("the remittance receipt verifies")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
