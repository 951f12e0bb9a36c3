"""``wallets.inputs.parse_amount`` judges each amount text once per currency (a bulk's
amounts repeat), and answers exactly as ``to_minor_units`` would, every time."""

from __future__ import annotations

import pytest

from sandbox.errors import ApplicationError
from wallets.inputs import parse_amount


def refusal(text: str, currency: str, *, allow_zero: bool = False) -> tuple[str, dict]:
    with pytest.raises(ApplicationError) as refused:
        parse_amount(text, currency, allow_zero=allow_zero)
    return refused.value.code, refused.value.fields


def test_the_same_text_is_judged_in_each_currency():
    assert parse_amount("1.5", "USD") == 150
    assert refusal("1.5", "KRW")[0] == "invalid_precision"
    assert parse_amount("1.5", "USD") == 150


def test_a_refused_amount_is_refused_every_time_with_the_same_words():
    first = refusal("01", "KRW")
    assert first[0] == "invalid_amount"
    assert refusal("01", "KRW") == first


def test_zero_is_refused_unless_allowed_whichever_was_asked_first():
    assert parse_amount("0", "KRW", allow_zero=True) == 0
    assert refusal("0", "KRW")[0] == "invalid_amount"
    assert parse_amount("0", "KRW", allow_zero=True) == 0


def test_numbers_are_refused_as_before():
    code, fields = refusal(100, "KRW")  # type: ignore[arg-type]
    assert code == "invalid_amount"
    assert list(fields) == ["amount"]
