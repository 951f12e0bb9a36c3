"""Writes of merchant settlement: the contract (create, update), a cycle's batch (scheduled,
or now by the test helper), and following the payout's outcome.

Lock order, in front of the ledger's (``wallets.locking``): the contract row
(``SELECT ... FOR UPDATE``: two cycles of one merchant queue on it), then the batches whose
carry it takes, then the ledger's accounts inside ``post`` and the withdrawal's hold. The
unique constraints on ``SettlementItem`` are the backstop: an order or a refund is in one
batch, whatever the code above does.

Payouts are not gated on the merchant's verification level: that belongs to the identities
issue (not built yet). When it lands, the gate goes in ``_pay_out`` before the withdrawal,
and a held payout becomes a status of its own.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from sandbox import clock
from sandbox.errors import ApplicationError, Conflict, NotFound, Unprocessable
from sandbox.events import scheduling
from sandbox.events.models import ScheduledAction
from sandbox.events.services import action_record, event_record
from sandbox.tenants.models import Node
from sandbox.tenants.services import SYSTEM, Actor, audit_record
from wallets import services as ledger
from wallets.banknet import withdrawals
from wallets.banknet.models import AccountLink, Withdrawal
from wallets.locking import retrying
from wallets.merchant_settlement import calendar, fees, presenters
from wallets.merchant_settlement.models import (
    MAX_DELAY_DAYS,
    MAX_FEE_RATE_BPS,
    SettlementBatch,
    SettlementContract,
    SettlementItem,
)
from wallets.models import Account
from wallets.payments.models import PAID_STATES, PaymentRequest, Refund
from wallets.posting import Leg, Posting, post_one

logger = logging.getLogger(__name__)

CYCLE_KIND = "merchant_settlement.cycle"
FEE_KIND = "settlement_fee"
CARRIED = (
    SettlementBatch.Status.CARRIED_OVER,
    SettlementBatch.Status.PAYOUT_FAILED,
    SettlementBatch.Status.PAYOUT_RETURNED,
)


# --- Contracts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    cycle: str
    delay_days: int
    fee_rate_bps: int
    fixed_fee: int
    minimum_payout: int


def _invalid(field: str, code: str, message: str) -> ApplicationError:
    return ApplicationError(message, code=code, fields={field: [message]})


def _check_terms(terms: Terms) -> None:
    if terms.cycle not in SettlementContract.Cycle.values:
        raise _invalid("cycle", "invalid_cycle", "The cycle is daily, weekly or monthly.")
    if not 1 <= terms.delay_days <= MAX_DELAY_DAYS:
        raise _invalid("delay_days", "invalid_delay_days", f"n of T+n is 1 to {MAX_DELAY_DAYS}.")
    if not 0 <= terms.fee_rate_bps <= MAX_FEE_RATE_BPS:
        raise _invalid("fee_rate_bps", "invalid_fee_rate", "The fee rate is 0 to 10000 bps.")
    if terms.fixed_fee < 0:
        raise _invalid("fixed_fee", "invalid_fixed_fee", "The fixed fee cannot be negative.")
    if terms.minimum_payout < 0:
        raise _invalid(
            "minimum_payout", "invalid_minimum_payout", "The minimum cannot be negative."
        )


def _check_destination(node: Node, account: Account, link: AccountLink) -> None:
    """The account must be the node's open virtual account; the link the node's, verified
    with 1 won, at a bank that keeps the account's currency."""
    wallet = account.wallet
    if account.kind != Account.Kind.CUSTOMER or wallet is None or wallet.node_id != node.pk:
        raise Unprocessable(
            "The account is not a virtual account of this node.",
            code="account_not_for_node",
            fields={"account_id": ["Another node's account."]},
        )
    if not account.is_open:
        raise Conflict(f"Account {account.pk} is closed.", code="account_closed")
    if link.node_id != node.pk:
        raise Unprocessable(
            "The account link belongs to another node.",
            code="link_not_for_node",
            fields={"link_id": ["Another node's link."]},
        )
    if link.status != AccountLink.Status.VERIFIED:
        raise Conflict(
            "Payouts go to a bank account verified with 1 won; confirm the link's code first.",
            code="link_not_verified",
        )
    if link.bank_account.bank.currency != account.currency:
        raise Unprocessable(
            f"The linked bank keeps {link.bank_account.bank.currency}, the account "
            f"{account.currency}.",
            code="currency_mismatch",
            fields={"link_id": ["Another currency."]},
        )


