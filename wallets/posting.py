"""The one posting primitive: every balance change in the sandbox goes through ``post``.

A ``Posting`` is a list of legs ``(account, signed amount)`` (credit > 0) that sum to zero
per currency, plus optional changes to held and pending balances (holds) and optional
conditions. Transfers, hold captures, reversals, and the bank network's deposits,
withdrawals, card payments, FX and settlement all build postings and call ``post``; none
writes balances or entries itself.

``post`` takes a batch: one transfer and 8,000 cost about the same number of database
round trips (insert transactions, insert entries, lock accounts in id order, one UPDATE).
In ``atomic`` mode any refused posting refuses the batch; in ``independent`` mode each
posting succeeds or fails on its own and gets its own result.

The rules are checked here in Python first, for clear errors, and again by PostgreSQL
(migration 0002 and the model constraints) as a backstop.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from sandbox import clock, writebehind
from sandbox.currencies import CURRENCIES, MAX_MINOR_UNITS, to_decimal_string
from sandbox.db.arrays import array_literal, text_array
from sandbox.db.postgresql.prepared import prepared
from sandbox.errors import ApplicationError, Conflict, NotFound, Unprocessable
from sandbox.rows import RowLoader
from wallets.locking import (
    AccountState,
    Statement,
    apply_deltas,
    apply_late,
    late_locks_allowed,
    lock_accounts,
)
from wallets.models import Entry, LedgerTransaction

Mode = Literal["atomic", "independent"]


@dataclass(frozen=True)
class Leg:
    account_id: UUID
    amount: int  # minor units; credit > 0, debit < 0
    currency: str


@dataclass(frozen=True)
class Condition:
    """Refuse the posting unless, for ``account_id``, the available balance after it stays
    at or above ``available_at_least`` and/or ``lock_version`` still is the given value."""

    account_id: UUID
    available_at_least: int | None = None
    lock_version: int | None = None


@dataclass
class Posting:
    kind: str
    legs: Sequence[Leg]
    tenant_id: UUID | None = None
    memo: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    reverses_id: int | None = None
    is_inter_node: bool = False
    held: Mapping[UUID, int] = field(default_factory=dict)  # changes of held_balance
    pending: Mapping[UUID, int] = field(default_factory=dict)  # changes of pending_balance
    conditions: Sequence[Condition] = ()


class TransactionRow(NamedTuple):
    """The columns of a posted transaction, as inserted (all but its ``id``). A tuple, not
    a model instance: a bulk of 8,000 builds one per posting."""

    uuid: UUID
    tenant_id: UUID | None
    kind: str
    memo: str
    metadata: dict[str, Any]
    amount: int  # gross: the sum of the credits in ``currency``
    currency: str
    reverses_id: int | None
    is_inter_node: bool
    posted_at: datetime


class Result:
    """What became of one posting: its transaction and entries, or its error. A
    balance-only posting (placing a hold) has neither ``row`` nor ``transaction``. The
    transaction is a model instance made on first use: a bulk of 8,000 needs only the
    ``row`` (``transaction_uuid``)."""

    __slots__ = ("_transaction", "accounts", "data", "entries", "error", "row", "transaction_id")

    def __init__(self, error: ApplicationError | None = None) -> None:
        self.error = error
        self.entries: Sequence[Leg] = ()  # account_id, amount, currency per entry
        self.transaction_id: int | None = None
        self.row: TransactionRow | None = None
        self._transaction: LedgerTransaction | None = None
        # The accounts the batch locked (shared by its results), with their owners: the
        # change's events go to these nodes without asking the database again. Those
        # locked late (``post(lock_late=True)``) are here as read, unlocked: their owners
        # are right, their balances only as the read saw them.
        self.accounts: Mapping[UUID, AccountState] = {}
        # The transaction as the API shows it, once built (``wallets.presenters.
        # result_data``): its events carry it, and the transfer's answer is it.
        self.data: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def transaction_uuid(self) -> UUID | None:
        return self.row.uuid if self.row is not None else None

    @property
    def transaction(self) -> LedgerTransaction:
        """The posted transaction; asking a refused or balance-only posting for it is a
        programming error."""
        if self._transaction is None:
            if self.row is None:
                raise LookupError("This posting has no transaction: refused, or balance-only.")
            self._transaction = _transaction_loaded((self.transaction_id, *self.row))
        return self._transaction


_transaction_loaded = RowLoader(LedgerTransaction, ("id", *TransactionRow._fields))


def _transaction_model(row: TransactionRow) -> LedgerTransaction:
    """A new transaction to insert (SQLite: ``bulk_create``)."""
    return LedgerTransaction(
        uuid=row.uuid,
        tenant_id=row.tenant_id,
        kind=row.kind,
        memo=row.memo,
        metadata=row.metadata,
        amount=row.amount,
        currency=row.currency,
        reverses_id=row.reverses_id,
        is_inter_node=row.is_inter_node,
        posted_at=row.posted_at,
    )


# Rules that other apps add to every posting (clearing's net debit caps). Each check is
# given, once per batch, the postings still accepted (in batch order) before anything is
# written or any account is locked, and returns the errors of those it refuses, by
# position. Locks a check takes therefore come before the accounts' (``wallets.locking``).
# A check must cost next to nothing for postings it does not concern: every batch runs it.
PostingCheck = Callable[[Sequence[Posting]], Mapping[int, ApplicationError]]
POSTING_CHECKS: list[PostingCheck] = []

# Reads a posting check makes, sent ahead by a caller that knows the accounts before it
# posts (the transfer API sends them with its idempotency claim, in that round trip): each
# is given the account ids and answers a ``Statement`` (or None), whose ``done`` keeps the
# rows with ``read_ahead_keep``; the check then takes them with ``read_ahead_take`` instead
# of asking. Kept only inside ``reading_ahead()`` (one attempt of one transaction), so a
# check never sees rows read in another transaction.
PostingCheckRead = Callable[[Sequence[UUID]], Statement | None]
POSTING_CHECK_READS: list[PostingCheckRead] = []
_read_ahead: ContextVar[dict[Hashable, list[tuple[Any, ...]]] | None] = ContextVar(
    "posting_read_ahead", default=None
)


def check_reads(account_ids: Sequence[UUID]) -> list[Statement]:
    """The posting checks' reads for postings of these accounts, to send ahead."""
    reads = (read(account_ids) for read in POSTING_CHECK_READS)
    return [statement for statement in reads if statement is not None]


