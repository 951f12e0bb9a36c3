"""Scheduled actions of payments (``sandbox.events.scheduling``), run on the node's clock."""

from __future__ import annotations

from sandbox.events import scheduling
from sandbox.events.models import ScheduledAction
from wallets.payments import services


@scheduling.handler(services.REQUEST_EXPIRY)
def _request_expiry(action: ScheduledAction) -> None:
    # Idempotent: a request paid, canceled or already expired is left alone.
    services.payment_request_expire(request_id=action.payload["request"])
