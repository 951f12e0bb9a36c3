"""Simulated bank accounts (a person's or a company's account at a bank of the network):
open, then closed."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from sandbox.errors import ApplicationError, Conflict
from sandbox.events.services import action_record
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import Actor
from wallets.banknet import presenters
from wallets.banknet.models import Bank, BankAccount
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


def node_sender_find(node: Node) -> BankAccount | None:
    """A node's simulated sender: the tenant's open account in the node's currency, at a
    bank of the node's country first (what the deposit form offers first)."""
    candidates = list(
        BankAccount.objects.for_tenant(node.tenant)
        .filter(status=BankAccount.Status.OPEN, currency=node.base_currency)
        .select_related("bank")
        .order_by("created_at")
    )
    local = [a for a in candidates if a.bank.country == str(node.country)]
    ranked = local or candidates
    return ranked[0] if ranked else None


def node_sender_open(*, node: Node, actor: Actor) -> BankAccount:
    """The node's simulated sender, opened if it has none (a customer at a bank of the
    node's country, in its currency)."""
    found = node_sender_find(node)
    if found is not None:
        return found
    banks = Bank.objects.filter(currency=node.base_currency)
    bank = banks.filter(country=str(node.country)).first() or banks.first()
    if bank is None:
        raise Conflict(f"No bank of the network keeps {node.base_currency}.", code="no_bank")
    length = max(bank.account_number_min_length, min(12, bank.account_number_max_length))
    for _attempt in range(5):
        number = str(secrets.randbelow(9) + 1) + "".join(
            str(secrets.randbelow(10)) for _ in range(length - 1)
        )
        if not BankAccount.objects.filter(bank=bank, account_number=number).exists():
            break
    return bank_account_create(
        tenant=node.tenant,
        actor=actor,
        bank_code=bank.code,
        account_number=number,
        holder_name=f"Test customer of {node.name}"[:120],
        currency=node.base_currency,
    )
