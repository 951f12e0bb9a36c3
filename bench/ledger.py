#!/usr/bin/env python
"""Ledger benchmark (issue 3, item 10). A script, never a test.

    python bench/ledger.py [--quick] [--keep]

On the PostgreSQL server of DATABASE_URL it creates its own databases (``bench_ledger``
for the sandbox, ``bench_ledger_pgbench`` for pgbench; ``--database`` renames them), then
measures, each with 8 concurrent clients:

  (a) pgbench's built-in TPC-B-like script, the baseline, in the same run;
  (b) single transfers per second through the HTTP API (the web server: ``--server``);
  (c) the same through the service layer (8 processes calling ``transfer_create``);
  (d) transfers per second through the bulk endpoint (8,000 per request);
  (e) transfers per second through the HTTP API when every one credits one merchant;
  (f) push payments redeemed per second through the HTTP API
      (``POST /api/v1/payment_requests/{id}/redeem``, docs/payments.md): the requests and
      their payers' tokens are made beforehand with the services, untimed;
  (g) the floors under (b), bench/floor.py: (g1) a bare WSGI app on the same server
      command, (g2) ``GET /api/v1/tenant`` with the API key, (g2') ``GET /jwks/platform.json``.

The web server is the one production runs (granian; gunicorn where granian is not
installed; ``--server`` picks another), with the API throttles off (SANDBOX_THROTTLE_ADDRESS
and _API_KEY): the bench measures capacity, not the abuse limits. The requests of (b), (e),
(f) and (g) come from wrk when it is installed, else from Python threads (``--generator``);
bench/http_load.py says why.

It prints a table with the ratios against (a) and writes ``bench/results/ledger.json``
with the keys pgbench_tps, http_single_tps, service_single_tps, bulk_tps, hot_account_tps,
redemptions_per_s, redemption_ratio_to_pgbench (f against a),
round_trips_per_single_transfer and round_trips_per_redemption (to PostgreSQL, counted in
process from libpq's trace: BEGIN, COMMIT and the connection health check included) and
app_cpu_ms_per_single_transfer (the web server's CPU during (b), per transfer), and
db_cpu_ms_per_single_transfer, load_generator_cpu_ms_per_single_transfer, server and
load_generator; for (g) floor_wsgi_*, floor_django_* and floor_django_public_* (``_rps``,
``_ratio_to_pgbench``, ``_app_cpu_ms``: per request), single_transfer_cpu_ratio_to_django_floor
and cpu_budget_ms_per_transfer_at_target (the CPU per transfer 0.25 x (a) allows).
Finally it runs ``verify_ledger`` on what it wrote. ``--quick`` finishes in about
two and a half minutes; ``--profile`` adds a cProfile of the service-layer path.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import floor  # noqa: E402
from bench.http_load import (  # noqa: E402
    SERVERS,
    Client,
    CpuProbe,
    Item,
    generator_available,
    run_load,
    show_load,
    start_server,
    stop,
)

RESULTS = ROOT / "bench" / "results" / "ledger.json"
CLIENTS = 8
# ``--database NAME`` (or BENCH_LEDGER_DB) renames both, so that two people running the
# bench on one server do not drop each other's databases.
BENCH_DB = os.environ.get("BENCH_LEDGER_DB") or "bench_ledger"
PGBENCH_DB = f"{BENCH_DB}_pgbench"
BULK_SIZE = 8000


STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", flush=True)


# --- Databases ---------------------------------------------------------------------------


def database_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    if not base.startswith("postgres"):
        sys.exit("bench/ledger.py needs a PostgreSQL DATABASE_URL (postgres://...).")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def libpq_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    env = dict(os.environ)
    env.update(
        {
            "PGHOST": parts.hostname or "127.0.0.1",
            "PGPORT": str(parts.port or 5432),
            "PGUSER": parts.username or "postgres",
            "PGDATABASE": parts.path.lstrip("/"),
        }
    )
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def recreate_database(name: str) -> None:
    env = libpq_env(database_url("postgres"))
    subprocess.run(["dropdb", "--if-exists", "--force", name], env=env, check=True)
    subprocess.run(["createdb", name], env=env, check=True)


def drop_database(name: str) -> None:
    env = libpq_env(database_url("postgres"))
    subprocess.run(["dropdb", "--if-exists", "--force", name], env=env, check=False)


# --- (a) pgbench -------------------------------------------------------------------------


def run_pgbench(seconds: int) -> float:
    if shutil.which("pgbench") is None:
        sys.exit("pgbench is not installed (apt-get install postgresql-client).")
    recreate_database(PGBENCH_DB)
    env = libpq_env(database_url(PGBENCH_DB))
    subprocess.run(["pgbench", "-i", "-q", "-s", "10"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        ["pgbench", "-c", str(CLIENTS), "-j", "2", "-T", str(seconds)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([\d.]+)", out
    )
    if match is None:
        sys.exit(f"Could not read pgbench's output:\n{out}")
    return float(match.group(1))


# --- The sandbox database ----------------------------------------------------------------


def sandbox_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(BENCH_DB),
            "DEBUG": "0",  # DEBUG would keep every query in memory
            "SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
            "DB_CONN_MAX_AGE": "600",
            "LOG_LEVEL": "WARNING",
            "SANDBOX_VAR_DIR": str(ROOT / "var" / "bench"),
            "PYTHONWARNINGS": "ignore:No directory at",
            # Capacity, not the abuse limits: 8 clients share one key and one address.
            "SANDBOX_THROTTLE_ADDRESS": "off",
            "SANDBOX_THROTTLE_API_KEY": "off",
        }
    )
    return env


def setup_django() -> None:
    os.environ.update(sandbox_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    import django

    django.setup()


def _fund(account, amount: int) -> None:
    from wallets import services
    from wallets.locking import retrying
    from wallets.posting import Leg, Posting, post_one

    settlement = services.platform_account(
        purpose="settlement", currency=account.currency, bank_code=account.bank_code
    )
    posting = Posting(
        kind="deposit",
        legs=[
            Leg(settlement.pk, -amount, account.currency),
            Leg(account.pk, amount, account.currency),
        ],
        tenant_id=account.tenant_id,
    )
    retrying(post_one)(posting)


def prepare_books(redemptions: int) -> dict:
    """A tenant, an API key and funded accounts for every phase, and ``redemptions`` paid
    requests' tokens for (f), made with the services."""
    from django.core.management import call_command

    from sandbox.tenants import services as tenant_services
    from sandbox.tenants.models import Tenant
    from wallets import services

    log("migrating the bench database")
    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="Bench Pay", status=Tenant.Status.ACTIVE)
    secret = tenant_services.api_key_create(
        tenant=tenant, name="bench", actor=tenant_services.SYSTEM
    ).secret
    nodes = [
        tenant_services.node_create(
            tenant=tenant,
            actor=tenant_services.SYSTEM,
            name=f"Node {i}",
            country="KR",
            base_currency="KRW",
        )
        for i in range(2)
    ]

    def accounts(count: int, label: str, funded: int) -> list[str]:
        made = []
        for i in range(count):
            account = services.account_create(
                wallet=nodes[i % 2].wallet,
                actor=tenant_services.SYSTEM,
                currency="KRW",
                name=f"{label} {i}",
            )
            if funded:
                _fund(account, funded)
            made.append(str(account.pk))
        return made

    log("opening and funding accounts")
    books = {
        "tenant_id": str(tenant.pk),
        "secret": secret,
        # Per client a pair of its own accounts: no contention between clients.
        "http_pairs": [accounts(2, f"http-{c}", 10**12) for c in range(CLIENTS)],
        "service_pairs": [accounts(2, f"svc-{c}", 10**12) for c in range(CLIENTS)],
        "hot_payers": accounts(CLIENTS, "payer", 10**12),
        "merchant": accounts(1, "merchant", 0)[0],
        "bulk_ring": accounts(400, "ring", 10**12),
    }
    log(f"preparing {redemptions} payment requests and their tokens (untimed)")
    books["redemptions"] = prepare_redemptions(tenant, nodes, redemptions)
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as pgbench -i does: plans from real statistics
    connections.close_all()
    return books


