"""Scheduled actions of the bank network. Each runs in one transaction with its "done"
mark (``scheduling.handler`` default), on the node's clock."""

from __future__ import annotations

from datetime import date

from sandbox.events import clocks, scheduling
from sandbox.events.models import ScheduledAction
from sandbox.tenants.models import Node
from wallets.banknet import cards, deposits, endofday, withdrawals


@scheduling.handler("banknet.deposit_settle")
def _deposit_settle(action: ScheduledAction) -> None:
    deposits.deposit_settle(deposit_id=action.payload["deposit"])


@scheduling.handler("banknet.withdrawal_process")
def _withdrawal_process(action: ScheduledAction) -> None:
    withdrawals.withdrawal_process(withdrawal_id=action.payload["withdrawal"])


@scheduling.handler("banknet.withdrawal_deadline")
def _withdrawal_deadline(action: ScheduledAction) -> None:
    withdrawals.withdrawal_deadline(withdrawal_id=action.payload["withdrawal"])


@scheduling.handler("banknet.card_authorization_expiry")
def _card_authorization_expiry(action: ScheduledAction) -> None:
    cards.card_authorization_expire(payment_id=action.payload["payment"])


@scheduling.handler(endofday.KIND)
def _end_of_day(action: ScheduledAction) -> None:
    if action.node_id is not None:  # a close is scheduled for a node, always
        endofday.end_of_day_close(
            node_id=action.node_id, day=date.fromisoformat(action.payload["date"])
        )


@scheduling.handler(endofday.START_KIND)
def _end_of_day_start(action: ScheduledAction) -> None:
    # Nodes older than the end of day feature (migration 0003) start here, in node time.
    if action.node is not None:
        endofday.end_of_day_start(node=action.node)


@clocks.on_node_clock_change
def _end_of_day_follows_the_clock(node: Node) -> None:
    endofday.end_of_day_start(node=node)
