"""Simulated bank accounts (a person's or a company's account at a bank of the network):
open, then closed."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from sandbox.errors import ApplicationError, Conflict
from sandbox.events.services import action_record
from sandbox.tenants.models import Tenant
from sandbox.tenants.services import Actor
from wallets.banknet import presenters
from wallets.banknet.models import BankAccount
from wallets.banknet.network_banks import bank_get, check_currency, normalize_account_number


@transaction.atomic
def bank_account_create(
    *,
    tenant: Tenant,
    actor: Actor,
    bank_code: str,
    account_number: str,
    holder_name: str,
    holder_type: str = BankAccount.HolderType.PERSON,
    currency: str | None = None,
) -> BankAccount:
    bank = bank_get(bank_code)
    number = normalize_account_number(bank, account_number)
    currency = currency or bank.currency
    check_currency(bank, currency)
    holder_name = (holder_name or "").strip()
    if not holder_name or len(holder_name) > 120:
        raise ApplicationError(
            "The holder's name has 1 to 120 characters.",
            code="invalid_holder_name",
            fields={"holder_name": ["1 to 120 characters."]},
        )
    if holder_type not in BankAccount.HolderType.values:
        raise ApplicationError(f"Unknown holder type {holder_type!r}.", code="invalid_holder_type")
    if BankAccount.objects.filter(tenant=tenant, bank=bank, account_number=number).exists():
        raise Conflict("This account already exists at this bank.", code="bank_account_exists")
    account = BankAccount.objects.create(
        tenant=tenant,
        bank=bank,
        account_number=number,
        holder_name=holder_name,
        holder_type=holder_type,
        currency=currency,
    )
    action_record(
        actor=actor,
        action="bank_account.created",
        tenant=tenant,
        obj=account,
        data=presenters.bank_account_json(account),
    )
    return account


@transaction.atomic
def bank_account_close(*, bank_account: BankAccount, actor: Actor) -> BankAccount:
    updated = BankAccount.objects.filter(pk=bank_account.pk, status=BankAccount.Status.OPEN).update(
        status=BankAccount.Status.CLOSED, closed_at=timezone.now()
    )
    if updated != 1:
        raise Conflict("This account is already closed.", code="bank_account_closed")
    bank_account.refresh_from_db()
    action_record(
        actor=actor,
        action="bank_account.closed",
        tenant=bank_account.tenant,
        obj=bank_account,
        data=presenters.bank_account_json(bank_account),
    )
    return bank_account
