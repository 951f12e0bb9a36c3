"""The one format of money and of account numbers on every page.

``{{ amount|money:currency }}``: the currency's minor units with its decimals and thousands
separators ("1,234.50" USD, "1,234" KRW, "0.00012000" BTC), from minor units (the models)
or from the exact decimal strings the API's presenters give. ``{{ number|account_number:
bank_code }}``: "088 9123-456789-012-3". ``{{ value|label }}``: the words a startup reads
for an internal kind, task or event type (``sandbox.labels``).
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from sandbox import labels
from sandbox.currencies import get_currency, to_decimal_string
from wallets.banks import account_display

register = template.Library()


@register.filter
def money(amount: int | str | Decimal | None, currency: str) -> str:
    """``{{ account.posted_balance|money:account.currency }}`` → "1,234.50"."""
    if amount is None or amount == "":
        return ""
    if isinstance(amount, int):
        text = to_decimal_string(amount, currency)
    else:
        try:
            exponent = get_currency(currency).exponent
            text = f"{Decimal(str(amount)):.{exponent}f}"
        except (InvalidOperation, ValueError):
            return str(amount)
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}"
    return f"{sign}{grouped}.{fraction}" if fraction else f"{sign}{grouped}"


@register.filter
def account_number(number: str, bank_code: str = "") -> str:
    return account_display(bank_code, number)


@register.filter
def label(value: str) -> str:
    return labels.label(value)


@register.filter
def explain(value: str) -> str:
    return labels.explanation(value)


@register.filter
def object_url(event: Any) -> str:
    """The page of an event's object ("" when it has none): ``{{ event|object_url }}``."""
    try:
        if event.object_type in labels.OBJECT_PAGES and event.object_id:
            return reverse(labels.OBJECT_PAGES[event.object_type], args=[event.object_id])
        if event.object_type in labels.ON_NODE_BANK_PAGE and event.node_id:
            return reverse("banknet:node", args=[event.node_id])
    except NoReverseMatch:
        pass
    return ""
