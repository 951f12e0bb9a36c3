"""Repeated identical tracebacks are rate-limited in the logs (issue 13, item 3)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

from django.conf import settings

from sandbox.logfilter import RepeatedTracebackFilter


class Clock:
    def __init__(self):
        self.now = 1_000.0

    def __call__(self):
        return self.now


def capture(window=60.0):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RepeatedTracebackFilter(window=window))
    logger = logging.getLogger(f"tests.logfilter.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, stream


def fail(logger, message="server closed the connection unexpectedly"):
    try:
        raise ConnectionError(message)  # one location for every call
    except ConnectionError:
        logger.exception("Internal Server Error: /api/v1/accounts")


def test_the_first_traceback_is_kept_and_repeats_summarized(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("sandbox.logfilter.time.monotonic", clock)
    logger, stream = capture(window=60)

    fail(logger)
    for _ in range(1_125):
        clock.now += 0.01
        fail(logger)
    out = stream.getvalue()
    assert out.count("Traceback (most recent call last)") == 1
    assert out.count("Internal Server Error") == 1

    clock.now = 1_060.5  # the window has passed: one line with the count, no traceback
    fail(logger)
    out = stream.getvalue()
    lines = out.splitlines()
    assert out.count("Traceback (most recent call last)") == 1
    assert "repeated 1,126 times in the last" in lines[-1]
    assert "ConnectionError: server closed the connection unexpectedly at " in lines[-1]
    assert "test_log_filter.py:" in lines[-1]

    clock.now += 61  # quiet for a whole window: the next one is a first again
    fail(logger)
    assert stream.getvalue().count("Traceback (most recent call last)") == 2


def test_the_summary_keeps_a_message_that_has_arguments(monkeypatch):
    # Django logs "Forbidden (Permission denied): %s" with the path as an argument.
    clock = Clock()
    monkeypatch.setattr("sandbox.logfilter.time.monotonic", clock)
    logger, stream = capture(window=60)

    def forbidden():
        try:
            raise PermissionError("no")
        except PermissionError:
            logger.warning("Forbidden (Permission denied): %s", "/wallets/1", exc_info=True)

    for step in (0, 30, 29, 2):  # the last comes 61 s after the first, 2 s after a repeat
        clock.now += step
        forbidden()
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("Forbidden (Permission denied): /wallets/1 (repeated 3 times")


def test_other_errors_and_plain_records_are_not_suppressed(monkeypatch):
    monkeypatch.setattr("sandbox.logfilter.time.monotonic", Clock())
    logger, stream = capture()
    fail(logger, "one")
    fail(logger, "two")
    logger.warning("plain")
    logger.warning("plain")
    out = stream.getvalue()
    assert out.count("Traceback (most recent call last)") == 2
    assert out.count("plain") == 2


def test_one_record_is_judged_once_for_every_handler(monkeypatch):
    monkeypatch.setattr("sandbox.logfilter.time.monotonic", Clock())
    shared = RepeatedTracebackFilter(window=60)
    streams = [io.StringIO(), io.StringIO()]
    logger = logging.getLogger("tests.logfilter.shared")
    logger.propagate = False
    for stream in streams:
        handler = logging.StreamHandler(stream)
        handler.addFilter(shared)
        logger.addHandler(handler)
    fail(logger)
    assert all("Traceback" in stream.getvalue() for stream in streams)


def test_the_configured_handlers_carry_the_filter():
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["repeated_tracebacks"]
    assert settings.LOGGING["filters"]["repeated_tracebacks"]["window"] == 60
    ours = [  # pytest adds handlers of its own to the root logger
        handler
        for handler in logging.getLogger().handlers + logging.getLogger("django").handlers
        if type(handler) is logging.StreamHandler
    ]
    assert len(ours) == 2
    for handler in ours:
        assert any(isinstance(f, RepeatedTracebackFilter) for f in handler.filters), handler


WORKER_LOGGING = """
import logging
import django
django.setup()
from celery import signals
from sandbox.celery import app
from sandbox.logfilter import RepeatedTracebackFilter
# What a worker does at start: Celery's logging set-up, which without our receiver would
# replace the root logger's handlers with its own.
app.log.setup(loglevel="WARNING")
root = logging.getLogger()
assert root.level == logging.WARNING, root.level
assert root.handlers and all(
    any(isinstance(f, RepeatedTracebackFilter) for f in h.filters) for h in root.handlers
), root.handlers
print("ok")
"""


def test_a_celery_worker_logs_through_the_same_filter():
    result = subprocess.run(
        [sys.executable, "-c", WORKER_LOGGING],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "sandbox.settings"},
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
