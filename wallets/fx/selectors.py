"""Reads of FX: the rate of a pair at a moment, rate series for charts, a tenant's quotes
and conversions, and the desk's positions and profit and loss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db.models import QuerySet

from sandbox.currencies import CURRENCIES
from sandbox.errors import NotFound
from sandbox.tenants.models import Tenant
from wallets import banks
from wallets.fx import rates
from wallets.fx.models import Conversion, Desk, Pair, Quote, RateEvent
from wallets.models import Account


def pair_view(pair: Pair) -> rates.PairView:
    return rates.PairView(
        code=pair.code,
        mid=pair.mid,
        anchored_at=pair.anchored_at,
        seed=pair.seed,
        volatility_bps=pair.volatility_bps,
    )


def pair_events(pair: Pair) -> list[rates.RateEventView]:
    return [
        rates.RateEventView(at=at, kind=kind, value=value)
        for at, kind, value in RateEvent.objects.filter(
            pair=pair, at__gte=pair.anchored_at
        ).values_list("at", "kind", "value")
    ]


def pair_mid(pair: Pair, moment: datetime) -> Decimal:
    """The pair's reference mid rate (quote per base) at ``moment``."""
    return rates.mid_rate(pair_view(pair), moment, pair_events(pair))


def pair_series(
    pair: Pair, *, start: datetime, end: datetime, points: int = 97
) -> list[tuple[datetime, Decimal]]:
    """The mid rate at ``points`` evenly spaced moments from ``start`` to ``end``."""
    view, events = pair_view(pair), pair_events(pair)
    span = (end - start) / max(points - 1, 1)
    moments = [start + span * i for i in range(points)]
    return [(moment, rates.mid_rate(view, moment, events)) for moment in moments]


def pairs() -> QuerySet[Pair]:
    return Pair.objects.order_by("code")


def pair_get(code: str) -> Pair:
    """A pair by its code, "USD/KRW" or, in URLs, "USD-KRW"; 404 ``unknown_pair``."""
    pair = Pair.objects.filter(pk=str(code).replace("-", "/")).first()
    if pair is None:
        raise NotFound(f"No pair {code!r}.", code="unknown_pair")
    return pair


def quotes_for(tenant: Tenant) -> QuerySet[Quote]:
    return Quote.objects.for_tenant(tenant).order_by("-created_at", "-id")


def conversions_for(tenant: Tenant) -> QuerySet[Conversion]:
    return (
        Conversion.objects.for_tenant(tenant)
        .select_related("quote", "ledger_transaction")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class DeskPosition:
    """The desk in one currency: what its liquidity account holds (position), what its
    revenue account collected (realized P&L), and both valued in KRW at the mid now."""

    currency: str
    position: int  # minor units
    revenue: int  # minor units
    krw_rate: Decimal  # KRW per one unit of the currency, at the mid
    position_krw: Decimal
    revenue_krw: Decimal


def _krw_rate(currency: str, moment: datetime, table: Sequence[Pair]) -> Decimal:
    if currency == "KRW":
        return Decimal(1)
    for pair in table:
        if (pair.base, pair.quote) == (currency, "KRW"):
            return pair_mid(pair, moment)
        if (pair.base, pair.quote) == ("KRW", currency):
            return rates.significant(1 / pair_mid(pair, moment))
    return Decimal(0)


def desk_positions(moment: datetime) -> list[DeskPosition]:
    """Per currency, the desk's position and realized P&L (platform accounts under the
    desk's ledger code), valued in KRW at ``moment``'s mid rates."""
    balances: dict[tuple[str, str], int] = {
        (purpose, currency): balance
        for purpose, currency, balance in Account.objects.filter(
            kind=Account.Kind.PLATFORM, bank_code=banks.FX_DESK_LEDGER_CODE
        ).values_list("purpose", "currency", "posted_balance")
    }
    table = list(Pair.objects.all())
    found = []
    for code, currency in CURRENCIES.items():
        position = balances.get((Account.Purpose.FX, code), 0)
        revenue = balances.get((Account.Purpose.FEES, code), 0)
        krw = _krw_rate(code, moment, table)
        unit = Decimal(1).scaleb(-currency.exponent)
        found.append(
            DeskPosition(
                currency=code,
                position=position,
                revenue=revenue,
                krw_rate=krw,
                position_krw=(position * unit * krw).quantize(Decimal(1)),
                revenue_krw=(revenue * unit * krw).quantize(Decimal(1)),
            )
        )
    return found


def desk_node_id() -> UUID | None:
    """The desk's node, if made yet (``services.desk_node`` makes it on first use)."""
    return Desk.objects.filter(pk=1).values_list("node_id", flat=True).first()
