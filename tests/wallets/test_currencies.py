"""Amounts leave the API as exact decimal strings in each currency's precision."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from sandbox.currencies import CURRENCIES, MAX_MINOR_UNITS, to_decimal_string, to_minor_units


@given(
    minor=st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS),
    code=st.sampled_from(sorted(CURRENCIES)),
)
def test_minor_units_format_as_the_exact_decimal(minor, code):
    exponent = CURRENCIES[code].exponent
    text = to_decimal_string(minor, code)
    assert Decimal(text) == Decimal(minor).scaleb(-exponent)
    assert len(text.partition(".")[2]) == exponent  # always every decimal place
    if minor > 0:
        assert to_minor_units(text, code) == minor  # and it parses back


def test_examples():
    assert to_decimal_string(1234, "USD") == "12.34"
    assert to_decimal_string(-5, "USD") == "-0.05"
    assert to_decimal_string(1, "BTC") == "0.00000001"
    assert to_decimal_string(1000, "KRW") == "1000"
