"""The banks of the network (rows of ``banknet_bank``, copied from the static table in
``wallets.banks``): lookups, their rules for account numbers and currencies, the operators'
settings, and the tester controls that take a bank offline for one tenant and back."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from sandbox.errors import ApplicationError, Conflict, Forbidden
from sandbox.events.services import action_record
from sandbox.tenants.models import Tenant
from sandbox.tenants.services import Actor, audit_record
from wallets import banks as static_banks
from wallets import services as ledger
from wallets.banknet import presenters
from wallets.banknet.common import wake_waiting
from wallets.banknet.models import Bank, BankOutage
from wallets.models import Account


def seed_banks() -> int:
    """Create the banks of the static table (``wallets.banks``) that have no row (after a
    test database flush, say), leaving edited ones alone; returns how many were created."""
    created = 0
    for bank in static_banks.NETWORK_BANKS:
        _, made = Bank.objects.get_or_create(code=bank.code, defaults=bank.row())
        created += made
    return created


def bank_get(code: Any, field: str = "bank_code") -> Bank:
    bank = Bank.objects.filter(pk=str(code or "").strip()).first()
    if bank is None:
        message = f"Unknown bank code {code!r}."
        raise ApplicationError(message, code="unknown_bank", fields={field: [message]})
    return bank


def bank_settlement_account(bank: Bank, currency: str | None = None) -> Account:
    """The bank's settlement account in the ledger: the other side of money entering from,
    or leaving to, that bank."""
    return ledger.platform_account(
        purpose=Account.Purpose.SETTLEMENT,
        currency=currency or bank.currency,
        bank_code=bank.ledger_code,
    )


def bank_is_offline(*, tenant: Tenant, bank: Bank) -> bool:
    if not Bank.objects.filter(pk=bank.pk, is_online=True).exists():
        return True
    return BankOutage.objects.filter(tenant=tenant, bank=bank, ended_at__isnull=True).exists()


BANK_EDITABLE_FIELDS = (
    "opens_at",
    "closes_at",
    "business_days",
    "maintenance_starts_at",
    "maintenance_ends_at",
    "processing_delay_seconds",
    "daily_withdrawal_limit",
    "is_online",
)


@transaction.atomic
def bank_update(*, bank: Bank, actor: Actor, **changes: Any) -> Bank:
    """Operators edit business hours, maintenance windows, delays, limits, availability."""
    if not actor.is_operator:
        raise Forbidden("Only operators may change banks.", code="operator_only")
    unknown = set(changes) - set(BANK_EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(
            f"These fields cannot be changed: {', '.join(sorted(unknown))}.", code="read_only_field"
        )
    bank = Bank.objects.select_for_update().get(pk=bank.pk)
    for field, value in changes.items():
        setattr(bank, field, value)
    if (bank.maintenance_starts_at is None) != (bank.maintenance_ends_at is None):
        raise ApplicationError(
            "A maintenance window needs both a start and an end (or neither).",
            code="invalid_maintenance_window",
            fields={"maintenance_ends_at": ["Give both times, or neither."]},
        )
    if not bank.business_days or set(bank.business_days) - set("0123456"):
        raise ApplicationError(
            "Business days are digits 0 (Monday) to 6 (Sunday).",
            code="invalid_business_days",
            fields={"business_days": ["Digits 0 to 6."]},
        )
    if bank.daily_withdrawal_limit < 0 or bank.processing_delay_seconds > 86400:
        raise ApplicationError("Out of range.", code="invalid_bank_setting")
    bank.business_days = "".join(sorted(set(bank.business_days)))
    bank.updated_by = actor.label
    bank.save()
    audit_record(
        actor=actor,
        action="bank.updated",
        tenant=None,
        target=bank,
        data={k: str(v) for k, v in changes.items()},
    )
    if "is_online" in changes and bank.is_online:
        transaction.on_commit(lambda: wake_waiting(bank=bank, tenant=None), robust=True)
    return bank


def normalize_account_number(bank: Bank, number: Any, field: str = "account_number") -> str:
    digits = str(number or "").replace("-", "").replace(" ", "")
    low, high = bank.account_number_min_length, bank.account_number_max_length
    if not digits.isdigit() or not low <= len(digits) <= high:
        message = f"{bank.name} account numbers have {low} to {high} digits."
        raise ApplicationError(message, code="invalid_account_number", fields={field: [message]})
    return digits


def check_currency(bank: Bank, currency: str, field: str = "currency") -> None:
    if currency != bank.currency:
        message = f"{bank.name} keeps {bank.currency} accounts, not {currency}."
        raise ApplicationError(message, code="currency_mismatch", fields={field: [message]})


@transaction.atomic
def tester_bank_offline(*, tenant: Tenant, bank: Bank, actor: Actor) -> BankOutage:
    """For this tenant, the bank stops answering: transfers wait until it is back."""
    if BankOutage.objects.filter(tenant=tenant, bank=bank, ended_at__isnull=True).exists():
        raise Conflict(f"{bank.name} is already offline.", code="bank_offline")
    outage = BankOutage.objects.create(tenant=tenant, bank=bank, started_by=actor.label)
    action_record(
        actor=actor,
        action="test_helper.bank_offline",
        event_type="bank.offline",
        tenant=tenant,
        obj=bank,
        data=presenters.bank_json(bank, offline_for_tenant=True),
    )
    return outage


@transaction.atomic
def tester_bank_online(*, tenant: Tenant, bank: Bank, actor: Actor) -> int:
    """The bank answers again: what waited for it is processed now. Returns how many."""
    ended = BankOutage.objects.filter(tenant=tenant, bank=bank, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )
    if not ended:
        raise Conflict(f"{bank.name} is not offline.", code="bank_online")
    action_record(
        actor=actor,
        action="test_helper.bank_online",
        event_type="bank.online",
        tenant=tenant,
        obj=bank,
        data=presenters.bank_json(bank, offline_for_tenant=False),
    )
    return wake_waiting(bank=bank, tenant=tenant)
