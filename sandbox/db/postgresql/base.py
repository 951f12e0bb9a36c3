"""Django's PostgreSQL backend (psycopg 3), less two round trips that carry nothing.

**BEGIN rides with the first statement.** Stock psycopg sends ``BEGIN`` on its own before
a transaction's first statement: a round trip per transaction. Here the driver connection
stays in autocommit mode and Django's ``set_autocommit(False)`` (what ``atomic()`` calls)
only notes that a BEGIN is due. The cursors put it in front of the next statement the
connection sends, in the same message (simple query protocol: the cursors bind parameters
client-side, as Django's psycopg cursors do by default), and skip its result. Django keeps
its own view of the transaction (``get_autocommit``, ``in_atomic_block``) untouched; psycopg
sends COMMIT and ROLLBACK from the *server's* transaction status, which the BEGIN set, so
they work unchanged (and cost nothing if no statement ran). What cannot share a message (a
named cursor's DECLARE, ``executemany``, COPY, streaming) gets the BEGIN on its own first,
as before. With ``OPTIONS["server_side_binding"]`` (one statement per message) the stock
behaviour stays.

**PREPAREs ride along too.** The money path's hot statements are prepared once per
connection; a cursor puts the PREPAREs its message needs right after the BEGIN, and keeps
track of what the server confirmed (``sandbox.db.postgresql.prepared``).

**The health check only after idling.** With ``CONN_HEALTH_CHECKS``, Django sends
``SELECT 1`` before the first query of every request: a round trip per request on a
connection that answered a millisecond ago. As pgbouncer's ``server_check_delay``, the
check here runs only when the server last answered more than ``HEALTH_CHECK_AFTER_IDLE``
seconds ago (``SANDBOX_DB_HEALTH_CHECK_AFTER_IDLE``, default 5; 0 checks always). A
busy connection is alive by evidence; one that idled (the window in which a restart, a
failover or an idle timeout kills connections unnoticed) is checked and replaced.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base as stock_base
from psycopg import Connection as PsycopgConnection
from psycopg import IsolationLevel, ServerCursor, pq
from psycopg.sql import Composable

from sandbox.db.postgresql import prepared

# Django's backend, as a module without stubs: its cursor classes exist only with psycopg 3.
base: Any = stock_base


class _State:
    """What the cursors of one driver connection share with its Django wrapper."""

    __slots__ = ("begin", "last_answer")

    def __init__(self) -> None:
        self.begin: bytes | None = None  # the BEGIN due before the next statement
        self.last_answer = 0.0  # time.monotonic() of the server's last answer


def _state(conn: PsycopgConnection[Any]) -> _State:
    state = getattr(conn, "sandbox_state", None)
    if state is None:
        state = _State()
        conn.sandbox_state = state  # type: ignore[attr-defined]
    return state


def _begin_alone(conn: PsycopgConnection[Any]) -> None:
    """Send a due BEGIN in a message of its own (what cannot carry it)."""
    state = _state(conn)
    if state.begin is not None:
        begin, state.begin = state.begin, None
        with _begin_kept_if_not_run(conn, begin):
            conn.execute(begin)


@contextlib.contextmanager
def _begin_kept_if_not_run(conn: PsycopgConnection[Any], begin: bytes) -> Iterator[None]:
    """On an error, the BEGIN stays due if the server is still outside a transaction:
    psycopg refused the statement before sending it (a NUL in a text parameter, a wrong
    number of parameters), or the server refused the whole message unparsed (a syntax
    error). Otherwise a caller that catches the error and goes on inside ``atomic()`` would
    run its next statements in autocommit, each committed on its own."""
    try:
        yield
    except BaseException:
        if conn.pgconn.transaction_status == pq.TransactionStatus.IDLE:
            _state(conn).begin = begin
        raise


class Cursor(base.Cursor):
    """Django's client-side-binding cursor, sending a due BEGIN, and the PREPAREs of the
    statements its message executes (``prepared``), with its statement."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        conn = self.connection
        state = _state(conn)
        begin = state.begin
        ahead, preparing = prepared.take_ahead(conn)
        if begin is None and not ahead:
            try:
                result = super().execute(query, params, **kwargs)
            except BaseException as error:
                prepared.failed(conn, preparing, error)
                raise
        else:
            state.begin = None
            if begin is not None:
                ahead.insert(0, begin.decode())
            if isinstance(query, Composable):
                query = query.as_string(self)
            first = ";\n".join(ahead) + ";\n"
            if params is not None:  # the driver will read placeholders: % in ours stay %
                first = first.replace("%", "%%")
            query = first.encode() + query if isinstance(query, bytes) else first + query
            # On an error, whether the BEGIN ran is the server's to say: psycopg's ROLLBACK
            # follows the server's transaction status, as does Django's rollback.
            try:
                if begin is None:
                    result = super().execute(query, params, **kwargs)
                else:
                    with _begin_kept_if_not_run(conn, begin):
                        result = super().execute(query, params, **kwargs)
            except BaseException as error:
                prepared.failed(conn, preparing, error)
                raise
            for _ in ahead:
                self.nextset()  # the caller reads its own statement's results
            prepared.sent(conn, preparing)
        state.last_answer = time.monotonic()
        return result

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        _begin_alone(self.connection)  # psycopg pipelines it: one statement per message
        return super().executemany(*args, **kwargs)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        _begin_alone(self.connection)
        return super().copy(*args, **kwargs)

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        _begin_alone(self.connection)
        return super().stream(*args, **kwargs)


