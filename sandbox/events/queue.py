"""Handing work to Celery without trusting the broker: every task queued from here has its
work recorded in the database first, so a failed publish only delays it until the next
sweep or relay."""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

# After a failed publish, skip publishing for a few seconds: an unreachable broker costs
# seconds per connection attempt, and a web request should pay that at most once.
BREAKER_SECONDS = 10.0
_lock = threading.Lock()
_down_until = 0.0


def reset_breaker() -> None:
    global _down_until
    with _lock:
        _down_until = 0.0


def enqueue(task, *args) -> bool:
    """Publish ``task(*args)``; False (logged, not raised) when the broker cannot be reached."""
    global _down_until
    if time.monotonic() < _down_until and not task.app.conf.task_always_eager:
        logger.info("Broker recently unreachable; %s%r left for the next sweep.", task.name, args)
        return False
    try:
        # No publish retries: the caller may be a web request, and the work is safe in the
        # database either way.
        task.apply_async(args=args, retry=False)
    except Exception as exc:  # kombu raises OperationalError, redis its own; all mean "not now"
        with _lock:
            _down_until = time.monotonic() + BREAKER_SECONDS
        logger.warning("Could not queue %s%r (%s); a sweep will pick it up.", task.name, args, exc)
        return False
    return True
