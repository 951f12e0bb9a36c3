"""The garbage collector waits inside ``collection_paused()`` and resumes when the last
such block of the process ends, whichever thread ran it."""

from __future__ import annotations

import gc
import threading

from sandbox.gcpause import collection_paused, pausing_collection


def test_collection_waits_inside_and_resumes_after():
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_it_resumes_after_an_error_too():
    try:
        with collection_paused():
            raise ValueError
    except ValueError:
        pass
    assert gc.isenabled()


def test_it_resumes_only_when_the_last_of_overlapping_blocks_ends():
    # given: another thread inside a block
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with collection_paused():
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    entered.wait(5)

    # when this thread's block ends first
    with collection_paused():
        pass

    # then the collector still waits for the other's
    assert not gc.isenabled()
    leave.set()
    thread.join(5)
    assert gc.isenabled()


def test_it_leaves_a_collector_that_was_off_off():
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_decorator_pauses_around_the_call():
    @pausing_collection
    def enabled_inside() -> bool:
        return gc.isenabled()

    assert enabled_inside() is False
    assert gc.isenabled()
