#!/usr/bin/env python
"""Webhook benchmark (issue 12, item 3). A script, never a test.

    CELERY_BROKER_URL=redis://127.0.0.1:6379/<db> REDIS_URL=redis://127.0.0.1:6379/<db> \\
        python bench/webhooks.py [--events N] [--endpoints E] [--quick] [--keep]

On the PostgreSQL server of DATABASE_URL it creates its own database (``bench_webhooks``)
and runs the workers as production does (README, "Work queues"): two webhook workers
(``-Q webhooks --pool threads``), one bank worker (``-Q bank``, with beat). The broker's
Redis database must be one of its own: its queues are purged at the start. It measures, in
one run:

  (a) deliveries per second: N events (default 10,000) recorded at once, spread over E
      nodes (default 10, as tenants' traffic is) whose webhook URLs point at a receiver
      (another process on 127.0.0.1) that answers at once, from the commit until every
      delivery succeeded (the relay included): ``deliveries_per_s``; then N events for ONE
      of those nodes: ``deliveries_per_s_one_endpoint`` (at most
      SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY in flight to it);
  (b) the bank's answer to withdrawals made right after the N events of (a) were queued:
      one every half second while the backlog drains (bank processing delay: 2 s);
  (c) the same with N events queued for a receiver that sleeps 30 s (attempts give up
      after SANDBOX_WEBHOOK_TIMEOUT_SECONDS, 10 s), and meanwhile how long 500 events to
      the quick receiver take (the per-endpoint limit keeps the slow one from every slot).

It writes ``bench/results/webhooks.json`` (``deliveries_per_s``,
``bank_delay_p99_s_under_backlog``, ``bank_delay_p99_s_slow_receiver``: p99 of the seconds
from a withdrawal's creation to its answer, the bank's own delay included, and more) and
runs ``verify_ledger``. It takes three to five minutes; ``--quick`` (2,000 events per
backlog) about two.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_load import process_cpu
from ledger import (
    database_url,
    drop_database,
    free_port,
    log,
    recreate_database,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "webhooks.json"
BENCH_DB = os.environ.get("BENCH_WEBHOOKS_DB", "bench_webhooks")  # one per concurrent run
BANK_DELAY = 2
WEBHOOK_THREADS = 12  # per webhook worker: each thread holds a PostgreSQL connection
WITHDRAWALS = 20
DRAIN_SECONDS = 90
KIM = {"account_number": "123456789012", "holder_name": "Kim Minjun"}

RECEIVER = """
import http.server, sys, time
SLEEP = float(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the sender reuses its connections
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if SLEEP:
            time.sleep(SLEEP)
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 512  # as nginx's backlog: 100 connections opened at once all land
server = Server(("127.0.0.1", int(sys.argv[1])), H)
server.daemon_threads = True
server.serve_forever()
"""


def sandbox_env() -> dict[str, str]:
    env = dict(os.environ)
    broker = env.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://") or not env.get("REDIS_URL"):
        sys.exit("bench/webhooks.py needs CELERY_BROKER_URL=redis://... and REDIS_URL.")
    env.update(
        {
            "DATABASE_URL": database_url(BENCH_DB),
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
            "DB_CONN_MAX_AGE": "600",
            "LOG_LEVEL": "WARNING",
            "SANDBOX_VAR_DIR": str(ROOT / "var" / "bench"),
            "SANDBOX_WEBHOOK_ALLOW_LOOPBACK": "true",
            "PYTHONWARNINGS": "ignore:No directory at",
        }
    )
    return env


def setup_django() -> None:
    os.environ.update(sandbox_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def start(command: list[str], log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=sandbox_env(),
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_workers(tmp: Path) -> list[subprocess.Popen]:
    celery = [str(Path(sys.executable).with_name("celery")), "-A", "sandbox", "worker"]
    level = os.environ.get("BENCH_LOG_LEVEL", "WARNING")
    quiet = ["--loglevel", level, "--without-gossip", "--without-mingle"]
    processes = [
        start(
            [
                *celery,
                "-Q",
                "webhooks",
                "-n",
                f"bench-webhooks-{i}@%h",
                "--pool",
                "threads",
                "--concurrency",
                str(WEBHOOK_THREADS),
                *quiet,
            ],
            tmp / f"webhooks-{i}.log",
        )
        for i in (1, 2)
    ]
    processes.append(
        start(
            [
                *celery,
                "-Q",
                "bank",
                "-n",
                "bench-bank@%h",
                "--concurrency",
                "2",
                *quiet,
                "-B",
                "-s",
                str(tmp / "beat-schedule"),
            ],
            tmp / "bank.log",
        )
    )
    return processes


def wait_ready(app, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len([r for r in replies if any(n.startswith("bench-") for n in r)]) >= count:
            return
        time.sleep(1)
    sys.exit("The workers did not start; see their logs.")


def prepare() -> dict:
    from django.core.management import call_command

    from sandbox.tenants import services as tenant_services
    from sandbox.tenants.models import Tenant
    from wallets.banknet.models import Bank
    from wallets.models import Account

    log("migrating the bench database")
    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="Bench Hooks", status=Tenant.Status.ACTIVE)
    secret = tenant_services.api_key_create(
        tenant=tenant, name="bench", actor=tenant_services.SYSTEM
    ).secret

    def node(name: str, url: str = ""):
        made = tenant_services.node_create(
            tenant=tenant, actor=tenant_services.SYSTEM, name=name, country="KR",
            base_currency="KRW",
        )  # fmt: skip
        if url:
            made.webhook_url = url
            made.save(update_fields=["webhook_url"])
        return made

    Bank.objects.filter(pk="004").update(
        processing_delay_seconds=BANK_DELAY,
        maintenance_starts_at=None,
        maintenance_ends_at=None,
        daily_withdrawal_limit=10**15,
    )
    payer = node("Payer")
    account = Account.objects.get(wallet__node=payer, currency="KRW")
    from ledger import _fund

    _fund(account, 10**12)
    return {"tenant": tenant, "secret": secret, "node": node, "account": account}


def api(secret: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def withdrawals_during(client, account, seconds_apart: float) -> list[float]:
    """WITHDRAWALS withdrawals, one every ``seconds_apart``; each one's answer time."""
    from wallets.banknet.models import Withdrawal

    made: list[tuple[str, float]] = []
    answered: dict[str, float] = {}
    next_at = time.monotonic()
    while len(answered) < WITHDRAWALS:
        now = time.monotonic()
        if len(made) < WITHDRAWALS and now >= next_at:
            response = client.post(
                "/api/v1/bank_transfers",
                {
                    "account_id": str(account.pk),
                    "bank_code": "004",
                    "account_number": KIM["account_number"],
                    "holder_name": KIM["holder_name"],
                    "amount": "1000",
                    "currency": "KRW",
                },
                format="json",
                HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
            )
            assert response.status_code < 300, response.content
            made.append((response.json()["id"], time.monotonic()))
            next_at += seconds_apart
        pending = [pk for pk, _ in made if pk not in answered]
        done = Withdrawal.objects.filter(pk__in=pending).exclude(status="pending")
        for pk in done.values_list("pk", flat=True):
            answered[str(pk)] = time.monotonic()
        if made and now - made[-1][1] > 120:
            sys.exit("A withdrawal went unanswered for two minutes; see the worker logs.")
        time.sleep(0.02)
    return [answered[pk] - at for pk, at in made]


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.99 * len(values)) - 1)]


