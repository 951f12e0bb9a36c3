"""The daily close: fix a day's ledger transactions in a Merkle tree and anchor its root.

One close per day, whoever triggers it and however often:

* each day has one ``DayClose`` row (unique ``day``);
* a worker *claims* it with a conditional UPDATE (``pending``/``failed``, or ``running``
  with an expired lease); ``n != 1`` means someone else got there first;
* the claim is a lease, renewed with every progress report; a killed worker stops renewing,
  and after ``LEASE`` the next trigger resumes from the start. The tree is a pure function
  of the ledger rows, so the rerun computes the identical root, finds the anchor the killed
  worker may already have made (``AnchorChain.append`` is idempotent per day), and finishes;
* days close in order, none skipped: closing a day first closes every earlier unclosed day
  since the last close, and stops at a day someone else is closing.

A day belongs to the clearing time zone (Asia/Seoul unless ``CLEARING_TIME_ZONE`` says
otherwise) and is judged by the ledger's ``posted_at``; a day closes once it has ended on the
platform clock. Leases use real time: they are about processes, not about simulated days.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from clearing.chain import get_chain
from clearing.closelog import close_log_leaf, close_log_leaves
from clearing.encoding import day_of, day_transactions, iter_day_leaves, today
from clearing.jobs import failure_recorded, job_create, job_finish, job_progress, job_start
from clearing.merkle import MerkleTree
from clearing.models import AnchorBlock, DayClose, Job
from clearing.settlement import windows_sync
from clearing.storage import store_tree
from sandbox.errors import ApplicationError
from wallets.models import LedgerTransaction

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
PROGRESS_EVERY = 20_000


class LeaseLost(Exception):
    """Another worker took the close over (our lease ran out): stop without writing."""


@dataclass(frozen=True)
class CloseOutcome:
    day: date
    result: str  # "closed", "already_closed", "busy", "failed"
    close: DayClose
    note: str = ""


# --- Computing a day's tree --------------------------------------------------------------------


@dataclass
class DayTree:
    tree: MerkleTree
    txn_ids: list[int]


def build_day_tree(day: date, *, progress: Callable[[int], None] | None = None) -> DayTree:
    """The day's tree, from the ledger as it is now (deterministic)."""
    sha256 = hashlib.sha256
    hashes: list[bytes] = []
    ids: list[int] = []
    for txn_id, leaf in iter_day_leaves(day):
        ids.append(txn_id)
        hashes.append(sha256(b"\x00" + leaf).digest())
        if progress is not None and len(ids) % PROGRESS_EVERY == 0:
            progress(len(ids))
    return DayTree(MerkleTree.from_leaf_hashes(hashes), ids)


# --- Closing -----------------------------------------------------------------------------------


def first_day_to_close() -> date | None:
    last = DayClose.objects.filter(status=DayClose.Status.CLOSED).order_by("-day").first()
    if last is not None:
        return last.day + timedelta(days=1)
    return day_transactions_earliest()


def day_transactions_earliest() -> date | None:
    first = (
        LedgerTransaction.objects.order_by("posted_at").values_list("posted_at", flat=True).first()
    )
    return day_of(first) if first is not None else None


def close_through(*, day: date, job: Job | None = None) -> list[CloseOutcome]:
    """Close every unclosed day up to and including ``day``, in order."""
    if day >= today():
        raise ApplicationError(
            f"{day} has not ended yet (it is {today()} on the platform clock).",
            code="day_not_ended",
        )
    if DayClose.objects.filter(day=day, status=DayClose.Status.CLOSED).exists():
        return [CloseOutcome(day, "already_closed", DayClose.objects.get(day=day))]
    start = first_day_to_close()
    anything_closed = DayClose.objects.filter(status=DayClose.Status.CLOSED).exists()
    if not anything_closed and start is not None and day < start:
        # The first close starts the close log for good: every later day must close after
        # it, in order, each with its own block. Before the ledger's first day it would
        # only add empty days (and their settlement windows) that nobody can undo.
        raise ApplicationError(
            f"The first close cannot be before the ledger's first day, {start}.",
            code="day_before_ledger",
        )
    if start is None:
        start = day  # an empty ledger: the first close is an empty day
    if day < start:
        raise ApplicationError(
            f"{day} is before the first closed day and can no longer be closed.",
            code="day_before_close_log",
        )
    outcomes = []
    current = start
    while current <= day:
        outcome = _close_one(current, job)
        outcomes.append(outcome)
        if outcome.result not in ("closed", "already_closed"):
            break
        current += timedelta(days=1)
    return outcomes


