"""Reads for wallets, accounts, holds and the transaction history, always tenant-scoped."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from sandbox.api.page_query import values_rows
from sandbox.currencies import CURRENCIES, AmountError, to_minor_units
from sandbox.errors import ApplicationError, NotFound
from sandbox.tenants.models import Node, Tenant
from wallets import banks
from wallets.models import Account, Entry, Hold, LedgerTransaction, Wallet

_Q = TypeVar("_Q", bound=QuerySet[Any])


def wallet_get_for_node(*, tenant: Tenant, node_id: Any) -> Wallet:
    node = Node.objects.get_for_tenant(tenant, node_id)
    try:
        return Wallet.objects.select_related("node").get(node=node)
    except Wallet.DoesNotExist:
        raise NotFound(f"Node {node_id} has no wallet.", code="wallet_not_found") from None


@dataclass(frozen=True)
class CurrencyBalance:
    currency: str
    posted: int
    pending: int
    held: int
    account_count: int

    @property
    def available(self) -> int:
        return self.posted - self.held


def balances_by_currency(accounts: QuerySet[Account]) -> list[CurrencyBalance]:
    rows = (
        accounts.order_by()
        .values("currency")
        .annotate(
            posted=Sum("posted_balance"),
            pending=Sum("pending_balance"),
            held=Sum("held_balance"),
            count=Count("id"),
        )
        .order_by("currency")
    )
    return [
        CurrencyBalance(r["currency"], r["posted"], r["pending"], r["held"], r["count"])
        for r in rows
    ]


def balances_by_node(accounts: QuerySet[Account]) -> dict[Any, list[CurrencyBalance]]:
    """``balances_by_currency`` for each node's accounts among ``accounts``, in one query
    (the wallets page asked once per node)."""
    rows = (
        accounts.order_by()
        .values("wallet__node_id", "currency")
        .annotate(
            posted=Sum("posted_balance"),
            pending=Sum("pending_balance"),
            held=Sum("held_balance"),
            count=Count("id"),
        )
        .order_by("wallet__node_id", "currency")
    )
    by_node: dict[Any, list[CurrencyBalance]] = {}
    for r in rows:
        by_node.setdefault(r["wallet__node_id"], []).append(
            CurrencyBalance(r["currency"], r["posted"], r["pending"], r["held"], r["count"])
        )
    return by_node


# What the dashboard's account lists (names in the history, choices in forms) read.
ACCOUNT_LABEL_FIELDS = ("id", "name", "currency", "bank_code", "account_number")


def account_list(
    *, tenant: Tenant, node_id: Any = None, currency: str | None = None, status: str | None = None
) -> QuerySet[Account]:
    accounts = Account.objects.for_tenant(tenant).select_related("wallet")
    if node_id:
        node = Node.objects.get_for_tenant(tenant, node_id)
        accounts = accounts.filter(wallet__node=node)
    if currency:
        accounts = accounts.filter(currency=currency)
    if status:
        accounts = accounts.filter(status=status)
    return accounts


def open_accounts(*, tenant: Tenant) -> QuerySet[Account]:
    """The tenant's open accounts with their node, by node and name: what the dashboard's
    forms offer to pay from or into."""
    return (
        Account.objects.for_tenant(tenant)
        .filter(status=Account.Status.OPEN)
        .select_related("wallet__node")
        .order_by("wallet__node__name", "name")
    )


def account_get(*, tenant: Tenant, account_id: Any, field: str = "account_id") -> Account:
    try:
        return Account.objects.for_tenant(tenant).select_related("wallet").get(pk=account_id)
    except (Account.DoesNotExist, ValueError, TypeError, ValidationError):
        raise NotFound(
            f"No account with id {account_id}.",
            code="account_not_found",
            fields={field: ["No such account."]},
        ) from None


def accounts_by_id(*, tenant: Tenant, ids: set[Any]) -> dict[str, Account]:
    """The tenant's accounts among ``ids`` (strings), in one query; others are absent."""
    valid = set()
    for raw in ids:
        try:
            valid.add(UUID(str(raw)))
        except ValueError:
            continue
    found = Account.objects.for_tenant(tenant).filter(pk__in=valid)
    return {str(a.pk): a for a in found}


def hold_get(*, tenant: Tenant, hold_id: Any) -> Hold:
    return Hold.objects.get_for_tenant(tenant, hold_id)


def transaction_get(*, tenant: Tenant, transaction_id: Any) -> LedgerTransaction:
    try:
        txn_uuid = UUID(str(transaction_id))
        return (
            LedgerTransaction.objects.for_tenant(tenant)
            .select_related("reverses")
            .get(uuid=txn_uuid)
        )
    except (ValueError, LedgerTransaction.DoesNotExist):
        raise NotFound(
            f"No transaction with id {transaction_id}.", code="transaction_not_found"
        ) from None


