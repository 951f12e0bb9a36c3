"""The currencies the sandbox knows, with their minor-unit exponents.

Amounts are stored and computed as integers of minor units (won, cents, yen, satoshi);
decimals appear only at the edges (API, forms, templates), converted here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import models

# Stored amounts are signed 64-bit integers; no single amount may come near the limit so
# that sums of many entries cannot overflow either.
MAX_MINOR_UNITS = 10**15


@dataclass(frozen=True)
class Currency:
    code: str
    exponent: int
    name: str

    @property
    def max_amount(self) -> Decimal:
        return Decimal(MAX_MINOR_UNITS) / (Decimal(10) ** self.exponent)


class CurrencyCode(models.TextChoices):
    KRW = "KRW", "Korean won"
    USD = "USD", "US dollar"
    JPY = "JPY", "Japanese yen"
    BTC = "BTC", "Bitcoin"


CURRENCIES: dict[str, Currency] = {
    "KRW": Currency("KRW", 0, "Korean won"),
    "USD": Currency("USD", 2, "US dollar"),
    "JPY": Currency("JPY", 0, "Japanese yen"),
    "BTC": Currency("BTC", 8, "Bitcoin"),
}


# The one grammar of an amount the API accepts (README, "Amounts"): ASCII digits, at most one
# decimal point with a digit on each side, no sign, exponent, space, underscore, non-ASCII
# digit or leading zero (but "0.50"). ``fullmatch`` and explicit [0-9]: ``$`` would let a
# trailing newline through, and ``\d`` matches every script's digits.
AMOUNT_GRAMMAR = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
AMOUNT_FORM = (
    'Amounts are decimal strings of ASCII digits with at most one point, such as "12.34", '
    '"100" or "0.50": no sign, exponent, space, underscore or leading zero.'
)


def amount_fault(text: str) -> str:
    """Why ``text`` is outside ``AMOUNT_GRAMMAR``, in words a person acts on (the first
    fault found); "" when it is inside."""
    if AMOUNT_GRAMMAR.fullmatch(text):
        return ""
    if text == "":
        return "it is empty"
    if any(c.isdigit() and c not in "0123456789" for c in text):
        return "it has digits other than 0-9"
    if any(c in "eE" for c in text):
        return "it has an exponent; write the number in full"
    if any(c in "+-" for c in text):
        return "it has a sign; amounts have none"
    if "_" in text:
        return "it has an underscore"
    if any(c.isspace() for c in text):
        return "it has a space"
    if "," in text:
        return "it has a separator; send digits only"
    if re.fullmatch(r"0[0-9]+(?:\.[0-9]+)?", text):
        return "it has a leading zero"
    return "it is not a decimal number with at most one point and a digit on each side"


class AmountError(ValueError):
    """An amount that cannot be represented in its currency; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def get_currency(code: str) -> Currency:
    try:
        return CURRENCIES[code]
    except (KeyError, TypeError):
        raise AmountError(
            "unknown_currency", f"Unknown currency {code!r}; use one of {', '.join(CURRENCIES)}."
        ) from None


def to_minor_units(amount: str | Decimal, currency_code: str, *, allow_zero: bool = False) -> int:
    """Parse a decimal amount into minor units, refusing anything inexact.

    Floats are refused on purpose: 0.1 + 0.2 is not 0.3, and money must never be rounded
    silently. Callers pass the string they received: a string must match ``AMOUNT_GRAMMAR``
    exactly (nothing stripped, nothing else that ``Decimal`` would read). Internal callers
    may pass a ``Decimal``.
    """
    currency = get_currency(currency_code)
    if isinstance(amount, bool) or not isinstance(amount, (str, Decimal)):
        raise AmountError(
            "invalid_amount", 'Amounts must be decimal strings such as "12.34", not numbers.'
        )
    if isinstance(amount, str):
        if AMOUNT_GRAMMAR.fullmatch(amount) is None:
            raise AmountError(
                "invalid_amount",
                f"{amount[:40]!r} is not an amount: {amount_fault(amount)}. {AMOUNT_FORM}",
            )
        value = Decimal(amount)
    else:
        value = amount
    if not value.is_finite():
        raise AmountError("invalid_amount", f"{amount!r} is not a finite number.")
    scaled = value.scaleb(currency.exponent)
    if scaled != scaled.to_integral_value():
        raise AmountError(
            "invalid_precision",
            f"{currency.code} has {currency.exponent} decimal places; {amount!r} has more.",
        )
    minor = int(scaled)
    if minor < 0 or (minor == 0 and not allow_zero):
        raise AmountError("invalid_amount", "The amount must be greater than zero.")
    if minor > MAX_MINOR_UNITS:
        raise AmountError(
            "amount_too_large",
            f"The largest amount is {currency.max_amount} {currency.code}.",
        )
    return minor


def to_decimal_string(minor_units: int, currency_code: str) -> str:
    """Format minor units as the exact decimal string the API returns ("12.34")."""
    exponent = get_currency(currency_code).exponent
    if exponent == 0:
        return str(minor_units)
    # Integer arithmetic: the same digits as Decimal formatting, at a fraction of the cost
    # (a bulk's events format tens of thousands of amounts).
    whole, fraction = divmod(abs(minor_units), 10**exponent)
    sign = "-" if minor_units < 0 else ""
    return f"{sign}{whole}.{fraction:0{exponent}d}"