@contextlib.contextmanager
def reading_ahead() -> Iterator[None]:
    token = _read_ahead.set({})
    try:
        yield
    finally:
        _read_ahead.reset(token)


def read_ahead_keep(key: Hashable, rows: list[tuple[Any, ...]]) -> None:
    kept = _read_ahead.get()
    if kept is not None:
        kept[key] = rows


def read_ahead_take(key: Hashable) -> list[tuple[Any, ...]] | None:
    kept = _read_ahead.get()
    return kept.pop(key, None) if kept is not None else None


class PostingRefused(ApplicationError):
    """An atomic batch refused as a whole; ``results`` says which postings failed."""

    def __init__(self, error: ApplicationError, index: int, errors: dict[int, ApplicationError]):
        message = error.message if len(errors) == 1 else f"Item {index}: {error.message}"
        fields = {
            "items": {str(i): {"code": e.code, "message": e.message} for i, e in errors.items()}
        }
        super().__init__(message, code=error.code, fields=fields, status_code=error.status_code)
        self.errors = errors


def post_one(posting: Posting, *, lock_late: bool = False) -> Result:
    """Post one posting; raises its ApplicationError if refused. ``lock_late``: see
    ``post``."""
    result = post([posting], mode="atomic", lock_late=lock_late)[0]
    return result


# A batch of more postings than this runs the rest of its transaction without JIT. JIT is
# chosen per execution from the plan's estimated cost (``jit_above_cost``), and a large
# batch's insert looks far dearer than it is: the entries' join to the just-inserted
# transactions, on arrays, is estimated as 1/200 of the product of both sides (640,000
# rows for a bulk of 8,000). So each bulk compiled 28 functions (about 12 ms of its
# backend's CPU) for a statement whose time goes to heap, index and trigger work that
# compiled expressions do not speed up. Not a connection option (``-c jit=off``):
# PgBouncer refuses a startup ``options`` it does not track (docs/scaling.md). Smaller
# statements never reach the threshold, so they are left as they are.
LARGE_BATCH = 64

# At most this many accounts of a posting are locked late (one guarded UPDATE each, all in
# one call of ``wallets_apply_late``).
MAX_LATE = 4


