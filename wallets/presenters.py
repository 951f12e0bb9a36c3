"""How wallets, accounts, transactions and holds look from outside (API, CSV, dashboard).

Plain functions building JSON-native dicts: the bulk endpoint answers 8,000 items, and a
serializer per item would cost more than posting them. ``wallets.api`` documents the same
shapes with serializers for the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sandbox.currencies import to_decimal_string
from sandbox.errors import ApplicationError
from wallets import banks
from wallets.models import Account, Hold, LedgerTransaction
from wallets.posting import Result
from wallets.selectors import CurrencyBalance, HistoryValues


def money(minor_units: int, currency: str) -> dict[str, str]:
    return {"amount": to_decimal_string(minor_units, currency), "currency": currency}


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def balances(posted: int, pending: int, held: int, currency: str) -> dict[str, str]:
    return {
        "posted": to_decimal_string(posted, currency),
        "pending": to_decimal_string(pending, currency),
        "held": to_decimal_string(held, currency),
        "available": to_decimal_string(posted - held, currency),
    }


def account_data(account: Account) -> dict[str, Any]:
    return {
        "id": str(account.pk),
        "wallet_id": str(account.wallet_id) if account.wallet_id else None,
        "node_id": str(account.wallet.node_id) if account.wallet_id and account.wallet else None,
        "name": account.name,
        "currency": account.currency,
        "customer_reference": account.customer_reference,
        "bank_code": account.bank_code,
        "bank_name": banks.BANKS.get(account.bank_code, ""),
        "account_number": account.account_number,
        "status": account.status,
        "balances": balances(
            account.posted_balance, account.pending_balance, account.held_balance, account.currency
        ),
        "lock_version": account.lock_version,
        "created_at": iso(account.created_at),
        "closed_at": iso(account.closed_at),
    }


def currency_balance_data(balance: CurrencyBalance) -> dict[str, Any]:
    return {
        "currency": balance.currency,
        "account_count": balance.account_count,
        **balances(balance.posted, balance.pending, balance.held, balance.currency),
    }


class EntryLike(Protocol):
    """An entry as stored (``Entry``) or as just posted (``wallets.posting.Leg``)."""

    @property
    def account_id(self) -> UUID: ...
    @property
    def amount(self) -> int: ...
    @property
    def currency(self) -> str: ...


def entry_data(entry: EntryLike) -> dict[str, Any]:
    return entry_values(entry.account_id, entry.amount, entry.currency)


def entry_values(account_id: UUID, amount: int, currency: str) -> dict[str, Any]:
    """An entry's answer from its values (``entry_data`` for an entry's attributes)."""
    return {
        "account_id": str(account_id),
        "direction": "credit" if amount > 0 else "debit",
        "amount": to_decimal_string(amount, currency),
        "currency": currency,
    }


def transaction_data(
    txn: LedgerTransaction, entries: Sequence[EntryLike] | None = None
) -> dict[str, Any]:
    data = transaction_values(
        txn.uuid,
        txn.kind,
        txn.amount,
        txn.currency,
        txn.memo,
        txn.metadata,
        txn.is_inter_node,
        txn.reverses.uuid if txn.reverses_id and txn.reverses else None,
        txn.posted_at,
    )
    if entries is not None:
        data["entries"] = [entry_data(e) for e in entries]
    return data


def result_data(result: Result) -> dict[str, Any]:
    """``transaction_data`` of a posted result's transaction and entries, built once per
    result: a transfer's events carry it and its answer is it. Nobody changes it."""
    data = result.data
    if data is None:
        data = result.data = transaction_data(result.transaction, list(result.entries))
    return data


def transaction_values(
    uuid: UUID,
    kind: str,
    amount: int,
    currency: str,
    memo: str,
    metadata: Any,
    is_inter_node: bool,
    reverses: UUID | None,
    posted_at: datetime,
) -> dict[str, Any]:
    """A transaction's answer from its values (``transaction_data`` for a transaction's
    attributes; the history's API list reads them as ``selectors.HISTORY_VALUES``), without
    its entries. ``reverses``: the uuid of the transaction it reverses."""
    return {
        "id": str(uuid),
        "kind": kind,
        "amount": money(amount, currency),
        "memo": memo,
        "metadata": metadata,
        "is_inter_node": is_inter_node,
        "reverses": str(reverses) if reverses is not None else None,
        "posted_at": iso(posted_at),
    }


def history_values_data(row: HistoryValues) -> dict[str, Any]:
    """A transaction of the history with its entries, from ``selectors.history_values_page``:
    what ``transaction_data`` answers for the same transaction and entries."""
    data = transaction_values(*row.transaction[1:])
    data["entries"] = [entry_values(*entry) for entry in row.entries]
    return data


def hold_data(hold: Hold) -> dict[str, Any]:
    capture = hold.capture_transaction
    return {
        "id": str(hold.pk),
        "account_id": str(hold.account_id),
        "counterparty_account_id": str(hold.counterparty_id),
        "direction": hold.direction,
        "amount": money(hold.amount, hold.currency),
        "captured_amount": money(hold.captured_amount, hold.currency),
        "status": hold.status,
        "memo": hold.memo,
        "metadata": hold.metadata,
        "created_at": iso(hold.created_at),
        "expires_at": iso(hold.expires_at),
        "resolved_at": iso(hold.resolved_at),
        "capture_transaction_id": str(capture.uuid) if capture is not None else None,
    }


def error_data(error: ApplicationError) -> dict[str, Any]:
    return {"code": error.code, "message": error.message, "fields": error.fields}
