from django import template

from sandbox.currencies import to_decimal_string
from wallets.banks import format_account_number

register = template.Library()


@register.filter
def money(minor_units: int | None, currency: str) -> str:
    """``{{ account.posted_balance|money:account.currency }}`` → "1,234.50"."""
    if minor_units is None:
        return ""
    text = to_decimal_string(int(minor_units), currency)
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}"
    return f"{sign}{grouped}.{fraction}" if fraction else f"{sign}{grouped}"


@register.filter
def account_number(number: str) -> str:
    return format_account_number(number) if number and len(number) == 14 else number