def wait_delivered(nodes, count: int, timeout: float, since: float | None = None) -> int:
    """Wait until ``count`` deliveries of ``nodes`` (one or a list) succeeded, at most
    ``timeout`` seconds after ``since`` (default: now); how many did."""
    from sandbox.events.models import WebhookDelivery

    nodes = nodes if isinstance(nodes, list) else [nodes]
    deadline = (since or time.monotonic()) + timeout
    while True:
        done = WebhookDelivery.objects.filter(node__in=nodes, status="succeeded").count()
        if done >= count or time.monotonic() >= deadline:
            return done
        time.sleep(0.1)


def record_spread(nodes: list, count: int) -> None:
    """``count`` events, for each node in turn, in one transaction."""
    from django.db import transaction

    from sandbox.events.services import NewEvent, events_record

    with transaction.atomic():
        events_record(
            [
                NewEvent(
                    node_id=nodes[n % len(nodes)].pk,
                    tenant_id=nodes[0].tenant_id,
                    type="bench.event",
                    data={"n": n},
                )
                for n in range(count)
            ]
        )


def cancel_pending(app) -> None:
    """Start the next phase from empty queues: what is left undelivered is cancelled."""
    from sandbox.events.models import ScheduledAction

    app.control.purge()
    ScheduledAction.objects.filter(kind="webhook.attempt", status="pending").update(
        status="cancelled"
    )
    time.sleep(3)  # the workers finish what they hold


