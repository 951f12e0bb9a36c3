#!/usr/bin/env python
"""What one bulk of 8,000 transfers costs, in process: CPU of the app and of its PostgreSQL
backend, SQL statements, round trips and wall time. A script, never a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME python bench/bulk.py
        [--rounds 3] [--profile] [--size 8000]

On the PostgreSQL database of DATABASE_URL (migrated here; its tables are reused) it makes
a tenant, an API key, two nodes and a ring of 400 funded accounts alternating between the
nodes, as ``bench/ledger.py`` phase (d) does, and posts bulks of transfers around the ring
(atomic mode, each transfer inter-node, so two ``ledger_transfer.posted`` events each):

  - ``http``: ``POST /api/v1/transfers/bulk`` through the WSGI application, DEBUG off, as
    gunicorn would serve it (authentication, idempotency, parsing, posting, events, the
    answer);
  - ``service``: ``wallets.services.transfer_bulk_create`` with the requests already
    parsed (phase (d')).

For each it prints, per bulk, the least over ``--rounds`` bulks (others' load only inflates
it) of: the app's CPU (``time.process_time``), the backend's CPU (``/proc/<pid>/stat`` of
``pg_backend_pid()``, in clock ticks: 10 ms resolution), and wall time; the statements
Django ran and the round trips to PostgreSQL (``sandbox.dbtrace``); and the CPU per
transfer, with the transfers per second two cores could carry at that cost.
``--profile`` adds a cProfile (CPU time) of one HTTP bulk. It ends with ``verify_ledger``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.request_profile import environ, setup  # noqa: E402

RING = 400


def books() -> dict:
    """A tenant, its API key and a ring of funded accounts, alternating between two nodes
    (funded by one deposit: one posting with a leg per account)."""
    from django.core.management import call_command

    from sandbox.tenants import services as tenant_services
    from sandbox.tenants.models import Tenant
    from wallets import services
    from wallets.locking import retrying
    from wallets.posting import Leg, Posting, post_one

    call_command("migrate", verbosity=0)
    system = tenant_services.SYSTEM
    tenant = Tenant.objects.create(name="Bulk Pay", status=Tenant.Status.ACTIVE)
    secret = tenant_services.api_key_create(tenant=tenant, name="bulk", actor=system).secret
    nodes = [
        tenant_services.node_create(
            tenant=tenant, actor=system, name=f"Node {i}", country="KR", base_currency="KRW"
        )
        for i in range(2)
    ]
    ring = [
        services.account_create(
            wallet=nodes[i % 2].wallet, actor=system, currency="KRW", name=f"ring {i}"
        )
        for i in range(RING)
    ]
    settlement = services.platform_account(purpose="settlement", currency="KRW")
    funds = 10**12
    legs = [Leg(settlement.pk, -funds * RING, "KRW")]
    legs += [Leg(account.pk, funds, "KRW") for account in ring]
    retrying(post_one)(Posting(kind="deposit", legs=legs, tenant_id=tenant.pk))
    return {"tenant": tenant, "secret": secret, "ring": ring}


class BackendCpu:
    """CPU seconds used so far by the PostgreSQL backend of Django's connection."""

    def __init__(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pid = cursor.fetchone()[0]
        self.ticks = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime, stime


def measure(name: str, call: Callable[[], None], size: int, rounds: int) -> dict:
    from django.db import connection

    from sandbox import dbtrace

    call()  # warm-up: caches, compiled SQL, the persistent connection
    statements: list[str] = []

    def capture(execute, sql, *args):
        statements.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(capture), dbtrace.RoundTrips(connection) as trips:
        call()
    backend = BackendCpu()  # after the calls: the connection they use
    app = db = wall = float("inf")
    for _ in range(rounds):
        cpu0, db0, wall0 = time.process_time(), backend.seconds(), time.perf_counter()
        call()
        app = min(app, time.process_time() - cpu0)
        db = min(db, backend.seconds() - db0)
        wall = min(wall, time.perf_counter() - wall0)
    report = {
        "app_cpu_s": round(app, 3),
        "db_cpu_s": round(db, 3),
        "wall_s": round(wall, 3),
        "statements": len(statements),
        "round_trips": trips.count,
        "cpu_ms_per_transfer": round(1000 * (app + db) / size, 4),
        "two_core_ceiling_tps": round(2 * size / (app + db)),
        "wall_tps": round(size / wall),
    }
    print(f"\n== {name}: {json.dumps(report)}")
    for sql in statements:
        print("   SQL:", " ".join(sql.split())[:150], f"[{len(sql):,} chars]")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="bulks per measure (the least)")
    parser.add_argument("--size", type=int, default=8000, help="transfers per bulk")
    parser.add_argument("--profile", action="store_true", help="cProfile one HTTP bulk")
    options = parser.parse_args()
    setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    from sandbox.tenants.models import Tenant
    from wallets import services
    from wallets.services import TransferRequest

    data = books()
    tenant = Tenant.objects.get(pk=data["tenant"].pk)
    ring, size = data["ring"], options.size
    app = get_wsgi_application()
    items = [
        {
            "source_account_id": str(ring[i % RING].pk),
            "destination_account_id": str(ring[(i + 1) % RING].pk),
            "amount": "1",
            "currency": "KRW",
        }
        for i in range(size)
    ]
    body = json.dumps({"mode": "atomic", "transfers": items}).encode()

    def http() -> None:
        status: list[str] = []
        chunks = app(
            environ("POST", "/api/v1/transfers/bulk", data["secret"], body),
            lambda s, h, *_: status.append(s),
        )
        answer = b"".join(chunks)
        chunks.close()
        assert status[0].startswith("201"), (status, answer[:500])

    requests = [
        TransferRequest(
            source=ring[i % RING], destination=ring[(i + 1) % RING], amount=1, currency="KRW"
        )
        for i in range(size)
    ]

    def service() -> None:
        services.transfer_bulk_create(tenant=tenant, requests=requests, mode="atomic")

    report = {
        "http": measure("POST /api/v1/transfers/bulk", http, size, options.rounds),
        "service": measure("services.transfer_bulk_create", service, size, options.rounds),
    }
    if options.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not waits
        profiler.enable()
        http()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(30)
        print(out.getvalue())
    print(json.dumps(report, indent=2))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average: {load} on {os.cpu_count()} cores")
    call_command("verify_ledger")


if __name__ == "__main__":
    main()
