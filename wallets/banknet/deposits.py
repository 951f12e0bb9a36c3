"""Deposits: money sent from a simulated bank account to a virtual account number. Pending
(the wallet sees a credit hold at once), then credited after the bank's delay, or returned to
the sender. Also the opening balance scenarios give an account.

Lock order, in front of the ledger's own: the deposit row (``SELECT … FOR UPDATE``), then the
ledger's hold, then its accounts."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

from sandbox.currencies import to_decimal_string
from sandbox.errors import ApplicationError, Conflict, NotFound
from sandbox.events import scheduling
from sandbox.events.services import action_record, event_record
from sandbox.tenants.models import Tenant
from sandbox.tenants.services import Actor, audit_record
from wallets import banks as wallet_banks
from wallets import services as ledger
from wallets.banknet import calendar, presenters
from wallets.banknet.common import (
    MAX_TEST_DELAY,
    captured,
    node_now,
    posted,
    reschedule,
    statement_add,
)
from wallets.banknet.models import Bank, BankAccount, Deposit
from wallets.banknet.network_banks import bank_get, bank_is_offline, bank_settlement_account
from wallets.locking import retrying
from wallets.models import Account, Hold, LedgerTransaction
from wallets.posting import Leg, Posting, post_one


def _issuing_bank(bank: Bank) -> None:
    if bank.ledger_code not in wallet_banks.BANKS:
        message = f"{bank.name} issues no virtual accounts."
        raise ApplicationError(
            message, code="not_a_virtual_account_bank", fields={"bank_code": [message]}
        )


@retrying
def deposit_create(
    *,
    tenant: Tenant,
    actor: Actor,
    sender: BankAccount,
    bank_code: str,
    account_number: str,
    amount: int,
    currency: str,
    memo: str = "",
    delay_seconds: int = 0,
    tester_control: bool = False,
) -> Deposit:
    """Send money from a simulated bank account to a virtual account number. The wallet
    sees it as pending at once and gets it after the bank's delay; an unknown or closed
    virtual account, or one in another currency, sends it back instead. A
    ``tester_control`` deposit is also recorded in the audit log, with who sent it."""
    if sender.tenant_id != tenant.pk:
        raise NotFound(f"No bank account with id {sender.pk}.", code="bankaccount_not_found")
    bank = bank_get(bank_code)
    _issuing_bank(bank)
    number = str(account_number or "").replace("-", "").replace(" ", "")
    if not wallet_banks.is_valid_account_number(number):
        message = "Virtual account numbers have 14 digits with a check digit."
        raise ApplicationError(
            message, code="invalid_account_number", fields={"account_number": [message]}
        )
    if not sender.is_open:
        raise Conflict("The sending account is closed.", code="account_closed")
    if currency != sender.currency:
        message = f"The sending account holds {sender.currency}, not {currency}."
        raise ApplicationError(message, code="currency_mismatch", fields={"currency": [message]})
    if amount <= 0:
        raise ApplicationError("The amount must be greater than zero.", code="invalid_amount")
    if not 0 <= delay_seconds <= MAX_TEST_DELAY.total_seconds():
        raise ApplicationError("The extra delay is 0 to 3 days.", code="invalid_delay")
    account = (
        Account.objects.filter(
            tenant=tenant,
            kind=Account.Kind.CUSTOMER,
            bank_code=bank.ledger_code,
            account_number=number,
        )
        .select_related("wallet__node")
        .first()
    )
    wallet = account.wallet if account is not None else None  # customer accounts have one
    node = wallet.node if wallet is not None else None
    return_reason = ""
    if account is None:
        return_reason = "account_not_found"
    elif not account.is_open:
        return_reason = "account_closed"
    elif account.currency != currency:
        return_reason = "currency_mismatch"
    deposit_id = uuid.uuid4()
    hold = None
    if not return_reason:
        hold = ledger.hold_place(
            tenant=None,
            account=account,
            counterparty=bank_settlement_account(bank, currency),
            amount=amount,
            currency=currency,
            direction=Hold.Direction.CREDIT,
            memo=f"Deposit from {sender.holder_name}"[:500],
            metadata={"deposit": str(deposit_id)},
        )
    now = node_now(node)
    if node is None:
        # No such virtual account: the receiving bank refuses the transfer on arrival, and
        # the money goes straight back (on the platform clock: there is no node to follow).
        due = now
    else:
        due = calendar.next_processing_time(
            bank, now + timedelta(seconds=bank.processing_delay_seconds + delay_seconds)
        )
    deposit = Deposit.objects.create(
        id=deposit_id,
        tenant=tenant,
        sender=sender,
        bank=bank,
        account_number=number,
        account=account,
        node=node,
        amount=amount,
        currency=currency,
        memo=memo[:200],
        return_reason=return_reason,
        hold=hold,
        due_at=due,
        triggered_by=actor.label,
    )
    statement_add(
        sender, -amount, f"To {bank.code}-{number} {memo}".strip(), reference=str(deposit.pk)
    )
    scheduling.schedule(
        kind="banknet.deposit_settle",
        node=node,
        tenant=tenant,
        due_at=due,
        payload={"deposit": str(deposit.pk)},
        key=f"deposit:{deposit.pk}:0",
    )
    data = presenters.deposit_json(deposit)
    if tester_control:
        action_record(
            actor=actor,
            action="test_helper.deposit",
            event_type="deposit.created",
            tenant=tenant,
            node=node,
            obj=deposit,
            data=data,
            audit_data={"amount": to_decimal_string(amount, currency), "currency": currency},
        )
    else:
        event_record(tenant=tenant, node=node, type="deposit.created", obj=deposit, data=data)
    return deposit


def tester_deposit(*, tenant: Tenant, actor: Actor, **arguments: Any) -> Deposit:
    """The tester control "simulate an inbound deposit", recorded with who used it."""
    return deposit_create(tenant=tenant, actor=actor, tester_control=True, **arguments)


@retrying
def deposit_settle(*, deposit_id: UUID | str) -> Deposit | None:
    """The bank's answer on a deposit: credit it or send it back. Safe to run twice: the
    deposit row is locked and only a pending one is settled."""
    deposit = (
        Deposit.objects.select_for_update()
        .filter(pk=deposit_id, status=Deposit.Status.PENDING)
        .first()
    )
    if deposit is None:
        return None
    deposit = Deposit.objects.select_related("bank", "sender", "node__tenant", "hold").get(
        pk=deposit.pk
    )
    bank, node = deposit.bank, deposit.node
    if node is not None and bank_is_offline(tenant=deposit.tenant, bank=bank):
        return None  # waits; the bank coming back reschedules it
    now = node_now(node)
    if node is not None and not calendar.can_process(bank, now):
        reschedule(
            "banknet.deposit_settle",
            node,
            deposit.tenant,
            calendar.next_processing_time(bank, now),
            {"deposit": str(deposit.pk)},
        )
        return None
    if deposit.hold is not None:
        deposit.transaction = _credit(deposit, deposit.hold)
        deposit.status = Deposit.Status.CREDITED
        event_type = "deposit.credited"
    else:
        deposit.status = Deposit.Status.RETURNED
        statement_add(
            deposit.sender,
            deposit.amount,
            f"Returned: {deposit.return_reason.replace('_', ' ')}",
            reference=str(deposit.pk),
        )
        event_type = "deposit.returned"
    deposit.resolved_at = now  # the node's time, like due_at and the event's occurred_at
    deposit.save(update_fields=["status", "transaction", "resolved_at"])
    event_record(
        tenant=deposit.tenant,
        node=node,
        type=event_type,
        obj=deposit,
        data=presenters.deposit_json(deposit),
    )
    return deposit


def _credit(deposit: Deposit, hold: Hold) -> LedgerTransaction:
    try:
        return captured(ledger.hold_capture(hold=hold, memo=f"Deposit {deposit.pk}"))
    except Conflict:
        # The announcement ran out (the ledger expired the hold): the money still arrives.
        return posted(
            post_one(
                Posting(
                    kind=LedgerTransaction.Kind.DEPOSIT,
                    legs=[
                        Leg(
                            bank_settlement_account(deposit.bank, deposit.currency).pk,
                            -deposit.amount,
                            deposit.currency,
                        ),
                        Leg(hold.account_id, deposit.amount, deposit.currency),
                    ],
                    tenant_id=deposit.tenant_id,
                    memo=f"Deposit {deposit.pk}",
                    metadata={"deposit": str(deposit.pk)},
                )
            )
        )


@retrying
def opening_balance_post(
    *, account: Account, amount: int, actor: Actor, memo: str = "Opening balance"
) -> LedgerTransaction:
    """Give a virtual account money to start from, as a deposit the ledger posts at once:
    the issuing bank's settlement account pays the account, one balanced transaction (no
    balance is edited by hand). For scenarios: no Deposit row, no bank delay, no webhook."""
    if account.kind != Account.Kind.CUSTOMER:
        raise NotFound(f"No account with id {account.pk}.", code="account_not_found")
    if not account.is_open:
        raise Conflict("The account is closed.", code="account_closed")
    if amount <= 0:
        raise ApplicationError("The amount must be greater than zero.", code="invalid_amount")
    bank = Bank.objects.get(ledger_code=account.bank_code)
    transaction_ = posted(
        post_one(
            Posting(
                kind=LedgerTransaction.Kind.DEPOSIT,
                legs=[
                    Leg(
                        bank_settlement_account(bank, account.currency).pk,
                        -amount,
                        account.currency,
                    ),
                    Leg(account.pk, amount, account.currency),
                ],
                tenant_id=account.tenant_id,
                memo=memo[:500],
                metadata={"opening_balance": True},
            )
        )
    )
    audit_record(
        actor=actor,
        action="test_helper.opening_balance",
        tenant=account.tenant,
        target=account,
        data={"amount": to_decimal_string(amount, account.currency), "currency": account.currency},
    )
    return transaction_
