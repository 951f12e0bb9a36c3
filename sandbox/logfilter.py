"""Repeated identical tracebacks, rate-limited (LOGGING's handlers carry this filter).

During an outage every request and every task fails the same way; one traceback says it
all. ``RepeatedTracebackFilter`` lets the first record of an (exception type, message,
location) through with its traceback. Within ``window`` seconds
(``SANDBOX_LOG_REPEAT_WINDOW_SECONDS``) of that, the same traceback is dropped and counted;
the first repeat after a window has passed is written as one line (no traceback) with the
count: "... repeated 1,126 times in the last 60 s". Once the error has not been seen for a
whole window, its next occurrence is a first one again, traceback included. Records without
an exception pass untouched.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass

_DECISION = "_sandbox_repeat_decision"  # one decision per record, whatever the handlers
MAX_KEYS = 1_000


@dataclass
class _Seen:
    window_start: float
    last_seen: float
    suppressed: int = 0


class RepeatedTracebackFilter(logging.Filter):
    def __init__(self, window: float = 60.0) -> None:
        super().__init__()
        self.window = float(window)
        self._seen: OrderedDict[tuple[str, str, str], _Seen] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(record: logging.LogRecord) -> tuple[str, str, str] | None:
        if not record.exc_info or record.exc_info[1] is None:
            return None
        exc_type, exc, tb = record.exc_info
        location = ""
        frames = traceback.extract_tb(tb) if tb is not None else []
        if frames:
            location = f"{frames[-1].filename}:{frames[-1].lineno}"
        name = exc_type.__qualname__ if exc_type is not None else type(exc).__qualname__
        return (name, str(exc)[:500], location)

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, _DECISION, None)
        if decided is not None:
            return bool(decided)
        key = self.key(record)
        keep = True if key is None else self._judge(record, key, time.monotonic())
        setattr(record, _DECISION, keep)
        return keep

    def _judge(self, record: logging.LogRecord, key: tuple[str, str, str], now: float) -> bool:
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or now - seen.last_seen >= self.window:
                self._seen[key] = _Seen(window_start=now, last_seen=now)
                self._seen.move_to_end(key)
                while len(self._seen) > MAX_KEYS:
                    self._seen.popitem(last=False)
                return True  # a first occurrence: with its traceback
            seen.last_seen = now
            if now - seen.window_start < self.window:
                seen.suppressed += 1
                return False
            count, elapsed = seen.suppressed + 1, now - seen.window_start
            seen.window_start, seen.suppressed = now, 0
        name, message, location = key
        # Format the record's own message with its own arguments before replacing them.
        original = record.getMessage()
        record.msg = "%s (repeated %s times in the last %d s; traceback suppressed: %s: %s at %s)"
        record.args = (original, f"{count:,}", round(elapsed), name, message, location)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True
