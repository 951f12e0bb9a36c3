from __future__ import annotations

from django.db import transaction

from sandbox.events import scheduling
from sandbox.events.services import event_record, outbox_relay


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