@transaction.atomic
def contract_create(
    *, actor: Actor, node: Node, account: Account, link: AccountLink, terms: Terms
) -> SettlementContract:
    """A merchant node's settlement contract; its first cycle is scheduled now. Orders paid
    from now on (the node's clock) are settled."""
    if not node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    _check_terms(terms)
    _check_destination(node, account, link)
    if SettlementContract.objects.filter(node=node).exists():
        raise Conflict("This node already has a settlement contract.", code="contract_exists")
    now = clock.now(node_id=node.pk)
    try:
        with transaction.atomic():
            contract = SettlementContract.objects.create(
                tenant_id=node.tenant_id,
                node=node,
                account=account,
                link=link,
                currency=account.currency,
                effective_from=now,
                created_at=now,
                updated_at=now,
                **terms.__dict__,
            )
    except IntegrityError:  # made concurrently: the unique node decided
        raise Conflict(
            "This node already has a settlement contract.", code="contract_exists"
        ) from None
    contract_schedule(contract=contract)
    action_record(
        actor=actor,
        action="settlement_contract.created",
        tenant=node.tenant,
        node=node,
        obj=contract,
        data=presenters.contract_json(contract),
    )
    return contract


@transaction.atomic
def contract_update(
    *, actor: Actor, contract: SettlementContract, link: AccountLink | None, terms: Terms
) -> SettlementContract:
    """New terms (and payout account link) from the next batch on; the schedule follows a
    changed cycle. Batches already made keep the terms they were made with."""
    contract = SettlementContract.objects.select_for_update().get(pk=contract.pk)
    _check_terms(terms)
    if link is not None:
        _check_destination(contract.node, contract.account, link)
        contract.link = link
    for name, value in terms.__dict__.items():
        setattr(contract, name, value)
    contract.updated_at = clock.now(node_id=contract.node_id)
    contract.save()
    contract_schedule(contract=contract)
    action_record(
        actor=actor,
        action="settlement_contract.updated",
        tenant=contract.node.tenant,
        node=contract.node,
        obj=contract,
        data=presenters.contract_json(contract),
    )
    return contract


def _cycle_key(contract: SettlementContract, run_date: date) -> str:
    return f"settle:{contract.pk}:{run_date.isoformat()}"


def contract_schedule(*, contract: SettlementContract, after: date | None = None) -> date:
    """Schedule the contract's next cycle: the first run date after ``after`` (by default
    the node's today), due at 10:00 KST of it, on the node's clock; any other pending cycle
    of the contract is cancelled (a contract has one). Safe to call again."""
    if after is None:
        after = calendar.local_date(clock.now(node_id=contract.node_id))
    run_date = calendar.next_run_date(contract.cycle, contract.delay_days, after)
    key = _cycle_key(contract, run_date)
    ScheduledAction.objects.filter(
        kind=CYCLE_KIND, key__startswith=f"settle:{contract.pk}:", status="pending"
    ).exclude(key=key).update(status=ScheduledAction.Status.CANCELLED, finished_at=timezone.now())
    due = calendar.run_at(run_date)
    action = scheduling.schedule(
        kind=CYCLE_KIND,
        node=contract.node,
        due_at=due,
        payload={"contract": str(contract.pk), "run_date": run_date.isoformat()},
        key=key,
    )
    if action.status == ScheduledAction.Status.CANCELLED:
        scheduling.reopen(kind=CYCLE_KIND, key=key, due_at=due)
    SettlementContract.objects.filter(pk=contract.pk).update(next_run_date=run_date)
    contract.next_run_date = run_date
    return run_date