def transaction_entries(txn: LedgerTransaction) -> list[Entry]:
    return list(txn.entries.select_related("account").order_by("id"))


# --- History -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilters:
    account: Account | None = None
    counterparty: Account | None = None
    kind: str | None = None
    currency: str | None = None
    posted_from: datetime | None = None
    posted_to: datetime | None = None  # exclusive
    min_amount: int | None = None
    max_amount: int | None = None


def _bad(field: str, message: str, code: str = "invalid_filter") -> ApplicationError:
    return ApplicationError(message, code=code, fields={field: [message]})


NULL_CHARACTERS = "Null characters are not allowed."


def refuse_null_characters_in_params(params: Mapping[str, str]) -> None:
    """Query parameters filter text columns, and PostgreSQL cannot compare text with NUL:
    refuse it (400) instead of failing in the query (500)."""
    for name, value in params.items():
        if "\x00" in name or "\x00" in value:
            raise _bad(name, NULL_CHARACTERS, code="null_characters_not_allowed")


def _parse_moment(value: str, field: str, *, end: bool) -> datetime:
    try:
        moment = parse_datetime(value) if "T" in value or " " in value else None
        if moment is None:
            day = parse_date(value) if len(value) == 10 else None
            if day is None:
                raise _bad(field, f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time.")
            # A date "to" includes the whole day.
            moment = datetime.combine(day, time.min)
            if end:
                moment = datetime.combine(date.fromordinal(day.toordinal() + 1), time.min)
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return real_moment(moment)
    except (ValueError, OverflowError):
        # Well-formed but impossible (2026-02-30, hour 24, offset +25:00, year 10000).
        raise _bad(field, impossible_moment_message(value)) from None


def real_moment(moment: datetime) -> datetime:
    """``moment`` if the database can store it: it counts in UTC, where a moment near
    year 1 or 9999 may fall outside the calendar (OverflowError)."""
    moment.astimezone(UTC)
    return moment


def impossible_moment_message(value: str) -> str:
    return (
        f"{value!r} is not a real date or date-time: check the month, the day, the hour and "
        "the UTC offset (years 1 to 9999)."
    )


def history_filters(*, tenant: Tenant, params: dict[str, str]) -> HistoryFilters:
    """Parse query parameters: account, counterparty (id or bank-account number), kind,
    currency, from, to, min_amount, max_amount."""
    refuse_null_characters_in_params(params)
    account = counterparty = None
    if params.get("account"):
        account = account_get(tenant=tenant, account_id=params["account"], field="account")
    if params.get("counterparty"):
        counterparty = _counterparty(tenant, params["counterparty"])
    currency = params.get("currency") or (account.currency if account else None)
    if currency and currency not in CURRENCIES:
        raise _bad("currency", f"Unknown currency {currency!r}.", code="unknown_currency")
    amounts: dict[str, int | None] = {"min_amount": None, "max_amount": None}
    for name in amounts:
        if params.get(name):
            if not currency:
                raise _bad(name, "Amount filters need a currency (or an account).")
            try:
                amounts[name] = to_minor_units(params[name], currency, allow_zero=True)
            except AmountError as error:
                raise _bad(name, error.message, code=error.code) from None
    return HistoryFilters(
        account=account,
        counterparty=counterparty,
        kind=params.get("kind") or None,
        currency=currency,
        posted_from=_parse_moment(params["from"], "from", end=False)
        if params.get("from")
        else None,
        posted_to=_parse_moment(params["to"], "to", end=True) if params.get("to") else None,
        min_amount=amounts["min_amount"],
        max_amount=amounts["max_amount"],
    )


def _counterparty(tenant: Tenant, value: str) -> Account:
    digits = value.replace("-", "")
    if digits.isdigit() and banks.is_valid_account_number(digits):
        account = Account.objects.for_tenant(tenant).filter(account_number=digits).first()
        if account is None:
            raise NotFound(
                f"No account numbered {value}.",
                code="account_not_found",
                fields={"counterparty": ["No such account."]},
            )
        return account
    return account_get(tenant=tenant, account_id=value, field="counterparty")


def encode_cursor(posted_at: datetime, txn_id: int) -> str:
    raw = f"{posted_at.isoformat()}|{txn_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, txn_id = raw.partition("|")
        parsed = datetime.fromisoformat(moment)
        return parsed, int(txn_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad("cursor", "This cursor is not valid.", code="invalid_cursor") from None


def _keyset(queryset: _Q, time_field: str, id_field: str, cursor: str | None) -> _Q:
    queryset = queryset.order_by(f"-{time_field}", f"-{id_field}")
    if cursor:
        posted_at, txn_id = decode_cursor(cursor)
        # A row comparison, (posted_at, id) < (…, …), walks the index straight to the page:
        # no OFFSET, so page 10,000 costs what page 1 does.
        queryset = queryset.filter(
            TupleLessThan(Tuple(F(time_field), F(id_field)), (posted_at, txn_id))
        )
    return queryset


class HistoryRow(NamedTuple):
    """A transaction of the history and its entries (all of them, ordered by id)."""

    transaction: LedgerTransaction
    entries: list[Entry]


def history_page(
    *, tenant: Tenant, filters: HistoryFilters, cursor: str | None = None, limit: int = 50
) -> tuple[list[HistoryRow], str | None]:
    """One page of the history, newest first, and the cursor of the next page (or None).

    With an account (or else a counterparty), the page is read from that account's
    entries (index on ``(account, posted_at, transaction)``); otherwise from the tenant's
    transactions (index on ``(tenant, posted_at, id)``). Amount filters apply to the entry
    on the account, or to the transaction's gross amount."""
    rows, next_cursor = _history(
        tenant=tenant,
        filters=filters,
        cursor=cursor,
        limit=limit,
        read=lambda txns, count: list(txns.select_related("reverses")[:count]),
        key=lambda txn: (txn.pk, txn.posted_at),
    )
    return _with_entries(rows), next_cursor


# What the history's API list shows of a transaction, in ``presenters.transaction_values``'s
# order, after its id: its own columns and the uuid of the transaction it reverses.
HISTORY_VALUES = (
    "id", "uuid", "kind", "amount", "currency", "memo", "metadata", "is_inter_node",
    "reverses__uuid", "posted_at",
)  # fmt: skip


class HistoryValues(NamedTuple):
    """A transaction of the history as ``HISTORY_VALUES`` (a tuple), and its entries as
    ``(account_id, amount, currency)`` tuples, ordered by id."""

    transaction: tuple[Any, ...]
    entries: list[tuple[UUID, int, str]]


def history_values_page(
    *, tenant: Tenant, filters: HistoryFilters, cursor: str | None = None, limit: int = 50
) -> tuple[list[HistoryValues], str | None]:
    """``history_page`` as plain values, for the API's list: the same transactions in the
    same order, the same cursor, but tuples read with ``values_list`` (no model instance,
    none of the columns the answer does not show; the SQL assembled once per shape:
    ``page_query.values_rows``) for ``presenters.transaction_values``."""
    rows, next_cursor = _history(
        tenant=tenant,
        filters=filters,
        cursor=cursor,
        limit=limit,
        read=lambda txns, count: values_rows(txns.values_list(*HISTORY_VALUES)[:count]),
        key=lambda row: (row[0], row[9]),
    )
    by_id: dict[int, list[tuple[UUID, int, str]]] = {row[0]: [] for row in rows}
    entries = Entry.objects.filter(transaction_id__in=by_id).order_by("transaction_id", "id")
    columns = entries.values_list("transaction_id", "account_id", "amount", "currency")
    for txn_id, *entry in values_rows(columns):
        by_id[txn_id].append(tuple(entry))
    return [HistoryValues(row, by_id[row[0]]) for row in rows], next_cursor


_R = TypeVar("_R")


def _history(
    *,
    tenant: Tenant,
    filters: HistoryFilters,
    cursor: str | None,
    limit: int,
    read: Callable[[QuerySet[LedgerTransaction], int], list[_R]],
    key: Callable[[_R], tuple[int, datetime]],
) -> tuple[list[_R], str | None]:
    """The page's transactions, each as ``read`` makes them of a queryset (its first
    ``count`` rows), and the next page's cursor; ``key`` gives a row's id and time."""
    if filters.account is not None or filters.counterparty is not None:
        entries = (
            account_entries(filters=filters, cursor=cursor)
            if filters.account is not None
            else counterparty_entries(tenant=tenant, filters=filters, cursor=cursor)
        )
        keys = list(entries.values_list("transaction_id", "posted_at")[: limit + 1])
        more = len(keys) > limit
        keys = keys[:limit]
        ids = {k for k, _ in keys}
        found = read(LedgerTransaction.objects.filter(pk__in=ids), len(ids))
        by_id = {key(row)[0]: row for row in found}
        rows = [by_id[k] for k in dict.fromkeys(k for k, _ in keys)]
        return rows, encode_cursor(keys[-1][1], keys[-1][0]) if more else None
    rows = read(tenant_transactions(tenant=tenant, filters=filters, cursor=cursor), limit + 1)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        txn_id, posted_at = key(rows[-1])
        next_cursor = encode_cursor(posted_at, txn_id)
    return rows, next_cursor


def account_entries(*, filters: HistoryFilters, cursor: str | None = None) -> QuerySet[Entry]:
    entries = Entry.objects.filter(account=filters.account)
    entries = _time_and_amount(entries, filters, on_entry=True)
    if filters.kind:
        entries = entries.filter(transaction__kind=filters.kind)
    if filters.counterparty is not None:
        entries = entries.filter(
            Exists(
                Entry.objects.filter(
                    transaction_id=OuterRef("transaction_id"), account=filters.counterparty
                )
            )
        )
    return _keyset(entries, "posted_at", "transaction_id", cursor)


def counterparty_entries(
    *, tenant: Tenant, filters: HistoryFilters, cursor: str | None = None
) -> QuerySet[Entry]:
    """The entries on the counterparty of the tenant's transactions that pass the other
    filters: the same transactions as ``tenant_transactions``, in the same order, but read
    from the counterparty's entries. Walking the tenant's transactions and probing each for
    an entry on the counterparty took 150 ms for a mid-sized account at 1,000,000
    transactions, and seconds for a quiet one. An entry's ``posted_at`` is its
    transaction's (copied when posted)."""
    assert filters.counterparty is not None
    entries = Entry.objects.filter(account=filters.counterparty, transaction__tenant=tenant)
    if filters.posted_from:
        entries = entries.filter(posted_at__gte=filters.posted_from)
    if filters.posted_to:
        entries = entries.filter(posted_at__lt=filters.posted_to)
    if filters.min_amount is not None:
        entries = entries.filter(transaction__amount__gte=filters.min_amount)
    if filters.max_amount is not None:
        entries = entries.filter(transaction__amount__lte=filters.max_amount)
    if filters.kind:
        entries = entries.filter(transaction__kind=filters.kind)
    if filters.currency:
        entries = entries.filter(transaction__currency=filters.currency)
    return _keyset(entries, "posted_at", "transaction_id", cursor)


def tenant_transactions(
    *, tenant: Tenant, filters: HistoryFilters, cursor: str | None = None
) -> QuerySet[LedgerTransaction]:
    txns = LedgerTransaction.objects.for_tenant(tenant)
    txns = _time_and_amount(txns, filters, on_entry=False)
    if filters.kind:
        txns = txns.filter(kind=filters.kind)
    if filters.currency:
        txns = txns.filter(currency=filters.currency)
    if filters.counterparty is not None:
        txns = txns.filter(
            Exists(
                Entry.objects.filter(transaction_id=OuterRef("pk"), account=filters.counterparty)
            )
        )
    return _keyset(txns, "posted_at", "id", cursor).select_related("reverses")


def _time_and_amount(queryset: _Q, filters: HistoryFilters, *, on_entry: bool) -> _Q:
    if filters.posted_from:
        queryset = queryset.filter(posted_at__gte=filters.posted_from)
    if filters.posted_to:
        queryset = queryset.filter(posted_at__lt=filters.posted_to)
    low, high = filters.min_amount, filters.max_amount
    if low is None and high is None:
        return queryset
    if not on_entry:
        if low is not None:
            queryset = queryset.filter(amount__gte=low)
        if high is not None:
            queryset = queryset.filter(amount__lte=high)
        return queryset
    credit, debit = Q(amount__gt=0), Q(amount__lt=0)
    if low is not None:
        credit &= Q(amount__gte=low)
        debit &= Q(amount__lte=-low)
    if high is not None:
        credit &= Q(amount__lte=high)
        debit &= Q(amount__gte=-high)
    return queryset.filter(credit | debit)


def _with_entries(rows: list[LedgerTransaction]) -> list[HistoryRow]:
    """Each transaction with its entries, read with one query for the page. Readers use
    the entries' ``account_id`` (the dashboard names accounts from its own list), so the
    accounts are not joined in."""
    by_id: dict[int, list[Entry]] = {row.pk: [] for row in rows}
    for entry in Entry.objects.filter(transaction_id__in=by_id).order_by("transaction_id", "id"):
        by_id[entry.transaction_id].append(entry)
    return [HistoryRow(row, by_id[row.pk]) for row in rows]


def history_iter(
    *, tenant: Tenant, filters: HistoryFilters, chunk: int = 2000
) -> Iterator[tuple[LedgerTransaction, Entry]]:
    """Every (transaction, entry) of the history, newest first, read page by page with the
    same keyset, for the streamed CSV export."""
    cursor = None
    while True:
        page, cursor = history_page(tenant=tenant, filters=filters, cursor=cursor, limit=chunk)
        for txn, entries in page:
            for entry in entries:
                if filters.account is None or entry.account_id == filters.account.pk:
                    yield txn, entry
        if cursor is None:
            return
