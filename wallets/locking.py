"""The ledger's one lock order, and short retries for the rare conflict.

Written down once, used by every write that touches balances:

1. At most one **hold** row, claimed first with a conditional UPDATE
   (``... WHERE status = 'pending'``), so two captures of one hold cannot both win.
   Then, for an inter-node posting that makes a node with a net debit cap pay, that
   **node's cap lock** (clearing's posting check, ``wallets.posting.POSTING_CHECKS``: a
   PostgreSQL advisory lock per node, in node-id order, held until COMMIT), so two
   postings of one node, from different accounts, cannot both fit under its cap.
2. Then the **accounts**, all of them at once, in ascending ``id`` order:
   ``SELECT ... FROM wallets_account WHERE id IN (...) ORDER BY id FOR NO KEY UPDATE``
   (``lock_accounts``). PostgreSQL sorts below the row-locking step, so rows are locked
   in id order; two transactions over overlapping accounts queue instead of deadlocking.
   ``NO KEY UPDATE``, not ``UPDATE``: it is the lock a balance UPDATE takes anyway, and it
   does not conflict with the ``KEY SHARE`` locks that the (deferred) foreign-key checks of
   other transactions' new entries take on the same accounts at their COMMIT. With
   ``FOR UPDATE`` those checks deadlocked against our locks under load.

Nothing else locks account rows, so the order is total and deadlocks cannot happen
between ledger writes (a transaction that posts twice, an inter-node posting after its
accounts are locked, could still meet a cap lock in the wrong order: PostgreSQL detects it
and ``retrying`` retries). Balance changes are then applied to the locked rows as
``x = x + delta`` (``apply_deltas``), and the locks are taken as late as possible: a
transaction's rows and entries are inserted *before* its accounts are locked, so a hot
account (one merchant credited by everyone) is held only for one check, one UPDATE and
the COMMIT.

Under READ COMMITTED with explicit row locks, serialization failures and deadlocks should
not occur; ``retrying`` still retries them a few times (and a ``lock_timeout``, if an
operator sets one), so none reaches a client as a 500.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, TypeVar
from uuid import UUID

from django.db import NotSupportedError, OperationalError, connection, transaction
from django.db.models import F

from sandbox import writebehind
from sandbox.db.postgresql.prepared import prepared, stale_plan
from sandbox.events.models import ClockAttachment, TestClock
from sandbox.tenants.models import Node
from wallets.models import Account, Wallet

logger = logging.getLogger(__name__)

T = TypeVar("T")

# serialization_failure, deadlock_detected, lock_not_available
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
MAX_ATTEMPTS = 6

# How many times a ledger transaction was retried, for tests and the benchmark: with one
# lock order there should be none, and a test says so.
retry_count = 0


class AccountState(TypedDict):
    """A locked account's balance state, as the posting primitive reads and updates it."""

    id: UUID
    tenant_id: UUID | None
    currency: str
    status: str
    allow_overdraft: bool
    posted_balance: int
    pending_balance: int
    held_balance: int
    lock_version: int
    # Who owns the account, read by the same statement, for the change's events: its
    # node (None for platform accounts), the node's tenant, and the frozen time of the test
    # clock that node follows (None: it follows the platform clock). Not locked: a node's
    # clock may move while it posts, as it could a moment later.
    node_id: UUID | None
    node_tenant_id: UUID | None
    node_clock_time: datetime | None


# The account's columns of ``AccountState``, in the order ``_account_state`` reads them.
ACCOUNT_STATE_FIELDS = (
    "id",
    "tenant_id",
    "currency",
    "status",
    "allow_overdraft",
    "posted_balance",
    "pending_balance",
    "held_balance",
    "lock_version",
)

# True while ``run_retrying`` owns the transaction: services inside need no savepoints
# of their own, the owner rolls back on error. A context variable, not an attribute set on
# the connection: it is per thread (and per task) as the connection is, and typed.
_ledger_owned: ContextVar[bool] = ContextVar("ledger_owned", default=False)


def is_retryable(exc: BaseException) -> bool:
    """A conflict, or a prepared statement whose result a migration changed (the
    connection prepares it again: ``sandbox.db.postgresql.prepared``)."""
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES or stale_plan(exc)


def retrying(function: Callable[..., T]) -> Callable[..., T]:
    """Run ``function`` in a transaction, retried on serialization failures and deadlocks.

    Only the outermost transaction can retry (after an error PostgreSQL refuses every
    statement until rollback). Called inside an ``atomic`` block that ``run_retrying``
    owns (``wallets.idempotency`` does), it just runs: that owner rolls everything back
    on any error and retries. Inside someone else's block it runs in a savepoint, so a
    refusal undoes its own writes and the caller may carry on.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        if not connection.in_atomic_block:
            return run_retrying(lambda: function(*args, **kwargs))
        with transaction.atomic(savepoint=not _ledger_owned.get()):
            return function(*args, **kwargs)

    return wrapper


def run_retrying(body: Callable[[], T]) -> T:
    """Run ``body`` in a transaction it owns, retried on conflicts. Nested in another
    ``atomic`` block (tests, callers composing services) it runs once, in a savepoint."""
    if connection.in_atomic_block:
        with transaction.atomic(), _owned(), writebehind.deferring():
            return body()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            # The last writes go with the COMMIT (``sandbox.writebehind``): this is the
            # outermost block, and nothing runs in it after ``body``.
            with transaction.atomic(), _owned(), writebehind.deferring(commit=True):
                return body()
        except (OperationalError, NotSupportedError) as exc:
            if attempt == MAX_ATTEMPTS or not is_retryable(exc):
                raise
            global retry_count
            retry_count += 1
            logger.info("ledger conflict (%s), retry %d", exc.__cause__ or exc, attempt)
            time.sleep(random.uniform(0.002, 0.01) * attempt)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _owned() -> Iterator[None]:
    """Inside, services need no savepoints of their own: the owner rolls back on error."""
    token = _ledger_owned.set(True)
    try:
        yield
    finally:
        _ledger_owned.reset(token)


# The owners come along through outer joins; ``OF a`` locks the account rows only.
_LOCK_SQL = prepared(
    "lock_accounts",
    f"""