def contract_follow_node_clock(*, node: Node) -> None:
    """The node joined or left a test clock: its time jumped, so its next cycle is counted
    again from its new today."""
    contract = SettlementContract.objects.filter(node=node).select_related("node").first()
    if contract is not None:
        contract_schedule(contract=contract)


# --- Cycles ----------------------------------------------------------------------------------


def _before(field: str, cutoff: datetime, inclusive: bool) -> dict[str, datetime]:
    # A scheduled cutoff is a midnight, which belongs to the next day; a run "now" takes
    # everything up to now, including what a frozen test clock stamped with this very time.
    return {f"{field}__{'lte' if inclusive else 'lt'}": cutoff}


def _unsettled_orders(
    contract: SettlementContract, cutoff: datetime, inclusive: bool
) -> QuerySet[PaymentRequest]:
    settled = SettlementItem.objects.filter(
        kind=SettlementItem.Kind.ORDER, payment_request=OuterRef("pk")
    )
    return (
        PaymentRequest.objects.filter(
            node=contract.node_id,
            account=contract.account_id,
            status__in=PAID_STATES,
            paid_at__gte=contract.effective_from,
            **_before("paid_at", cutoff, inclusive),
        )
        .exclude(Exists(settled))
        .order_by("paid_at", "pk")
    )


def _unsettled_refunds(
    contract: SettlementContract, cutoff: datetime, inclusive: bool
) -> QuerySet[Refund]:
    settled = SettlementItem.objects.filter(refund=OuterRef("pk"))
    return (
        Refund.objects.filter(
            request__node=contract.node_id,
            request__account=contract.account_id,
            request__paid_at__gte=contract.effective_from,
            **_before("created_at", cutoff, inclusive),
        )
        .exclude(Exists(settled))
        .select_related("request")
        .order_by("created_at", "pk")
    )


def _items(contract: SettlementContract, cutoff: datetime, inclusive: bool) -> list[SettlementItem]:
    items = []
    for order in _unsettled_orders(contract, cutoff, inclusive):
        fee = fees.order_fee(
            amount=order.amount, fee_rate_bps=contract.fee_rate_bps, fixed_fee=contract.fixed_fee
        )
        assert order.paid_at is not None  # a paid order (the filter)
        items.append(
            SettlementItem(
                kind=SettlementItem.Kind.ORDER,
                payment_request=order,
                amount=order.amount,
                fee=fee.fee,
                vat=fee.vat,
                occurred_at=order.paid_at,
            )
        )
    for refund in _unsettled_refunds(contract, cutoff, inclusive):
        items.append(
            SettlementItem(
                kind=SettlementItem.Kind.REFUND,
                payment_request=refund.request,
                refund=refund,
                amount=-refund.amount,
                occurred_at=refund.created_at,
            )
        )
    return items


def _post_fees(contract: SettlementContract, batch_id: uuid.UUID, fee: int, vat: int) -> Any:
    """The fee and its VAT, from the merchant's account to the platform's fees account (the
    ledger's revenue account; the VAT stays apart in the batch and the posting's metadata)."""
    revenue = ledger.platform_account(
        purpose=Account.Purpose.FEES,
        currency=contract.currency,
        bank_code=contract.account.bank_code,
    )
    return post_one(
        Posting(
            kind=FEE_KIND,
            legs=[
                Leg(contract.account_id, -(fee + vat), contract.currency),
                Leg(revenue.pk, fee + vat, contract.currency),
            ],
            tenant_id=contract.tenant_id,
            memo=f"Settlement fees of batch {batch_id}",
            metadata={"settlement_batch": str(batch_id), "fee": fee, "vat": vat},
        )
    ).transaction


