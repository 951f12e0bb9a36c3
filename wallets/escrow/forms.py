from __future__ import annotations

from typing import Any

from django import forms

from wallets.escrow.models import Escrow
from wallets.form_once import OnceForm


class EscrowForm(OnceForm):
    payer_account = forms.ChoiceField(label="Payer account")
    payee_account = forms.ChoiceField(label="Payee account")
    amount = forms.CharField(max_length=40, help_text='A decimal string, e.g. "12.34".')
    release_condition = forms.ChoiceField(choices=Escrow.ReleaseCondition.choices)
    timeout_seconds = forms.IntegerField(initial=86_400, help_text="60 to 1209600 (14 days).")
    dispute_window_seconds = forms.IntegerField(initial=3_600, help_text="0 to the timeout.")
    fee_rate_bps = forms.IntegerField(initial=0, help_text="0 to 10000.")
    fixed_fee = forms.CharField(max_length=40, initial="0", help_text="With the first release.")
    description = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, accounts: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("payer_account", "payee_account"):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = accounts
