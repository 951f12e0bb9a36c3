"""How quotes, conversions and pairs look from outside: the API, the webhooks' ``data`` and
the dashboard show these same dicts. Amounts are integers of minor units (with their
currency); rates are decimal strings, target per source in major units."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox import clock
from wallets.fx.models import Conversion, Pair, Quote
from wallets.fx.selectors import DeskPosition


def rate_str(rate: Decimal) -> str:
    """A rate as a plain decimal string without trailing zeros ("1380", "0.1036582058")."""
    return format(rate.normalize(), "f")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def quote_status(quote: Quote, now: datetime) -> str:
    """``used``, ``expired`` (open, past its expiry on the node's clock) or ``open``."""
    if quote.status == Quote.Status.USED:
        return "used"
    return "expired" if quote.expires_at <= now else "open"


def quote_data(quote: Quote, *, now: datetime) -> dict[str, Any]:
    return {
        "id": str(quote.pk),
        "node_id": str(quote.node_id),
        "pair": quote.pair_id,
        "source_currency": quote.source_currency,
        "target_currency": quote.target_currency,
        "fixed_side": quote.fixed_side,
        "sell_amount": quote.sell_amount,
        "buy_amount": quote.buy_amount,
        "fee": quote.fee,
        "fee_bps": quote.fee_bps,
        "spread_amount": quote.spread_amount,
        "spread_bps": quote.spread_bps,
        "rate": rate_str(quote.rate),
        "reference_rate": rate_str(quote.reference_rate),
        "lock_seconds": quote.lock_seconds,
        "status": quote_status(quote, now),
        "created_at": _iso(quote.created_at),
        "expires_at": _iso(quote.expires_at),
        "used_at": _iso(quote.used_at),
    }


def conversion_data(conversion: Conversion, *, now: datetime) -> dict[str, Any]:
    return {
        "id": str(conversion.pk),
        "node_id": str(conversion.node_id),
        "quote": quote_data(conversion.quote, now=now),
        "source_account_id": str(conversion.source_account_id),
        "target_account_id": str(conversion.target_account_id),
        "transaction_id": str(conversion.ledger_transaction.uuid),
        "description": conversion.description,
        "metadata": conversion.metadata,
        "created_at": _iso(conversion.created_at),
    }


def pair_data(pair: Pair, *, mid_now: Decimal) -> dict[str, Any]:
    return {
        "code": pair.code,
        "base": pair.base,
        "quote": pair.quote,
        "mid": rate_str(mid_now),
        "anchor_mid": rate_str(pair.mid),
        "anchored_at": _iso(pair.anchored_at),
        "seed": pair.seed,
        "volatility_bps": pair.volatility_bps,
        "spread_bps": pair.spread_bps,
        "fee_bps": pair.fee_bps,
        "enabled": pair.enabled,
    }


def quote_json(quote: Quote) -> dict[str, Any]:
    """``quote_data`` with its status judged on its node's clock now."""
    return quote_data(quote, now=clock.now(node_id=quote.node_id))


def conversion_json(conversion: Conversion) -> dict[str, Any]:
    return conversion_data(conversion, now=clock.now(node_id=conversion.node_id))


def pair_slug(code: str) -> str:
    """A pair's code as a URL path segment: "USD/KRW" → "USD-KRW"."""
    return code.replace("/", "-")


def position_data(position: DeskPosition) -> dict[str, Any]:
    return {
        "currency": position.currency,
        "position": position.position,
        "revenue": position.revenue,
        "krw_rate": rate_str(position.krw_rate),
        "position_krw": str(position.position_krw),
        "revenue_krw": str(position.revenue_krw),
    }
