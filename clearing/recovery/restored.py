"""The checks a restore drill runs inside the restored database (``recovery_check``).

Run in a process whose default database IS the scratch copy, so every check is the
platform's own code reading the restored rows: ``verify_ledger``, ``verify_anchors`` (each
closed day's Merkle root recomputed from the ledger against the anchor chain, the chain's
blocks, record keys unwrapping under this process's keyring, encrypted records opening),
each closed day's OpenTimestamps proof against the restored block headers, the proof the
live system made at backup time against them too, and the manifest's facts.
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command

from clearing.chain import get_chain
from clearing.models import DayClose
from clearing.ots import OtsError, verify_ots
from clearing.recovery.facts import last_closed_day, newest_transaction, row_counts
from clearing.selectors import ots_for_day
from clearing.verification import verify_anchors
from wallets.verification import verify_ledger


def rows_problems(expected: dict[str, int | None]) -> list[str]:
    problems = []
    for table, count in row_counts(sorted(expected)).items():
        if count is None:
            problems.append(f"rows: table {table} is missing from the restored database")
        elif count != expected[table]:
            problems.append(
                f"rows: table {table} has {count} rows restored, the manifest says "
                f"{expected[table]}"
            )
    return problems


def ots_problems() -> tuple[int, list[str]]:
    chain = get_chain()
    checked, problems = 0, []
    closes = DayClose.objects.filter(status=DayClose.Status.CLOSED, anchor__isnull=False)
    for close in closes.order_by("sequence"):
        try:
            result = verify_ots(ots_for_day(close.day), chain.header)
        except (OtsError, KeyError, ValueError) as exc:
            problems.append(f"ots: {close.day}: the OpenTimestamps proof fails: {exc}")
            continue
        if result.digest.hex() != close.root:
            problems.append(f"ots: {close.day}: the proof timestamps another root")
        checked += 1
    return checked, problems


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    problems = []
    expected_txn = manifest.get("newest_transaction")
    restored_txn = newest_transaction()
    if expected_txn != restored_txn:
        problems.append(
            f"newest transaction: the manifest names {expected_txn}, the restored database "
            f"has {restored_txn}"
        )
    expected_day = manifest.get("last_closed_day")
    restored_day = last_closed_day(with_ots=False)
    expected_ots = (expected_day or {}).get("ots")
    expected_day = {k: v for k, v in (expected_day or {}).items() if k != "ots"} or None
    if expected_day != restored_day:
        problems.append(
            f"last closed day: the manifest names {expected_day}, the restored database has "
            f"{restored_day}"
        )
    if expected_ots and expected_day:
        # The proof the live system made when the backup was taken, against the restored
        # chain: the restored blocks are the ones that proof was made from.
        try:
            result = verify_ots(bytes.fromhex(expected_ots), get_chain().header)
            if result.digest.hex() != expected_day["root"]:
                problems.append("last closed day: the backup's proof timestamps another root")
        except (OtsError, KeyError, ValueError) as exc:
            problems.append(f"last closed day: the backup's OpenTimestamps proof fails: {exc}")
    return problems


def check_restored(manifest: dict[str, Any], *, migrate: bool = True) -> dict[str, Any]:
    """Every check, as a JSON-ready dict: ``problems`` (one line each, empty when the
    restored books match), ``newest_transaction_at`` and a ``summary``."""
    # Counted first, as restored: migrating may add rows (a newer release's data migrations).
    problems = rows_problems(manifest.get("rows") or {})
    if migrate:
        call_command("migrate", interactive=False, verbosity=0)
    ledger = verify_ledger()
    problems += [f"ledger: {p}" for p in ledger.problems]
    anchors = verify_anchors()
    problems += [f"anchors: {p}" for p in anchors.problems]
    ots_checked, ots = ots_problems()
    problems += ots
    problems += manifest_problems(manifest)
    newest = newest_transaction()
    return {
        "problems": problems,
        "newest_transaction_at": newest["posted_at"] if newest else None,
        "summary": {
            "transactions": ledger.transactions,
            "accounts": ledger.accounts,
            "closed_days": anchors.days_checked,
            "clock_closes": anchors.clock_closes_checked,
            "record_keys": anchors.record_keys_checked,
            "ots_proofs": ots_checked,
            "tables": len(manifest.get("rows") or {}),
        },
    }
