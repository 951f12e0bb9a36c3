"""What the bank network's aggregates share: the node's clock, statement lines of the
simulated bank accounts, finding an account by its number, the ledger transaction a posting
or a capture made, and putting waiting work (pending deposits and withdrawals at a bank)
back on the schedule."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import Q

from sandbox import clock
from sandbox.events import scheduling
from sandbox.tenants.models import Node, Tenant
from wallets.banknet.models import Bank, BankAccount, Deposit, StatementLine, Withdrawal
from wallets.models import Hold, LedgerTransaction
from wallets.posting import Result

MAX_TEST_DELAY = timedelta(days=3)


def same_name(a: str, b: str) -> bool:
    def fold(name: str) -> str:
        return "".join(unicodedata.normalize("NFKC", name).casefold().split())

    return fold(a) == fold(b)


def statement_add(account: BankAccount, amount: int, memo: str, reference: str = "") -> None:
    StatementLine.objects.create(
        tenant_id=account.tenant_id,
        bank_account=account,
        amount=amount,
        currency=account.currency,
        memo=memo[:200],
        reference=reference,
    )


def external_account(tenant_id: UUID, bank: Bank, number: str) -> BankAccount | None:
    return BankAccount.objects.filter(tenant_id=tenant_id, bank=bank, account_number=number).first()


def posted(result: Result) -> LedgerTransaction:
    """The ledger transaction of a posting that moved money (only balance-only postings,
    such as placing a hold, make none)."""
    if result.transaction is None:
        raise ValueError("This posting moved no money.")
    return result.transaction


def captured(hold: Hold) -> LedgerTransaction:
    """The ledger transaction that settled a captured hold."""
    if hold.capture_transaction is None:
        raise ValueError(f"Hold {hold.pk} has not been captured.")
    return hold.capture_transaction


def node_now(node: Node | None) -> datetime:
    return clock.now(node_id=node.pk if node is not None else None)


def reschedule(
    kind: str, node: Node | None, tenant: Tenant, due_at: datetime, payload: dict[str, str]
) -> None:
    scheduling.schedule(
        kind=kind,
        node=node,
        tenant=tenant,
        due_at=due_at,
        payload=payload,
        key=f"{kind}:{uuid.uuid4().hex}",
    )


def wake_waiting(*, bank: Bank, tenant: Tenant | None) -> int:
    """Schedule, due now, the pending deposits and withdrawals at ``bank`` (of one tenant,
    or of every tenant)."""
    scope = Q(tenant=tenant) if tenant is not None else Q()
    woken = 0
    with transaction.atomic():
        for withdrawal in Withdrawal.objects.filter(
            scope, bank=bank, status="pending"
        ).select_related("node"):
            reschedule(
                "banknet.withdrawal_process",
                withdrawal.node,
                withdrawal.tenant,
                max(node_now(withdrawal.node), withdrawal.due_at),  # delays still count
                {"withdrawal": str(withdrawal.pk)},
            )
            woken += 1
        for deposit in Deposit.objects.filter(scope, bank=bank, status="pending").select_related(
            "node"
        ):
            reschedule(
                "banknet.deposit_settle",
                deposit.node,
                deposit.tenant,
                max(node_now(deposit.node), deposit.due_at),
                {"deposit": str(deposit.pk)},
            )
            woken += 1
    return woken