def prepare_redemptions(tenant, payer_nodes: list, count: int) -> list[list[tuple[str, str]]]:
    """Per client, its own merchant node (one account to be paid) and its own funded payer
    account, and ``count // CLIENTS`` requests of that merchant, each with the token the
    payer's node signed: (request id, token) pairs. Clients never share a request row, a
    merchant account or a payer account, as the pairs of (b) share nothing."""
    from sandbox.tenants import services as tenant_services
    from wallets import services
    from wallets.payments import services as payments

    system = tenant_services.SYSTEM
    work = []
    for c in range(CLIENTS):
        merchant = tenant_services.node_create(
            tenant=tenant, actor=system, name=f"Merchant {c}", country="KR", base_currency="KRW"
        )
        till = services.account_create(
            wallet=merchant.wallet, actor=system, currency="KRW", name=f"till {c}"
        )
        payer_node = payer_nodes[c % len(payer_nodes)]
        payer = services.account_create(
            wallet=payer_node.wallet, actor=system, currency="KRW", name=f"shopper {c}"
        )
        _fund(payer, 10**12)
        tokens = []
        for n in range(count // CLIENTS):
            request = payments.payment_request_create(
                actor=system,
                account=till,
                order_id=f"B-{c}-{n}",
                amount=1000,
                currency="KRW",
                expires_in=3600,  # a slow, loaded run must not see them expire
            )
            authorization = payments.payment_authorize(
                tenant=tenant,
                actor=system,
                payer_node=payer_node,
                account=payer,
                request_jws=request.jws,
                expires_in=3600,
            )
            tokens.append((str(request.pk), authorization.jws))
        work.append(tokens)
    return work


# --- One request, in process --------------------------------------------------------------


def wsgi_environ(method: str, path: str, secret: str, body: bytes) -> dict:
    """A request as gunicorn hands it to the WSGI application."""
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {secret}",
        "HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4()),
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def single_transfer_round_trips(books: dict) -> int:
    """Round trips to PostgreSQL of one HTTP single transfer (the pairs of (b), across two
    nodes), served in this process by the WSGI application: BEGIN, COMMIT and Django's
    connection health check included (``sandbox.dbtrace``). Deterministic: a count."""
    from django.core.wsgi import get_wsgi_application
    from django.db import connection, connections

    from sandbox.dbtrace import RoundTrips

    app = get_wsgi_application()
    source, destination = books["http_pairs"][0]

    def post() -> None:
        body = json.dumps(transfer(source, destination)).encode()
        status: list[str] = []
        environ = wsgi_environ("POST", "/api/v1/transfers", books["secret"], body)
        b"".join(app(environ, lambda s, h, *_: status.append(s)))
        if not status[0].startswith("201"):
            sys.exit(f"The in-process transfer answered {status[0]}.")

    for _ in range(3):  # the persistent connection, compiled code
        post()
    with RoundTrips(connection) as trips:
        post()
    connections.close_all()
    return trips.count


def redemption_round_trips(books: dict) -> int:
    """Round trips to PostgreSQL of one HTTP redemption, served in this process as for a
    transfer above. It redeems the last token of clients 0 to 3 (3 to warm up, 1 counted),
    which (f) then leaves out."""
    from django.core.wsgi import get_wsgi_application
    from django.db import connection, connections

    from sandbox.dbtrace import RoundTrips

    app = get_wsgi_application()

    def redeem(request_id: str, token: str) -> None:
        body = json.dumps({"token": token}).encode()
        path = f"/api/v1/payment_requests/{request_id}/redeem"
        status: list[str] = []
        b"".join(
            app(
                wsgi_environ("POST", path, books["secret"], body), lambda s, h, *_: status.append(s)
            )
        )
        if not status[0].startswith("200"):
            sys.exit(f"The in-process redemption answered {status[0]}.")

    probes = [tokens.pop() for tokens in books["redemptions"][:4]]
    for probe in probes[:3]:
        redeem(*probe)
    with RoundTrips(connection) as trips:
        redeem(*probes[3])
    connections.close_all()
    return trips.count


# --- HTTP load (servers and load generators: bench/http_load.py) -------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_backends() -> list[int]:
    env = libpq_env(database_url("postgres"))
    out = subprocess.run(
        ["psql", "-Atc", f"SELECT pid FROM pg_stat_activity WHERE datname = '{BENCH_DB}'"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [int(line) for line in out.split()]


def transfer(source: str, destination: str, amount: str = "1") -> dict:
    return {
        "source_account_id": source,
        "destination_account_id": destination,
        "amount": amount,
        "currency": "KRW",
    }


def ping_pong(pair: list[str]) -> list[Item]:
    """A client's single transfers, forth and back between its own two accounts."""
    return [
        ("/api/v1/transfers", transfer(pair[0], pair[1]), 201),
        ("/api/v1/transfers", transfer(pair[1], pair[0]), 201),
    ]


def bulk_phase(port: int, secret: str, ring: list[str], batches: int) -> tuple[float, int]:
    """Two clients post 8,000-transfer batches (atomic mode) around a ring of accounts."""
    size = len(ring)
    payloads = []
    for b in range(2):
        items = [transfer(ring[(i + b) % size], ring[(i + b + 1) % size]) for i in range(BULK_SIZE)]
        payloads.append({"mode": "atomic", "transfers": items})
    posted = [0, 0]
    failures = [0, 0]

    def worker(index: int) -> None:
        client = Client(port, secret)
        for _ in range(batches):
            status, body = client.post("/api/v1/transfers/bulk", payloads[index])
            if status == 201:
                posted[index] += json.loads(body)["posted"]
            else:
                failures[index] += 1
                log(f"bulk answered {status}: {body[:300]!r}")

    # One batch first, untimed: warms up the workers' code paths and caches.
    Client(port, secret).post("/api/v1/transfers/bulk", payloads[0])
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(posted) / (time.perf_counter() - started), sum(failures)


def paid_exactly_once(request_ids: list[str]) -> list[str]:
    """What the database says against "each request paid exactly once": every request is
    paid with a transaction, has one redemption (``Redemption.request`` is unique, so the
    count says it), and the bench posted exactly one payment transaction per request."""
    from django.db import connections

    from wallets.models import LedgerTransaction
    from wallets.payments.models import PaymentRequest, Redemption

    total = len(request_ids)
    found = {
        "paid requests": PaymentRequest.objects.filter(
            pk__in=request_ids, status="paid", transaction__isnull=False
        ).count(),
        "redemptions": Redemption.objects.filter(request_id__in=request_ids).count(),
        "payment transactions": LedgerTransaction.objects.filter(kind="payment").count(),
    }
    connections.close_all()
    return [f"{name}: {n}, expected {total}" for name, n in found.items() if n != total]


# --- Service layer -----------------------------------------------------------------------


def _service_worker(args) -> int:
    tenant_id, pair, seconds, start_at = args
    setup_django()
    from sandbox.tenants.models import Tenant
    from wallets import services
    from wallets.models import Account
    from wallets.services import TransferRequest

    tenant = Tenant.objects.get(pk=tenant_id)
    a, b = (Account.objects.get(pk=pk) for pk in pair)
    forward = TransferRequest(source=a, destination=b, amount=1, currency="KRW")
    back = TransferRequest(source=b, destination=a, amount=1, currency="KRW")
    while time.time() < start_at:
        time.sleep(0.005)
    stop_at = time.time() + seconds
    n = 0
    while time.time() < stop_at:
        services.transfer_create(tenant=tenant, request=forward if n % 2 == 0 else back)
        n += 1
    return n


def service_phase(books: dict, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 6  # every process has started and connected by then
    with context.Pool(CLIENTS) as pool:
        counts = pool.map(
            _service_worker,
            [(books["tenant_id"], pair, seconds, start_at) for pair in books["service_pairs"]],
        )
    return sum(counts) / seconds


def service_bulk(books: dict, batches: int) -> float:
    """Bulk through the service layer, one process: the HTTP layer's share of (d)."""
    from sandbox.tenants.models import Tenant
    from wallets import services
    from wallets.models import Account
    from wallets.services import TransferRequest

    tenant = Tenant.objects.get(pk=books["tenant_id"])
    ring = list(Account.objects.filter(pk__in=books["bulk_ring"]).order_by("id"))
    requests = [
        TransferRequest(
            source=ring[i % len(ring)],
            destination=ring[(i + 1) % len(ring)],
            amount=1,
            currency="KRW",
        )
        for i in range(BULK_SIZE)
    ]
    started = time.perf_counter()
    for _ in range(batches):
        services.transfer_bulk_create(tenant=tenant, requests=requests, mode="atomic")
    return batches * BULK_SIZE / (time.perf_counter() - started)


def profile_service(books: dict, count: int = 600) -> str:
    import cProfile
    import io
    import pstats

    from sandbox.tenants.models import Tenant
    from wallets import services
    from wallets.models import Account
    from wallets.services import TransferRequest

    tenant = Tenant.objects.get(pk=books["tenant_id"])
    a, b = (Account.objects.get(pk=pk) for pk in books["service_pairs"][0])
    request = TransferRequest(source=a, destination=b, amount=1, currency="KRW")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        services.transfer_create(tenant=tenant, request=request)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
    return out.getvalue()


# --- Main --------------------------------------------------------------------------------


def _use_database(name: str) -> None:
    global BENCH_DB, PGBENCH_DB
    BENCH_DB, PGBENCH_DB = name, f"{name}_pgbench"
    os.environ["BENCH_LEDGER_DB"] = name  # the service-layer processes are spawned


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short phases: about 2.5 minutes")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--profile", action="store_true", help="cProfile the service layer")
    # The deployment measured: what `dev.py up` and the README run (granian, 2 processes x
    # 4 threads on the 2-core box), or gunicorn where granian is not installed; --server
    # compares the others (bench/http_load.py, docs/scaling.md "Serving").
    default_server = "granian" if importlib.util.find_spec("granian") else "gunicorn-gthread"
    parser.add_argument("--server", default=default_server, choices=sorted(SERVERS))
    parser.add_argument("--workers", type=int, help="server processes (default: per server)")
    parser.add_argument("--threads", type=int, help="threads per process (default: per server)")
    parser.add_argument(
        "--generator",
        choices=["wrk", "python"],
        default="wrk" if generator_available("wrk") else "python",
        help="load generator of (b), (e), (f): wrk (C) when installed, else Python threads",
    )
    parser.add_argument(
        "--database",
        default=BENCH_DB,
        help="name of the bench database (pgbench's gets the suffix _pgbench)",
    )
    options = parser.parse_args()
    _use_database(options.database)
    seconds = 8 if options.quick else 30
    batches = 2 if options.quick else 6
    # (f) redeems a fixed set: about a phase's length at the ~20/s measured on the shared
    # 2-core box (each redemption verifies two signatures); 2 per client are the warm-up.
    redemptions = CLIENTS * (24 if options.quick else 80)
    began = time.perf_counter()

    log(f"(a) pgbench TPC-B-like, {CLIENTS} clients, {seconds}s")
    pgbench_tps = run_pgbench(seconds)
    if not options.keep:
        drop_database(PGBENCH_DB)

    recreate_database(BENCH_DB)
    setup_django()
    books = prepare_books(redemptions)
    round_trips = single_transfer_round_trips(books)
    log(f"one HTTP single transfer: {round_trips} round trips to PostgreSQL")
    request_ids = [request_id for tokens in books["redemptions"] for request_id, _ in tokens]
    redeem_trips = redemption_round_trips(books)
    log(f"one HTTP redemption: {redeem_trips} round trips to PostgreSQL")

    _, default_workers, default_threads = SERVERS[options.server]
    workers, threads = options.workers or default_workers, options.threads or default_threads
    # (g1) on a server of its own, then (b), (g2) and (g2') one after the other.
    shared = {
        "clients": CLIENTS,
        "generator": options.generator,
        "log": log,
        "seconds": seconds // 2,
    }
    shape = (options.server, workers, threads)
    floors = [floor.wsgi_floor(*shape, port=free_port(), env=sandbox_env(), root=ROOT, **shared)]
    port = free_port()
    log(
        f"starting {options.server} ({workers} processes x {threads} threads) on port {port}, "
        "API throttles off (SANDBOX_THROTTLE_ADDRESS=off, SANDBOX_THROTTLE_API_KEY=off); "
        f"load generator: {options.generator}"
    )
    server = start_server(options.server, port, workers, threads, sandbox_env(), ROOT)
    secret, generator = books["secret"], options.generator
    try:
        singles = [ping_pong(pair) for pair in books["http_pairs"]]
        run_load(generator, port, secret, singles, 2)  # warm-up
        log(f"(b) HTTP single transfers, {CLIENTS} clients, {seconds}s")
        with CpuProbe(server, postgres_backends) as single_cpu:
            single = run_load(generator, port, secret, singles, seconds)
        http_single_tps = single.rate
        log(f"    per transfer: {single_cpu.per(single.done)}")
        show_load("(b)", single, single.done)
        floors += floor.django_floors(secret, port, server, postgres_backends, **shared)
        log(f"(e) HTTP hot-account transfers (all credit one merchant), {seconds}s")
        merchant = books["merchant"]
        hot_work: list[list[Item]] = [
            [("/api/v1/transfers", transfer(payer, merchant), 201)] for payer in books["hot_payers"]
        ]
        with CpuProbe(server, postgres_backends) as hot_cpu:
            hot = run_load(generator, port, secret, hot_work, seconds)
        hot_account_tps = hot.rate
        log(f"    per transfer: {hot_cpu.per(hot.done)}")
        show_load("(e)", hot, hot.done)
        log(f"(d) bulk: 2 clients x {batches} batches of {BULK_SIZE} transfers")
        with CpuProbe(server, postgres_backends) as bulk_cpu:
            bulk_tps, bulk_failures = bulk_phase(port, secret, books["bulk_ring"], batches)
        log(f"    per transfer: {bulk_cpu.per(2 * batches * BULK_SIZE)}")

        def redeeming(tokens: list[tuple[str, str]]) -> list[Item]:
            path = "/api/v1/payment_requests/{}/redeem"
            return [(path.format(request), {"token": token}, 200) for request, token in tokens]

        work = books["redemptions"]
        run_load(generator, port, secret, [redeeming(t[:2]) for t in work], None)  # warm-up
        timed = [redeeming(tokens[2:]) for tokens in work]
        log(f"(f) HTTP redemptions, {CLIENTS} clients, {sum(map(len, timed))} tokens")
        with CpuProbe(server, postgres_backends) as redeem_cpu:
            redeemed = run_load(generator, port, secret, timed, None)
        redemptions_per_s = redeemed.rate
        log(f"    per redemption: {redeem_cpu.per(sum(map(len, timed)))}")
        show_load("(f)", redeemed, redeemed.done)
        redeem_problems = (
            [f"{redeemed.failures} answers not 200, first: {redeemed.first_unexpected}"]
            if redeemed.failures
            else []
        )
    finally:
        stop(server)

    log(f"(c) service-layer single transfers, {CLIENTS} processes, {seconds}s")
    service_single_tps = service_phase(books, seconds)

    log("(d') bulk through the service layer, 1 process (for comparison only)")
    service_bulk_tps = service_bulk(books, batches)
    profile = profile_service(books) if options.profile else ""

    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    redeem_problems += paid_exactly_once(request_ids)
    log("verify_ledger on the bench database")
    call_command("verify_ledger")
    connections.close_all()
    if not options.keep:
        drop_database(BENCH_DB)
    if redeem_problems:
        # No figures from a run that paid an order twice, or not at all.
        sys.exit(
            f"(f) redemptions went wrong ({len(redeem_problems)}):\n"
            + "\n".join(redeem_problems[:20])
        )

    results = {
        "pgbench_tps": round(pgbench_tps, 1),
        "http_single_tps": round(http_single_tps, 1),
        "service_single_tps": round(service_single_tps, 1),
        "bulk_tps": round(bulk_tps, 1),
        "hot_account_tps": round(hot_account_tps, 1),
        "redemptions_per_s": round(redemptions_per_s, 1),
        "redemption_ratio_to_pgbench": round(redemptions_per_s / pgbench_tps, 3),
        "round_trips_per_single_transfer": round_trips,
        "round_trips_per_redemption": redeem_trips,
        "app_cpu_ms_per_single_transfer": round(single_cpu.app_ms(single.done), 3),
        "db_cpu_ms_per_single_transfer": round(single_cpu.db_ms(single.done), 3),
        "load_generator_cpu_ms_per_single_transfer": round(
            1000 * single.client_cpu / single.done if single.done else 0.0, 3
        ),
        "server": f"{options.server} {workers}x{threads}",
        "load_generator": generator,
        **floor.results(floors, pgbench_tps, single_cpu, single.done),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    rows = [
        ("(a) pgbench TPC-B-like", pgbench_tps, 1.0, "baseline"),
        ("(b) HTTP single", http_single_tps, http_single_tps / pgbench_tps, ">= 0.25 x (a)"),
        ("(c) service single", service_single_tps, service_single_tps / pgbench_tps, ""),
        ("(d) bulk (8,000/request)", bulk_tps, bulk_tps / pgbench_tps, ">= 5 x (a)"),
        ("(e) HTTP hot account", hot_account_tps, hot_account_tps / pgbench_tps, ">= 0.8 x (b)"),
        ("(d') bulk, service, 1 proc", service_bulk_tps, service_bulk_tps / pgbench_tps, "info"),
        ("(f) HTTP redemptions", redemptions_per_s, redemptions_per_s / pgbench_tps, "info"),
        *floor.rows(floors, pgbench_tps),
    ]
    print()
    print(f"{'measure':28} {'tps':>10} {'x pgbench':>10}  target")
    for name, tps, ratio, target in rows:
        print(f"{name:28} {tps:>10.1f} {ratio:>10.2f}  {target}")
    met = {
        "b": http_single_tps >= 0.25 * pgbench_tps,
        "d": bulk_tps >= 5 * pgbench_tps,
        "e": hot_account_tps >= 0.8 * http_single_tps,
        "cpu": single_cpu.app_ms(single.done) <= 2.0,
    }
    print(
        f"\n(e)/(b) = {hot_account_tps / http_single_tps:.2f}; targets met: "
        + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in met.items())
    )
    bulk_count = 2 * batches * BULK_SIZE
    for name, probe, count in (
        ("single", single_cpu, single.done),
        ("hot", hot_cpu, hot.done),
        ("bulk", bulk_cpu, bulk_count),
        ("redeem", redeem_cpu, sum(map(len, timed))),
    ):
        print(
            f"CPU per transfer, {name + ':':7} {probe.per(count)}; all cores busy with nothing "
            f"else (load generator excluded) would carry ~{probe.ceiling(count):.0f}/s"
        )
    print("\n".join(floor.verdict(floors, pgbench_tps, single_cpu, single.done)))
    print(
        f"round trips to PostgreSQL per HTTP single transfer: {round_trips} "
        f"(BEGIN, COMMIT and the connection health check included); per redemption: "
        f"{redeem_trips}"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end: {load} on {os.cpu_count()} cores (other work skews results)")
    print(
        f"unexpected answers: single {single.failures}, hot {hot.failures}, bulk {bulk_failures}, "
        f"redeem {redeemed.failures}; served by {options.server} {workers}x{threads}, load from "
        f"{generator}; "
        f"wrote {RESULTS.relative_to(ROOT)} in {time.perf_counter() - began:.0f}s"
    )
    print(
        f"redemptions: {len(request_ids)} requests, each answered 200 and paid exactly "
        "once (database checked); API throttles were off"
    )
    if profile:
        print("\nservice-layer profile (cumulative):\n" + profile)


if __name__ == "__main__":
    main()
