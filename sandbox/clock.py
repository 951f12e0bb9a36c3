"""The time as the sandbox sees it: the one place that computes it.

Everything that schedules or compares against "now" asks here, never ``timezone.now()``
directly, so that test clocks (a tenant's simulated time for its nodes) and the operators'
platform clock can move it.

The clocks' rows (the platform clock, and which test clock a node follows) belong to the
events app. It registers how to read them with ``clock_rows_register`` in its
``AppConfig.ready()``, so this module, which every floor imports, imports none of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

# The platform clock's row: (offset_seconds, frozen_time), or None when there is no row.
PlatformRow = tuple[int, datetime | None]

# The platform clock's row as read by the current database transaction, when its owner
# already read it in one of its own statements: a money-moving request reads it with its
# idempotency claim, which saves a round trip per request.
_platform_row: ContextVar[PlatformRow | None] = ContextVar("platform_row", default=None)

_read_platform_row: Callable[[], PlatformRow | None] | None = None
_read_node_clock_time: Callable[[Any], datetime | None] | None = None


def clock_rows_register(
    *,
    platform_row: Callable[[], PlatformRow | None],
    node_clock_time: Callable[[Any], datetime | None],
) -> None:
    """How to read the clocks: ``platform_row()`` gives the platform clock's row (or None);
    ``node_clock_time(node_id)`` the frozen time of the test clock the node follows (or
    None). Called once, by the app that owns the rows, in its ``AppConfig.ready()``."""
    global _read_platform_row, _read_node_clock_time
    _read_platform_row = platform_row
    _read_node_clock_time = node_clock_time


def now(*, node_id: Any = None) -> datetime:
    """The current time for ``node_id`` (the time of the test clock it follows, if any), or
    the platform clock's (real time unless operators shifted or stopped it)."""
    if _read_platform_row is None or _read_node_clock_time is None:
        raise ImproperlyConfigured("No clock readers: the events app is not ready.")
    if node_id is not None:
        frozen = _read_node_clock_time(node_id)
        if frozen is not None:
            return frozen
    row = _platform_row.get()
    if row is None:
        row = _read_platform_row()
    return platform_time(*row) if row is not None else timezone.now()


def platform_time(offset_seconds: int | None, frozen_time: datetime | None) -> datetime:
    """What the platform clock says given its row."""
    if frozen_time is not None:
        return frozen_time
    real = timezone.now()
    return real + timedelta(seconds=offset_seconds) if offset_seconds else real


@contextlib.contextmanager
def platform_row_read(offset_seconds: int | None, frozen_time: datetime | None) -> Iterator[None]:
    """Inside, ``now()`` uses this platform clock row instead of reading it again (a node on
    a test clock still gets its clock's time). Only for a block that runs inside the
    database transaction that read the row: what it does then sees the clock as that
    transaction does (a concurrent change of the clock counts from the next transaction on,
    as it would a few milliseconds later anyway)."""
    token = _platform_row.set((offset_seconds or 0, frozen_time))
    try:
        yield
    finally:
        _platform_row.reset(token)
