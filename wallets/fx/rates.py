"""The reference (mid) rate of a pair at any moment: a pure function of the pair's row, its
rate events and the time, so that a tester can replay a day (docs/fx.md, "Rates").

The walk is a standard Brownian motion on a grid of ``STEP_SECONDS`` steps from the pair's
anchor (the moment its mid was last set), built by Lévy's construction: the value at the
far end of ``2**LEVELS`` steps, then each midpoint from its two ends plus a Gaussian
draw, down to the step asked for. Every draw is hashed from (seed, pair, side, level,
index), so the value at step ``n`` costs at most ``LEVELS`` hashes, whatever ``n`` is, and
does not depend on which other steps were asked for before.

Everything is ``Decimal`` arithmetic (correctly rounded, the same on every machine): the
Gaussian draws are Irwin-Hall sums of twelve 32-bit uniforms (mean 0, variance 1), and
``exp`` and ``sqrt`` are Decimal's. A rate is then quantized to ``SIGNIFICANT_DIGITS``
significant digits, half-even.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

STEP_SECONDS = 60
LEVELS = 32  # 2**32 one-minute steps: about 8,000 years on each side of the anchor
SIGNIFICANT_DIGITS = 10
SECONDS_PER_YEAR = 31_557_600  # Julian year, as volatility is quoted
CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)
_TWO_32 = Decimal(2**32)


def significant(value: Decimal, digits: int = SIGNIFICANT_DIGITS) -> Decimal:
    """``value`` rounded half-even to ``digits`` significant digits."""
    if value == 0:
        return Decimal(0)
    exponent = value.adjusted() - digits + 1
    return value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN, context=CONTEXT)


def _gaussian(seed: int, pair: str, side: str, level: int, index: int) -> Decimal:
    """A standard normal draw (Irwin-Hall of 12 uniforms), hashed from its coordinates."""
    digest = hashlib.blake2b(
        f"fx-walk|{seed}|{pair}|{side}|{level}|{index}".encode(), digest_size=48
    ).digest()
    total = sum(int.from_bytes(digest[i : i + 4], "big") for i in range(0, 48, 4))
    with localcontext(CONTEXT):
        return Decimal(total) / _TWO_32 - 6


def walk(seed: int, pair: str, step: int) -> Decimal:
    """W(step): a standard Brownian motion sampled at integer steps, W(0) = 0. Negative
    steps (before the anchor) follow an independent walk of their own."""
    side = "+" if step >= 0 else "-"
    n = min(abs(step), 2**LEVELS)
    if n == 0:
        return Decimal(0)
    with localcontext(CONTEXT):
        lo, hi = 0, 2**LEVELS
        w_lo = Decimal(0)
        w_hi = Decimal(hi).sqrt() * _gaussian(seed, pair, side, 0, hi)
        level = 1
        while True:
            if n == hi:
                return w_hi
            mid = (lo + hi) // 2
            w_mid = (w_lo + w_hi) / 2 + (Decimal(hi - lo) / 4).sqrt() * _gaussian(
                seed, pair, side, level, mid
            )
            if n == mid:
                return w_mid
            if n < mid:
                hi, w_hi = mid, w_mid
            else:
                lo, w_lo = mid, w_mid
            level += 1


@dataclass(frozen=True)
class RateEventView:
    """What the rate needs of an operator's rate event (``models.RateEvent``)."""

    at: datetime
    kind: str  # "pin", "unpin" or "jump"
    value: Decimal  # pin: the rate; jump: the change in basis points (signed)


@dataclass(frozen=True)
class PairView:
    """What the rate needs of a pair's row (``models.Pair``)."""

    code: str  # "USD/KRW"
    mid: Decimal  # quote currency per 1 base currency, major units, at the anchor
    anchored_at: datetime
    seed: int
    volatility_bps: int  # annualised


def step_of(pair: PairView, moment: datetime) -> int:
    """The walk's step at ``moment``: whole steps since the anchor (floor)."""
    return int((moment - pair.anchored_at).total_seconds() // STEP_SECONDS)


def mid_rate(pair: PairView, moment: datetime, events: Iterable[RateEventView] = ()) -> Decimal:
    """The reference mid rate (quote per base) at ``moment``. Only events after the anchor
    and up to ``moment`` count. If the latest pin or unpin among them is a pin, the rate is
    the pinned value times the jumps since that pin; otherwise it is the walk times every
    jump."""
    relevant = sorted((e for e in events if pair.anchored_at <= e.at <= moment), key=lambda e: e.at)
    pin: RateEventView | None = None
    for event in relevant:
        if event.kind == "pin":
            pin = event
        elif event.kind == "unpin":
            pin = None
    with localcontext(CONTEXT):
        if pin is not None:
            rate = pin.value
            jumps = [e for e in relevant if e.kind == "jump" and e.at >= pin.at]
        else:
            sigma = (
                Decimal(pair.volatility_bps)
                / 10_000
                * (Decimal(STEP_SECONDS) / SECONDS_PER_YEAR).sqrt()
            )
            step = step_of(pair, moment)
            rate = pair.mid * (sigma * walk(pair.seed, pair.code, step)).exp()
            jumps = [e for e in relevant if e.kind == "jump"]
        for jump in jumps:
            rate *= 1 + jump.value / 10_000
    return significant(rate)
