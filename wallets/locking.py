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

3. **Late locks** (a single transfer, ``post(..., lock_late=True)``): an account whose
   only change is to its posted balance (no hold, no pending change, no condition) is not
   locked up front. It is read without a lock with the others (its status, currency and
   owner), checked on that read, and locked by its own balance UPDATE, which goes with the
   COMMIT (``apply_late``): guarded there (still open; a debit still covered), so a
   change the read allowed but the latest row refuses fails that last message and the
   transaction rolls back, then runs again with every account locked up front, for the
   exact answer (``run_retrying``). Late locks come after the up-front ones and in id
   order too: an account is late only if its id is above every id locked up front. So a
   hot account credited by everyone is held for the last message only (its UPDATE, the
   events, the stored answer and the COMMIT), not across a round trip and the Python
   between two; and the order stays total.

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

from django.db import (
    DatabaseError,
    NotSupportedError,
    OperationalError,
    connection,
    transaction,
)
from django.db.models import F

from sandbox import writebehind
from sandbox.db.arrays import array_literal
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
# How many times a late-locked change was refused by its guard and the transaction ran
# again with its accounts locked up front (a race: the account closed, or its money went,
# between the read and the COMMIT). Not a conflict: counted apart.
late_fallback_count = 0


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
# True while an attempt of the outermost ``run_retrying`` runs, unless a late change was
# refused in an earlier attempt: only that owner sees a late guard's refusal (whichever
# statement it rides with) and can run the transaction again, locks up front.
_late_allowed: ContextVar[bool] = ContextVar("late_locks_allowed", default=False)


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
        # Someone else owns the transaction: no late locks, whose refusal needs a retry.
        with transaction.atomic(), _owned(), _late(False), writebehind.deferring():
            return body()
    global retry_count, late_fallback_count
    late = True
    conflicts = 0
    while True:  # ends: at most one late refusal, then MAX_ATTEMPTS conflicts at the most
        try:
            # The last writes go with the COMMIT (``sandbox.writebehind``): this is the
            # outermost block, and nothing runs in it after ``body``.
            with transaction.atomic(), _owned(), _late(late), writebehind.deferring(commit=True):
                return body()
        except (OperationalError, NotSupportedError) as exc:
            conflicts += 1
            if conflicts == MAX_ATTEMPTS or not is_retryable(exc):
                raise
            retry_count += 1
            logger.info("ledger conflict (%s), retry %d", exc.__cause__ or exc, conflicts)
            time.sleep(random.uniform(0.002, 0.01) * conflicts)
        except DatabaseError as exc:  # SBL01 has no class of its own in the DB-API's tree
            if not late or not late_refused(exc):
                raise
            # Not a conflict, and not counted as one: however many conflicts came before,
            # the next attempt locks up front, reads exactly and answers exactly.
            late = False
            late_fallback_count += 1
            logger.info("late account change refused (%s), again with locks up front", exc)


@contextlib.contextmanager
def _late(allowed: bool) -> Iterator[None]:
    token = _late_allowed.set(allowed)
    try:
        yield
    finally:
        _late_allowed.reset(token)


def late_locks_allowed() -> bool:
    """Whether a posting may lock some accounts late (``apply_late``): on PostgreSQL, in
    an attempt of the outermost ``run_retrying``, which runs it again if a late change is
    refused."""
    return _late_allowed.get() and connection.vendor == "postgresql"


@contextlib.contextmanager
def _owned() -> Iterator[None]:
    """Inside, services need no savepoints of their own: the owner rolls back on error."""
    token = _ledger_owned.set(True)
    try:
        yield
    finally:
        _ledger_owned.reset(token)


# The owners come along through outer joins; ``OF a`` locks the account rows only.
_READ_ACCOUNTS = f"""
SELECT {", ".join(f"a.{name}" for name in ACCOUNT_STATE_FIELDS)},
       n.id, n.tenant_id, tc.frozen_time
  FROM {Account._meta.db_table} AS a
  LEFT JOIN {Wallet._meta.db_table} AS w ON w.id = a.wallet_id
  LEFT JOIN {Node._meta.db_table} AS n ON n.id = w.node_id
  LEFT JOIN {ClockAttachment._meta.db_table} AS ca ON ca.node_id = n.id
  LEFT JOIN {TestClock._meta.db_table} AS tc ON tc.id = ca.clock_id
 WHERE a.id = ANY(%(ids)s::uuid[])
 ORDER BY a.id
"""
_LOCK_SQL = prepared(
    "lock_accounts", _READ_ACCOUNTS + "   FOR NO KEY UPDATE OF a\n", small_arrays=True
)
# The accounts locked late (``apply_late``), read with the others but without a lock.
_READ_SQL = prepared("read_accounts", _READ_ACCOUNTS, small_arrays=True)


