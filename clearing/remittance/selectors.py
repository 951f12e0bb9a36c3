"""Reads of remittances: lists and details scoped to the tenant, the travel-rule data, and
the receipt that proves every leg (``clearing/verify_remittance.py`` checks it offline)."""

from __future__ import annotations

from typing import Any

from bitcoin.core import CTransaction
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from clearing.chain import mined_transaction
from clearing.remittance import presenters, services
from clearing.remittance.bitcoin import node_key, script_pubkey
from clearing.remittance.models import Coin, Remittance
from clearing.selectors import receipt_proof
from sandbox.errors import ApplicationError, NotFound
from sandbox.tenants.models import Tenant

RECEIPT_FORMAT = "fsbx-remittance-receipt/1"


def remittance_list(*, tenant: Tenant | None) -> QuerySet[Remittance]:
    """The tenant's remittances, newest first; every remittance for operators (None)."""
    rows = Remittance.objects.all() if tenant is None else Remittance.objects.for_tenant(tenant)
    return rows.order_by("-created_at", "-id")


def remittance_get(*, tenant: Tenant | None, remittance_id: Any) -> Remittance:
    """One remittance: of the tenant (404 for anyone else's), or any for operators (None)."""
    rows = Remittance.objects.select_related("tenant", "sender_node", "beneficiary_node")
    if tenant is not None:
        return rows.get_for_tenant(tenant, remittance_id)
    try:
        return rows.get(pk=remittance_id)
    except (Remittance.DoesNotExist, ValueError, ValidationError):
        raise NotFound(
            f"No remittance with id {remittance_id}.", code="remittance_not_found"
        ) from None


def remittance_travel_rule(*, remittance: Remittance) -> dict[str, Any]:
    """The sealed originator and beneficiary data, opened. Callers have already scoped the
    remittance to the two nodes' tenant (or are operators)."""
    return services.travel_rule_open(remittance)


def _proof(remittance: Remittance, transaction_uuid: Any) -> dict[str, Any]:
    try:
        return {
            "proof": receipt_proof(tenant=remittance.tenant, transaction_id=transaction_uuid),
            "proof_error": None,
        }
    except ApplicationError as error:
        return {"proof": None, "proof_error": error.code}


def _bitcoin(remittance: Remittance) -> dict[str, Any] | None:
    txid = remittance.bitcoin_txid
    mined = mined_transaction(txid) if txid else None
    if mined is None:
        return None
    tx = CTransaction.deserialize(mined.raw_tx)
    prevouts = []
    for txin in tx.vin:
        outpoint_txid = txin.prevout.hash[::-1].hex()
        coin = (
            Coin.objects.select_related("key")
            .filter(txid=outpoint_txid, vout=txin.prevout.n)
            .first()
        )
        if coin is not None:
            prevouts.append(
                {
                    "txid": outpoint_txid,
                    "vout": txin.prevout.n,
                    "value": coin.amount,
                    "script_pubkey": bytes(script_pubkey(coin.key)).hex(),
                }
            )
    sender = node_key(remittance.sender_node)
    receiver = node_key(remittance.beneficiary_node)
    return {
        "network": "regtest",
        "txid": mined.txid,
        "transaction": mined.raw_tx.hex(),
        "amount_sats": remittance.btc_amount,
        "sender_address": sender.address,
        "receiver_address": receiver.address,
        "receiver_script_pubkey": bytes(script_pubkey(receiver)).hex(),
        "prevouts": prevouts,
        "block_height": mined.height,
        "block_hash": mined.block_hash,
        "block_header": mined.header.hex(),
        "tx_index": mined.tx_index,
        "tx_merkle_branch": [h.hex() for h in mined.tx_branch],
    }


def remittance_receipt(*, remittance: Remittance) -> dict[str, Any]:
    """Every leg's ledger transaction with its inclusion proof once its day closed (else
    ``proof_error``: ``day_not_closed``), and the bitcoin transaction with its Merkle branch
    to a block header of the chain."""
    legs = []
    for leg in remittance.legs.select_related("transaction", "reversal").order_by("position"):
        entry: dict[str, Any] = {
            "kind": leg.kind,
            "transaction_id": str(leg.transaction.uuid),
            **_proof(remittance, leg.transaction.uuid),
        }
        if leg.reversal is not None:
            reversal = _proof(remittance, leg.reversal.uuid)
            entry["reversal"] = {"transaction_id": str(leg.reversal.uuid), **reversal}
        legs.append(entry)
    return {
        "format": RECEIPT_FORMAT,
        "remittance": presenters.remittance_json(remittance),
        "legs": legs,
        "bitcoin": _bitcoin(remittance),
    }
