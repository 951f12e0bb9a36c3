"""How a remittance looks from outside: the API, webhooks and the dashboard share this.
The travel-rule data is not in it (``selectors.remittance_travel_rule`` opens it)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from clearing.remittance.models import Remittance, RemittanceLeg
from sandbox.currencies import to_decimal_string


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _amount(value: int | None, currency: str) -> str | None:
    return to_decimal_string(value, currency) if value is not None else None


def _rate(value: Decimal | None) -> str | None:
    return format(value.normalize(), "f") if value is not None else None


def leg_json(leg: RemittanceLeg) -> dict[str, Any]:
    return {
        "kind": leg.kind,
        "position": leg.position,
        "transaction_id": str(leg.transaction.uuid),
        "reversal_transaction_id": str(leg.reversal.uuid) if leg.reversal else None,
        "amount_in": _amount(leg.amount_in, leg.currency_in),
        "currency_in": leg.currency_in,
        "amount_out": _amount(leg.amount_out, leg.currency_out),
        "currency_out": leg.currency_out,
        "rate": _rate(leg.rate),
        "reference_rate": _rate(leg.reference_rate),
        "spread_bps": leg.spread_bps,
        "fee": _amount(leg.fee, leg.fee_currency) if leg.fee_currency else None,
        "fee_currency": leg.fee_currency or None,
        "quote_id": str(leg.quote_id) if leg.quote_id else None,
        "bitcoin_txid": leg.bitcoin_txid or None,
        "created_at": _iso(leg.created_at),
    }


def remittance_json(remittance: Remittance) -> dict[str, Any]:
    legs = remittance.legs.select_related("transaction", "reversal").order_by("position")
    return {
        "id": str(remittance.pk),
        "status": remittance.status,
        "sender_node_id": str(remittance.sender_node_id),
        "sender_account_id": str(remittance.sender_account_id),
        "beneficiary_node_id": str(remittance.beneficiary_node_id),
        "beneficiary_account_id": str(remittance.beneficiary_account_id),
        "source_currency": remittance.source_currency,
        "target_currency": remittance.target_currency,
        "source_amount": _amount(remittance.source_amount, remittance.source_currency),
        "btc_amount": _amount(remittance.btc_amount, "BTC"),
        "target_amount": _amount(remittance.target_amount, remittance.target_currency),
        "memo": remittance.memo,
        "reference": remittance.reference,
        "failed_leg": remittance.failed_leg or None,
        "failure_code": remittance.failure_code or None,
        "failure_message": remittance.failure_message or None,
        "bitcoin_txid": remittance.bitcoin_txid or None,
        "legs": [leg_json(leg) for leg in legs],
        "created_at": _iso(remittance.created_at),
        "updated_at": _iso(remittance.updated_at),
    }
