"""Round trips to PostgreSQL, counted from libpq's own protocol trace (for tests and bench).

A round trip is a turn of the conversation: the client sends one or more messages, then
waits for the server's answer. Every statement sent on its own is one; BEGIN, COMMIT,
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
        sending = False
        sent: list[str] = []
        for line in trace.splitlines():
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            direction, kind = parts[0], parts[2].strip()
            if direction == "F":
                if not sending:
                    sending, sent = True, []
                detail = (
                    " ".join(parts[3].replace("\\n", " ").strip('" ').split())[:48]
                    if len(parts) > 3
                    else ""
                )
                if kind in ("Query", "Parse"):
                    sent.append(f"{kind} {detail}")
            elif direction == "B" and sending:
                sending = False
                self.count += 1
                self.messages.append(" | ".join(sent) or "(protocol)")
