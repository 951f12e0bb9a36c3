"""Test clock closes: a tester's own simulated day, fixed in a Merkle tree and anchored.

The platform's day (``clearing.closing``) is platform-wide: one tree over every tenant's
transactions, judged by the ledger's ``posted_at``, which is platform time. A test clock
moves only its own nodes' time, so it cannot close that day. It closes its own instead:

* when an advance carries the clock across a midnight of the clearing time zone
  (``close_crossed_day``, which ``sandbox.events.clocks`` calls through its
  ``on_clock_move`` hook before each step of an advance), and so also when the tester ends
  the day (``clock_end_day``: an advance to the next midnight);
* its transactions are the tenant's ledger transactions with an entry on an account of a
  node attached to the clock, that no earlier close of the clock holds. Membership, not a
  time or an id watermark, decides: a transaction committed late (a lower id, committed
  after a close) joins the next close. A day without transactions is not closed;
* their canonical bytes (``clearing.encoding``, the daily close's leaves) are the leaves of
  an RFC 9162 tree, in ledger order; its root is anchored in a block of kind ``clock``
  (payload code ``C``, label ``<day>/<close id>``);
* each node on the clock gets a ``test_clock.day_closed`` event, hence a signed webhook.

Idempotent and resumable: the members are chosen once, in the database transaction that
creates the (clock, day) row, under the clock's row lock; the tree is a pure function of
them, and anchoring is idempotent per label, so a call after a crash (or a second call)
finishes the pending close with the identical root, or returns the closed one.

Clock closes do not feed settlement windows: the platform's daily close covers the same
transactions, and settlement reads only that.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, QuerySet
from django.utils import timezone

from clearing.chain import get_chain
from clearing.encoding import day_bounds, day_of, iter_leaves
from clearing.jobs import failure_recorded, job_create, job_finish, job_progress, job_start
from clearing.merkle import MerkleTree, leaf_hash
from clearing.models import AnchorBlock, ClockClose, ClockCloseTransaction, Job
from sandbox.errors import ApplicationError, Conflict, NotFound
from sandbox.events import clocks
from sandbox.events.models import ClockAttachment, TestClock
from sandbox.events.services import event_record
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor
from wallets.models import Entry, LedgerTransaction

logger = logging.getLogger(__name__)

# A tester's day, not a bank's: a close of more than this is refused, not split.
MAX_TRANSACTIONS = 100_000
EVENT_TYPE = "test_clock.day_closed"
ADVANCE = "test clock advance"


# --- Which transactions ----------------------------------------------------------------------


def unclosed_transactions(clock: TestClock) -> QuerySet[LedgerTransaction]:
    """The clock's tenant's ledger transactions that touch an account of a node attached to
    the clock now and are in no close of this clock yet, in ledger order."""
    touches_clock = Entry.objects.filter(
        transaction=OuterRef("pk"), account__wallet__node__clock_attachment__clock=clock
    )
    already_closed = ClockCloseTransaction.objects.filter(clock=clock, transaction=OuterRef("pk"))
    # The tenant test is a second line: a tenant's proofs show the whole leaf, so another
    # tenant's transaction must never be in its close, whatever accounts it touches.
    return (
        LedgerTransaction.objects.filter(tenant_id=clock.tenant_id)
        .filter(Exists(touches_clock))
        .exclude(Exists(already_closed))
        .order_by("id")
    )


def leaf_hashes(ids: list[int]) -> dict[int, bytes]:
    """``SHA-256(0x00 || leaf)`` of each transaction still in the ledger, by id."""
    return {txn_id: leaf_hash(leaf) for txn_id, leaf in iter_leaves(ids)}


# --- Closing ---------------------------------------------------------------------------------


def clock_day_close(*, clock_id: Any, day: date, triggered_by: str) -> ClockClose | None:
    """Close ``day`` of the test clock ``clock_id``: the day its nodes' time is leaving.

    Returns the close (closed), or None when there was nothing to close. Calling it again
    for the same clock and day returns the same close, finishing it first if a previous
    call stopped half-way. A clock's earlier pending closes are finished first."""
    for pending in ClockClose.objects.filter(
        clock_id=clock_id, status=ClockClose.Status.PENDING, day__lt=day
    ).order_by("sequence"):
        clock_close_finish(close=pending, triggered_by=triggered_by)
    close = _close_open(clock_id=clock_id, day=day)
    if close is None or close.is_closed:
        return close
    return clock_close_finish(close=close, triggered_by=triggered_by)


