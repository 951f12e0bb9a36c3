"""Scheduled actions of escrows, on the payer node's clock (``sandbox.events.scheduling``).
Each runs in one transaction with its "done" mark and is safe to run twice."""

from __future__ import annotations

from sandbox.events import scheduling
from sandbox.events.models import ScheduledAction
from wallets.escrow import disputes, escrows


@scheduling.handler(escrows.TIMEOUT)
def _timeout(action: ScheduledAction) -> None:
    escrows.escrow_timeout(escrow_id=action.payload["escrow"])


@scheduling.handler(disputes.DEADLINE)
def _dispute_deadline(action: ScheduledAction) -> None:
    disputes.dispute_deadline(dispute_id=action.payload["dispute"])
