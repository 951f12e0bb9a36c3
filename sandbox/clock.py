"""The time as the sandbox sees it.

Everything that schedules or compares against "now" asks here, never ``timezone.now()``
directly, so that test clocks (a tenant's simulated time for its nodes) can move it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.utils import timezone

# The platform clock's row (offset_seconds, frozen_time) as read by the current database
# transaction, when its owner already read it in one of its own statements: a money-moving
# request reads it with its idempotency claim, which saves a round trip per request.
_platform_row: ContextVar[tuple[int, datetime | None] | None] = ContextVar(
    "platform_row", default=None
)


def now(*, node_id=None) -> datetime:
    """The current time for ``node_id`` (a node may follow a test clock), or the platform
    clock's (real time unless operators moved it) when there is no node."""
    if node_id is None:
        row = _platform_row.get()
        if row is not None:
            return platform_time(*row)
    from sandbox.events.clocks import node_now, platform_now

    return node_now(node_id) if node_id is not None else platform_now()


def platform_time(offset_seconds: int | None, frozen_time: datetime | None) -> datetime:
    """What the platform clock says given its row (both None when there is no row), as
    ``sandbox.events.clocks.platform_now`` computes it."""
    if frozen_time is not None:
        return frozen_time
    real = timezone.now()
    return real + timedelta(seconds=offset_seconds) if offset_seconds else real


@contextlib.contextmanager
def platform_row_read(offset_seconds: int | None, frozen_time: datetime | None) -> Iterator[None]:
    """Inside, ``now()`` (no node) uses this platform clock row instead of reading it again.
    Only for a block that runs inside the database transaction that read the row: what it
    does then sees the clock as that transaction does (a concurrent change of the clock
    counts from the next transaction on, as it would a few milliseconds later anyway)."""
    token = _platform_row.set((offset_seconds or 0, frozen_time))
    try:
        yield
    finally:
        _platform_row.reset(token)
