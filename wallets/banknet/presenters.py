"""How the bank network looks from outside (API, dashboard): JSON-native dicts."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sandbox.currencies import to_decimal_string
from wallets.banknet.models import (
    AccountLink,
    Bank,
    BankAccount,
    CardPayment,
    Deposit,
    StatementLine,
    Withdrawal,
    WithdrawalRule,
)
from wallets.models import LedgerTransaction


def _iso(moment: datetime | None) -> str | None:
    # In UTC, as the database gives it back: an object just changed in memory (whose times may
    # carry a node's zone) looks the same in its event as in a later GET.
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _money(minor: int, currency: str) -> dict[str, str]:
    return {"amount": to_decimal_string(minor, currency), "currency": currency}


def _uuid(transaction: LedgerTransaction | None) -> str | None:
    """A ledger transaction's public id (its ``uuid``; the row id stays inside)."""
    return str(transaction.uuid) if transaction is not None else None


def _time(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def bank_json(bank: Bank, *, offline_for_tenant: bool = False) -> dict[str, Any]:
    return {
        "code": bank.code,
        "name": bank.name,
        "country": bank.country,
        "currency": bank.currency,
        "timezone": bank.timezone,
        "business_hours": {
            "opens_at": _time(bank.opens_at),
            "closes_at": _time(bank.closes_at),
            "all_day": bank.opens_at == bank.closes_at,
            "business_days": bank.business_days,
        },
        "maintenance_window": (
            {
                "starts_at": _time(bank.maintenance_starts_at),
                "ends_at": _time(bank.maintenance_ends_at),
            }
            if bank.maintenance_starts_at is not None
            else None
        ),
        "processing_delay_seconds": bank.processing_delay_seconds,
        "daily_withdrawal_limit": _money(bank.daily_withdrawal_limit, bank.currency),
        "account_number_length": [bank.account_number_min_length, bank.account_number_max_length],
        "online": bank.is_online and not offline_for_tenant,
    }


def statement_line_json(line: StatementLine) -> dict[str, Any]:
    return {
        "amount": to_decimal_string(line.amount, line.currency),
        "currency": line.currency,
        "memo": line.memo,
        "reference": line.reference,
        "created_at": _iso(line.created_at),
    }


def bank_account_json(account: BankAccount, *, with_statement: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(account.pk),
        "bank_code": account.bank_id,
        "account_number": account.account_number,
        "holder_name": account.holder_name,
        "holder_type": account.holder_type,
        "currency": account.currency,
        "status": account.status,
        "created_at": _iso(account.created_at),
        "closed_at": _iso(account.closed_at),
    }
    if with_statement:
        body["statement"] = [
            statement_line_json(line) for line in account.lines.order_by("-created_at", "-id")[:100]
        ]
    return body


def link_json(link: AccountLink) -> dict[str, Any]:
    return {
        "id": str(link.pk),
        "node_id": str(link.node_id),
        "bank_account_id": str(link.bank_account_id),
        "bank_code": link.bank_account.bank_id,
        "account_number": link.bank_account.account_number,
        "status": link.status,
        "failed_attempts": link.failed_attempts,
        "attempts_left": AccountLink.MAX_ATTEMPTS - link.failed_attempts,
        "code_expires_at": _iso(link.code_expires_at),
        "verified_at": _iso(link.verified_at),
        "created_at": _iso(link.created_at),
    }


def deposit_json(deposit: Deposit) -> dict[str, Any]:
    return {
        "id": str(deposit.pk),
        "sender_bank_account_id": str(deposit.sender_id),
        "bank_code": deposit.bank_id,
        "account_number": deposit.account_number,
        "account_id": str(deposit.account_id) if deposit.account_id else None,
        "node_id": str(deposit.node_id) if deposit.node_id else None,
        **_money(deposit.amount, deposit.currency),
        "memo": deposit.memo,
        "status": deposit.status,
        "return_reason": deposit.return_reason or None,
        "transaction_id": _uuid(deposit.transaction),
        "due_at": _iso(deposit.due_at),
        "triggered_by": deposit.triggered_by,
        "created_at": _iso(deposit.created_at),
        "resolved_at": _iso(deposit.resolved_at),
    }


def withdrawal_json(withdrawal: Withdrawal) -> dict[str, Any]:
    return {
        "id": str(withdrawal.pk),
        "kind": withdrawal.kind,
        "node_id": str(withdrawal.node_id),
        "account_id": str(withdrawal.account_id),
        "link_id": str(withdrawal.link_id) if withdrawal.link_id else None,
        "bank_code": withdrawal.bank_id,
        "account_number": withdrawal.account_number,
        "holder_name": withdrawal.holder_name,
        **_money(withdrawal.amount, withdrawal.currency),
        "memo": withdrawal.memo,
        "status": withdrawal.status,
        "failure_reason": withdrawal.failure_reason or None,
        "return_reason": withdrawal.return_reason or None,
        "hold_id": str(withdrawal.hold_id),
        "transaction_id": _uuid(withdrawal.transaction),
        "return_transaction_id": _uuid(withdrawal.return_transaction),
        "due_at": _iso(withdrawal.due_at),
        "created_at": _iso(withdrawal.created_at),
        "resolved_at": _iso(withdrawal.resolved_at),
    }


def card_payment_json(payment: CardPayment) -> dict[str, Any]:
    return {
        "id": str(payment.pk),
        "node_id": str(payment.node_id),
        "account_id": str(payment.account_id),
        **_money(payment.amount, payment.currency),
        "captured_amount": to_decimal_string(payment.captured_amount, payment.currency),
        "refunded_amount": to_decimal_string(payment.refunded_amount, payment.currency),
        "card": {"brand": payment.card_brand, "last4": payment.card_last4},
        "status": payment.status,
        "decline_code": payment.decline_code or None,
        "description": payment.description,
        "hold_id": str(payment.hold_id) if payment.hold_id else None,
        "capture_transaction_id": _uuid(payment.capture_transaction),
        "authorization_expires_at": _iso(payment.authorization_expires_at),
        "created_at": _iso(payment.created_at),
    }


def withdrawal_rule_json(rule: WithdrawalRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "node_id": str(rule.node_id),
        "action": rule.action,
        "reason": rule.reason,
        "delay_seconds": rule.delay_seconds,
        "remaining": rule.remaining,
        "created_by": rule.created_by,
        "created_at": _iso(rule.created_at),
    }
