"""Python's cyclic garbage collector paused around a burst of allocations.

A bulk of 8,000 transfers makes a few hundred thousand objects (parsed items, postings,
legs, results, array literals) that live until the request ends and that reference
counting frees then. While they live, the collector's automatic passes walk them again and
again, and every so often the whole heap: about a third of such a request's CPU, for
nothing (they hold no cycles worth collecting early). Inside ``collection_paused()`` the
automatic passes wait; they resume, with whatever the block left, when the last such
block of the process ends. Collection is per process, so another thread's work is paused
too, for at most the length of one such block.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_pausing = 0  # blocks running now, in any thread
_resume = False  # whether the collector ran before the first of them


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    global _pausing, _resume
    with _lock:
        if _pausing == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _resume:
                gc.enable()


def pausing_collection(function: Callable[P, T]) -> Callable[P, T]:
    """``function`` run inside ``collection_paused()``."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with collection_paused():
            return function(*args, **kwargs)

    return wrapper
