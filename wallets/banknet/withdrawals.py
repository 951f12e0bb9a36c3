"""Withdrawals (to the node's verified linked account) and transfers (to any bank account):
the amount is held, then the bank pays (the hold is captured) or refuses (released); a paid one
may come back (returned). Also the tester rules that make the next ones fail or wait.

Lock order, in front of the ledger's own: the withdrawal row (``SELECT … FOR UPDATE``), then
the ledger's hold, then its accounts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import F, Sum

from sandbox.errors import ApplicationError, Conflict, NotFound
from sandbox.events import scheduling
from sandbox.events.services import action_record, event_record
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor, audit_record
from wallets import services as ledger
from wallets.banknet import calendar, presenters
from wallets.banknet.common import (
    MAX_TEST_DELAY,
    captured,
    external_account,
    node_now,
    posted,
    reschedule,
    same_name,
    statement_add,
)
from wallets.banknet.models import AccountLink, Bank, Withdrawal, WithdrawalRule
from wallets.banknet.network_banks import (
    bank_get,
    bank_is_offline,
    bank_settlement_account,
    check_currency,
    normalize_account_number,
)
from wallets.locking import retrying
from wallets.models import Account, Hold
from wallets.posting import Leg, Posting, post_one

BANK_ANSWER_DEADLINE = timedelta(days=3)

# Features that pay out through withdrawals (merchant settlement) hear of every outcome here,
# inside the database transaction that records it, so they follow it exactly once: each
# ``func(withdrawal)`` runs after a withdrawal succeeded, failed or came back. This module
# cannot import them (they sit beside it and import it); they register in their ready().
_ON_OUTCOME: list[Callable[[Withdrawal], None]] = []


def on_withdrawal_outcome(func: Callable[[Withdrawal], None]) -> Callable[[Withdrawal], None]:
    """Register ``func``; registering twice is a no-op."""
    if func not in _ON_OUTCOME:
        _ON_OUTCOME.append(func)
    return func


def _outcome(withdrawal: Withdrawal) -> None:
    for func in _ON_OUTCOME:
        func(withdrawal)


def _take_rule(node: Node, action: str) -> WithdrawalRule | None:
    """Consume one use of the oldest live rule of ``action`` for the node (exactly once)."""
    for rule in WithdrawalRule.objects.filter(node=node, action=action, remaining__gt=0).order_by(
        "created_at", "pk"
    ):
        if WithdrawalRule.objects.filter(pk=rule.pk, remaining__gt=0).update(
            remaining=F("remaining") - 1
        ):
            return rule
    return None


@retrying
def withdrawal_create(
    *,
    actor: Actor,
    account: Account,
    amount: int,
    currency: str,
    memo: str = "",
    link: AccountLink | None = None,
    bank_code: str | None = None,
    account_number: str | None = None,
    holder_name: str | None = None,
) -> Withdrawal:
    """Pay out of a virtual account: to the node's verified linked account (``link``: a
    withdrawal) or to any bank account (``bank_code``, ``account_number``, ``holder_name``:
    a transfer). The amount is held now; the bank answers after its delay."""
    if account.kind != Account.Kind.CUSTOMER:
        raise NotFound(f"No account with id {account.pk}.", code="account_not_found")
    node = Node.objects.select_related("tenant").get(wallet__accounts=account)
    if not node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    if link is not None:
        if link.node_id != node.pk:
            raise ApplicationError(
                "The link belongs to another node than the account.",
                code="link_not_for_node",
                fields={"link_id": ["Another node's link."]},
            )
        if link.status != AccountLink.Status.VERIFIED:
            raise Conflict("Withdrawals go to verified accounts only.", code="link_not_verified")
        kind = Withdrawal.Kind.WITHDRAWAL
        bank = link.bank_account.bank
        number = link.bank_account.account_number
        holder_name = link.bank_account.holder_name
    else:
        kind = Withdrawal.Kind.TRANSFER
        bank = bank_get(bank_code)
        number = normalize_account_number(bank, account_number)
        holder_name = (holder_name or "").strip()
        if not holder_name:
            raise ApplicationError(
                "Give the recipient's name as the bank knows it.",
                code="invalid_holder_name",
                fields={"holder_name": ["This field is required."]},
            )
    check_currency(bank, currency)
    if account.currency != currency:
        message = f"The account holds {account.currency}, not {currency}."
        raise ApplicationError(message, code="currency_mismatch", fields={"currency": [message]})
    if amount <= 0:
        raise ApplicationError("The amount must be greater than zero.", code="invalid_amount")
    withdrawal_id = uuid.uuid4()
    hold = ledger.hold_place(
        tenant=None,
        account=account,
        counterparty=bank_settlement_account(bank),
        amount=amount,
        currency=currency,
        direction=Hold.Direction.DEBIT,
        memo=f"{kind.title()} to {holder_name}"[:500],
        metadata={"withdrawal": str(withdrawal_id)},
    )
    fail_rule = _take_rule(node, WithdrawalRule.Action.FAIL)
    delay_rule = _take_rule(node, WithdrawalRule.Action.DELAY)
    extra = delay_rule.delay_seconds if delay_rule else 0
    now = node_now(node)
    due = _next_business_time(bank, now + timedelta(seconds=bank.processing_delay_seconds + extra))
    withdrawal = Withdrawal.objects.create(
        id=withdrawal_id,
        tenant=node.tenant,
        node=node,
        kind=kind,
        account=account,
        bank=bank,
        account_number=number,
        holder_name=holder_name[:120],
        link=link,
        amount=amount,
        currency=currency,
        memo=memo[:200],
        forced_failure=fail_rule.reason if fail_rule else "",
        hold=hold,
        due_at=due,
    )
    payload = {"withdrawal": str(withdrawal.pk)}
    scheduling.schedule(
        kind="banknet.withdrawal_process",
        node=node,
        due_at=due,
        payload=payload,
        key=f"withdrawal:{withdrawal.pk}:0",
    )
    scheduling.schedule(
        kind="banknet.withdrawal_deadline",
        node=node,
        due_at=now + BANK_ANSWER_DEADLINE,
        payload=payload,
        key=f"withdrawal:{withdrawal.pk}:deadline",
    )
    action_record(
        actor=actor,
        action=f"{kind}.created",
        tenant=node.tenant,
        node=node,
        obj=withdrawal,
        data=presenters.withdrawal_json(withdrawal),
    )
    return withdrawal


def _next_business_time(bank: Bank, when: datetime) -> datetime:
    """Outside business hours a payout waits for the opening; a maintenance window is not
    waited out: the bank refuses during it (``bank_maintenance``)."""
    for _ in range(3):
        if calendar.is_business_time(bank, when):
            return when
        when = calendar.next_processing_time(bank, when)
    return when


def _lock_pending_withdrawal(withdrawal_id: UUID | str) -> Withdrawal | None:
    locked = (
        Withdrawal.objects.select_for_update()
        .filter(pk=withdrawal_id, status=Withdrawal.Status.PENDING)
        .first()
    )
    if locked is None:
        return None
    return Withdrawal.objects.select_related("bank", "node__tenant", "hold", "account").get(
        pk=locked.pk
    )


def _limit_bank(withdrawal: Withdrawal) -> Bank:
    """The bank whose daily limit applies, so that a limit is only ever compared with
    amounts in its own currency: the paying bank (the virtual account's) when it keeps the
    payout's currency, otherwise the receiving bank, which always does (it keeps only its
    currency). A KRW account at KB paying Shinhan: KB's limit, in won. A USD account at KB
    paying Chase: Chase's limit, in dollars, never KB's won."""
    paying = Bank.objects.filter(ledger_code=withdrawal.account.bank_code).first()
    if paying is not None and paying.currency == withdrawal.currency:
        return paying
    return withdrawal.bank


def _spent_today(withdrawal: Withdrawal, local_date: date) -> int:
    total = Withdrawal.objects.filter(
        account=withdrawal.account,
        currency=withdrawal.currency,
        local_date=local_date,
        status__in=[Withdrawal.Status.SUCCEEDED, Withdrawal.Status.RETURNED],
    ).aggregate(total=Sum("amount"))["total"]
    return total or 0


def _bank_verdict(withdrawal: Withdrawal, now: datetime) -> tuple[str, date | None]:
    """What the bank answers: a failure reason, or "" to pay (with the local date of the
    bank whose daily limit applies: ``_limit_bank``)."""
    if withdrawal.forced_failure:
        return withdrawal.forced_failure, None
    bank = withdrawal.bank
    if calendar.in_maintenance(bank, now):
        return Withdrawal.FailureReason.BANK_MAINTENANCE, None
    external = external_account(withdrawal.tenant_id, bank, withdrawal.account_number)
    if external is None:
        return Withdrawal.FailureReason.ACCOUNT_NOT_FOUND, None
    if not external.is_open:
        return Withdrawal.FailureReason.ACCOUNT_CLOSED, None
    if not same_name(withdrawal.holder_name, external.holder_name):
        return Withdrawal.FailureReason.HOLDER_NAME_MISMATCH, None
    limiting = _limit_bank(withdrawal)
    local_date = calendar.local(limiting, now).date()
    if _spent_today(withdrawal, local_date) + withdrawal.amount > limiting.daily_withdrawal_limit:
        return Withdrawal.FailureReason.DAILY_LIMIT, None
    return "", local_date


@retrying
def withdrawal_process(*, withdrawal_id: UUID | str) -> Withdrawal | None:
    """The bank answers: pay (capture the hold) or refuse (release it). Safe to run twice."""
    withdrawal = _lock_pending_withdrawal(withdrawal_id)
    if withdrawal is None:
        return None
    node, bank = withdrawal.node, withdrawal.bank
    if bank_is_offline(tenant=withdrawal.tenant, bank=bank):
        return None  # waits for the bank, or for the deadline
    now = node_now(node)
    if not calendar.is_business_time(bank, now):
        reschedule(
            "banknet.withdrawal_process",
            node,
            withdrawal.tenant,
            _next_business_time(bank, now),
            {"withdrawal": str(withdrawal.pk)},
        )
        return None
    reason, local_date = _bank_verdict(withdrawal, now)
    if reason:
        return _withdrawal_fail(withdrawal, reason)
    hold = ledger.hold_capture(
        hold=withdrawal.hold, memo=f"{withdrawal.kind.title()} {withdrawal.pk}"
    )
    withdrawal.transaction = captured(hold)
    withdrawal.status = Withdrawal.Status.SUCCEEDED
    withdrawal.local_date = local_date
    withdrawal.resolved_at = now
    withdrawal.save(update_fields=["transaction", "status", "local_date", "resolved_at"])
    external = external_account(withdrawal.tenant_id, bank, withdrawal.account_number)
    if external is not None:  # it was there for the verdict, under the same transaction
        statement_add(
            external,
            withdrawal.amount,
            f"From {node.name} {withdrawal.memo}".strip(),
            reference=str(withdrawal.pk),
        )
    event_record(
        tenant=withdrawal.tenant,
        node=node,
        type=f"{withdrawal.kind}.succeeded",
        obj=withdrawal,
        data=presenters.withdrawal_json(withdrawal),
    )
    _outcome(withdrawal)
    return withdrawal


def _withdrawal_fail(withdrawal: Withdrawal, reason: str) -> Withdrawal:
    ledger.hold_void(hold=withdrawal.hold)
    withdrawal.status = Withdrawal.Status.FAILED
    withdrawal.failure_reason = reason
    withdrawal.resolved_at = node_now(withdrawal.node)
    withdrawal.save(update_fields=["status", "failure_reason", "resolved_at"])
    event_record(
        tenant=withdrawal.tenant,
        node=withdrawal.node,
        type=f"{withdrawal.kind}.failed",
        obj=withdrawal,
        data=presenters.withdrawal_json(withdrawal),
    )
    _outcome(withdrawal)
    return withdrawal


@retrying
def withdrawal_deadline(*, withdrawal_id: UUID | str) -> Withdrawal | None:
    """Three days without an answer (the bank stayed offline): fail and release."""
    withdrawal = _lock_pending_withdrawal(withdrawal_id)
    if withdrawal is None:
        return None
    return _withdrawal_fail(withdrawal, Withdrawal.FailureReason.BANK_UNAVAILABLE)


@retrying
def withdrawal_return(
    *, withdrawal: Withdrawal, actor: Actor, reason: str = "account_closed"
) -> Withdrawal:
    """The receiving bank sends a paid withdrawal back (the account was closed, say): the
    ledger reverses the payment. If the virtual account is closed by now, the money waits
    in the platform's suspense account."""
    if reason not in Withdrawal.FailureReason.values:
        raise ApplicationError(f"Unknown return reason {reason!r}.", code="invalid_reason")
    locked = Withdrawal.objects.select_for_update().filter(pk=withdrawal.pk).first()
    if locked is None or locked.status != Withdrawal.Status.SUCCEEDED:
        raise Conflict("Only a paid withdrawal or transfer can come back.", code="not_returnable")
    withdrawal = Withdrawal.objects.select_related("bank", "node__tenant", "transaction").get(
        pk=locked.pk
    )
    memo = f"Return of {withdrawal.kind} {withdrawal.pk}: {reason}"
    try:
        result = ledger.transaction_reverse(
            transaction_=withdrawal.transaction, tenant=None, actor=actor, memo=memo
        )
    except Conflict as error:
        if error.code != "account_closed":
            raise
        suspense = ledger.platform_account(
            purpose=Account.Purpose.SUSPENSE,
            currency=withdrawal.currency,
            bank_code=withdrawal.bank.ledger_code,
        )
        result = post_one(
            Posting(
                kind="withdrawal_return",
                legs=[
                    Leg(
                        bank_settlement_account(withdrawal.bank).pk,
                        -withdrawal.amount,
                        withdrawal.currency,
                    ),
                    Leg(suspense.pk, withdrawal.amount, withdrawal.currency),
                ],
                tenant_id=withdrawal.tenant_id,
                memo=memo + " (virtual account closed: held in suspense)",
                metadata={"withdrawal": str(withdrawal.pk)},
            )
        )
    withdrawal.status = Withdrawal.Status.RETURNED
    withdrawal.return_reason = reason
    withdrawal.return_transaction = posted(result)
    withdrawal.save(update_fields=["status", "return_reason", "return_transaction"])
    external = external_account(withdrawal.tenant_id, withdrawal.bank, withdrawal.account_number)
    if external is not None:
        statement_add(
            external,
            -withdrawal.amount,
            f"Returned: {reason.replace('_', ' ')}",
            str(withdrawal.pk),
        )
    action_record(
        actor=actor,
        action="test_helper.return",
        event_type=f"{withdrawal.kind}.returned",
        tenant=withdrawal.tenant,
        node=withdrawal.node,
        obj=withdrawal,
        data=presenters.withdrawal_json(withdrawal),
        audit_data={"reason": reason},
    )
    _outcome(withdrawal)
    return withdrawal


