"""Dashboard forms. Amounts stay strings here: ``wallets.inputs`` parses them exactly as
the API does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from sandbox.currencies import CurrencyCode
from wallets.banks import BANKS, DEFAULT_BANK_CODE, account_display
from wallets.form_once import OnceForm
from wallets.models import Account


def _choice_field(form: forms.Form, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)  # declared so on the form
    return field


def _attributes(attrs: dict[str, Any]) -> SafeString:
    """Attributes as Django's widgets/attrs.html writes them: in order, ``True`` as a bare
    name, ``False`` left out."""
    return mark_safe(
        "".join(
            format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
            for name, value in attrs.items()
            if value is not False
        )
    )


class QuickSelect(forms.Select):
    """A ``<select>`` whose options are written in Python. Django renders every option
    through a template include: a tenant's 250 accounts in the transfer form's two lists
    took 40 ms a page. Same markup: name, attributes, ``selected``, option groups."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [format_html('<select name="{}"{}>', widget["name"], _attributes(widget["attrs"]))]
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(format_html('<optgroup label="{}">', group_name))
            parts.extend(
                format_html(
                    '<option value="{}"{}>{}</option>',
                    str(option["value"]),
                    _attributes(option["attrs"]),
                    option["label"],
                )
                for option in options
            )
            if group_name:
                parts.append(mark_safe("</optgroup>"))
        parts.append(mark_safe("</select>"))
        return mark_safe("\n".join(parts))


class AccountForm(forms.Form):
    currency = forms.ChoiceField(choices=CurrencyCode.choices)
    name = forms.CharField(max_length=120)
    customer_reference = forms.CharField(
        max_length=120, required=False, help_text="Your own id for the end customer (optional)."
    )
    bank_code = forms.ChoiceField(
        choices=sorted(BANKS.items()), initial=DEFAULT_BANK_CODE, label="Issuing bank"
    )


class TransferForm(OnceForm):
    source = forms.ChoiceField(label="From", widget=QuickSelect)
    destination = forms.ChoiceField(label="To", widget=QuickSelect)
    amount = forms.CharField(max_length=40, help_text='A decimal such as "12.34".')
    memo = forms.CharField(max_length=500, required=False)

    def __init__(self, *args: Any, accounts: Iterable[Account] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [
            (
                str(a.pk),
                f"{a.name} · {a.currency} · {account_display(a.bank_code, a.account_number)}",
            )
            for a in accounts
        ]
        _choice_field(self, "source").choices = choices
        _choice_field(self, "destination").choices = choices


class HistoryFilterForm(forms.Form):
    account = forms.ChoiceField(required=False, widget=QuickSelect)
    counterparty = forms.CharField(required=False, help_text="An account id or account number.")
    kind = forms.CharField(required=False)
    currency = forms.ChoiceField(
        choices=[("", "any"), *CurrencyCode.choices], required=False, widget=QuickSelect
    )
    to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    min_amount = forms.CharField(required=False, max_length=40)
    max_amount = forms.CharField(required=False, max_length=40)

    def __init__(self, *args: Any, accounts: Iterable[Account] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so the field is added here, named as in the API.
        self.fields["from"] = forms.DateField(
            required=False, widget=forms.DateInput(attrs={"type": "date"})
        )
        self.order_fields(["account", "counterparty", "kind", "currency", "from", "to"])
        _choice_field(self, "account").choices = [("", "all accounts")] + [
            (
                str(a.pk),
                f"{a.name} · {a.currency} · {account_display(a.bank_code, a.account_number)}",
            )
            for a in accounts
        ]