def post(
    postings: Sequence[Posting], *, mode: Mode = "atomic", lock_late: bool = False
) -> list[Result]:
    """Post a batch. Must run inside a transaction (``wallets.locking.retrying``).

    ``lock_late``, for a batch of one posting in atomic mode: the accounts whose only
    change is to their posted balance are locked by their UPDATE, with the transaction's
    last statement, not up front (``wallets.locking``, "Late locks"), when the transaction
    can run again should that UPDATE be refused (``late_locks_allowed``). Only for callers
    that post nothing else in the transaction and catch no error of it (a single transfer):
    a late refusal surfaces with a later statement, as a database error."""
    if not connection.in_atomic_block:
        raise RuntimeError("wallets.posting.post must run inside transaction.atomic()")
    results = [Result() for _ in postings]
    for index, posting in enumerate(postings):
        try:
            _check_shape(posting)
        except ApplicationError as error:
            results[index].error = error
    _raise_if_atomic(results, mode)
    if POSTING_CHECKS:
        _run_checks(postings, results)
        _raise_if_atomic(results, mode)

    now = clock.now()
    if len(postings) > LARGE_BATCH and connection.vendor == "postgresql":
        # Rides with the next statement (no round trip) and lasts to the end of the
        # transaction: see LARGE_BATCH.
        writebehind.write("SET LOCAL jit = off")
    insert = None
    if mode == "atomic":
        # Insert first and lock last: the accounts stay locked only for the check, the
        # balance UPDATE and the COMMIT. A refusal below rolls the inserts back. On
        # PostgreSQL the INSERT goes in the round trip of the lock, just before it.
        insert = _insert(postings, results, now)
    account_ids: set[UUID] = set()
    for index, posting in enumerate(postings):
        if results[index].ok:
            account_ids.update(_touched(posting))
    late: set[UUID] = set()
    if lock_late and mode == "atomic" and len(postings) == 1 and late_locks_allowed():
        late = _late(postings[0], account_ids)
    state = lock_accounts(account_ids - late, first=insert, read=late)
    for result in results:
        result.accounts = state
    deltas: dict[UUID, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for index, posting in enumerate(postings):
        if not results[index].ok:
            continue
        try:
            _apply(posting, state, deltas)
        except ApplicationError as error:
            results[index].error = error
            if mode == "atomic":
                break
    _raise_if_atomic(results, mode)
    if mode == "independent":
        insert = _insert(postings, results, now)
        if insert is not None:
            _execute(insert)
    apply_deltas({k: v for k, v in deltas.items() if k not in late})
    apply_late({k: v for k, v in deltas.items() if k in late})
    return results


def _late(posting: Posting, account_ids: set[UUID]) -> set[UUID]:
    """The accounts ``posting`` may lock late: those whose only change is to their posted
    balance (their checks, an open account and enough money for a debit, can be made again
    by the UPDATE itself), if every id locked up front is below theirs (one lock order)."""
    fixed = set(posting.held) | set(posting.pending)
    fixed.update(c.account_id for c in posting.conditions)
    late = account_ids - fixed
    if fixed:
        highest = max(fixed)
        late = {account_id for account_id in late if account_id > highest}
    return late if len(late) <= MAX_LATE else set()


def _run_checks(postings: Sequence[Posting], results: list[Result]) -> None:
    for check in POSTING_CHECKS:
        accepted = [i for i, result in enumerate(results) if result.ok]
        for position, error in check([postings[i] for i in accepted]).items():
            results[accepted[position]].error = error


def _raise_if_atomic(results: list[Result], mode: Mode) -> None:
    if mode != "atomic":
        return
    errors = {i: r.error for i, r in enumerate(results) if r.error is not None}
    if errors:
        index = min(errors)
        error = errors[index]
        if len(results) == 1:
            raise error
        raise PostingRefused(error, index, errors)


def _touched(posting: Posting) -> set[UUID]:
    ids = {leg.account_id for leg in posting.legs}
    ids.update(posting.held)
    ids.update(posting.pending)
    ids.update(c.account_id for c in posting.conditions)
    return ids


def _check_shape(posting: Posting) -> None:
    if not posting.legs:
        if not (posting.held or posting.pending):
            raise ApplicationError(
                "A posting needs entries or balance changes.", code="empty_posting"
            )
    elif len(posting.legs) < 2:
        raise ApplicationError("A transaction needs at least two entries.", code="too_few_entries")
    sums: dict[str, int] = defaultdict(int)
    for leg in posting.legs:
        if leg.currency not in CURRENCIES:
            raise ApplicationError(f"Unknown currency {leg.currency!r}.", code="unknown_currency")
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool) or leg.amount == 0:
            raise ApplicationError("Entry amounts are non-zero integers.", code="invalid_amount")
        if abs(leg.amount) > MAX_MINOR_UNITS:
            raise ApplicationError("An entry amount is too large.", code="amount_too_large")
        sums[leg.currency] += leg.amount
    unbalanced = {c: s for c, s in sums.items() if s != 0}
    if unbalanced:
        raise ApplicationError(
            "The entries do not sum to zero in "
            + ", ".join(f"{c} (off by {to_decimal_string(s, c)})" for c, s in unbalanced.items()),
            code="unbalanced_transaction",
        )


