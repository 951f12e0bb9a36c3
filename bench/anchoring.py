#!/usr/bin/env python
"""Anchoring benchmark (issue 5, item 9). A script, never a test.

    python bench/anchoring.py [--quick] [--transactions N] [--keep]

On the PostgreSQL server of DATABASE_URL it creates its own database (``bench_anchoring``),
writes a day of ledger transactions (1,000,000; ``--quick``: 100,000) with set-based SQL,
not through the posting service: this measures the close, not posting (``make_day``), then:

  * closes the day with the real close (``clearing.closing.close_day``: read, encode, hash,
    store the tree, anchor in a mined regtest block): ``close_total_s``;
  * times each phase again on its own: reading the rows, encoding the leaves, hashing the
    RFC 9162 tree (``hash_s``), storing the tree and anchoring;
  * the baseline, in the same run: plain ``hashlib.sha256`` over the same leaf bytes in a
    tight loop (``baseline_hash_s``); the tree as the close builds it (``hash_s``, one
    process unless ``CLEARING_HASH_PROCESSES=2``) and, for comparison, in two processes
    (``hash_two_processes_s``); each the best of 5 runs, interleaved, because the machine is
    shared; ``hash_vs_baseline_median`` is the median of the per-round ratios;
  * proof latency: the full proof of 1,000 random transactions through the proof selector
    (database reads included), ``proof_p99_ms``.

Writes ``bench/results/anchoring.json`` and drops its database unless ``--keep``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import sys
import time
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "anchoring.json"
BENCH_DB = "bench_anchoring"
BENCH_DAY = date(2025, 1, 15)
ACCOUNTS = 200
STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", flush=True)


def database_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL") or ""
    if not base.startswith("postgres"):
        sys.exit("bench/anchoring.py needs a PostgreSQL DATABASE_URL (postgres://...).")
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def recreate_database(drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {BENCH_DB}")


def setup_django() -> None:
    os.environ["DATABASE_URL"] = database_url(BENCH_DB)
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- Data --------------------------------------------------------------------------------


def make_day(count: int) -> None:
    """``count`` deposits spread over the bench day, written set-based in SQL.

    This is a benchmark of the close, not of posting (``bench/ledger.py`` measures that):
    one ``INSERT ... SELECT generate_series`` writes the transactions, one more their two
    entries each (the platform's settlement account pays a node account), and one UPDATE
    adds the entries to the accounts' stored balances. The rows are balanced by
    construction; the ledger's triggers (balance and foreign-key checks, one per row at
    COMMIT) are skipped for the load with ``session_replication_role = replica`` in this
    throwaway database, and ``verify_ledger`` then checks the same rules, set-based, and
    must be clean. The rows look like the posting service's: same columns, ids in posting
    order, the debit entry first.
    """
    from django.db import connection, transaction

    from sandbox.tenants.models import Tenant
    from sandbox.tenants.services import SYSTEM, node_create
    from wallets import services as wallet_services
    from wallets.verification import verify_ledger

    tenants = [Tenant.objects.create(name=f"Bench {i}", status="active") for i in range(4)]
    accounts = []
    for i in range(ACCOUNTS):
        node = node_create(
            tenant=tenants[i % 4], actor=SYSTEM, name=f"Node {i}", country="KR", base_currency="KRW"
        )
        accounts.append(node.wallet.accounts.get())
    settlement = wallet_services.platform_account(purpose="settlement", currency="KRW")
    start = datetime.combine(BENCH_DAY, datetime.min.time(), tzinfo=ZoneInfo("Asia/Seoul"))
    params = {
        "count": count,
        "start": start,
        "step_us": 86_000_000_000 // count,  # spread over the day, ending before 23:54
        "accounts": [a.pk for a in accounts],
        "tenants": [a.tenant_id for a in accounts],
        "settlement": settlement.pk,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SELECT coalesce(max(id), 0) FROM wallets_ledgertransaction")
        params["base"] = cursor.fetchone()[0] + 1
        cursor.execute(
            """
            INSERT INTO wallets_ledgertransaction
                   (id, uuid, tenant_id, kind, memo, metadata, amount, currency, reverses_id,
                    is_inter_node, posted_at)
            SELECT %(base)s + n, gen_random_uuid(),
                   (%(tenants)s::uuid[])[1 + n %% cardinality(%(tenants)s::uuid[])],
                   'deposit', 'bench deposit ' || n,
                   CASE WHEN n %% 4 = 0 THEN jsonb_build_object('n', n) ELSE '{}' END,
                   1000 + n %% 977, 'KRW', NULL, false,
                   %(start)s + make_interval(secs => n * %(step_us)s / 1e6)
              FROM generate_series(0::bigint, %(count)s::bigint - 1) AS n
            """,
            params,
        )
        log(f"  {count:,} transactions written")
        cursor.execute(
            """
            INSERT INTO wallets_entry (transaction_id, account_id, amount, currency, posted_at)
            SELECT %(base)s + n,
                   CASE WHEN leg = 0 THEN %(settlement)s::uuid
                        ELSE (%(accounts)s::uuid[])[1 + n %% cardinality(%(accounts)s::uuid[])]
                   END,
                   CASE WHEN leg = 0 THEN -1 ELSE 1 END * (1000 + n %% 977), 'KRW',
                   %(start)s + make_interval(secs => n * %(step_us)s / 1e6)
              FROM generate_series(0::bigint, %(count)s::bigint - 1) AS n
                   CROSS JOIN (VALUES (0), (1)) AS l(leg)
             ORDER BY n, leg
            """,
            params,
        )
        log(f"  {2 * count:,} entries written")
        cursor.execute(
            """
            UPDATE wallets_account AS a
               SET posted_balance = a.posted_balance + e.total,
                   lock_version = a.lock_version + e.legs
              FROM (SELECT account_id, sum(amount) AS total, count(*) AS legs
                      FROM wallets_entry GROUP BY account_id) AS e
             WHERE a.id = e.account_id
            """
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('wallets_ledgertransaction', 'id'), "
            "(SELECT max(id) FROM wallets_ledgertransaction))"
        )
    log("  balances updated; verify_ledger")
    report = verify_ledger()
    assert report.ok and report.transactions == count, report.problems[:5]


# --- Measurements ------------------------------------------------------------------------


def read_rows():
    """The close's own read: raw SQL over server-side cursors (``clearing.encoding``)."""
    from clearing.encoding import _PG_ENTRIES, _PG_TRANSACTIONS, _pg_rows, day_bounds

    start, end = day_bounds(BENCH_DAY)
    where = "t.posted_at >= %s AND t.posted_at < %s"
    txns = list(_pg_rows(_PG_TRANSACTIONS.format(where=where), [start, end], 5000))
    entries = list(_pg_rows(_PG_ENTRIES.format(where=where), [start, end], 10000))
    return txns, entries