class RawServerCursor(ServerCursor[Any]):
    """psycopg's named cursor (``connection.connection.cursor(name=...)``): DECLARE without
    HOLD needs the transaction begun, so a due BEGIN goes first, alone."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        _begin_alone(self.connection)
        return super().execute(*args, **kwargs)


class ServerSideCursor(base.ServerSideCursor):
    """Django's named cursor (``QuerySet.iterator()``), likewise."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        _begin_alone(self.connection)
        return super().execute(*args, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    health_check_done: bool  # Django's, set per request

    def _lazy_begin(self) -> bool:
        return self.settings_dict["OPTIONS"].get("server_side_binding") is not True

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self._lazy_begin():
            params["cursor_factory"] = Cursor
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        conn = super().get_new_connection(conn_params)
        if self._lazy_begin():
            conn.server_cursor_factory = RawServerCursor
        _state(conn).last_answer = time.monotonic()  # it just answered the handshake
        prepared.attach(
            conn, enabled=self._lazy_begin() and settings.SANDBOX_DB_PREPARED_STATEMENTS
        )
        return conn

    def create_cursor(self, name: str | None = None) -> Any:
        if not name or not self._lazy_begin():
            return super().create_cursor(name)
        # As Django's, but holdable after the *Django* transaction, not the driver's
        # autocommit flag (which stays on here).
        cursor = ServerSideCursor(
            self.connection, name=name, scrollable=False, withhold=self.autocommit
        )
        tzloader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, base.Format.TEXT)
        if self.timezone != tzloader.timezone:
            base.register_tzloader(self.timezone, cursor)
        return cursor

    def _set_autocommit(self, autocommit: bool) -> None:
        if not self._lazy_begin():
            super()._set_autocommit(autocommit)
            return
        conn = self.connection
        with self.wrap_database_errors:
            # The driver's autocommit stays on: psycopg's setter (a lock and a generator run
            # to completion, twice a transaction) only checks that the server is idle. It is
            # asked only when that check would fail (it raises, as stock) or it is off.
            if not conn.autocommit or conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                conn.autocommit = True
            _state(conn).begin = None if autocommit else self._begin_statement()

    def _begin_statement(self) -> bytes:
        level = self.connection.isolation_level
        if level is None:
            return b"BEGIN"
        return b"BEGIN ISOLATION LEVEL " + IsolationLevel(level).name.replace("_", " ").encode()

    def _commit(self) -> None:
        if self.connection is not None:
            _state(self.connection).begin = None  # nothing ran: nothing to commit
        super()._commit()
        self._next_transaction_due()

    def _rollback(self) -> None:
        if self.connection is not None:
            _state(self.connection).begin = None
        super()._rollback()
        self._next_transaction_due()

    def _next_transaction_due(self) -> None:
        """Outside autocommit, as with stock psycopg, the statement after a COMMIT or a
        ROLLBACK opens the next transaction (``atomic()`` turns autocommit back on right
        after, which clears this again)."""
        if self.connection is not None and self._lazy_begin() and not self.autocommit:
            _state(self.connection).begin = self._begin_statement()

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and time.monotonic() - _state(self.connection).last_answer < self._idle_limit()
        ):
            self.health_check_done = True  # it answered a moment ago
            return
        super().close_if_health_check_failed()

    def is_usable(self) -> bool:
        usable = bool(super().is_usable())
        if usable:
            _state(self.connection).last_answer = time.monotonic()
        return usable

    def _idle_limit(self) -> float:
        return float(settings.SANDBOX_DB_HEALTH_CHECK_AFTER_IDLE)
