"""Handing work to Celery without trusting the broker: every task queued from here has its
work recorded in the database first, so a failed publish only delays it until the next
sweep or relay.

Services queue their own app's tasks by name (``enqueue("events.relay_outbox")``): a tasks
module imports the services it wraps, so a service importing it back would be a cycle. The
names resolve through the Celery app's task registry, which every process fills as its apps
become ready (each ``AppConfig.ready()`` imports its tasks module)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Task

from sandbox.celery import app

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


def enqueue(task: Task | str, *args: Any, countdown: float | None = None) -> bool:
    """Publish ``task(*args)`` (a task, or a registered task's name), to run at once or
    ``countdown`` seconds from now; False (logged, not raised) when the broker cannot be
    reached. An unknown name raises ``KeyError``: that is a mistake in the code, not the
    broker being down."""
    global _down_until
    if isinstance(task, str):
        task = app.tasks[task]
    if time.monotonic() < _down_until and not task.app.conf.task_always_eager:
        logger.info("Broker recently unreachable; %s%r left for the next sweep.", task.name, args)
        return False
    try:
        # No publish retries: the caller may be a web request, and the work is safe in the
        # database either way.
        if countdown:
            task.apply_async(args=args, countdown=countdown, retry=False)
        else:
            task.apply_async(args=args, retry=False)
    except Exception as exc:  # kombu raises OperationalError, redis its own; all mean "not now"
        with _lock:
            _down_until = time.monotonic() + BREAKER_SECONDS
        logger.warning("Could not queue %s%r (%s); a sweep will pick it up.", task.name, args, exc)
        return False
    return True
