"""The arithmetic of a quote, apart from the database: from a reference rate, a spread and
a fee to the amounts in minor units (docs/fx.md, "Quotes").

Rates are target currency per one source currency in major units; amounts are integers
of minor units. Every rounding is half-even (banker's rounding) to the nearest minor
unit: it favours neither side on average, and is done once per amount, from the stored
(``SIGNIFICANT_DIGITS``) rates, so anyone can recompute a quote from what it shows.

A quote selling ``S``: fee ``F = round(S * fee_bps / 10000)``, the desk converts
``N = S - F``; the customer gets ``T = round(N * rate)`` and ``N`` is worth
``M = round(N * reference_rate)`` at the mid. A quote buying ``T``: ``N = round(T / rate)``,
``S = round(N * 10000 / (10000 - fee_bps))``, ``F = S - N``, the same ``M``. The posting
then moves ``-S`` from the customer, ``+N`` to the desk and ``+F`` to revenue in the
source currency, and ``-M`` from the desk, ``+(M - T)`` to revenue (the spread) and ``+T``
to the customer in the target currency: each currency sums to zero by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from sandbox.currencies import get_currency
from wallets.fx.rates import CONTEXT, significant

BPS = 10_000


@dataclass(frozen=True)
class Price:
    reference_rate: Decimal  # target per source, major units
    rate: Decimal  # the customer's: reference less the spread


@dataclass(frozen=True)
class Amounts:
    sell: int  # S, debited from the customer (source)
    fee: int  # F, to revenue (source)
    buy: int  # T, credited to the customer (target)
    mid: int  # M, what S - F is worth at the reference rate (target)


def oriented(mid: Decimal, *, inverted: bool) -> Decimal:
    """A pair's mid (quote per base) as target per source."""
    if not inverted:
        return mid
    with localcontext(CONTEXT):
        return significant(1 / mid)


def price(reference_rate: Decimal, spread_bps: int) -> Price:
    with localcontext(CONTEXT):
        rate = significant(reference_rate * (BPS - spread_bps) / BPS)
    return Price(reference_rate=reference_rate, rate=rate)


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN, context=CONTEXT))


def _scale(source: str, target: str) -> Decimal:
    """Target minor units per source minor unit, per unit of rate."""
    return Decimal(1).scaleb(get_currency(target).exponent - get_currency(source).exponent)


def amounts_selling(sell: int, *, source: str, target: str, price: Price, fee_bps: int) -> Amounts:
    scale = _scale(source, target)
    with localcontext(CONTEXT):
        fee = _round(Decimal(sell) * fee_bps / BPS)
        net = sell - fee
        return Amounts(
            sell=sell,
            fee=fee,
            buy=_round(net * price.rate * scale),
            mid=_round(net * price.reference_rate * scale),
        )


def amounts_buying(buy: int, *, source: str, target: str, price: Price, fee_bps: int) -> Amounts:
    scale = _scale(source, target)
    with localcontext(CONTEXT):
        net = _round(Decimal(buy) / (price.rate * scale))
        sell = _round(Decimal(net) * BPS / (BPS - fee_bps))
        return Amounts(
            sell=sell,
            fee=sell - net,
            buy=buy,
            mid=_round(net * price.reference_rate * scale),
        )
