"""Dashboard form of a remittance."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from wallets.form_once import OnceForm
from wallets.models import Account


def _label(account: Account) -> str:
    node = account.wallet.node if account.wallet else None
    where = f"{node.name} ({node.country})" if node else "—"
    return f"{where} · {account.name} · {account.currency}"


def _choices(accounts: Iterable[Account]) -> list[tuple[str, str]]:
    return [(str(a.pk), _label(a)) for a in accounts]


class RemittanceForm(OnceForm):
    sender_account = forms.ChoiceField(label="From", help_text="The sender's account.")
    beneficiary_account = forms.ChoiceField(
        label="To", help_text="An account at a node in another country."
    )
    amount = forms.CharField(max_length=40, help_text="In the sender's currency.")
    originator_name = forms.CharField(max_length=200, label="Originator name")
    beneficiary_name = forms.CharField(max_length=200, label="Beneficiary name")
    reference = forms.CharField(
        max_length=140,
        required=False,
        help_text="Beneficiary reference (magic values: docs/fx.md).",
    )
    memo = forms.CharField(max_length=140, required=False)

    def __init__(self, *args: Any, accounts: Iterable[Account] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = _choices(accounts)
        for name in ("sender_account", "beneficiary_account"):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = choices