def _close_open(*, clock_id: Any, day: date) -> ClockClose | None:
    """The (clock, day) close with its members, created if new: in one database
    transaction under the clock's row lock, so attaching or detaching a node, or a
    concurrent call, cannot change what the close holds."""
    with transaction.atomic():
        clock = TestClock.objects.select_for_update().filter(pk=clock_id).first()
        if clock is None:
            raise NotFound(f"No test clock with id {clock_id}.", code="testclock_not_found")
        existing = ClockClose.objects.filter(clock=clock, day=day).first()
        if existing is not None:
            return existing
        if day > day_of(clock.frozen_time):
            raise ApplicationError(
                f"The clock has not reached {day} (it stands at {clock.frozen_time}).",
                code="clock_day_not_reached",
            )
        later = ClockClose.objects.filter(clock=clock, day__gt=day).order_by("day").first()
        if later is not None:
            raise Conflict(
                f"The clock's {later.day} is closed already; its days close in order.",
                code="clock_day_out_of_order",
            )
        ids = list(
            unclosed_transactions(clock).values_list("id", flat=True)[: MAX_TRANSACTIONS + 1]
        )
        if not ids:
            return None  # an empty day is not anchored
        if len(ids) > MAX_TRANSACTIONS:
            raise ApplicationError(
                f"The clock's day holds more than {MAX_TRANSACTIONS:,} transactions, more "
                "than a test clock close takes.",
                code="clock_close_too_large",
            )
        hashes = leaf_hashes(ids)
        last = ClockClose.objects.filter(clock=clock).aggregate(last=Max("sequence"))["last"]
        node_ids = ClockAttachment.objects.filter(clock=clock).values_list("node_id", flat=True)
        close = ClockClose.objects.create(
            tenant_id=clock.tenant_id,
            clock=clock,
            day=day,
            sequence=0 if last is None else last + 1,
            leaf_count=len(ids),
            node_ids=sorted(str(node_id) for node_id in node_ids),
        )
        ClockCloseTransaction.objects.bulk_create(
            [
                ClockCloseTransaction(
                    close=close,
                    clock=clock,
                    transaction_id=txn_id,
                    position=position,
                    leaf_hash=hashes[txn_id].hex(),
                )
                for position, txn_id in enumerate(ids)
            ],
            batch_size=2000,
        )
    return close


def clock_close_finish(
    *, close: ClockClose, triggered_by: str, job: Job | None = None
) -> ClockClose:
    """Build the pending ``close``'s tree from its members, anchor its root and mark it
    closed. Safe to call any number of times: a closed close is returned as it is."""
    close = ClockClose.objects.get(pk=close.pk)
    if close.is_closed:
        if job is not None:
            _job_done(job, close, note="Already closed.")
        return close
    job = job or job_create(
        kind=Job.Kind.CLOCK_CLOSE,
        label=close.anchor_label,
        triggered_by=triggered_by,
        tenant=close.tenant,
    )
    with failure_recorded(job):
        close = _compute_and_anchor(close, job)
    _job_done(job, close)
    return close


def clock_close_job_run(*, job: Job, close_id: int) -> ClockClose:
    """Run the claimed ``job`` that finishes the close ``close_id`` (an operator's retry)."""
    close = ClockClose.objects.get(pk=close_id)
    return clock_close_finish(close=close, triggered_by=job.triggered_by, job=job)


def _job_done(job: Job, close: ClockClose, note: str = "") -> None:
    job_finish(
        job,
        note=note,
        root=close.root,
        count=close.leaf_count,
        block_height=close.anchor.height if close.anchor is not None else None,
    )