def drain(nodes: list, count: int, webhook_pids: list[int], receiver_pid: int, *, withdraw=None):
    """Record ``count`` events spread over ``nodes`` and time their delivery (the webhook
    workers' CPU and the receiver's until then); with ``withdraw``, make withdrawals
    meanwhile (the deliveries are watched from another thread, so that the withdrawals'
    own duration is not counted in the deliveries')."""
    from django.db import connection

    from sandbox.events.models import WebhookDelivery

    before = WebhookDelivery.objects.filter(node__in=nodes, status="succeeded").count()
    cpu_before, receiver_before = process_cpu(webhook_pids), process_cpu([receiver_pid])
    started = time.monotonic()
    record_spread(nodes, count)
    done: dict = {}

    def watch() -> None:
        try:
            # Bounded: what is not delivered within DRAIN_SECONDS is left (the database goes).
            done["delivered"] = (
                wait_delivered(nodes, before + count, DRAIN_SECONDS, since=started) - before
            )
            done["seconds"] = time.monotonic() - started
            done["cpu"] = process_cpu(webhook_pids) - cpu_before
            done["receiver_cpu"] = process_cpu([receiver_pid]) - receiver_before
            done["load"] = os.getloadavg()[0]
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    delays = withdraw() if withdraw else []
    watcher.join()
    delivered = max(done["delivered"], 1)
    return {
        "delivered": done["delivered"],
        "seconds": done["seconds"],
        "per_s": done["delivered"] / done["seconds"],
        "cpu_ms": done["cpu"] / delivered * 1000,
        "receiver_ms": done["receiver_cpu"] / delivered * 1000,
        "delays": delays,
        "load": done["load"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=None, help="events per backlog")
    parser.add_argument("--endpoints", type=int, default=10, help="nodes sharing (a)")
    parser.add_argument("--quick", action="store_true", help="2,000 events per backlog")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    options = parser.parse_args()
    if options.events is None:
        options.events = 2_000 if options.quick else 10_000
    began = time.perf_counter()

    recreate_database(BENCH_DB)
    setup_django()
    from django.db import connections

    from sandbox.celery import app

    app.control.purge()
    books = prepare()
    tmp = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    quick_port, slow_port = free_port(), free_port()
    receivers = [
        start([sys.executable, "-c", RECEIVER, str(quick_port), "0"], tmp / "quick.log"),
        start([sys.executable, "-c", RECEIVER, str(slow_port), "30"], tmp / "slow.log"),
    ]
    quick_nodes = [
        books["node"](f"Quick {i}", f"http://127.0.0.1:{quick_port}/hooks/{i}")
        for i in range(options.endpoints)
    ]
    quick = quick_nodes[0]
    slow = books["node"]("Slow", f"http://127.0.0.1:{slow_port}/hooks")
    client = api(books["secret"])
    response = client.post("/api/v1/bank_accounts", {"bank_code": "004", **KIM}, format="json")
    assert response.status_code < 300, response.content
    connections.close_all()
    log(f"starting 2 webhook workers ({WEBHOOK_THREADS} threads each) and a bank worker")
    workers = start_workers(tmp)
    try:
        wait_ready(app, 3)
        record_spread(quick_nodes, 50 * len(quick_nodes))  # warm-up: connections, code paths
        wait_delivered(quick_nodes, 50 * len(quick_nodes), timeout=120)
        webhook_pids = [worker.pid for worker in workers[:2]]  # thread pools: one process each

        log(
            f"(a) + (b): {options.events} events for {len(quick_nodes)} quick endpoints,"
            " then withdrawals"
        )
        spread = drain(
            quick_nodes,
            options.events,
            webhook_pids,
            receivers[0].pid,
            withdraw=lambda: withdrawals_during(client, books["account"], 0.5),
        )
        backlog_delays = spread["delays"]
        log(
            f"    {spread['per_s']:.0f} deliveries/s ({spread['delivered']} in"
            f" {spread['seconds']:.1f} s), load average {spread['load']:.1f}"
        )
        log(
            f"    CPU per delivery: webhook workers (relay included) {spread['cpu_ms']:.2f} ms,"
            f" receiver {spread['receiver_ms']:.2f} ms"
        )
        log(f"    bank answers: p99 {p99(backlog_delays):.2f} s (delay {BANK_DELAY} s)")
        log(f"(a, one endpoint): {options.events} events for one quick endpoint")
        cancel_pending(app)
        single = drain([quick], options.events, webhook_pids, receivers[0].pid)
        log(
            f"    {single['per_s']:.0f} deliveries/s ({single['delivered']} in"
            f" {single['seconds']:.1f} s), load average {single['load']:.1f}; CPU per"
            f" delivery {single['cpu_ms']:.2f} ms, receiver {single['receiver_ms']:.2f} ms"
        )

        cancel_pending(app)
        log(f"(c): {options.events} events for the receiver that sleeps 30 s, then withdrawals")
        record_spread([slow], options.events)
        time.sleep(2)
        beside = drain(
            [quick],
            500,
            webhook_pids,
            receivers[0].pid,
            withdraw=lambda: withdrawals_during(client, books["account"], 0.5),
        )
        slow_delays = beside["delays"]
        log(f"    bank answers: p99 {p99(slow_delays):.2f} s (delay {BANK_DELAY} s)")
        log(
            f"    quick deliveries beside the slow backlog: {beside['delivered']}"
            f" in {beside['seconds']:.1f} s"
        )
        from sandbox.events.models import WebhookAttempt

        slow_attempts = WebhookAttempt.objects.filter(delivery__node=slow).count()
    finally:
        for process in workers + receivers:
            stop(process)
        app.control.purge()

    from django.core.management import call_command

    connections.close_all()
    log("verify_ledger on the bench database")
    call_command("verify_ledger")
    connections.close_all()
    if not options.keep:
        drop_database(BENCH_DB)

    results = {
        "deliveries_per_s": round(spread["per_s"], 1),
        "deliveries_per_s_endpoints": len(quick_nodes),
        "deliveries_per_s_one_endpoint": round(single["per_s"], 1),
        "bank_delay_p99_s_under_backlog": round(p99(backlog_delays), 2),
        "bank_delay_p99_s_slow_receiver": round(p99(slow_delays), 2),
        "bank_processing_delay_s": BANK_DELAY,
        "bank_delay_max_s_under_backlog": round(max(backlog_delays), 2),
        "bank_delay_max_s_slow_receiver": round(max(slow_delays), 2),
        "bank_delay_median_s_under_backlog": round(statistics.median(backlog_delays), 2),
        "quick_deliveries_beside_slow_backlog": beside["delivered"],
        "quick_deliveries_beside_slow_backlog_s": round(beside["seconds"], 1),
        "deliveries_in_first_phase": spread["delivered"],
        "webhook_worker_cpu_ms_per_delivery": round(spread["cpu_ms"], 2),
        "webhook_worker_cpu_ms_per_delivery_one_endpoint": round(single["cpu_ms"], 2),
        "receiver_cpu_ms_per_delivery": round(spread["receiver_ms"], 2),
        "receiver_cpu_ms_per_delivery_one_endpoint": round(single["receiver_ms"], 2),
        "load_average_1m_first_phase": round(spread["load"], 1),
        "load_average_1m_one_endpoint": round(single["load"], 1),
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
        "first_phase_s": round(spread["seconds"], 1),
        "one_endpoint_phase_s": round(single["seconds"], 1),
        "slow_receiver_attempts_meanwhile": slow_attempts,
        "events_per_backlog": options.events,
        "webhook_workers": 2,
        "webhook_threads_per_worker": WEBHOOK_THREADS,
        "seconds": round(time.perf_counter() - began, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(json.dumps(results, indent=2))
    limit = BANK_DELAY + 5
    print(
        f"\ntargets: deliveries/s >= 200: {'yes' if spread['per_s'] >= 200 else 'NO'}; "
        f"bank answers within {limit} s: backlog "
        f"{'yes' if max(backlog_delays) <= limit else 'NO'}, slow receiver "
        f"{'yes' if max(slow_delays) <= limit else 'NO'}"
    )


if __name__ == "__main__":
    main()
