"""A real Celery worker (and beat) in a subprocess, on Redis, against the test database.

The worker process must see what the test writes, so tests that use it commit for real
(``django_db(transaction=True)``) and run on PostgreSQL. The broker is CELERY_BROKER_URL;
locally use a Redis database of your own (``redis://127.0.0.1:6379/5``). Outside CI a
missing Redis skips these tests; in CI it fails them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from sandbox.events.queue import reset_breaker

BASE_DIR = Path(__file__).resolve().parents[1]


def broker_url_or_skip() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    problem = None
    if not url.startswith("redis://"):
        problem = "set CELERY_BROKER_URL=redis://... to run tests with a real Celery worker"
    else:
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            problem = f"Redis at {url} is not answering ({exc})"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    return url


def database_url() -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs a database it can share: run on PostgreSQL")
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def use_key_prefix(app, prefix: str | None) -> None:
    """Put this process's broker keys under ``prefix`` (the worker's, see run_worker)."""
    options = {
        k: v
        for k, v in (app.conf.broker_transport_options or {}).items()
        if k != "global_keyprefix"
    }
    if prefix:
        options["global_keyprefix"] = prefix
    app.conf.broker_transport_options = options
    app._pool = None
    app.amqp._producer_pool = None


UNREACHABLE_BROKER = "redis://127.0.0.1:1/5"  # nothing listens on port 1


def point_celery_at(app, url: str, *, eager: bool) -> None:
    """Point this process's Celery app at ``url`` (a fresh connection pool). The write URL
    is set too: Celery prefers the CELERY_BROKER_URL variable over ``broker_url``.

    At UNREACHABLE_BROKER a publish fails at the first refused connection: kombu would
    otherwise sleep through its reconnection attempts, about six seconds each time."""
    options = {
        k: v for k, v in (app.conf.broker_transport_options or {}).items() if k != "max_retries"
    }
    if url == UNREACHABLE_BROKER:
        options["max_retries"] = 0
    app.conf.broker_transport_options = options
    app.conf.broker_url = url
    app.conf.broker_write_url = url
    app.conf.task_always_eager = eager
    app._pool = None  # what Celery itself does after a fork
    app.amqp._producer_pool = None
    reset_breaker()


def all_queues(app) -> list[str]:
    return [queue.name for queue in app.conf.task_queues]


class WorkerProcess:
    """A worker consuming ``queues`` (default: every queue) with a solo pool, or with
    ``pool``/``concurrency`` (a webhook worker: ``pool="threads"``)."""

    def __init__(
        self,
        broker: str,
        *,
        beat: bool,
        tmp_path: Path,
        prefix: str,
        queues: list[str] | None = None,
        pool: str = "solo",
        concurrency: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        from sandbox.celery import app

        self.queues = queues or all_queues(app)
        tag = "-".join(queues) if queues else "all"
        self.log_path = tmp_path / f"celery-worker-{tag}-{uuid.uuid4().hex[:4]}.log"
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        env = {
            "SANDBOX_TEST_BROKER_PREFIX": prefix,
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DEBUG": "1",
            "SANDBOX_WEBHOOK_ALLOW_LOOPBACK": "1",
            "SANDBOX_VAR_DIR": str(tmp_path / "var"),
            **(env or {}),
        }
        command = [
            sys.executable, "-m", "tests.run_worker", "-P", pool, "-c", str(concurrency),
            "-Q", ",".join(self.queues),
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", self.name, "-l", "info",
        ]  # fmt: skip
        if beat:
            command += ["-B", "-s", str(tmp_path / "beat-schedule")]
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def hostname(self) -> str:
        return self.name.replace("%h", socket.gethostname())

    def pause(self, app, timeout: float = 30) -> None:
        """Stop taking tasks, wait for the one in hand, and drop what is still queued.

        A test's database is truncated when it ends; a task still running then would
        deadlock the truncation or leave its rows to the next test. The worker runs a solo
        pool, so it answers a control message only between tasks: its reply means that it
        is idle and will stay so."""
        for queue in self.queues:
            replies = app.control.cancel_consumer(
                queue, destination=[self.hostname], reply=True, timeout=timeout
            )
            if not replies:
                raise AssertionError(f"The worker did not pause:\n{self.output()[-3000:]}")
        app.control.purge()

    def resume(self, app, timeout: float = 30) -> None:
        for queue in self.queues:
            replies = app.control.add_consumer(
                queue, destination=[self.hostname], reply=True, timeout=timeout
            )
            if not replies:
                raise AssertionError(f"The worker did not resume:\n{self.output()[-3000:]}")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"The Celery worker did not start:\n{self.output()[-4000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def wait_for(condition, *, timeout: float = 60, interval: float = 0.2, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message or "Timed out waiting")


def new_prefix() -> str:
    """A broker key prefix of one's own: no leftovers from earlier runs, no neighbours."""
    return f"sandbox-test-{uuid.uuid4().hex[:12]}:"