SELECT {", ".join(f"a.{name}" for name in ACCOUNT_STATE_FIELDS)},
       n.id, n.tenant_id, tc.frozen_time
  FROM {Account._meta.db_table} AS a
  LEFT JOIN {Wallet._meta.db_table} AS w ON w.id = a.wallet_id
  LEFT JOIN {Node._meta.db_table} AS n ON n.id = w.node_id
  LEFT JOIN {ClockAttachment._meta.db_table} AS ca ON ca.node_id = n.id
  LEFT JOIN {TestClock._meta.db_table} AS tc ON tc.id = ca.clock_id
 WHERE a.id = ANY(%(ids)s::uuid[])
 ORDER BY a.id
   FOR NO KEY UPDATE OF a
""",
    small_arrays=True,
)


@dataclass(frozen=True)
class Statement:
    """A statement that ``lock_accounts`` sends in the same round trip, before its own;
    ``done`` is given its rows."""

    sql: str
    params: Mapping[str, Any]
    done: Callable[[list[tuple[Any, ...]]], None]


def lock_accounts(
    account_ids: Iterable[UUID], *, first: Statement | None = None
) -> dict[UUID, AccountState]:
    """Lock the accounts in id order and return their balance state, keyed by id, with
    their owners (node and its test clock's time) for the events of the change. On
    PostgreSQL, ``first`` (the posting's INSERT) runs just before, in the same round trip."""
    ids = sorted(set(account_ids))
    if connection.vendor == "postgresql":
        return _lock_postgresql(ids, first)
    assert first is None, "only PostgreSQL combines statements"
    if not ids:
        return {}
    rows = (
        Account.objects.filter(id__in=ids)
        .order_by("id")
        .select_for_update(of=("self",), no_key=True)
        .values_list(
            *ACCOUNT_STATE_FIELDS,
            "wallet__node_id",
            "wallet__node__tenant_id",
            "wallet__node__clock_attachment__clock__frozen_time",
        )
    )
    return {row[0]: _account_state(row) for row in rows}


def _lock_postgresql(ids: list[UUID], first: Statement | None) -> dict[UUID, AccountState]:
    # The hottest query of the ledger, written out (the ORM would rebuild it each time)
    # and prepared per connection. With ``first``, both go in one message (simple query
    # protocol), bound here (``writebehind.bind``), and their results come back one after
    # the other; otherwise two round trips.
    with connection.cursor() as cursor:
        if first is not None and not combinable():
            cursor.execute(first.sql, first.params)
            first.done(cursor.fetchall())
            first = None
        if not ids:
            if first is not None:
                cursor.execute(first.sql, first.params)
                first.done(cursor.fetchall())
            return {}
        lock = writebehind.bind(_LOCK_SQL, {"ids": ids})
        if first is None:
            cursor.execute(lock)
        else:
            cursor.execute(f"{writebehind.bind(first.sql, first.params)};\n{lock}")
            first.done(cursor.fetchall())
            cursor.nextset()
        return {row[0]: _account_state(row) for row in cursor.fetchall()}


def combinable() -> bool:
    """Whether one execute may carry several statements (PostgreSQL): not with
    server-side binding."""
    return not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")


def _account_state(row: Sequence[Any]) -> AccountState:
    """A row of ``ACCOUNT_STATE_FIELDS``, in that order, then the node and its clock."""
    return {
        "id": row[0],
        "tenant_id": row[1],
        "currency": row[2],
        "status": row[3],
        "allow_overdraft": row[4],
        "posted_balance": row[5],
        "pending_balance": row[6],
        "held_balance": row[7],
        "lock_version": row[8],
        "node_id": row[9],
        "node_tenant_id": row[10],
        "node_clock_time": row[11],
    }


_APPLY_DELTAS_SQL = prepared(
    "apply_deltas",
    """
UPDATE wallets_account AS a
   SET posted_balance = a.posted_balance + d.posted,
       pending_balance = a.pending_balance + d.pending,
       held_balance = a.held_balance + d.held,
       lock_version = a.lock_version + d.version
  FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
       AS d(id, posted, pending, held, version)
 WHERE a.id = d.id
""",
    small_arrays=True,
)


def apply_deltas(deltas: Mapping[UUID, Sequence[int]]) -> None:
    """Add (posted, pending, held, lock_version) deltas to accounts locked by
    ``lock_accounts``: one statement on PostgreSQL, one per account elsewhere."""
    changed = {k: v for k, v in deltas.items() if any(v)}
    if not changed:
        return
    if connection.vendor == "postgresql":
        ids, posted, pending, held, versions = [], [], [], [], []
        for account_id, (d_posted, d_pending, d_held, d_version) in changed.items():
            ids.append(account_id)
            posted.append(d_posted)
            pending.append(d_pending)
            held.append(d_held)
            versions.append(d_version)
        # Nobody reads its result: it goes with the transaction's next statement.
        writebehind.write(_APPLY_DELTAS_SQL, [ids, posted, pending, held, versions])
        return
    for account_id, (d_posted, d_pending, d_held, d_version) in changed.items():
        Account.objects.filter(id=account_id).update(
            posted_balance=F("posted_balance") + d_posted,
            pending_balance=F("pending_balance") + d_pending,
            held_balance=F("held_balance") + d_held,
            lock_version=F("lock_version") + d_version,
        )
