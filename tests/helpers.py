"""Small helpers shared by tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.test import Client
from rest_framework.test import APIClient

from sandbox.events import scheduling
from sandbox.events.services import event_record, outbox_relay
from wallets import locking
from wallets.models import Account, Entry, Hold, IdempotencyKey, LedgerTransaction

VERIFIER = Path(__file__).resolve().parents[1] / "clearing" / "verify_proof.py"


def api_as(user) -> APIClient:
    """An API client logged in with ``user``'s session (as the dashboard's htmx calls are)."""
    client = APIClient()
    client.force_login(user)
    return client


def web_as(user) -> Client:
    """A dashboard client logged in as ``user``."""
    client = Client()
    client.force_login(user)
    return client


def error_code(response) -> str:
    return response.json()["error"]["code"]


def ledger_state() -> tuple:
    """What a refused request must leave as it was: ledger rows, holds, idempotency keys and
    every account's balances and lock_version. Compare a snapshot before and after."""
    return (
        LedgerTransaction.objects.count(),
        Entry.objects.count(),
        Hold.objects.count(),
        IdempotencyKey.objects.count(),
        list(
            Account.objects.order_by("pk").values_list(
                "pk", "posted_balance", "pending_balance", "held_balance", "lock_version"
            )
        ),
    )


def record(node, type="payment.succeeded", data=None):
    """An event as a feature would write it: inside the transaction of its change."""
    with transaction.atomic():
        return event_record(
            tenant=node.tenant, node=node, type=type, obj=node, data=data or {"amount": "1000"}
        )


def pump(rounds: int = 3) -> None:
    """What beat does every few seconds: relay the outbox, run what is due."""
    for _ in range(rounds):
        outbox_relay()
        scheduling.sweep()


def run_in_threads(target: Callable[[int], Any], count: int) -> list:
    """``target(i)`` in ``count`` threads released together; each one's result, or the
    exception it raised (for the test's assertions). Each thread has its own database
    connection, closed when it ends."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def runner(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # reported by the assertions
            results[i] = exc
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def run_in_one_lock_order(work: Callable[[int], Any], count: int) -> None:
    """``run_in_threads``, then assert no thread failed and no ledger transaction was
    retried: with one lock order not even a deadlock happens (a retried one would have
    cost a second's wait)."""
    retries_before = locking.retry_count
    errors = [r for r in run_in_threads(work, count) if isinstance(r, BaseException)]
    assert not errors, errors
    assert locking.retry_count == retries_before


def verify_offline(proof: dict | Path, workdir: Path) -> subprocess.CompletedProcess:
    """Check a proof as a stranger would: a copy of ``clearing/verify_proof.py`` alone in
    ``workdir``, run with ``-I -S`` (no environment, no site-packages, no sandbox)."""
    if isinstance(proof, dict):
        path = workdir / "proof.json"
        path.write_text(json.dumps(proof))
    else:
        path = proof
    verifier = shutil.copy(VERIFIER, workdir / "verify_proof.py")
    return subprocess.run(
        [sys.executable, "-I", "-S", str(verifier), str(path)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