def _pay_out(contract: SettlementContract, batch_id: uuid.UUID, amount: int) -> Withdrawal:
    # The identities issue gates payouts on the merchant's verification level here.
    return withdrawals.withdrawal_create(
        actor=SYSTEM,
        account=contract.account,
        amount=amount,
        currency=contract.currency,
        memo=f"Settlement {batch_id}",
        link=contract.link,
    )


def _batch_event(batch: SettlementBatch, status: str) -> None:
    event_record(
        tenant=batch.node.tenant,
        node=batch.node,
        type=f"settlement_batch.{status}",
        obj=batch,
        data=presenters.batch_json(batch),
    )


def _settle(
    contract: SettlementContract, *, trigger: str, run_date: date | None, cutoff: datetime
) -> SettlementBatch | None:
    """Gather, post the fees, pay out or carry: one batch, or None when nothing is due.
    The caller holds the contract's row lock."""
    items = _items(contract, cutoff, inclusive=trigger == SettlementBatch.Trigger.MANUAL)
    carries = list(
        SettlementBatch.objects.select_for_update()
        .filter(contract=contract, status__in=CARRIED, carried_into__isnull=True)
        .exclude(carried_out=0)
        .order_by("created_at", "pk")
    )
    carried_in = sum(batch.carried_out for batch in carries)
    orders = [item for item in items if item.kind == SettlementItem.Kind.ORDER]
    gross = sum(item.amount for item in orders)
    refunds = -sum(item.amount for item in items if item.kind == SettlementItem.Kind.REFUND)
    fee, vat = sum(item.fee for item in orders), sum(item.vat for item in orders)
    net = gross - refunds - fee - vat + carried_in
    payout, carried = fees.payout_or_carry(net=net, minimum_payout=contract.minimum_payout)
    if not items and not payout:
        return None  # nothing new, and what is carried still waits
    batch_id = uuid.uuid4()
    fee_transaction = _post_fees(contract, batch_id, fee, vat) if fee + vat else None
    status, withdrawal, reason = SettlementBatch.Status.CARRIED_OVER, None, ""
    if payout:
        status = SettlementBatch.Status.POSTED
        try:
            with transaction.atomic():  # a savepoint: a refusal leaves no half-made payout
                withdrawal = _pay_out(contract, batch_id, payout)
        except ApplicationError as error:  # refused at once: the same as a failed payout
            status, reason = SettlementBatch.Status.PAYOUT_FAILED, error.code
    now = clock.now(node_id=contract.node_id)
    batch = SettlementBatch.objects.create(
        id=batch_id,
        tenant_id=contract.tenant_id,
        node=contract.node,
        contract=contract,
        account=contract.account,
        currency=contract.currency,
        trigger=trigger,
        run_date=run_date,
        cutoff=cutoff,
        status=status,
        fee_rate_bps=contract.fee_rate_bps,
        fixed_fee=contract.fixed_fee,
        minimum_payout=contract.minimum_payout,
        order_count=len(orders),
        refund_count=len(items) - len(orders),
        gross=gross,
        refunds=refunds,
        fees=fee,
        vat=vat,
        carried_in=carried_in,
        net=net,
        payout_amount=payout,
        carried_out=payout if reason else carried,
        fee_transaction=fee_transaction,
        withdrawal=withdrawal,
        failure_reason=reason,
        created_at=now,
        resolved_at=now if status != SettlementBatch.Status.POSTED else None,
    )
    for item in items:
        item.batch = batch
    SettlementItem.objects.bulk_create(items)
    SettlementBatch.objects.filter(pk__in=[b.pk for b in carries]).update(carried_into=batch)
    if reason:
        _batch_event(batch, SettlementBatch.Status.POSTED)
    _batch_event(batch, status)
    return batch


def _lock_contract(contract_id: uuid.UUID | str) -> SettlementContract | None:
    return (
        SettlementContract.objects.select_for_update()
        .select_related("node__tenant", "account", "link__bank_account__bank")
        .filter(pk=contract_id)
        .first()
    )


