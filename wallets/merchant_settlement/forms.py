"""Dashboard form of settlement: a merchant node's contract (new or changed terms)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from wallets.banknet.models import AccountLink
from wallets.merchant_settlement.models import MAX_DELAY_DAYS, SettlementContract
from wallets.models import Account


class ContractForm(forms.Form):
    account = forms.ChoiceField(label="Orders paid into", help_text="A merchant node's account.")
    link = forms.ChoiceField(label="Pay out to", help_text="A bank account verified with 1 won.")
    cycle = forms.ChoiceField(choices=SettlementContract.Cycle.choices)
    delay_days = forms.IntegerField(
        min_value=1, max_value=MAX_DELAY_DAYS, initial=1, label="n of T+n (daily)"
    )
    fee_rate_bps = forms.IntegerField(
        min_value=0, max_value=10_000, initial=250, label="Fee rate (bps)"
    )
    fixed_fee = forms.CharField(max_length=40, initial="0", label="Fixed fee per order")
    minimum_payout = forms.CharField(max_length=40, initial="0", label="Minimum payout")

    def __init__(
        self,
        *args: Any,
        accounts: Iterable[Account] = (),
        links: Iterable[AccountLink] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        account_field = self.fields["account"]
        assert isinstance(account_field, forms.ChoiceField)
        account_field.choices = [
            (str(a.pk), f"{a.wallet.node.name if a.wallet else '—'} · {a.name} · {a.currency}")
            for a in accounts
        ]
        link_field = self.fields["link"]
        assert isinstance(link_field, forms.ChoiceField)
        link_field.choices = [
            (str(link.pk), f"{link.node.name} · {link.bank_account} ({link.status})")
            for link in links
        ]