def close_day(*, day: date, triggered_by: str, job: Job | None = None) -> CloseOutcome:
    """Close ``day`` (and any earlier unclosed days first). Safe to call any number of
    times, from any number of processes."""
    job = job or job_create(kind=Job.Kind.CLOSE, label=day.isoformat(), triggered_by=triggered_by)
    with failure_recorded(job):
        outcomes = close_through(day=day, job=job)
    last = outcomes[-1]
    if any(o.result == "closed" for o in outcomes):
        windows_sync()  # the closed days' settlement windows close with them
    if last.result == "closed" or last.result == "already_closed":
        note = "" if last.result == "closed" else "Already closed."
        closed_now = sum(1 for o in outcomes if o.result == "closed")
        if closed_now > 1:
            note = f"Closed {closed_now} days, through {day}."
        job_finish(
            job,
            note=note,
            root=last.close.root,
            count=last.close.leaf_count,
            block_height=last.close.anchor.height if last.close.anchor is not None else None,
        )
    elif last.result == "busy":
        job_finish(job, note=f"{last.day} is being closed by another worker.")
    else:
        job_finish(job, error=last.note or f"The close of {last.day} failed.")
    return last


def _claim(close: DayClose, token: str, job: Job | None) -> bool:
    now = timezone.now()
    claimable = Q(status__in=[DayClose.Status.PENDING, DayClose.Status.FAILED]) | Q(
        status=DayClose.Status.RUNNING, lease_until__lt=now
    )
    return (
        DayClose.objects.filter(claimable, pk=close.pk).update(
            status=DayClose.Status.RUNNING,
            lease_owner=token,
            lease_until=now + LEASE,
            attempts=F("attempts") + 1,
            job=job,
            error="",
        )
        == 1
    )


def _renew(close: DayClose, token: str) -> None:
    renewed = DayClose.objects.filter(
        pk=close.pk, lease_owner=token, status=DayClose.Status.RUNNING
    ).update(lease_until=timezone.now() + LEASE)
    if renewed != 1:
        raise LeaseLost(f"The close of {close.day} was taken over by another worker.")


def _close_one(day: date, job: Job | None) -> CloseOutcome:
    close, _ = DayClose.objects.get_or_create(day=day)
    if close.is_closed:
        return CloseOutcome(day, "already_closed", close)
    previous_job_id = close.job_id if close.status == DayClose.Status.RUNNING else None
    token = uuid.uuid4().hex
    if not _claim(close, token, job):
        close.refresh_from_db()
        if close.is_closed:
            return CloseOutcome(day, "already_closed", close)
        return CloseOutcome(day, "busy", close)
    if previous_job_id is not None:
        # A worker died mid-close: its job will never finish by itself.
        Job.objects.filter(pk=previous_job_id, status=Job.Status.RUNNING).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            error="The worker stopped (lease expired); resumed by a later job.",
        )
    try:
        return _compute_and_anchor(close, token, job)
    except LeaseLost as exc:
        return CloseOutcome(day, "busy", close, str(exc))
    except Exception as exc:
        logger.exception("The close of %s failed", day)
        message = f"{type(exc).__name__}: {exc}"
        DayClose.objects.filter(pk=close.pk, lease_owner=token).update(
            status=DayClose.Status.FAILED, error=message, lease_until=None
        )
        close.refresh_from_db()
        return CloseOutcome(day, "failed", close, message)


def _compute_and_anchor(close: DayClose, token: str, job: Job | None) -> CloseOutcome:
    day = close.day
    total = day_transactions(day).count()
    if job is not None:
        job_start(job, total=total)

    def progress(done: int) -> None:
        _renew(close, token)
        if job is not None:
            job_progress(job, done, total)

    built = build_day_tree(day, progress=progress)
    tree = built.tree
    if job is not None:
        job_progress(job, tree.size, tree.size)

    with transaction.atomic():
        _renew(close, token)
        store_tree(close, tree, built.txn_ids)
        DayClose.objects.filter(pk=close.pk).update(
            leaf_count=tree.size, root=tree.root.hex(), levels=tree.levels
        )

    # Idempotent per day: a resumed close finds the block its predecessor made.
    anchor = get_chain().append(
        kind=AnchorBlock.Kind.DAY, label=day.isoformat(), root=tree.root, leaf_count=tree.size
    )

    with transaction.atomic():
        previous = (
            DayClose.objects.select_for_update()
            .filter(status=DayClose.Status.CLOSED)
            .order_by("-sequence")
            .first()
        )
        if previous is not None and previous.day >= day:
            raise ApplicationError(f"{day} is older than the last closed day {previous.day}.")
        if previous is not None and previous.day != day - timedelta(days=1):
            raise ApplicationError(f"{previous.day + timedelta(days=1)} must close before {day}.")
        sequence = 0 if previous is None or previous.sequence is None else previous.sequence + 1
        log_root = MerkleTree.from_leaves(
            [*close_log_leaves(), close_log_leaf(day, tree.size, tree.root.hex())]
        ).root
        finished = DayClose.objects.filter(
            pk=close.pk, lease_owner=token, status=DayClose.Status.RUNNING
        ).update(
            status=DayClose.Status.CLOSED,
            sequence=sequence,
            log_root=log_root.hex(),
            anchor=AnchorBlock.objects.get(height=anchor.height),
            closed_at=timezone.now(),
            lease_until=None,
        )
        if finished != 1:
            raise LeaseLost(f"The close of {day} was taken over by another worker.")
    close.refresh_from_db()
    return CloseOutcome(day, "closed", close)
