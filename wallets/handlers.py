"""Scheduled actions of the ledger (``sandbox.events.scheduling``), run on the node's clock."""

from __future__ import annotations

from sandbox.events import scheduling
from sandbox.events.models import ScheduledAction
from wallets import services


@scheduling.handler(services.HOLD_EXPIRY)
def _hold_expiry(action: ScheduledAction) -> None:
    # Idempotent: a hold already captured, voided or expired (by the beat sweep) is left alone.
    services.hold_expire(hold_id=action.payload["hold"])
