"""Writes that ride with the next statement of their transaction (PostgreSQL): a round trip
saved per write whose answer nobody waits for.

The money path ends with writes nobody reads back: the balance UPDATE, the events INSERT,
the stored idempotency answer. Each was a round trip of its own. Inside ``deferring()``
(``wallets.locking.run_retrying`` opens it around every ledger transaction), ``write(sql,
params)`` queues such a statement instead, already bound to its parameters, and the queue
goes to the server *in the same message as the next statement the connection executes*,
ahead of it (simple query protocol; Django's psycopg cursors bind client-side). So:

- any later statement, read or write, sees the queued writes: they ran just before it;
- a savepoint never outlives them (SAVEPOINT, RELEASE and ROLLBACK TO are statements too:
  the queue goes first), so rolling one back undoes them as it would have;
- leaving the block flushes what is left, still inside the transaction, before COMMIT (or
  with it: ``deferring(commit=True)``); on an exception it discards the queue (the
  transaction is being rolled back anyway);
- an error of a queued write (a backstop constraint) is raised by the statement it rode
  with, still inside the transaction, which then rolls back: nothing is lost or half-done.

Outside the block, on SQLite, or with server-side binding, ``write`` just executes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections

from sandbox.db.postgresql import prepared

# The statements waiting, already bound (None: not deferring).
_queue: ContextVar[list[str] | None] = ContextVar("writebehind_queue", default=None)
# The connection (Django's wrapper) of the open block, for ``bind`` and ``flush``: the
# thread's connection, looked up once per block rather than once per statement (each
# look-up goes through asgiref's Local; a single transfer binds some ten statements).
_wrapper: ContextVar[Any] = ContextVar("writebehind_connection", default=None)
# The open block's cursor, once made (``cursor``): a list of at most one.
_shared: ContextVar[list[Any] | None] = ContextVar("writebehind_cursor", default=None)


def _can_defer(wrapper: Any) -> bool:
    return wrapper.vendor == "postgresql" and not wrapper.settings_dict.get("OPTIONS", {}).get(
        "server_side_binding"
    )


def _connection() -> Any:
    """The open block's connection, or else the thread's (the same object)."""
    wrapper = _wrapper.get()
    return connections[DEFAULT_DB_ALIAS] if wrapper is None else wrapper


@contextlib.contextmanager
def deferring(*, commit: bool = False) -> Iterator[None]:
    """Let ``write`` queue statements until the next one (see the module). Nested blocks
    share the outermost one's queue.

    ``commit=True`` is for the owner of the outermost ``transaction.atomic()`` block, whose
    body this block is, all of it: then what waits at the end goes with the COMMIT, in one
    round trip, and the atomic block's own COMMIT finds nothing left to do (psycopg sends
    none for a connection that is no longer in a transaction). Not when Django has marked
    the transaction for rollback (an inner block's error was caught): then the queue is
    dropped and it rolls back."""
    if _queue.get() is not None:
        yield
        return
    wrapper: Any = connections[DEFAULT_DB_ALIAS]  # a psycopg backend past ``_can_defer``
    if not _can_defer(wrapper):
        yield
        return
    queue: list[str] = []
    shared: list[Any] = []
    token, wrapper_token = _queue.set(queue), _wrapper.set(wrapper)
    shared_token = _shared.set(shared)
    try:
        with wrapper.execute_wrapper(_ride_along):
            yield
            if wrapper.needs_rollback:
                queue.clear()  # Django rolls the transaction back: nothing to send
            elif commit and queue:
                queue.append("COMMIT")
            flush()
    finally:
        queue.clear()
        if shared:
            with contextlib.suppress(wrapper.Database.Error):  # as Django's cursors close
                shared.pop().close()
        _shared.reset(shared_token)
        _wrapper.reset(wrapper_token)
        _queue.reset(token)


def write(sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
    """Execute ``sql`` now, or, inside ``deferring()``, with the next statement. For writes
    whose result (rows, row count) nobody reads."""
    queue = _queue.get()
    if queue is None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    queue.append(bind(sql, params) if params is not None else sql)


def bind(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> str:
    """``sql`` with its ``%s`` / ``%(name)s`` placeholders replaced by ``params`` as SQL
    literals, as the connection's client-side-binding cursors would send it; or, for a
    statement prepared per connection, its ``EXECUTE`` (``sandbox.db.postgresql.prepared``).
    Text to send as it is, without parameters."""
    # One look-up of the connection, not one per attribute (and none inside a block): each
    # goes through Django's per-thread connection handler.
    wrapper = _connection()
    return prepared.bind(wrapper.connection, wrapper.ops, sql, params)


def flush() -> None:
    """Send what waits now, in one round trip (nothing to do if nothing waits)."""
    queue = _queue.get()
    if queue:
        waiting = ";\n".join(queue)
        queue.clear()
        with cursor() as shared:
            shared.execute(waiting)


@contextlib.contextmanager
def cursor() -> Iterator[Any]:
    """A cursor of the connection. Inside ``deferring()``, the block's own, made on first
    use and closed with the block: a single transfer sends its three messages (the claim,
    the posting, the last writes with the COMMIT) on one cursor instead of making three
    (Django's ``connection.cursor()`` builds a driver cursor and its wrapper each time).
    Outside, a new one, closed after. What a caller reads, it reads before its next
    statement, as with any cursor."""
    shared = _shared.get()
    if shared is None:
        with _connection().cursor() as new:
            yield new
        return
    if not shared:
        shared.append(_connection().cursor())
    yield shared[0]


def _ride_along(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    queue = _queue.get()
    if not queue:
        return execute(sql, params, many, context)
    waiting = list(queue)
    queue.clear()
    if many:  # executemany sends one statement per row: the queue goes on its own first
        context["cursor"].execute(";\n".join(waiting))
        return execute(sql, params, many, context)
    ahead = ";\n".join(waiting) + ";\n"
    if params is not None:  # the driver will read placeholders: literal %s stay literal
        ahead = ahead.replace("%", "%%")
    result = execute(ahead + sql, params, many, context)
    cursor = context["cursor"]
    for _ in waiting:
        cursor.nextset()  # the caller reads the results of its own statement
    return result
