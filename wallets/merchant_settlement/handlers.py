"""What settlement hears: its scheduled cycles (on the node's clock), the outcome of its
payouts (in the withdrawal's own transaction), and a node's clock changing."""

from __future__ import annotations

from datetime import date

from sandbox.events import clocks, scheduling
from sandbox.events.models import ScheduledAction
from sandbox.tenants.models import Node
from wallets.banknet.models import Withdrawal
from wallets.banknet.withdrawals import on_withdrawal_outcome
from wallets.merchant_settlement import services


@scheduling.handler(services.CYCLE_KIND)
def _cycle(action: ScheduledAction) -> None:
    services.settlement_cycle_run(
        contract_id=action.payload["contract"],
        run_date=date.fromisoformat(action.payload["run_date"]),
    )


@on_withdrawal_outcome
def _payout_outcome(withdrawal: Withdrawal) -> None:
    services.batch_follow_withdrawal(withdrawal)


@clocks.on_node_clock_change
def _cycles_follow_the_clock(node: Node) -> None:
    services.contract_follow_node_clock(node=node)
