"""One representation of each settlement object, shared by the API, webhooks, the
dashboard and the statement."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sandbox.currencies import to_decimal_string
from wallets.merchant_settlement.models import SettlementBatch, SettlementContract, SettlementItem


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def contract_json(contract: SettlementContract) -> dict[str, Any]:
    currency = contract.currency
    return {
        "id": str(contract.pk),
        "node_id": str(contract.node_id),
        "account_id": str(contract.account_id),
        "link_id": str(contract.link_id),
        "currency": currency,
        "cycle": contract.cycle,
        "delay_days": contract.delay_days,
        "fee_rate_bps": contract.fee_rate_bps,
        "fixed_fee": to_decimal_string(contract.fixed_fee, currency),
        "vat_rate_percent": 10,
        "minimum_payout": to_decimal_string(contract.minimum_payout, currency),
        "effective_from": _iso(contract.effective_from),
        "next_run_date": _iso(contract.next_run_date),
        "created_at": _iso(contract.created_at),
        "updated_at": _iso(contract.updated_at),
    }


def batch_json(batch: SettlementBatch) -> dict[str, Any]:
    currency = batch.currency

    def money(value: int) -> str:
        return to_decimal_string(value, currency)

    return {
        "id": str(batch.pk),
        "node_id": str(batch.node_id),
        "contract_id": str(batch.contract_id),
        "account_id": str(batch.account_id),
        "currency": currency,
        "trigger": batch.trigger,
        "run_date": _iso(batch.run_date),
        "cutoff": _iso(batch.cutoff),
        "status": batch.status,
        "fee_rate_bps": batch.fee_rate_bps,
        "fixed_fee": money(batch.fixed_fee),
        "minimum_payout": money(batch.minimum_payout),
        "order_count": batch.order_count,
        "refund_count": batch.refund_count,
        "gross": money(batch.gross),
        "refunds": money(batch.refunds),
        "fees": money(batch.fees),
        "vat": money(batch.vat),
        "carried_in": money(batch.carried_in),
        "net": money(batch.net),
        "payout_amount": money(batch.payout_amount),
        "carried_out": money(batch.carried_out),
        "carried_into_id": str(batch.carried_into_id) if batch.carried_into_id else None,
        "fee_transaction_id": str(batch.fee_transaction.uuid) if batch.fee_transaction else None,
        "withdrawal_id": str(batch.withdrawal_id) if batch.withdrawal_id else None,
        "failure_reason": batch.failure_reason,
        "created_at": _iso(batch.created_at),
        "resolved_at": _iso(batch.resolved_at),
    }


def item_json(item: SettlementItem, currency: str) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "payment_request_id": str(item.payment_request_id),
        "order_id": item.payment_request.order_id,
        "refund_id": str(item.refund_id) if item.refund_id else None,
        "occurred_at": _iso(item.occurred_at),
        "amount": to_decimal_string(item.amount, currency),
        "fee": to_decimal_string(item.fee, currency),
        "vat": to_decimal_string(item.vat, currency),
        "net": to_decimal_string(item.amount - item.fee - item.vat, currency),
    }