def clock_close_tree(close: ClockClose) -> MerkleTree:
    """The close's tree from its members as the ledger holds them now, refusing a member
    that is gone or no longer hashes to what it did when it joined."""
    members = list(
        ClockCloseTransaction.objects.filter(close=close)
        .order_by("position")
        .values_list("transaction_id", "leaf_hash")
    )
    current = leaf_hashes([txn_id for txn_id, _ in members])
    hashes = []
    for txn_id, stored in members:
        found = current.get(txn_id)
        if found is None or found.hex() != stored:
            raise Conflict(
                f"Ledger transaction {txn_id} of the close changed after it joined it.",
                code="clock_close_ledger_changed",
            )
        hashes.append(found)
    return MerkleTree.from_leaf_hashes(hashes)


def _compute_and_anchor(close: ClockClose, job: Job) -> ClockClose:
    job_start(job, total=close.leaf_count)
    tree = clock_close_tree(close)
    job_progress(job, tree.size, tree.size)
    ClockClose.objects.filter(pk=close.pk).update(root=tree.root.hex(), leaf_count=tree.size)
    # Idempotent per label: a resumed close finds the block its predecessor made.
    anchor = get_chain().append(
        kind=AnchorBlock.Kind.CLOCK, label=close.anchor_label, root=tree.root, leaf_count=tree.size
    )
    with transaction.atomic():
        finished = ClockClose.objects.filter(pk=close.pk, status=ClockClose.Status.PENDING).update(
            status=ClockClose.Status.CLOSED,
            anchor=AnchorBlock.objects.get(height=anchor.height),
            closed_at=timezone.now(),
        )
        close = ClockClose.objects.select_related("anchor", "clock", "tenant").get(pk=close.pk)
        if finished == 1:  # whoever marked it closed announces it, once
            _announce(close)
    return close


def _announce(close: ClockClose) -> None:
    """The ``test_clock.day_closed`` event, once per node the close covers: a node's events
    go to its webhook URL, signed (an event without a node reaches no webhook)."""
    assert close.anchor is not None
    data = {
        "test_clock": str(close.clock_id) if close.clock_id else None,
        "day": close.day.isoformat(),
        "sequence": close.sequence,
        "leaf_count": close.leaf_count,
        "root": close.root,
        "block_height": close.anchor.height,
        "block_hash": close.anchor.block_hash,
        "anchor_label": close.anchor_label,
    }
    obj = close.clock if close.clock is not None else close
    nodes = list(Node.objects.filter(tenant=close.tenant, pk__in=close.node_ids).order_by("pk"))
    targets: list[Node | None] = [*nodes] or [None]
    for node in targets:
        event_record(tenant=close.tenant, node=node, type=EVENT_TYPE, obj=obj, data=data)


# --- The clock crossing midnight -------------------------------------------------------------


def next_midnight(moment: datetime) -> datetime:
    """The first midnight of the clearing time zone after ``moment``."""
    return day_bounds(day_of(moment))[1]


def close_crossed_day(*, clock_id: Any, start: datetime, end: datetime) -> None:
    """``sandbox.events.clocks.on_clock_move`` hook: the clock is about to move from
    ``start`` to ``end``. If that crosses a midnight, the day ``start`` is in closes first.

    Nothing of the clock's nodes is due between two stops of an advance, so only the first
    midnight can end a day with new transactions; later ones would close empty days."""
    if end < next_midnight(start):
        return
    clock_day_close(clock_id=clock_id, day=day_of(start), triggered_by=ADVANCE)


def clock_end_day(*, clock: TestClock, actor: Actor) -> TestClock:
    """End the clock's day now: advance it to the next midnight, which runs everything due
    on the way and then closes the day (the tester's "close now")."""
    with transaction.atomic():
        locked = TestClock.objects.select_for_update().get(pk=clock.pk)
        return clocks.test_clock_advance(
            clock=locked, to=next_midnight(locked.frozen_time), actor=actor
        )
