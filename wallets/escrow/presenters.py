"""How escrows, their movements and their disputes look from outside: the API, the
webhooks' ``data`` and the dashboard show these dicts (``wallets.escrow.api`` documents
the same shapes)."""

from __future__ import annotations

from typing import Any

from sandbox.currencies import to_decimal_string
from wallets.escrow.models import Escrow, EscrowDispute, EscrowMovement
from wallets.presenters import iso


def movement_json(movement: EscrowMovement, currency: str) -> dict[str, Any]:
    txn, fee_txn = movement.transaction, movement.fee_transaction
    return {
        "kind": movement.kind,
        "amount": to_decimal_string(movement.amount, currency),
        "fee": to_decimal_string(movement.fee, currency),
        "cause": movement.cause,
        "transaction_id": str(txn.uuid) if txn is not None else None,
        "fee_transaction_id": str(fee_txn.uuid) if fee_txn is not None else None,
        "created_at": iso(movement.created_at),
    }


def escrow_json(escrow: Escrow) -> dict[str, Any]:
    currency = escrow.currency
    movements = escrow.movements.select_related("transaction", "fee_transaction").order_by("id")
    dispute = EscrowDispute.objects.filter(escrow=escrow).values_list("pk", flat=True).first()
    return {
        "id": str(escrow.pk),
        "payer_node_id": str(escrow.payer_node_id),
        "payee_node_id": str(escrow.payee_node_id),
        "payer_account_id": str(escrow.payer_account_id),
        "payee_account_id": str(escrow.payee_account_id),
        "amount": to_decimal_string(escrow.amount, currency),
        "currency": currency,
        "released_amount": to_decimal_string(escrow.released_amount, currency),
        "refunded_amount": to_decimal_string(escrow.refunded_amount, currency),
        "remaining_amount": to_decimal_string(escrow.remaining_amount, currency),
        "fee_amount": to_decimal_string(escrow.fee_amount, currency),
        "fee_rate_bps": escrow.fee_rate_bps,
        "fixed_fee": to_decimal_string(escrow.fixed_fee, currency),
        "release_condition": escrow.release_condition,
        "on_timeout": escrow.on_timeout,
        "timeout_at": iso(escrow.timeout_at),
        "dispute_window_ends_at": iso(escrow.dispute_window_ends_at),
        "description": escrow.description,
        "status": escrow.status,
        "resolution": escrow.resolution or None,
        "terms": escrow.terms,
        "terms_hash": escrow.terms_hash,
        "hold_id": str(escrow.hold_id) if escrow.hold_id is not None else None,
        "dispute_id": str(dispute) if dispute is not None else None,
        "movements": [movement_json(m, currency) for m in movements],
        "created_at": iso(escrow.created_at),
        "closed_at": iso(escrow.closed_at),
    }


def dispute_json(dispute: EscrowDispute) -> dict[str, Any]:
    return {
        "id": str(dispute.pk),
        "escrow_id": str(dispute.escrow_id),
        "status": dispute.status,
        "reason": dispute.reason,
        "evidence": dispute.evidence,
        "opened_at": iso(dispute.opened_at),
        "evidence_submitted_at": iso(dispute.evidence_submitted_at),
        "due_by": iso(dispute.due_by),
        "decided_at": iso(dispute.decided_at),
        "decided_by": dispute.decided_by,
    }
