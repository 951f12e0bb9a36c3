"""The rate model and the quote arithmetic, apart from the database: the walk is a pure
function of (seed, pair, time) that replays, moves like a random walk, and obeys pins and
jumps; the amounts of any quote balance in minor units."""

from __future__ import annotations

import importlib
import itertools
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wallets.fx import pricing, rates, table

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
PAIR = rates.PairView("USD/KRW", Decimal("1380"), ANCHOR, seed=11, volatility_bps=800)


def test_the_rate_at_a_moment_replays_whatever_was_asked_before():
    moments = [ANCHOR + timedelta(minutes=m) for m in (0, 7, 1440, 90_000, -30)]
    first = [rates.mid_rate(PAIR, t) for t in moments]
    again = [rates.mid_rate(PAIR, t) for t in reversed(moments)][::-1]
    assert first == again
    assert first[0] == Decimal("1380")  # step 0 is the anchor's mid
    assert len(set(first)) == len(first)  # and it moves


def test_another_seed_is_another_walk():
    other = rates.PairView("USD/KRW", Decimal("1380"), ANCHOR, seed=12, volatility_bps=800)
    moment = ANCHOR + timedelta(hours=5)
    assert rates.mid_rate(other, moment) != rates.mid_rate(PAIR, moment)


def test_the_walk_has_independent_unit_steps():
    steps = [rates.walk(11, "USD/KRW", n + 1) - rates.walk(11, "USD/KRW", n) for n in range(400)]
    assert abs(statistics.fmean(map(float, steps))) < 0.2
    assert 0.8 < statistics.pvariance(map(float, steps)) < 1.2


def test_the_walk_moves_about_as_the_volatility_says():
    """8% a year is about 0.42% a day: a day's log change over many days has that spread."""
    days = [rates.mid_rate(PAIR, ANCHOR + timedelta(days=d)) for d in range(201)]
    changes = [float((after / before).ln()) for before, after in itertools.pairwise(days)]
    daily = 0.08 * (1 / 365.25) ** 0.5
    assert 0.7 * daily < statistics.pstdev(changes) < 1.3 * daily


def test_a_pin_holds_the_rate_and_jumps_move_it_from_there():
    pin_at = ANCHOR + timedelta(hours=1)
    events = [
        rates.RateEventView(pin_at, "pin", Decimal("1400")),
        rates.RateEventView(pin_at + timedelta(hours=1), "jump", Decimal("-250")),
        rates.RateEventView(pin_at + timedelta(hours=3), "unpin", Decimal(0)),
    ]
    assert rates.mid_rate(PAIR, pin_at - timedelta(minutes=1), events) != Decimal("1400")
    assert rates.mid_rate(PAIR, pin_at + timedelta(minutes=30), events) == Decimal("1400")
    assert rates.mid_rate(PAIR, pin_at + timedelta(hours=2), events) == Decimal("1365")
    later = pin_at + timedelta(hours=4)
    walk_only = rates.mid_rate(PAIR, later)
    # unpinned: the walk again, with every jump since the anchor
    assert rates.mid_rate(PAIR, later, events) == pytest.approx(
        walk_only * Decimal("0.975"), rel=Decimal("1e-9")
    )


RATES = st.decimals(min_value=Decimal("1e-9"), max_value=Decimal("2e8"), places=12).map(
    rates.significant
)
CODES = st.sampled_from(["KRW", "USD", "JPY", "BTC"])


@settings(max_examples=400, deadline=None)
@given(
    mid=RATES.filter(lambda r: r > 0),
    spread=st.integers(0, 500),
    fee=st.integers(0, 500),
    amount=st.integers(1, 10**12),
    source=CODES,
    target=CODES,
    buying=st.booleans(),
)
def test_any_quotes_legs_balance_in_minor_units(mid, spread, fee, amount, source, target, buying):
    price = pricing.price(mid, spread)
    compute = pricing.amounts_buying if buying else pricing.amounts_selling
    amounts = compute(amount, source=source, target=target, price=price, fee_bps=fee)
    net = amounts.sell - amounts.fee
    # the source legs: -S from the customer, +N to the desk, +F to revenue
    assert -amounts.sell + net + amounts.fee == 0
    # the target legs: -M from the desk, +(M - T) to revenue, +T to the customer
    assert -amounts.mid + (amounts.mid - amounts.buy) + amounts.buy == 0
    assert amounts.fee >= 0 and price.rate <= price.reference_rate
    if not buying:
        assert amounts.sell == amount and amounts.buy <= amounts.mid
        assert amounts.fee == int((Decimal(amount) * fee / 10_000).to_integral_value())
    else:
        assert amounts.buy == amount


def test_rounding_is_half_even():
    """0.5, 1.5 and 2.5 cents go to the even neighbour: 0, 2 and 2."""
    price = pricing.Price(reference_rate=Decimal("0.005"), rate=Decimal("0.005"))
    got = [
        pricing.amounts_selling(s, source="JPY", target="USD", price=price, fee_bps=0).buy
        for s in (1, 3, 5)
    ]
    assert got == [0, 2, 2]


def test_the_migration_copied_the_table():
    migration = importlib.import_module("wallets.fx.migrations.0002_rate_table")
    assert (migration.ANCHOR, migration.SEED) == (table.ANCHOR, table.SEED)
    assert tuple(migration.PAIRS) == table.PAIRS
