"""Round trips to PostgreSQL, counted from libpq's own protocol trace (for tests and bench).

A round trip is a wait of the client: it sends one or more messages, then waits for the
server's answer. Every statement sent on its own is one; BEGIN, COMMIT,
SAVEPOINT and Django's connection health check (``SELECT 1``) are each one too; several
statements sent together (one multi-statement string, or a pipeline) are one. Counting the
turns in libpq's trace sees them all, including what Django's query capture misses (the
driver's implicit BEGIN, ``commit()``, the health check).

    with RoundTrips(connection) as trips:
        client.post(...)
    assert trips.count == 4
"""

from __future__ import annotations

import os
import tempfile
from types import TracebackType
from typing import Any


class RoundTrips:
    """Count the round trips on a Django PostgreSQL connection (psycopg 3) inside the block.
    ``messages`` lists, per round trip, what the client sent (message types and the first
    words of each query)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.count = 0
        self.messages: list[str] = []

    def __enter__(self) -> RoundTrips:
        from psycopg import pq

        self.connection.ensure_connection()
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._pgconn = self.connection.connection.pgconn
        self._pgconn.trace(os.dup(self._file.fileno()))
        self._pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # ``untrace`` flushes libpq's stream; the connection may have been replaced inside.
        self._pgconn.untrace()
        self._file.seek(0)
        self._parse(self._file.read().decode("utf-8", "replace"))
        self._file.close()

    def _parse(self, trace: str) -> None:
        # The client waits for the server after a simple Query, after a Sync (the end of an
        # extended-protocol exchange, or of a pipeline: what it sent before goes in the
        # same turn) and after a Flush request. Counting those counts the waits: in a
        # pipeline the server's early answers may interleave with what the client still
        # sends, without the client waiting for them.
        sent: list[str] = []
        for line in trace.splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or parts[0] != "F":
                continue
            kind = parts[2].strip()
            if kind in ("Query", "Parse"):
                detail = parts[3] if len(parts) > 3 else ""
                sent.append(f"{kind} {' '.join(detail.replace(chr(92) + 'n', ' ').split())[:48]}")
            if kind in ("Query", "Sync", "Flush"):
                self.count += 1
                self.messages.append(" | ".join(sent) or "(protocol)")
                sent = []


class RedisRoundTrips:
    """Count the round trips to Redis (redis-py) inside the block, in every thread: each
    command or pipeline the client sends, then waits on. ``messages`` lists each one's
    commands (their first words)."""

    def __init__(self) -> None:
        self.count = 0
        self.messages: list[str] = []

    def __enter__(self) -> RedisRoundTrips:
        from redis.connection import AbstractConnection

        real = AbstractConnection.send_packed_command
        trips = self

        def send_packed_command(connection: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
            trips.count += 1
            trips.messages.append(_redis_words(command))
            return real(connection, command, *args, **kwargs)

        self._restore = lambda: setattr(AbstractConnection, "send_packed_command", real)
        setattr(AbstractConnection, "send_packed_command", send_packed_command)  # noqa: B010
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._restore()


def _redis_words(command: Any) -> str:
    # A packed command is RESP: "*<n>\r\n$<len>\r\n<word>\r\n..." (bytes or a list of them).
    chunks = [command] if isinstance(command, bytes | str) else list(command)
    raw = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
    lines = raw.split(b"\r\n")
    words = [lines[i].decode("latin-1") for i in range(2, len(lines), 2)]
    return " ".join(w[:24] for w in words[:3])
