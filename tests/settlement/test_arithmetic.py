"""Fees, VAT and the minimum payout: a table of cases worked out by hand."""

from __future__ import annotations

import pytest

from wallets.merchant_settlement.fees import order_fee, payout_or_carry


@pytest.mark.parametrize(
    ("amount", "bps", "fixed", "fee", "vat"),
    [
        (10_000, 250, 0, 250, 25),  # 2.5 % of 10,000 won
        (10_000, 330, 0, 330, 33),
        (1_234, 250, 0, 31, 3),  # 30.85 rounds half up to 31; VAT 3.1 rounds down to 3
        (1_220, 250, 0, 31, 3),  # 30.5 exactly: half up
        (1_219, 250, 0, 30, 3),  # 30.475
        (999, 250, 100, 125, 12),  # 24.975 -> 25, + 100 fixed; VAT 12.5 -> 12
        (5_000, 0, 300, 300, 30),  # fixed fee only
        (5_000, 0, 0, 0, 0),  # no fee, no VAT
        (1, 10_000, 0, 1, 0),  # 100 %: VAT of 1 won rounds down to 0
        (7, 5_000, 0, 4, 0),  # 3.5 -> 4
        (123_456_789, 275, 50, 3_395_112, 339_511),  # 3,395,061.6975 -> 3,395,062 + 50
    ],
)
def test_an_orders_fee_and_vat(amount, bps, fixed, fee, vat):
    result = order_fee(amount=amount, fee_rate_bps=bps, fixed_fee=fixed)
    assert (result.fee, result.vat, result.total) == (fee, vat, fee + vat)


@pytest.mark.parametrize(
    ("net", "minimum", "payout", "carried"),
    [
        (10_000, 0, 10_000, 0),
        (10_000, 10_000, 10_000, 0),  # at the minimum: paid
        (9_999, 10_000, 0, 9_999),  # below: carried over
        (0, 0, 0, 0),  # nothing to pay
        (-500, 0, 0, -500),  # refunds above sales: the next batch deducts it
        (-500, 1_000, 0, -500),
    ],
)
def test_payout_or_carry_over(net, minimum, payout, carried):
    assert payout_or_carry(net=net, minimum_payout=minimum) == (payout, carried)
