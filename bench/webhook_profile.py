#!/usr/bin/env python
"""What one webhook delivery costs the worker, in process: CPU, SQL statements, broker
messages. A script, never a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME REDIS_URL=redis://127.0.0.1:6379/N \\
        python bench/webhook_profile.py [--events 2000] [--endpoints 1] [--profile]

On the PostgreSQL database of DATABASE_URL (migrated here; its tables are reused) it
makes ``--endpoints`` nodes whose webhook URL is a receiver in a child process on
127.0.0.1 that answers at once (HTTP/1.1 keep-alive), records ``--events`` events spread
over them and relays them, then runs the webhook queue's tasks in this process as a worker
would: every task published (``queue.enqueue``) is kept and run in turn until none is left
and every delivery succeeded. It prints the CPU per delivery (``time.process_time``: this
process, the receiver excluded, Celery's own message handling excluded), the SQL
statements per delivery (counted at Django's cursors) and the tasks published per
delivery; ``--profile`` adds a cProfile of the deliveries.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import socket
import subprocess
import sys
import time
import uuid
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The benchmark's receiver (answers at once) and its way of queueing events.
from webhooks import RECEIVER, record_spread  # noqa: E402


def setup() -> None:
    if not (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        sys.exit("bench/webhook_profile.py needs a PostgreSQL DATABASE_URL.")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "profile-only-" + uuid.uuid4().hex)
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["SANDBOX_WEBHOOK_ALLOW_LOOPBACK"] = "true"
    os.environ.setdefault("SANDBOX_VAR_DIR", str(ROOT / "var" / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def start_receiver() -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port), "0"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return receiver, f"http://127.0.0.1:{port}/hooks"


def hooked_nodes(url: str, count: int) -> list:
    from django.core.management import call_command

    from sandbox.tenants import services as tenant_services
    from sandbox.tenants.models import Tenant

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name=f"Profile {uuid.uuid4().hex[:6]}", status="active")
    nodes = []
    for n in range(count):
        node = tenant_services.node_create(
            tenant=tenant, actor=tenant_services.SYSTEM, name=f"Hooked {n}", country="KR",
            base_currency="KRW",
        )  # fmt: skip
        node.webhook_url = url
        node.save(update_fields=["webhook_url"])
        nodes.append(node)
    return nodes


class Worker:
    """The webhook queue in this process: what is published is kept, then run in turn."""

    def __init__(self) -> None:
        from sandbox.celery import app
        from sandbox.events import queue

        self.app = app
        self.messages: deque = deque()
        self.published = 0
        app.conf.task_always_eager = False
        queue.enqueue = self.enqueue  # type: ignore[assignment]

    def enqueue(self, task, *args, countdown=None) -> bool:
        name = task if isinstance(task, str) else task.name
        self.published += 1
        self.messages.append((name, args))
        return True

    def drain(self) -> None:
        while self.messages:
            name, args = self.messages.popleft()
            self.app.tasks[name](*args)


def delivered(nodes: list) -> int:
    from sandbox.events.models import WebhookDelivery

    return WebhookDelivery.objects.filter(node__in=nodes, status="succeeded").count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    setup()
    from django.db import connection

    from sandbox.events.services import outbox_relay

    receiver, url = start_receiver()
    try:
        nodes = hooked_nodes(url, options.endpoints)
        worker = Worker()
        record_spread(nodes, 20)  # warm-up: connections, code paths, the signing secrets
        outbox_relay()
        worker.drain()
        record_spread(nodes, options.events)
        outbox_relay()  # the relay is measured by bench/webhooks.py, not here
        worker.published = 0
        statements = 0

        def count(execute, sql, params, many, context):
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        # CPU time, not wall time (this thread only: the sender threads are not in it)
        profiler = cProfile.Profile(time.process_time) if options.profile else None
        before = delivered(nodes)
        started_cpu, started = time.process_time(), time.perf_counter()
        with connection.execute_wrapper(count):
            if profiler:
                profiler.enable()
            worker.drain()
            if profiler:
                profiler.disable()
        cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
        done = delivered(nodes) - before
        if done != options.events:
            sys.exit(f"{done} of {options.events} deliveries succeeded; see the attempts.")
        print(
            f"{done} deliveries to {options.endpoints} endpoint(s): "
            f"CPU {cpu / done * 1000:.2f} ms per delivery, "
            f"{statements / done:.2f} SQL statements per delivery, "
            f"{worker.published / done:.2f} tasks published per delivery, "
            f"{done / wall:.0f} per second in this one process "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
            print(out.getvalue())
    finally:
        receiver.terminate()
        receiver.wait()


if __name__ == "__main__":
    main()