@dataclass(frozen=True)
class Statement:
    """A statement that ``lock_accounts`` sends in the same round trip, before its own;
    ``done`` is given its rows."""

    sql: str
    params: Mapping[str, Any]
    done: Callable[[list[tuple[Any, ...]]], None]


def lock_accounts(
    account_ids: Iterable[UUID],
    *,
    first: Statement | None = None,
    read: Iterable[UUID] = (),
) -> dict[UUID, AccountState]:
    """Lock the accounts in id order and return their balance state, keyed by id, with
    their owners (node and its test clock's time) for the events of the change. On
    PostgreSQL, ``first`` (the posting's INSERT) runs just before, in the same round trip,
    and the accounts ``read`` (to be locked late, ``apply_late``) are read just after,
    without a lock: their state is as read, not as it will be when they are locked."""
    ids = sorted(set(account_ids))
    if connection.vendor == "postgresql":
        return _lock_postgresql(ids, first, sorted(set(read)))
    assert first is None and not read, "only PostgreSQL combines statements and locks late"
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


def _lock_postgresql(
    ids: list[UUID], first: Statement | None, read: list[UUID]
) -> dict[UUID, AccountState]:
    # The hottest query of the ledger, written out (the ORM would rebuild it each time)
    # and prepared per connection. ``first``, the lock and the read go in one message
    # (simple query protocol), bound here (``writebehind.bind``), and their results come
    # back one after the other; without ``combinable()``, one round trip each.
    statements = [] if first is None else [first]
    rows: dict[UUID, AccountState] = {}

    def keep(found: list[tuple[Any, ...]]) -> None:
        rows.update((row[0], _account_state(row)) for row in found)

    if ids:
        statements.append(Statement(_LOCK_SQL, {"ids": ids}, keep))
    if read:
        statements.append(Statement(_READ_SQL, {"ids": read}, keep))
    if statements:
        run_together(statements)
    return rows


def run_together(statements: Sequence[Statement]) -> None:
    """Send ``statements`` in one message (simple query protocol), each bound here
    (``writebehind.bind``), and give each its rows (``done``) as they come back one after
    the other; without ``combinable()``, one round trip each."""
    with writebehind.cursor() as cursor:
        if not combinable():
            for statement in statements:
                cursor.execute(statement.sql, statement.params)
                statement.done(cursor.fetchall())
            return
        bind = writebehind.bind
        cursor.execute(";\n".join(bind(s.sql, s.params) for s in statements))
        for index, statement in enumerate(statements):
            if index:
                cursor.nextset()
            statement.done(cursor.fetchall())


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


# The late accounts' changes (``lock_accounts(read=...)``), in one call of
# ``wallets_apply_late`` (migration 0015): each UPDATE takes the row's lock and applies
# only if the account is still open and, for a debit, still covers it (the checks the
# posting made on the unlocked read, made again on the locked row). If one matches no row
# the function raises SQLSTATE SBL01, naming the account, and the transaction rolls back.
LATE_REFUSED_SQLSTATE = "SBL01"
_APPLY_LATE_SQL = prepared(
    "apply_late",
    "SELECT wallets_apply_late(%(ids)s::uuid[], %(posted)s::bigint[], %(versions)s::bigint[])",
)


def apply_late(deltas: Mapping[UUID, Sequence[int]]) -> None:
    """Change the accounts read but not locked (``lock_accounts(read=...)``): only posted
    balance deltas (and lock_version counts), guarded, in id order, in one statement sent
    with the transaction's next one (the COMMIT, for a transfer). Only inside
    ``run_retrying``'s own attempts (``late_locks_allowed``), which run again if one is
    refused (``late_refused``)."""
    ids: list[UUID] = []
    posted: list[int] = []
    versions: list[int] = []
    for account_id in sorted(deltas):
        d_posted, d_pending, d_held, d_version = deltas[account_id]
        assert not (d_pending or d_held), "holds and pending changes are locked up front"
        if d_posted or d_version:
            ids.append(account_id)
            posted.append(d_posted)
            versions.append(d_version)
    if ids:
        params = {
            "ids": array_literal(ids),
            "posted": array_literal(posted),
            "versions": array_literal(versions),
        }
        writebehind.write(_APPLY_LATE_SQL, params)


def late_refused(exc: BaseException) -> bool:
    """A late change's guard refused it (``apply_late``)."""
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) == LATE_REFUSED_SQLSTATE
