#!/usr/bin/env python
"""What one API request costs, in process: CPU, SQL statements and round trips. A script.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME python bench/request_profile.py
        [--count 400] [--profile] [--list PATH ...] [--only-lists] [--bulk N ...]
        [--redeem]

On the PostgreSQL database of DATABASE_URL (migrated here; its tables are reused) it
makes a tenant, an API key, two nodes and funded accounts, then runs through the WSGI
application, with DEBUG off, as gunicorn would:

  - ``POST /api/v1/transfers`` (a single transfer between two nodes' accounts);
  - ``GET /api/v1/nodes`` (an authenticated list);
  - with ``--list PATH`` (repeatable), ``GET PATH`` too, e.g. ``/api/v1/events`` or
    ``/api/v1/transactions`` (full pages: the transfers made first leave 50 rows or more);
    ``--only-lists`` leaves out the transfer's own figures (its transfers still run);
  - with ``--bulk N`` (repeatable), ``POST /api/v1/transfers/bulk`` of N transfers
    (``independent``, between the same two accounts): divided by N, what a transfer
    costs when N of them share a request, a transaction and its statements;
  - with ``--redeem``, ``POST /api/v1/payment_requests/{id}/redeem`` instead of the
    transfers and the nodes' list: a push payment (docs/payments.md) from a payer node's
    account to another node's, each request and its token made beforehand with the
    services, untimed (as ``bench/ledger.py`` phase (f) makes them).

For each it prints the app CPU per request (``time.process_time``, the least of five
batches of ``--count``/5 requests after a warm-up: others' load only inflates it), the
CPU of the PostgreSQL backend serving it (``db_cpu_ms``, from ``/proc/<pid>/schedstat``
when the server runs on this machine, else null; same batches), the
SQL statements Django ran (through its cursors), the round trips to PostgreSQL (every
message the client waits on, BEGIN, COMMIT and the connection health check included),
counted from libpq's own trace, and those to Redis (the API key's record and the limits),
counted at redis-py's sends (``sandbox.dbtrace``). ``--profile`` adds a cProfile of each.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup() -> None:
    if not (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        sys.exit("bench/request_profile.py needs a PostgreSQL DATABASE_URL.")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "profile-only-" + uuid.uuid4().hex)
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The throttles run (their cost is part of a request's) but never refuse the batches.
    os.environ.setdefault("SANDBOX_THROTTLE_ADDRESS", "1000000/second")
    os.environ.setdefault("SANDBOX_THROTTLE_API_KEY", "1000000/second")
    os.environ.setdefault("SANDBOX_VAR_DIR", str(ROOT / "var" / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def books() -> dict:
    from django.core.management import call_command

    from sandbox.tenants import services as tenant_services
    from sandbox.tenants.models import Tenant
    from wallets import services
    from wallets.locking import retrying
    from wallets.posting import Leg, Posting, post_one

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="Profile Pay", status=Tenant.Status.ACTIVE)
    secret = tenant_services.api_key_create(
        tenant=tenant, name="profile", actor=tenant_services.SYSTEM
    ).secret
    accounts = []
    for i in range(2):
        node = tenant_services.node_create(
            tenant=tenant,
            actor=tenant_services.SYSTEM,
            name=f"Node {i}",
            country="KR",
            base_currency="KRW",
        )
        account = services.account_create(
            wallet=node.wallet, actor=tenant_services.SYSTEM, currency="KRW", name=f"a{i}"
        )
        settlement = services.platform_account(purpose="settlement", currency="KRW")
        retrying(post_one)(
            Posting(
                kind="deposit",
                legs=[Leg(settlement.pk, -(10**12), "KRW"), Leg(account.pk, 10**12, "KRW")],
                tenant_id=tenant.pk,
            )
        )
        accounts.append(str(account.pk))
    return {"secret": secret, "accounts": accounts, "tenant": tenant}


def tokens(tenant, count: int) -> list[tuple[str, str]]:
    """``count`` payment requests of a merchant node, each with the token a payer node
    signed (as ``bench/ledger.py``'s ``prepare_redemptions``): (request id, token)."""
    from sandbox.tenants import services as tenant_services
    from wallets import services
    from wallets.locking import retrying
    from wallets.payments import services as payments
    from wallets.posting import Leg, Posting, post_one

    system = tenant_services.SYSTEM
    nodes = [
        tenant_services.node_create(
            tenant=tenant, actor=system, name=name, country="KR", base_currency="KRW"
        )
        for name in ("Merchant", "Payer")
    ]
    till, payer = (
        services.account_create(wallet=node.wallet, actor=system, currency="KRW", name=name)
        for node, name in zip(nodes, ("till", "shopper"), strict=True)
    )
    settlement = services.platform_account(purpose="settlement", currency="KRW")
    retrying(post_one)(
        Posting(
            kind="deposit",
            legs=[Leg(settlement.pk, -(10**12), "KRW"), Leg(payer.pk, 10**12, "KRW")],
            tenant_id=tenant.pk,
        )
    )
    made = []
    run = uuid.uuid4().hex[:8]
    for n in range(count):
        request = payments.payment_request_create(
            actor=system,
            account=till,
            order_id=f"P-{run}-{n}",
            amount=1000,
            currency="KRW",
            expires_in=3600,
        )
        authorization = payments.payment_authorize(
            tenant=tenant,
            actor=system,
            payer_node=nodes[1],
            account=payer,
            request_jws=request.jws,
            expires_in=3600,
        )
        made.append((str(request.pk), authorization.jws))
    return made


class Backend:
    """The CPU time of the PostgreSQL backend that serves this process's connection, read
    from ``/proc/<pid>/schedstat`` (nanoseconds on the CPU; the server must run on this
    machine). Only that process: the WAL writer and the other background processes are
    not in it, nor is Redis."""

    def __init__(self, connection) -> None:
        connection.ensure_connection()
        self.connection = connection
        self.pid = connection.connection.info.backend_pid
        self.started = self._on_cpu_ns()

    def _on_cpu_ns(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/schedstat") as schedstat:
                return int(schedstat.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None  # another machine's server, or no schedstat here

    def cpu_ms(self) -> float:
        """Since construction; infinite when unknown or the connection was replaced."""
        ended = self._on_cpu_ns()
        same = self.connection.connection is not None and (
            self.connection.connection.info.backend_pid == self.pid
        )
        if self.started is None or ended is None or not same:
            return float("inf")
        return (ended - self.started) / 1e6


def environ(method: str, path: str, secret: str, body: bytes = b"") -> dict:
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {secret}",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if body:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["HTTP_IDEMPOTENCY_KEY"] = str(uuid.uuid4())
    return environ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--list", action="append", default=[], metavar="PATH")
    parser.add_argument("--only-lists", action="store_true")
    parser.add_argument("--bulk", type=int, action="append", default=[], metavar="N")
    parser.add_argument("--redeem", action="store_true")
    options = parser.parse_args()
    setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from sandbox import dbtrace

    data = books()
    # As in gunicorn: the WSGI handler sends request_started/finished, which close or
    # health-check the persistent connection (Django's query log is reset per request, so
    # statements are counted with an execute wrapper, not CaptureQueriesContext).
    app = get_wsgi_application()
    a, b = data["accounts"]
    flip = [0]

    def transfer() -> None:
        flip[0] ^= 1
        source, destination = (a, b) if flip[0] else (b, a)
        body = json.dumps(
            {
                "source_account_id": source,
                "destination_account_id": destination,
                "amount": "1",
                "currency": "KRW",
            }
        ).encode()
        status = []
        chunks = app(
            environ("POST", "/api/v1/transfers", data["secret"], body),
            lambda s, h, *_: status.append(s),
        )
        b"".join(chunks)
        chunks.close()
        assert status[0].startswith("201"), (status, chunks)

    def get(path: str) -> None:
        status = []
        chunks = app(environ("GET", path, data["secret"]), lambda s, h, *_: status.append(s))
        b"".join(chunks)
        chunks.close()
        assert status[0].startswith("200"), status

    def bulk(size: int) -> None:
        items = [
            {
                "source_account_id": (a, b)[i % 2],
                "destination_account_id": (b, a)[i % 2],
                "amount": "1",
                "currency": "KRW",
            }
            for i in range(size)
        ]
        body = json.dumps({"mode": "independent", "transfers": items}).encode()
        status = []
        chunks = app(
            environ("POST", "/api/v1/transfers/bulk", data["secret"], body),
            lambda s, h, *_: status.append(s),
        )
        b"".join(chunks)
        chunks.close()
        assert status[0].startswith(("200", "201")), (status, chunks)

    calls = [("POST /api/v1/transfers", transfer)]
    if options.only_lists:
        calls = []
        for _ in range(60):  # rows for the lists: each transfer has its events
            transfer()
    for size in options.bulk:
        calls.append((f"POST /api/v1/transfers/bulk ({size})", functools.partial(bulk, size)))
    lists = ["/api/v1/nodes", *options.list]
    if options.redeem:
        # One token per call: the warm-up, the two counted calls, the batches, the profile.
        needed = 52 + 5 * max(1, options.count // 5) + (options.count if options.profile else 0)
        print(f"preparing {needed} payment requests and tokens (untimed)", file=sys.stderr)
        ready = tokens(data["tenant"], needed)

        def redeem() -> None:
            request_id, token = ready.pop()
            status = []
            chunks = app(
                environ(
                    "POST",
                    f"/api/v1/payment_requests/{request_id}/redeem",
                    data["secret"],
                    json.dumps({"token": token}).encode(),
                ),
                lambda s, h, *_: status.append(s),
            )
            b"".join(chunks)
            chunks.close()
            assert status[0].startswith("200"), (status, chunks)

        calls, lists = [("POST /api/v1/payment_requests/{id}/redeem", redeem)], options.list
    for path in lists:
        calls.append((f"GET {path}", functools.partial(get, path)))
    report = {}
    for name, call in calls:
        for _ in range(50):
            call()  # warm-up: caches, compiled SQL, the persistent connection
        statements: list[str] = []

        def capture(execute, sql, *args, statements=statements):
            statements.append(sql)
            return execute(sql, *args)

        with connection.execute_wrapper(capture):
            call()
        with dbtrace.RoundTrips(connection) as trips, dbtrace.RedisRoundTrips() as redis_trips:
            call()
        # The least CPU of five batches: on a shared machine, others' load inflates it.
        cpu_ms = wall_ms = db_cpu_ms = float("inf")
        batch = max(1, options.count // 5)
        for _ in range(5):
            backend = Backend(connection)
            started, wall = time.process_time(), time.perf_counter()
            for _ in range(batch):
                call()
            cpu_ms = min(cpu_ms, 1000 * (time.process_time() - started) / batch)
            wall_ms = min(wall_ms, 1000 * (time.perf_counter() - wall) / batch)
            db_cpu_ms = min(db_cpu_ms, backend.cpu_ms() / batch)
        report[name] = {
            "cpu_ms": round(cpu_ms, 3),
            "db_cpu_ms": round(db_cpu_ms, 3) if db_cpu_ms != float("inf") else None,
            "wall_ms": round(wall_ms, 3),
            "statements": len(statements),
            "round_trips": trips.count,
            "redis_round_trips": redis_trips.count,
        }
        print(f"\n== {name}: {report[name]}")
        for sql in statements:
            print("   SQL:", " ".join(sql.split())[:160])
        print("   round trips:", trips.messages)
        print("   Redis round trips:", redis_trips.messages)
        if options.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not waits
            profiler.enable()
            for _ in range(options.count):
                call()
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(25)
            print(out.getvalue())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
