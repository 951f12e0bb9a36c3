"""The platform's fee on one order, and the VAT on it. Integers of minor units throughout.

* fee = amount x rate (basis points) / 10,000, rounded half up to the minor unit, plus
  the fixed fee per order;
* VAT = 10 % of the fee, rounded down to the minor unit (원 미만 절사, as Korean
  invoices do).

Both are charged per paid order; a refund gives neither back (the order was processed).
"""

from __future__ import annotations

from dataclasses import dataclass

BPS = 10_000
VAT_RATE_PERCENT = 10


@dataclass(frozen=True)
class OrderFee:
    fee: int
    vat: int

    @property
    def total(self) -> int:
        return self.fee + self.vat


def order_fee(*, amount: int, fee_rate_bps: int, fixed_fee: int) -> OrderFee:
    rate_part = (amount * fee_rate_bps * 2 + BPS) // (2 * BPS)  # half up, integers only
    fee = rate_part + fixed_fee
    return OrderFee(fee=fee, vat=fee * VAT_RATE_PERCENT // 100)


def payout_or_carry(*, net: int, minimum_payout: int) -> tuple[int, int]:
    """(payout, carried): a net at or above the minimum and above zero is paid out whole;
    anything else (below the minimum, zero, negative after refunds) waits for the next
    batch."""
    if net > 0 and net >= minimum_payout:
        return net, 0
    return 0, net
