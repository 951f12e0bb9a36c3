"""Amounts leave the API as exact decimal strings in each currency's precision."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.currencies import (
    AMOUNT_GRAMMAR,
    CURRENCIES,
    MAX_MINOR_UNITS,
    AmountError,
    to_decimal_string,
    to_minor_units,
)


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


# --- The one amount grammar (README, "Amounts") ----------------------------------------------

ACCEPTED = [
    ("1", "KRW", 1),
    ("10", "KRW", 10),
    ("1000000", "KRW", 1_000_000),
    ("12.34", "USD", 1234),
    ("12.3", "USD", 1230),
    ("0.50", "USD", 50),
    ("0.05", "USD", 5),
    ("0.00000001", "BTC", 1),
    ("10.00", "USD", 1000),
    ("10.0", "KRW", 10),  # trailing zeros say nothing more than the currency has
    ("10000000000000", "USD", MAX_MINOR_UNITS),
]

REFUSED = [
    ("1e1", "KRW", "invalid_amount"),
    ("1E1", "KRW", "invalid_amount"),
    (" 10", "KRW", "invalid_amount"),
    ("10 ", "KRW", "invalid_amount"),
    ("10\n", "KRW", "invalid_amount"),
    ("\t10", "KRW", "invalid_amount"),
    ("1 000", "KRW", "invalid_amount"),
    ("+10", "KRW", "invalid_amount"),
    ("-10", "KRW", "invalid_amount"),
    ("-0", "KRW", "invalid_amount"),
    ("1_0", "KRW", "invalid_amount"),
    ("10.", "KRW", "invalid_amount"),
    (".5", "USD", "invalid_amount"),
    (".", "USD", "invalid_amount"),
    ("1.2.3", "USD", "invalid_amount"),
    ("1,5", "USD", "invalid_amount"),
    ("", "KRW", "invalid_amount"),
    ("010", "KRW", "invalid_amount"),
    ("00", "KRW", "invalid_amount"),
    ("00.5", "USD", "invalid_amount"),
    ("\u0663", "KRW", "invalid_amount"),  # Arabic-Indic three
    ("\uff11\uff10", "KRW", "invalid_amount"),  # full-width 10
    ("\u0967\u0966", "KRW", "invalid_amount"),  # Devanagari 10
    ("NaN", "KRW", "invalid_amount"),
    ("Infinity", "KRW", "invalid_amount"),
    ("0x10", "KRW", "invalid_amount"),
    ("10\x00", "KRW", "invalid_amount"),
    ("0", "KRW", "invalid_amount"),  # zero
    ("0.00", "USD", "invalid_amount"),
    ("12.345", "USD", "invalid_precision"),
    ("1.5", "KRW", "invalid_precision"),
    ("0.000000001", "BTC", "invalid_precision"),
    ("10000000000000.01", "USD", "amount_too_large"),
    ("1000000000000001", "KRW", "amount_too_large"),
]


@pytest.mark.parametrize("text,code,minor", ACCEPTED)
def test_the_grammar_accepts(text, code, minor):
    assert to_minor_units(text, code) == minor


@pytest.mark.parametrize("text,code,error_code", REFUSED)
def test_the_grammar_refuses(text, code, error_code):
    with pytest.raises(AmountError) as refused:
        to_minor_units(text, code)
    assert refused.value.code == error_code
    if error_code == "invalid_amount" and text not in ("0", "0.00"):
        assert '"12.34"' in refused.value.message  # it says the expected form
        assert AMOUNT_GRAMMAR.fullmatch(text) is None


@pytest.mark.parametrize("value", [10, 10.5, True, None, ["10"], {"a": "10"}])
def test_numbers_and_other_json_are_refused(value):
    with pytest.raises(AmountError) as refused:
        to_minor_units(value, "KRW")
    assert refused.value.code == "invalid_amount"


def test_zero_passes_where_allowed_and_internal_decimals_still_work():
    assert to_minor_units("0", "KRW", allow_zero=True) == 0
    assert to_minor_units("0.00", "USD", allow_zero=True) == 0
    assert to_minor_units(Decimal("12.34"), "USD") == 1234
    assert to_minor_units(Decimal("1E+1"), "KRW") == 10  # a Decimal is the caller's own
