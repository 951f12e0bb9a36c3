"""Recompute every closed day from the ledger and check it against the anchor chain.

Trusts nothing in the database but the ledger rows it recomputes: block contents come from
the chain (which is checked block by block first), and the stored trees are only used to
name *which* transaction differs. Reports, per day and transaction:

* ``changed``   a transaction (or one of its entries) whose leaf differs from the anchored one
* ``removed``   a transaction that was anchored but is no longer in the ledger
* ``inserted``  a transaction in a closed day that was not anchored
* day-level problems: root or count not the anchored one, missing anchor, close log broken
* ``record-key``  a record key the keyring (``clearing.keys``) cannot unwrap
* ``record``  an encrypted record that is not the anchored one, or does not open

Test clock closes (``clearing.clock_closing``) are recomputed the same way, from their
member rows and the ledger as it is now; their problems name the clock close.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from clearing import keys, records
from clearing.chain import get_chain
from clearing.clock_closing import leaf_hashes
from clearing.closelog import close_log_leaf
from clearing.encoding import day_of, iter_day_leaves, leaf_for
from clearing.jobs import job_finish, job_progress, job_start
from clearing.merkle import HASH_SIZE, MerkleTree
from clearing.models import (
    AnchorBlock,
    AnchoredRecord,
    ClockClose,
    ClockCloseTransaction,
    DayClose,
    Job,
    RecordKey,
)
from clearing.storage import stored_ids, stored_leaf_hashes
from wallets.models import LedgerTransaction


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    day: date | None = None
    transaction_id: int | None = None
    clock_close_id: int | None = None
    clock_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.day}" if self.day else "chain"
        if self.clock_close_id is not None:
            where = f"test clock close {self.clock_close_id} ({self.day}, clock {self.clock_id})"
        if self.transaction_id is not None:
            where += f" transaction {self.transaction_id}"
        return f"{where}: {self.kind}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    days_checked: int = 0
    clock_closes_checked: int = 0
    transactions: int = 0
    record_keys_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        clocks = (
            f", {self.clock_closes_checked} test clock closes" if self.clock_closes_checked else ""
        )
        keys_checked = (
            f", {self.record_keys_checked} record keys" if self.record_keys_checked else ""
        )
        return (
            f"{self.days_checked} closed days{clocks}, {self.transactions} transactions"
            f"{keys_checked}"
        )


def verify_day(close: DayClose, report: Report) -> None:
    day = close.day
    anchor = get_chain().find(kind=AnchorBlock.Kind.DAY, label=day.isoformat())
    if anchor is None:
        report.problems.append(Problem("unanchored", "no block anchors this closed day", day))
        return

    sha256 = hashlib.sha256
    current_ids: list[int] = []
    current_hashes: list[bytes] = []
    for txn_id, leaf in iter_day_leaves(day):
        current_ids.append(txn_id)
        current_hashes.append(sha256(b"\x00" + leaf).digest())
    report.transactions += len(current_ids)
    root = MerkleTree.from_leaf_hashes(current_hashes).root

    if root == anchor.root and len(current_ids) == anchor.leaf_count:
        if close.root != anchor.root.hex() or close.leaf_count != anchor.leaf_count:
            report.problems.append(
                Problem("close-record", "the close record disagrees with its anchor", day)
            )
        return

    # The ledger no longer gives the anchored root: say which transactions differ.
    ids = stored_ids(close)
    hashes = stored_leaf_hashes(close)
    stored = {txn_id: hashes[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i, txn_id in enumerate(ids)}
    if (
        len(ids) != anchor.leaf_count
        or MerkleTree.from_leaf_hashes(stored[i] for i in ids).root != anchor.root
    ):
        report.problems.append(
            Problem(
                "root",
                f"the ledger gives root {root.hex()} over {len(current_ids)} transactions, the "
                f"anchor holds {anchor.root.hex()} over {anchor.leaf_count}; the stored tree "
                "cannot tell which rows changed",
                day,
            )
        )
        return
    found = False
    current = dict(zip(current_ids, current_hashes, strict=True))
    for txn_id in ids:
        if txn_id not in current:
            found = True
            report.problems.append(
                Problem("removed", "anchored, but no longer in the ledger", day, txn_id)
            )
        elif current[txn_id] != stored[txn_id]:
            found = True
            report.problems.append(
                Problem("changed", "differs from the anchored transaction", day, txn_id)
            )
    for txn_id in current_ids:
        if txn_id not in stored:
            found = True
            report.problems.append(
                Problem("inserted", "in the ledger, but not anchored", day, txn_id)
            )
    if not found:
        report.problems.append(
            Problem("root", f"the ledger gives root {root.hex()}, not the anchored one", day)
        )


def verify_clock_close(close: ClockClose, report: Report) -> None:
    """Recompute a closed test clock close from its members and the current ledger."""

    def problem(kind: str, message: str, transaction_id: int | None = None) -> None:
        report.problems.append(
            Problem(
                kind,
                message,
                close.day,
                transaction_id,
                clock_close_id=close.pk,
                clock_id=str(close.clock_id) if close.clock_id else "deleted",
            )
        )

    anchor = get_chain().find(kind=AnchorBlock.Kind.CLOCK, label=close.anchor_label)
    if anchor is None:
        problem("unanchored", "no block anchors this closed test clock close")
        return
    if close.anchor is None or close.anchor.height != anchor.height:
        problem("close-record", "the close record points at another block than its anchor")
    members = list(
        ClockCloseTransaction.objects.filter(close=close)
        .order_by("position")
        .values_list("position", "transaction_id", "leaf_hash")
    )
    if [position for position, _, _ in members] != list(range(len(members))):
        problem("close-record", "the member positions are not 0, 1, 2, …")
    elsewhere = ClockCloseTransaction.objects.filter(close=close).exclude(clock_id=close.clock_id)
    if elsewhere.exists():
        problem("close-record", "some members name another clock than their close")
    ids = [txn_id for _, txn_id, _ in members]
    current = leaf_hashes(ids)
    report.transactions += len(current)

    if len(current) == len(ids):
        root = MerkleTree.from_leaf_hashes(current[i] for i in ids).root
        if root == anchor.root and len(ids) == anchor.leaf_count:
            if close.root != anchor.root.hex() or close.leaf_count != anchor.leaf_count:
                problem("close-record", "the close record disagrees with its anchor")
            # The ledger matches; the stored hashes serve proofs, which one would break.
            for _, txn_id, stored_hash in members:
                if current[txn_id].hex() != stored_hash:
                    problem("close-record", "its stored leaf hash is not its leaf's", txn_id)
            return

    # The ledger no longer gives the anchored root: say which members differ.
    stored = {txn_id: bytes.fromhex(h) for _, txn_id, h in members}
    if (
        len(ids) != anchor.leaf_count
        or MerkleTree.from_leaf_hashes(stored[i] for i in ids).root != anchor.root
    ):
        problem(
            "root",
            f"the anchor holds {anchor.root.hex()} over {anchor.leaf_count} transactions; the "
            f"stored members ({len(ids)}) do not give it, so they cannot tell which rows changed",
        )
        return
    found = False
    for txn_id in ids:
        if txn_id not in current:
            found = True
            problem("removed", "anchored, but no longer in the ledger", txn_id)
        elif current[txn_id] != stored[txn_id]:
            found = True
            problem("changed", "differs from the anchored transaction", txn_id)
    if not found:
        problem("root", "the ledger does not give the anchored root")


def verify_record_keys(report: Report) -> None:
    """Every record key (the nodes' and the operators') unwraps under the current keyring
    (``CLEARING_MASTER_KEY``, and the legacy key derived from ``SECRET_KEY``)."""
    ring = keys.keyring()
    for row in RecordKey.objects.order_by("pk").iterator(chunk_size=500):
        try:
            keys.unwrap_row(row, ring)
        except keys.KeyringError as exc:
            report.problems.append(Problem("record-key", f"{keys.row_label(row)}: {exc}"))
        report.record_keys_checked += 1


def verify_records(report: Report) -> None:
    """Large inter-node transactions: each envelope is the anchored one, and still opens
    (with the operators' key) to the transaction's current leaf."""
    chain = get_chain()
    for record in AnchoredRecord.objects.order_by("transaction_id").iterator(chunk_size=500):
        envelope = bytes(record.envelope)
        try:
            txn = LedgerTransaction.objects.get(pk=record.transaction_id)
        except LedgerTransaction.DoesNotExist:
            report.problems.append(
                Problem(
                    "removed",
                    "anchored record, but no longer in the ledger",
                    None,
                    record.transaction_id,
                )
            )
            continue
        day = day_of(txn.posted_at)
        anchor = chain.find(kind=AnchorBlock.Kind.TRANSACTION, label=records.record_label(txn))
        digest = hashlib.sha256(envelope).hexdigest()
        if anchor is None or anchor.root.hex() != digest or record.digest != digest:
            report.problems.append(
                Problem("record", "the encrypted record is not the anchored one", day, txn.id)
            )
            continue
        try:
            plaintext = records.open_for_operators(record)
        except (records.RecordError, keys.KeyringError) as exc:
            report.problems.append(Problem("record", str(exc), day, txn.id))
            continue
        if plaintext != leaf_for(txn.id):
            report.problems.append(
                Problem("changed", "differs from its anchored record", day, txn.id)
            )


def verify_anchors(*, progress: Callable[[int], None] | None = None) -> Report:
    report = Report()
    report.problems += [Problem("chain", str(p)) for p in get_chain().verify()]
    closes = list(DayClose.objects.filter(status=DayClose.Status.CLOSED).order_by("sequence"))
    log_leaves: list[bytes] = []
    previous: DayClose | None = None
    for position, close in enumerate(closes):
        if close.sequence != position:
            report.problems.append(Problem("close-log", "close sequence has a gap", close.day))
        if previous is not None and (close.day - previous.day).days != 1:
            report.problems.append(
                Problem("close-log", f"follows {previous.day}: days are missing", close.day)
            )
        verify_day(close, report)
        log_leaves.append(close_log_leaf(close.day, close.leaf_count, close.root))
        if MerkleTree.from_leaves(log_leaves).root.hex() != close.log_root:
            report.problems.append(Problem("close-log", "the close log root is wrong", close.day))
        report.days_checked += 1
        previous = close
        if progress is not None:
            progress(report.days_checked)
    clock_closes = list(
        ClockClose.objects.filter(status=ClockClose.Status.CLOSED)
        .select_related("anchor")
        .order_by("pk")
    )
    for clock_close in clock_closes:
        verify_clock_close(clock_close, report)
        report.clock_closes_checked += 1
    verify_record_keys(report)
    verify_records(report)
    closed_labels = {c.anchor_label for c in clock_closes}
    for label in AnchorBlock.objects.filter(kind=AnchorBlock.Kind.CLOCK).values_list(
        "label", flat=True
    ):
        if label not in closed_labels:
            report.problems.append(
                Problem(
                    "close-record",
                    f"test clock close {label} is anchored but has not finished (retry its job)",
                )
            )
    closed_days = {c.day.isoformat() for c in closes}
    for label in AnchorBlock.objects.filter(kind=AnchorBlock.Kind.DAY).values_list(
        "label", flat=True
    ):
        if label not in closed_days:
            report.problems.append(
                Problem("close-record", f"day {label} is anchored but its close has not finished")
            )
    return report


def verify_job_run(job: Job) -> Report:
    """Run the verification ``job``: ``verify_anchors``, its progress in days, its result
    the job's (failed, with the first problems, when anything differs)."""
    job_start(job, total=DayClose.objects.filter(status=DayClose.Status.CLOSED).count())
    report = verify_anchors(progress=lambda done: job_progress(job, done))
    if report.ok:
        job_finish(job, note=f"{report.summary}: all match.", count=report.transactions)
    else:
        job_finish(
            job, error="\n".join(str(p) for p in report.problems[:200]), count=report.transactions
        )
    return report
