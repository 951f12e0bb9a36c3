"""Account numbers as a bank prints them: ``{{ number|account_number:bank_code }}`` →
"088 9123-456789-012-3" (money and labels: the platform's ``formatting`` library)."""

from django import template

from wallets.banks import account_display

register = template.Library()


@register.filter
def account_number(number: str, bank_code: str = "") -> str:
    return account_display(bank_code, number)