def _apply(
    posting: Posting, state: dict[UUID, AccountState], deltas: dict[UUID, list[int]]
) -> None:
    """Check one posting against the running (locked) balances and apply it in memory."""
    changes: dict[UUID, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # posted, pending, held, v
    for leg in posting.legs:
        change = changes[leg.account_id]
        change[0] += leg.amount
        change[3] += 1
    for account_id, delta in posting.held.items():
        changes[account_id][2] += delta
        changes[account_id][3] += 1
    for account_id, delta in posting.pending.items():
        changes[account_id][1] += delta
        changes[account_id][3] += 1

    for account_id in changes:
        if account_id not in state:
            raise NotFound(f"No account with id {account_id}.", code="account_not_found")
        if state[account_id]["status"] != "open":
            raise Conflict(f"Account {account_id} is closed.", code="account_closed")
    for leg in posting.legs:
        currency = state[leg.account_id]["currency"]
        if leg.currency != currency:
            raise ApplicationError(
                f"Account {leg.account_id} holds {currency}, not {leg.currency}.",
                code="currency_mismatch",
            )
    for condition in posting.conditions:
        account = state.get(condition.account_id)
        if account is None:
            raise NotFound(f"No account with id {condition.account_id}.", code="account_not_found")
        if condition.lock_version is not None and account["lock_version"] != condition.lock_version:
            raise Unprocessable(
                f"The account's lock_version is {account['lock_version']}, "
                f"not {condition.lock_version}: it changed since you read it.",
                code="lock_version_mismatch",
            )
    for account_id, (d_posted, d_pending, d_held, _) in changes.items():
        account = state[account_id]
        posted = account["posted_balance"] + d_posted
        pending = account["pending_balance"] + d_pending
        held = account["held_balance"] + d_held
        if held < 0 or pending < 0:
            raise Conflict("Held and pending balances cannot go negative.", code="invalid_release")
        if posted - held < 0 and not account["allow_overdraft"] and (d_posted < 0 or d_held > 0):
            available = account["posted_balance"] - account["held_balance"]
            currency = account["currency"]
            raise Unprocessable(
                f"Insufficient funds: account {account_id} has "
                f"{to_decimal_string(available, currency)} {currency} available.",
                code="insufficient_funds",
            )
    for condition in posting.conditions:
        if condition.available_at_least is None:
            continue
        account = state[condition.account_id]
        change = changes.get(condition.account_id, [0, 0, 0, 0])
        available_after = (
            account["posted_balance"] + change[0] - account["held_balance"] - change[2]
        )
        if available_after < condition.available_at_least:
            currency = account["currency"]
            floor = to_decimal_string(condition.available_at_least, currency)
            raise Unprocessable(
                f"The available balance would be {to_decimal_string(available_after, currency)} "
                f"{currency}, below the required {floor}.",
                code="balance_condition_failed",
            )
    for account_id, change in changes.items():
        account = state[account_id]
        account["posted_balance"] += change[0]
        account["pending_balance"] += change[1]
        account["held_balance"] += change[2]
        account["lock_version"] += change[3]
        total = deltas[account_id]
        for i in range(4):
            total[i] += change[i]


def _gross(posting: Posting) -> tuple[int, str]:
    currency = posting.legs[0].currency
    return sum(
        leg.amount for leg in posting.legs if leg.amount > 0 and leg.currency == currency
    ), currency


def _insert(postings: Sequence[Posting], results: list[Result], now: datetime) -> Statement | None:
    """Insert the transactions and entries of the postings that are still ok; on
    PostgreSQL, answer the statement that does it, for the caller to send."""
    todo = [(results[i], p) for i, p in enumerate(postings) if results[i].ok and p.legs]
    if not todo:
        return None
    rows: list[TransactionRow] = []
    for result, posting in todo:
        amount, currency = _gross(posting)
        result.entries = posting.legs
        # Positional, in the order of the fields: keywords cost twice as much, 8,000 times.
        result.row = row = TransactionRow(
            uuid.uuid4(),
            posting.tenant_id,
            posting.kind,
            posting.memo,
            dict(posting.metadata),
            amount,
            currency,
            posting.reverses_id,
            posting.is_inter_node,
            now,
        )
        rows.append(row)
    if connection.vendor == "postgresql":
        return _insert_postgresql(todo, rows, now)
    transactions = [_transaction_model(row) for row in rows]
    LedgerTransaction.objects.bulk_create(transactions)
    entries: list[Entry] = []
    for (result, posting), txn in zip(todo, transactions, strict=True):
        result.transaction_id = txn.pk
        result._transaction = txn
        entries.extend(
            Entry(
                transaction=txn,
                account_id=leg.account_id,
                amount=leg.amount,
                currency=leg.currency,
                posted_at=now,
            )
            for leg in posting.legs
        )
    Entry.objects.bulk_create(entries)
    return None


def _execute(statement: Statement) -> None:
    with connection.cursor() as cursor:
        cursor.execute(writebehind.bind(statement.sql, statement.params))
        statement.done(cursor.fetchall())


_INSERT_SQL = prepared(
    "post",
    """
WITH txn AS (
    INSERT INTO wallets_ledgertransaction
           (uuid, tenant_id, kind, memo, metadata, amount, currency, reverses_id,
            is_inter_node, posted_at)
    SELECT u.uuid, u.tenant, u.kind, u.memo, u.metadata::jsonb, u.amount, u.currency,
           u.reverses, u.inter_node, %(now)s
      FROM unnest(%(uuid)s::uuid[], %(tenant)s::uuid[], %(kind)s::varchar[], %(memo)s::varchar[],
                  %(metadata)s::text[], %(amount)s::bigint[], %(currency)s::varchar[],
                  %(reverses)s::bigint[], %(inter_node)s::boolean[])
           WITH ORDINALITY AS u(uuid, tenant, kind, memo, metadata, amount, currency, reverses,
                                inter_node, n)
     ORDER BY u.n
    RETURNING id, uuid
), entry AS (
    INSERT INTO wallets_entry (transaction_id, account_id, amount, currency, posted_at)
    SELECT txn.id, e.account, e.amount, e.currency, %(now)s
      FROM unnest(%(e_txn)s::uuid[], %(e_account)s::uuid[], %(e_amount)s::bigint[],
                  %(e_currency)s::varchar[])
           WITH ORDINALITY AS e(txn_uuid, account, amount, currency, n)
      JOIN txn ON txn.uuid = e.txn_uuid
     ORDER BY e.n  -- the legs' order, whatever the join's plan (a prepared one may differ)
)
SELECT id, uuid FROM txn
""",
)


def _insert_postgresql(
    todo: list[tuple[Result, Posting]], rows: list[TransactionRow], now: datetime
) -> Statement:
    # One statement for the whole batch: unnest() turns parallel arrays into rows, and the
    # entries join their transaction by uuid inside the same statement. Each array goes as
    # one literal string (``_array``): psycopg would quote a list element by element in
    # Python, which took a third of a bulk request's CPU.
    columns: dict[str, list[Any]] = defaultdict(list)
    as_text: dict[UUID | None, str] = {}  # account and tenant ids repeat across a batch
    for (_, posting), row in zip(todo, rows, strict=True):
        txn_uuid = str(row.uuid)
        tenant_id = row.tenant_id
        if tenant_id not in as_text:
            as_text[tenant_id] = "NULL" if tenant_id is None else str(tenant_id)
        columns["uuid"].append(txn_uuid)
        columns["tenant"].append(as_text[tenant_id])
        columns["kind"].append(row.kind)
        columns["memo"].append(row.memo)
        columns["metadata"].append(
            json.dumps(row.metadata, cls=DjangoJSONEncoder) if row.metadata else "{}"
        )
        columns["amount"].append(row.amount)
        columns["currency"].append(row.currency)
        columns["reverses"].append(row.reverses_id)
        columns["inter_node"].append("t" if row.is_inter_node else "f")
        for leg in posting.legs:
            account_id = leg.account_id
            if account_id not in as_text:
                as_text[account_id] = str(account_id)
            columns["e_txn"].append(txn_uuid)
            columns["e_account"].append(as_text[account_id])
            columns["e_amount"].append(leg.amount)
            columns["e_currency"].append(leg.currency)
    params = {
        name: text_array(values) if name in _TEXT_COLUMNS else array_literal(values)
        for name, values in columns.items()
    }

    def done(inserted: list[tuple[Any, ...]]) -> None:
        ids = {row_uuid: row_id for row_id, row_uuid in inserted}
        for (result, _), row in zip(todo, rows, strict=True):
            result.transaction_id = ids[row.uuid]

    return Statement(_INSERT_SQL, {"now": now, **params}, done)


_TEXT_COLUMNS = frozenset({"kind", "memo", "metadata", "currency", "e_currency"})
