"""A simulated bank's answer to a real-name check (``sandbox.identities.verification``):
how well a claimed name matches an account's holder, as a 0-100 score, never the holder's
name. Registered in the platform's registry by ``BanknetConfig.ready()``."""

from __future__ import annotations

from typing import Any

from sandbox.errors import ApplicationError
from sandbox.identities.matching import score_name
from sandbox.identities.verification.registry import HolderMatch
from wallets.banknet.models import Bank, BankAccount
from wallets.banknet.network_banks import normalize_account_number


def account_holder_match(
    tenant: Any, bank_code: str, account_number: str, claimed_name: str
) -> HolderMatch | None:
    bank = Bank.objects.filter(pk=str(bank_code or "").strip()).first()
    if bank is None:
        return None  # not a bank of this network
    try:
        number = normalize_account_number(bank, account_number)
    except ApplicationError:
        return HolderMatch(found=False)
    account = BankAccount.objects.filter(tenant=tenant, bank=bank, account_number=number).first()
    if account is None:
        return HolderMatch(found=False)
    return HolderMatch(
        found=True,
        open=account.status == BankAccount.Status.OPEN,
        score=score_name(claimed_name, account.holder_name),
    )
