"""The one format of money and of the platform's names on every page.

``{{ amount|money:currency }}``: the currency's minor units with its decimals and thousands
separators ("1,234.50" USD, "1,234" KRW, "0.00012000" BTC), from minor units (the models)
or from the exact decimal strings the API's presenters give. ``{{ value|label }}`` and
``{{ value|explain }}``: the words a startup reads for an internal kind, task or event type
(``sandbox.labels``). ``{{ event|object_url }}``: the page of an event's object
(``sandbox.object_pages``). Loaded as ``{% load formatting %}`` (``TEMPLATES`` in settings:
the platform is not an app of its own).
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from sandbox import labels
from sandbox.currencies import get_currency, to_decimal_string
from sandbox.object_pages import object_page

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
def label(value: str) -> str:
    return labels.label(value)


@register.filter
def explain(value: str) -> str:
    return labels.explanation(value)


@register.filter
def object_url(event: Any) -> str:
    """The page of an event's object ("" when it has none): ``{{ event|object_url }}``."""
    page = object_page(event.object_type)
    argument = getattr(event, page.argument, None) if page else None
    if page is None or not argument:
        return ""
    try:
        return reverse(page.url_name, args=[argument])
    except NoReverseMatch:
        return ""