@retrying
def settlement_run_now(*, actor: Actor, contract: SettlementContract) -> SettlementBatch:
    """Test helper: settle what the node was paid up to its clock's now, at once (409
    ``nothing_to_settle`` when no order or refund waits and no carry can be paid)."""
    locked = _lock_contract(contract.pk)
    if locked is None:
        raise NotFound("No such settlement contract.", code="contract_not_found")
    if not locked.node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    batch = _settle(
        locked,
        trigger=SettlementBatch.Trigger.MANUAL,
        run_date=None,
        cutoff=clock.now(node_id=locked.node_id),
    )
    if batch is None:
        raise Conflict("Nothing to settle up to now.", code="nothing_to_settle")
    # The batch's own events tell what happened; the audit log keeps who asked.
    audit_record(
        actor=actor,
        action="test_helper.settlement_run",
        tenant=locked.node.tenant,
        target=batch,
        data={"cutoff": batch.cutoff.isoformat()},
    )
    return batch


@retrying
def settlement_cycle_run(*, contract_id: uuid.UUID | str, run_date: date) -> SettlementBatch | None:
    """The scheduled cycle of ``run_date``: settle up to its cutoff, then schedule the next.
    Safe to run twice (one batch per contract and run date). A stale run (the contract's
    cycle changed, or the node's clock went back) does nothing. A batch the ledger refuses
    (the account cannot pay the fees) is skipped: its orders wait for the next cycle."""
    contract = _lock_contract(contract_id)
    if contract is None or contract.next_run_date != run_date or not contract.node.is_active:
        return None
    if clock.now(node_id=contract.node_id) < calendar.run_at(run_date):
        return None
    existing = SettlementBatch.objects.filter(contract=contract, run_date=run_date).first()
    batch = existing
    if existing is None:
        cutoff = calendar.midnight(
            calendar.cutoff_date(contract.cycle, contract.delay_days, run_date)
        )
        try:
            with transaction.atomic():
                batch = _settle(
                    contract,
                    trigger=SettlementBatch.Trigger.SCHEDULED,
                    run_date=run_date,
                    cutoff=cutoff,
                )
        except ApplicationError as error:
            logger.warning("Settlement cycle %s of %s skipped: %s", run_date, contract.pk, error)
            event_record(
                tenant=contract.node.tenant,
                node=contract.node,
                type="settlement_contract.cycle_skipped",
                obj=contract,
                data={**presenters.contract_json(contract), "reason": error.code},
            )
    contract_schedule(contract=contract, after=run_date)
    return batch


# --- The payout's outcome --------------------------------------------------------------------


def batch_follow_withdrawal(withdrawal: Withdrawal) -> SettlementBatch | None:
    """The bank paid, refused or sent back a batch's payout: the batch says so, once. The
    money of a failed or returned payout is back in the merchant's account (the withdrawal
    released its hold, or the ledger reversed it) and is carried to the next batch."""
    batch = (
        SettlementBatch.objects.select_for_update()
        .select_related("node__tenant")
        .filter(withdrawal=withdrawal)
        .first()
    )
    if batch is None:
        return None
    Status = SettlementBatch.Status
    if withdrawal.status == Withdrawal.Status.SUCCEEDED and batch.status == Status.POSTED:
        batch.status = Status.PAID_OUT
    elif withdrawal.status == Withdrawal.Status.FAILED and batch.status == Status.POSTED:
        batch.status, batch.failure_reason = Status.PAYOUT_FAILED, withdrawal.failure_reason
        batch.carried_out = batch.payout_amount
    elif withdrawal.status == Withdrawal.Status.RETURNED and batch.status == Status.PAID_OUT:
        batch.status, batch.failure_reason = Status.PAYOUT_RETURNED, withdrawal.return_reason
        batch.carried_out = batch.payout_amount
    else:
        return batch  # already followed
    batch.resolved_at = clock.now(node_id=batch.node_id)
    batch.save(update_fields=["status", "failure_reason", "carried_out", "resolved_at"])
    _batch_event(batch, batch.status)
    return batch