@transaction.atomic
def tester_withdrawal_rule(
    *, node: Node, actor: Actor, action: str, count: int, reason: str = "", delay_seconds: int = 0
) -> WithdrawalRule:
    """Make the node's next ``count`` withdrawals fail with ``reason`` or wait longer."""
    if not 1 <= count <= 1000:
        raise ApplicationError(
            "count is 1 to 1000.", code="invalid_count", fields={"count": ["1 to 1000."]}
        )
    if action == WithdrawalRule.Action.FAIL:
        if reason not in Withdrawal.FailureReason.values:
            raise ApplicationError(
                f"Unknown failure reason {reason!r}; use one of "
                f"{', '.join(Withdrawal.FailureReason.values)}.",
                code="invalid_reason",
                fields={"reason": ["Unknown reason."]},
            )
    elif action == WithdrawalRule.Action.DELAY:
        if not 1 <= delay_seconds <= MAX_TEST_DELAY.total_seconds():
            raise ApplicationError(
                "The delay is 1 second to 3 days.",
                code="invalid_delay",
                fields={"seconds": ["1 to 259200."]},
            )
    else:
        raise ApplicationError(f"Unknown action {action!r}.", code="invalid_action")
    rule = WithdrawalRule.objects.create(
        tenant=node.tenant,
        node=node,
        action=action,
        reason=reason if action == "fail" else "",
        delay_seconds=delay_seconds if action == "delay" else 0,
        remaining=count,
        created_by=actor.label,
    )
    audit_record(
        actor=actor,
        action=f"test_helper.{action}_withdrawals",
        tenant=node.tenant,
        target=node,
        data={"count": count, "reason": rule.reason, "delay_seconds": rule.delay_seconds},
    )
    return rule
