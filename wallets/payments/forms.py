"""Dashboard forms of payments: a new request (merchant), a refund, the payer's approval."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from wallets.form_once import OnceForm
from wallets.models import Account


def _account_choices(accounts: Iterable[Account]) -> list[tuple[str, str]]:
    return [
        (str(a.pk), f"{a.wallet.node.name if a.wallet else '—'} · {a.name} · {a.currency}")
        for a in accounts
    ]


class PaymentRequestForm(forms.Form):
    account = forms.ChoiceField(label="Pay into", help_text="The merchant node's account.")
    order_id = forms.CharField(max_length=64, label="Order id")
    amount = forms.CharField(max_length=40, help_text='A decimal such as "12.34".')
    description = forms.CharField(max_length=200, required=False)
    expires_in = forms.IntegerField(
        min_value=30, max_value=604_800, initial=900, label="Expires in (seconds)"
    )

    def __init__(self, *args: Any, accounts: Iterable[Account] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["account"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = _account_choices(accounts)


class RefundForm(OnceForm):
    amount = forms.CharField(max_length=40, required=False, help_text="Empty: all that is left.")
    reason = forms.CharField(max_length=200, required=False)


class ApproveForm(OnceForm):
    payload = forms.CharField(widget=forms.HiddenInput)
    account = forms.ChoiceField(label="Pay from")

    def __init__(self, *args: Any, accounts: Iterable[Account] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["account"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = _account_choices(accounts)
