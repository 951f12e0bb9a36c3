"""The money path's hot statements, prepared once per connection (PostgreSQL).

Django's psycopg cursors bind parameters client-side and send each statement as text in
the simple query protocol, so PostgreSQL parses, analyses and *plans* every statement
every time: about 0.7 ms of a single transfer's database CPU went to planning alone. A
statement registered here (``prepared(name, sql)``, at import time) is sent instead as
``EXECUTE sandbox_name(literal, ...)``; its ``PREPARE`` rides in front of the first
message that uses it on a connection (after that message's BEGIN), so preparing costs no
round trip, and the messages stay what they were (several statements, one round trip).
After five executions PostgreSQL's ``plan_cache_mode = auto`` switches a statement to its
generic plan when that costs no more than the custom ones: no planning at all.

**A batch is planned anew.** PostgreSQL costs a generic plan as if each array parameter
held 10 elements. After five executions of a statement with batch-sized arrays (a bulk of
8,000 transfers), the generic plan looks far cheaper than the custom ones, and
``plan_cache_mode = auto`` would keep it for the next bulk: joins planned for 10 rows,
run on 8,000 (a plan kept for the wrong size cost a bulk 5 to 20 s in the ledger's
balance trigger, wallets migration 0013). So a statement whose arguments exceed
``PLANNED_ANEW_ABOVE`` characters goes as SQL with literals, planned for what it carries
(the planning costs little beside such a statement), and leaves the prepared statement
and its plans to the small calls it was made for.

What the connection (``sandbox.db.postgresql.base.Cursor``) keeps track of, and why:

- the names the server has *confirmed*: a PREPARE counts only once the message carrying it
  succeeded. Prepared statements belong to the session, not the transaction: a ROLLBACK
  keeps them, so a refused transfer does not cost its successor a PREPARE.
- a message that carried PREPAREs and failed leaves it unknown which of them ran (the
  server stops at the first error; earlier PREPAREs stay). The next message that prepares
  starts with ``DEALLOCATE ALL`` and prepares what it uses again. The same after the error
  "cached plan must not change result type" (a migration changed a column a statement
  returns: PostgreSQL re-plans after DDL by itself, but refuses a new result shape).
  ``DEALLOCATE ALL`` reaches no one else's statement: client-side-binding cursors never
  prepare.
- a new connection (a reconnect, ``CONN_MAX_AGE``, a failed health check) starts with
  nothing prepared: the state lives on the driver connection.

``SANDBOX_DB_PREPARED_STATEMENTS`` (env ``DB_PREPARED_STATEMENTS``, default on) turns it
off: then the same statements go as literal SQL, as before. Turn it off behind PgBouncer
in transaction pooling mode, where consecutive transactions may run on different server
connections that do not share prepared statements (docs/scaling.md). On SQLite nothing
here runs; with ``OPTIONS["server_side_binding"]`` it stays off too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import pq
from psycopg.pq import Escaping

# Django's %s / %(name)s placeholders, and %% for a literal %.
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?s|%%")


# Up to this many elements, ``prepared(..., small_arrays=True)`` has a statement per length.
SMALL_ARRAY = 4

# Arguments longer than this (in characters, as literals) make a batch: its statement goes
# as SQL, planned for its own size, not as an EXECUTE (the module's docstring).
PLANNED_ANEW_ABOVE = 8192
_ARRAY_PARAMETER = re.compile(r"(\$\d+)::(\w+)\[\]")


class _Definition:
    __slots__ = ("arrays", "name", "names", "prepare", "small")

    def __init__(self, name: str, names: tuple[str, ...] | int, prepare: str) -> None:
        self.name = name
        self.names = names  # the parameters' names in $n order, or how many (positional)
        self.prepare = prepare
        self.arrays: tuple[int, ...] = ()  # the positions of the array parameters
        self.small: list[_Definition] = []  # by length - 1, with ``small_arrays``


_DEFINITIONS: dict[str, _Definition] = {}


def prepared(name: str, sql: str, *, small_arrays: bool = False) -> str:
    """Register ``sql`` (Django placeholders, all named or all positional) as a statement
    to prepare per connection as ``sandbox_<name>``; answer ``sql``. Every parameter needs
    a type PostgreSQL can infer (a cast, or a column it is compared with or stored in).

    ``small_arrays``: for its array parameters (``%s::type[]``, all of one length, given as
    lists), a statement per length up to ``SMALL_ARRAY`` that lists the elements
    (``ARRAY[($1::uuid[])[1], ($1::uuid[])[2]]``). PostgreSQL's generic plan of an array
    parameter assumes 10 elements, so it never beats the custom plans of a two-account
    transfer, and ``plan_cache_mode = auto`` would plan it on every execution; with the
    elements listed, both plans expect what they get and the generic one is kept. (Longer
    arrays use the array statement, planned each time: a bulk's plan is worth its cost.)"""
    numbers: dict[str, int] = {}
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        key = match.group(1)
        if match.group(0) == "%%":
            return "%"
        if key is None:
            positional += 1
            return f"${positional}"
        numbers.setdefault(key, len(numbers) + 1)
        return f"${numbers[key]}"

    text = PLACEHOLDER.sub(number, sql)
    if numbers and positional:
        raise ValueError(f"{name}: named and positional placeholders mixed")
    full = f"sandbox_{name}"
    if any(d.name == full for d in _DEFINITIONS.values()):
        raise ValueError(f"{full} is registered twice")
    names = tuple(numbers) or positional
    definition = _Definition(full, names, f"PREPARE {full} AS {text}")
    if small_arrays:
        definition.arrays = tuple(
            sorted({int(m.group(1)[1:]) - 1 for m in _ARRAY_PARAMETER.finditer(text)})
        )
        for length in range(1, SMALL_ARRAY + 1):

            def listed(match: re.Match[str], length: int = length) -> str:
                whole = f"({match.group(0)})"
                return "ARRAY[" + ", ".join(f"{whole}[{i}]" for i in range(1, length + 1)) + "]"

            small = f"{full}_{length}"
            prepare = f"PREPARE {small} AS {_ARRAY_PARAMETER.sub(listed, text)}"
            definition.small.append(_Definition(small, names, prepare))
    _DEFINITIONS[sql] = definition
    return sql


class State:
    """What one driver connection has prepared (see the module)."""

    __slots__ = ("enabled", "prepared", "reset_due", "wanted")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.prepared: set[str] = set()  # confirmed by the server
        self.wanted: dict[str, str] = {}  # name: PREPARE, due before the next message
        self.reset_due = False  # DEALLOCATE ALL before the next PREPARE


def state(conn: Any) -> State | None:
    return getattr(conn, "sandbox_prepared", None)


def attach(conn: Any, *, enabled: bool) -> None:
    conn.sandbox_prepared = State(enabled)


def bind(conn: Any, ops: Any, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> str:
    """``sql`` bound to ``params``, as text to send on ``conn`` (a driver connection): the
    ``EXECUTE`` of its prepared statement if it has one and they are on, else the SQL with
    its placeholders replaced by literals. ``ops``: Django's ``connection.ops``, for a value
    that is not plain."""
    escaping = Escaping(conn.pgconn)
    definition = _DEFINITIONS.get(sql)
    prepared_state = state(conn)
    if definition is not None and prepared_state is not None and prepared_state.enabled:
        names = definition.names
        values: Any = (
            [params[key] for key in names]  # type: ignore[call-overload]
            if isinstance(names, tuple)
            else params
        )
        if definition.small:
            definition = _small(definition, values)
        literals = [literal(escaping, ops, value) for value in values]
        if sum(map(len, literals)) <= PLANNED_ANEW_ABOVE:
            if definition.name not in prepared_state.prepared:
                prepared_state.wanted[definition.name] = definition.prepare
            return f"EXECUTE {definition.name}({', '.join(literals)})"
        # A batch: the SQL itself, planned for its own size (the module's docstring).
        if isinstance(names, tuple):
            return _substituted(sql, dict(zip(names, literals, strict=True)), None)
        return _substituted(sql, None, iter(literals))
    named = params if isinstance(params, Mapping) else None
    positional = iter(() if named is not None else params)

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        value = named[match.group(1)] if named is not None else next(positional)
        return literal(escaping, ops, value)

    return PLACEHOLDER.sub(replace, sql)


def _substituted(
    sql: str, named: Mapping[str, str] | None, positional: Iterator[str] | None
) -> str:
    """``sql`` with its placeholders replaced by literals already made."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        if named is not None:
            return named[match.group(1)]
        assert positional is not None
        return next(positional)

    return PLACEHOLDER.sub(replace, sql)


def _small(definition: _Definition, values: Sequence[Any]) -> _Definition:
    """The statement for arrays of this length, if it has one (``small_arrays``)."""
    lengths = {
        len(v) if isinstance(v, list) else -1 for v in (values[i] for i in definition.arrays)
    }
    if len(lengths) == 1:
        length = lengths.pop()
        if 1 <= length <= SMALL_ARRAY:
            return definition.small[length - 1]
    return definition


def literal(escaping: Any, ops: Any, value: Any) -> str:
    """``value`` as an SQL literal. The money path's values are plain (integers, text,
    UUIDs, times, arrays already given as literal strings): each is quoted by libpq itself
    (``PQescapeLiteral``), for less than half the CPU of psycopg's ``mogrify``. Anything
    else, or text PostgreSQL cannot store (NUL), goes through ``mogrify``."""
    # The exact types of the money path first, each with one test of its type.
    kind = value.__class__
    if kind is int:
        return str(value)
    if kind is UUID:
        return f"'{value}'::uuid"
    if kind is str and "\x00" not in value:
        return str(escaping.escape_literal(value.encode()).decode())
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, UUID):
        return f"'{value}'::uuid"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, str) and "\x00" not in value:
        return str(escaping.escape_literal(value.encode()).decode())
    if isinstance(value, list) and all(
        v is None or type(v) is int or isinstance(v, UUID) for v in value
    ):
        # Integers and UUIDs only: nothing in them to escape; the SQL casts the array.
        return "'{" + ",".join("NULL" if v is None else str(v) for v in value) + "}'"
    return str(ops.compose_sql("%s", [value]))


def take_ahead(conn: Any) -> tuple[list[str], list[str]]:
    """The statements to send first in the next message (a DEALLOCATE ALL if due, and the
    PREPAREs wanted), and the names they prepare; none while the transaction has failed
    (they would be refused with the rest)."""
    prepared_state = state(conn)
    if (
        prepared_state is None
        or not prepared_state.wanted
        or conn.pgconn.transaction_status == pq.TransactionStatus.INERROR
    ):
        return [], []
    ahead = ["DEALLOCATE ALL"] if prepared_state.reset_due else []
    ahead.extend(prepared_state.wanted.values())
    names = list(prepared_state.wanted)
    prepared_state.wanted.clear()
    return ahead, names


def sent(conn: Any, names: list[str]) -> None:
    """The message carrying the PREPAREs of ``names`` succeeded."""
    prepared_state = state(conn)
    if prepared_state is not None and names:
        prepared_state.prepared.update(names)
        prepared_state.reset_due = False


def failed(conn: Any, names: list[str], error: BaseException) -> None:
    """A message failed: if it carried PREPAREs (which of them ran is unknown) or a
    statement's plan went stale, forget them all; the next PREPARE goes after a
    DEALLOCATE ALL."""
    prepared_state = state(conn)
    if prepared_state is None or not (names or stale_plan(error)):
        return
    prepared_state.prepared.clear()
    prepared_state.reset_due = True


def stale_plan(error: BaseException) -> bool:
    """PostgreSQL refused a prepared statement whose result's shape a schema change
    altered (a new run prepares it again: ``failed``)."""
    cause = error.__cause__ or error
    return getattr(cause, "sqlstate", None) == "0A000" and "cached plan must not change" in str(
        cause
    )