def encode_rows(txns, entries) -> list[bytes]:
    from clearing.encoding import _merge, encode_raw

    return [leaf for _id, leaf in _merge(txns, entries, encode_raw)]


def baseline(leaves: list[bytes]) -> float:
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for leaf in leaves:
        sha256(leaf).digest()
    return time.perf_counter() - started


def tree_time(leaves: list[bytes], *, two_processes: bool | None = None):
    """The tree as the close builds it (``clearing.merkle``'s setting), or with
    ``two_processes`` forced on or off."""
    from clearing import merkle

    default = merkle.TWO_PROCESSES
    merkle.TWO_PROCESSES = default if two_processes is None else two_processes
    try:
        started = time.perf_counter()
        tree = merkle.MerkleTree.from_leaves(leaves)
        return time.perf_counter() - started, tree
    finally:
        merkle.TWO_PROCESSES = default


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def main() -> None:
    global BENCH_DB
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 transactions")
    parser.add_argument("--transactions", type=int, help="how many transactions the day holds")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--database", default=BENCH_DB, help=f"its database ({BENCH_DB})")
    args = parser.parse_args()
    BENCH_DB = args.database
    count = args.transactions or (100_000 if args.quick else 1_000_000)

    log(f"creating database {BENCH_DB}")
    recreate_database()
    try:
        setup_django()
        log(f"writing {count:,} transactions on {BENCH_DAY} (set-based SQL)")
        make_day(count)
        results = measure(count)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate_database(drop_only=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {RESULTS.relative_to(ROOT)}")
    print(json.dumps(results, indent=2))


def measure(count: int) -> dict:
    from django.db import connection

    from clearing import closing, merkle, selectors
    from clearing.chain import get_chain
    from clearing.models import DayClose
    from wallets.models import LedgerTransaction

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE wallets_ledgertransaction")
        cursor.execute("VACUUM ANALYZE wallets_entry")

    log("closing the day (the real close, end to end)")
    started = time.perf_counter()
    outcome = closing.close_day(day=BENCH_DAY, triggered_by="bench")
    close_total = time.perf_counter() - started
    assert outcome.result == "closed", outcome
    close = DayClose.objects.get(day=BENCH_DAY)
    assert close.leaf_count == count, (close.leaf_count, count)
    log(f"closed: {count:,} transactions in {close_total:.2f}s, root {close.root}")

    log("timing the phases on their own")
    read_s, (txns, entries) = timed(read_rows)
    encode_s, leaves = timed(encode_rows, txns, entries)
    mean_leaf_bytes = sum(map(len, leaves)) / len(leaves)
    del txns, entries
    gc.collect()
    hash_runs, two_process_runs, baseline_runs = [], [], []
    tree = None
    for _ in range(5):
        baseline_runs.append(baseline(leaves))
        seconds, tree = tree_time(leaves)
        hash_runs.append(seconds)
        seconds, split = tree_time(leaves, two_processes=True)
        two_process_runs.append(seconds)
        assert split.root == tree.root
    assert tree.root.hex() == close.root, "the phases must rebuild the anchored root"
    hash_s, baseline_s = min(hash_runs), min(baseline_runs)
    two_process_s = min(two_process_runs)
    ratios = sorted(h / b for h, b in zip(hash_runs, baseline_runs, strict=True))
    median = ratios[len(ratios) // 2]
    root, size = tree.root, tree.size
    anchor_s, _ = timed(
        lambda: get_chain().append(
            kind="transaction", label="bench-anchor-timing", root=root, leaf_count=size
        )
    )
    log(
        f"read {read_s:.2f}s, encode {encode_s:.2f}s, hash {hash_s:.2f}s (baseline "
        f"{baseline_s:.2f}s, x{hash_s / baseline_s:.2f}, median round x{median:.2f}; "
        f"two processes {two_process_s:.2f}s, x{two_process_s / baseline_s:.2f}), "
        f"anchor {anchor_s * 1000:.1f} ms"
    )
    del leaves, tree
    gc.collect()

    log("proof latency: 1,000 random transactions")
    ids = list(LedgerTransaction.objects.values_list("uuid", "tenant_id"))
    rng = random.Random(5)
    sample = [ids[rng.randrange(len(ids))] for _ in range(1000)]
    from sandbox.tenants.models import Tenant

    tenants = {t.pk: t for t in Tenant.objects.all()}
    latencies = []
    for txn_uuid, tenant_id in sample:
        started = time.perf_counter()
        selectors.transaction_proof(tenant=tenants[tenant_id], transaction_id=txn_uuid)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    log(f"proof p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    return {
        "transactions": count,
        "baseline_hash_s": round(baseline_s, 3),
        "hash_s": round(hash_s, 3),
        "close_total_s": round(close_total, 3),
        "proof_p99_ms": round(p99, 2),
        "hash_vs_baseline": round(hash_s / baseline_s, 2),
        "read_s": round(read_s, 3),
        "encode_s": round(encode_s, 3),
        "anchor_s": round(anchor_s, 4),
        "proof_p50_ms": round(p50, 2),
        "hash_vs_baseline_median": round(median, 2),
        "hash_processes": 2 if merkle.TWO_PROCESSES else 1,
        "hash_two_processes_s": round(two_process_s, 3),
        "hash_two_processes_vs_baseline": round(two_process_s / baseline_s, 2),
        "hash_runs_s": [round(x, 3) for x in hash_runs],
        "hash_two_processes_runs_s": [round(x, 3) for x in two_process_runs],
        "baseline_runs_s": [round(x, 3) for x in baseline_runs],
        "mean_leaf_bytes": round(mean_leaf_bytes, 1),
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
