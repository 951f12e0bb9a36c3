"""Dashboard forms. Amounts stay strings here: ``wallets.inputs`` parses them exactly as
the API does."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django import forms

from sandbox.currencies import CurrencyCode
from wallets.banks import BANKS, DEFAULT_BANK_CODE
from wallets.models import Account


def _choice_field(form: forms.Form, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)  # declared so on the form
    return field


class AccountForm(forms.Form):
    currency = forms.ChoiceField(choices=CurrencyCode.choices)
    name = forms.CharField(max_length=120)
    customer_reference = forms.CharField(
        max_length=120, required=False, help_text="Your own id for the end customer (optional)."
    )
    bank_code = forms.ChoiceField(
        choices=sorted(BANKS.items()), initial=DEFAULT_BANK_CODE, label="Issuing bank"
    )


class TransferForm(forms.Form):
    source = forms.ChoiceField(label="From")
    destination = forms.ChoiceField(label="To")
    amount = forms.CharField(max_length=40, help_text='A decimal such as "12.34".')
    memo = forms.CharField(max_length=500, required=False)
    # A new key per rendered form: a double submit posts once (wallets.idempotency).
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=255)

    def __init__(self, *args: Any, accounts: Iterable[Account] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [
            (str(a.pk), f"{a.name} · {a.currency} · {a.bank_code}-{a.account_number}")
            for a in accounts
        ]
        _choice_field(self, "source").choices = choices
        _choice_field(self, "destination").choices = choices
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", str(uuid.uuid4()))


class HistoryFilterForm(forms.Form):
    account = forms.ChoiceField(required=False)
    counterparty = forms.CharField(required=False, help_text="An account id or account number.")
    kind = forms.CharField(required=False)
    currency = forms.ChoiceField(choices=[("", "any"), *CurrencyCode.choices], required=False)
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
            (str(a.pk), f"{a.name} · {a.currency} · {a.account_number}") for a in accounts
        ]
