"""Dashboard forms of FX: a quote, its conversion, and the operators' rate table edits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Node
from wallets.form_once import OnceForm
from wallets.fx.models import RateEvent
from wallets.fx.services import DEFAULT_LOCK_SECONDS, LOCK_DURATIONS
from wallets.models import Account

LOCK_LABELS = {30: "30 seconds", 300: "5 minutes", 1800: "30 minutes"}


class QuoteForm(forms.Form):
    node = forms.ChoiceField(help_text="The node that converts.")
    source_currency = forms.ChoiceField(choices=CurrencyCode.choices, label="Sell")
    target_currency = forms.ChoiceField(choices=CurrencyCode.choices, label="Buy", initial="USD")
    side = forms.ChoiceField(
        choices=[("sell", "The amount is what I sell"), ("buy", "The amount is what I buy")],
        label="Amount fixed on",
    )
    amount = forms.CharField(max_length=40, help_text='A decimal such as "100000" or "12.34".')
    lock_seconds = forms.TypedChoiceField(
        choices=[(s, LOCK_LABELS.get(s, f"{s} s")) for s in LOCK_DURATIONS],
        coerce=int,
        initial=DEFAULT_LOCK_SECONDS,
        label="Lock the rate for",
    )

    def __init__(self, *args: Any, nodes: Iterable[Node] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["node"].choices = [(str(n.pk), n.name) for n in nodes]  # type: ignore[attr-defined]


class ConvertForm(OnceForm):
    quote = forms.UUIDField(widget=forms.HiddenInput)
    source_account = forms.ChoiceField(label="From")
    target_account = forms.ChoiceField(label="To")

    def __init__(
        self,
        *args: Any,
        sources: Iterable[Account] = (),
        targets: Iterable[Account] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source_account"].choices = _choices(sources)  # type: ignore[attr-defined]
        self.fields["target_account"].choices = _choices(targets)  # type: ignore[attr-defined]


def _choices(accounts: Iterable[Account]) -> list[tuple[str, str]]:
    return [(str(a.pk), f"{a.name} · {a.currency} · {a.account_number}") for a in accounts]


class PairForm(forms.Form):
    mid = forms.DecimalField(
        required=False, max_digits=30, decimal_places=12, help_text="A new mid re-anchors the walk."
    )
    spread_bps = forms.IntegerField(min_value=0, max_value=9_999, label="Spread (bps)")
    fee_bps = forms.IntegerField(min_value=0, max_value=9_999, label="Fee (bps)")
    volatility_bps = forms.IntegerField(
        min_value=0, max_value=50_000, label="Volatility (bps a year)"
    )
    seed = forms.IntegerField(help_text="A new seed re-anchors the walk.")
    enabled = forms.BooleanField(required=False)


class RateEventForm(forms.Form):
    kind = forms.ChoiceField(choices=RateEvent.Kind.choices)
    value = forms.CharField(
        required=False, max_length=40, help_text="Pin: the rate. Jump: signed basis points."
    )
