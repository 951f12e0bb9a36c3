"""Dashboard forms for the bank network. Amounts stay strings: ``wallets.inputs`` parses
them exactly as the API does. Money-moving forms carry a fresh idempotency key each time
they are rendered, so a double submit moves money once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from wallets.banknet.cards import TEST_CARDS
from wallets.banknet.models import AccountLink, Bank, BankAccount, Withdrawal
from wallets.banks import BANKS as VIRTUAL_ACCOUNT_BANKS
from wallets.banks import DEFAULT_BANK_CODE, account_display
from wallets.form_once import OnceForm
from wallets.models import Account

Choices = list[tuple[str, str]]


def set_choices(form: forms.Form, name: str, choices: Choices) -> None:
    """Fill a choice field when the form is made (the options depend on the tenant)."""
    field = form.fields[name]
    if not isinstance(field, forms.ChoiceField):
        raise TypeError(f"{name} is not a choice field.")
    field.choices = choices


def _account_choices(accounts: Iterable[Account]) -> Choices:
    return [
        (str(a.pk), f"{a.name} · {a.currency} · {account_display(a.bank_code, a.account_number)}")
        for a in accounts
    ]


def bank_choices() -> Choices:
    return [(b.code, f"{b.code} · {b.name}") for b in Bank.objects.all()]


class BankAccountForm(forms.Form):
    bank_code = forms.ChoiceField(label="Bank")
    account_number = forms.CharField(max_length=30)
    holder_name = forms.CharField(max_length=120, label="Holder's name")
    holder_type = forms.ChoiceField(choices=BankAccount.HolderType.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "bank_code", bank_choices())


class DepositForm(OnceForm):
    """To one of the node's open accounts (the picker), or to any virtual account number,
    as the API allows: an unknown or closed one, or another currency's, comes back."""

    sender = forms.ChoiceField(label="From (simulated account)")
    account = forms.ChoiceField(label="To (one of this node's virtual accounts)", required=False)
    bank_code = forms.ChoiceField(label="or to a virtual account at", required=False)
    account_number = forms.CharField(
        max_length=30,
        required=False,
        label="number",
        help_text="Any 14-digit virtual account number, in the sender's currency: an unknown "
        "or closed account sends the deposit back.",
    )
    amount = forms.CharField(max_length=40)
    memo = forms.CharField(max_length=200, required=False)
    delay_seconds = forms.IntegerField(min_value=0, initial=0, label="Extra delay (seconds)")

    def __init__(
        self,
        *args: Any,
        senders: Iterable[BankAccount] = (),
        accounts: Iterable[Account] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "sender", [(str(s.pk), str(s)) for s in senders])
        set_choices(
            self,
            "account",
            [("", "— a number typed below —")]
            + [
                (
                    str(a.pk),
                    f"{a.name} · {a.currency} · {account_display(a.bank_code, a.account_number)}",
                )
                for a in accounts
            ],
        )
        set_choices(
            self,
            "bank_code",
            [
                (b.code, f"{b.code} · {b.name}")
                for b in Bank.objects.filter(ledger_code__in=VIRTUAL_ACCOUNT_BANKS)
            ],
        )
        self.fields["bank_code"].initial = DEFAULT_BANK_CODE

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        picked, typed = data.get("account"), (data.get("account_number") or "").strip()
        if picked and typed:
            self.add_error("account_number", "Pick one of your accounts or type a number.")
        elif not picked and not typed:
            self.add_error("account", "Pick one of your accounts, or type any number below.")
        elif typed and not data.get("bank_code"):
            self.add_error("bank_code", "Which bank issued the number?")
        return data


class TransferForm(OnceForm):
    account = forms.ChoiceField(label="From")
    bank_code = forms.ChoiceField(label="To bank")
    account_number = forms.CharField(max_length=30)
    holder_name = forms.CharField(max_length=120, label="Recipient's name")
    amount = forms.CharField(max_length=40)
    memo = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, accounts: Iterable[Account] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", _account_choices(accounts))
        set_choices(self, "bank_code", bank_choices())


class LinkForm(forms.Form):
    bank_code = forms.ChoiceField(label="Bank")
    account_number = forms.CharField(max_length=30)
    holder_name = forms.CharField(max_length=120, label="Holder's name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "bank_code", bank_choices())


class ConfirmForm(forms.Form):
    link = forms.CharField(widget=forms.HiddenInput)
    code = forms.CharField(max_length=8, label="Code from the 1 KRW memo")


class WithdrawForm(OnceForm):
    account = forms.ChoiceField(label="From")
    link = forms.ChoiceField(label="To (verified account)")
    amount = forms.CharField(max_length=40)

    def __init__(
        self,
        *args: Any,
        accounts: Iterable[Account] = (),
        links: Iterable[AccountLink] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", _account_choices(accounts))
        set_choices(self, "link", [(str(link.pk), str(link.bank_account)) for link in links])


class CardForm(OnceForm):
    account = forms.ChoiceField(label="Pay into")
    card_number = forms.ChoiceField(
        choices=[(n, f"{n} · {c.brand} · {c.description}") for n, c in TEST_CARDS.items()],
        label="Test card",
    )
    amount = forms.CharField(max_length=40)
    exp_month = forms.IntegerField(min_value=1, max_value=12, initial=12)
    exp_year = forms.IntegerField(min_value=2000, max_value=2100, initial=2030)
    cvc = forms.CharField(max_length=4, initial="123", help_text="Four digits for Amex (3782…).")

    def __init__(self, *args: Any, accounts: Iterable[Account] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "account", _account_choices(accounts))


class FailNextForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=1000, initial=1)
    reason = forms.ChoiceField(choices=Withdrawal.FailureReason.choices)


class DelayNextForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=1000, initial=1)
    seconds = forms.IntegerField(min_value=1, max_value=259200, initial=3600)


class ScenarioForm(forms.Form):
    file = forms.FileField(required=False, help_text="A .yaml, .yml or .json scenario.")
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}), required=False, label="…or paste it"
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        upload = data.get("file")
        if upload is not None:
            if upload.size > 200_000:
                raise forms.ValidationError("A scenario has at most 200,000 characters.")
            data["source"] = upload.read().decode("utf-8", "replace")
        elif data.get("text"):
            data["source"] = data["text"]
        else:
            raise forms.ValidationError("Upload a file or paste a scenario.")
        return data


class BankSettingsForm(forms.Form):
    opens_at = forms.TimeField()
    closes_at = forms.TimeField(help_text="Equal to the opening: open all day.")
    business_days = forms.CharField(max_length=7, help_text="0 = Monday … 6 = Sunday.")
    maintenance_starts_at = forms.TimeField(required=False)
    maintenance_ends_at = forms.TimeField(required=False)
    processing_delay_seconds = forms.IntegerField(min_value=0, max_value=86400)
    daily_withdrawal_limit = forms.CharField(max_length=40, help_text="In the bank's currency.")
    is_online = forms.BooleanField(required=False, label="Online for everyone")
