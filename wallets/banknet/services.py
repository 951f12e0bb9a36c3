"""Writes of the bank network: bank settings, simulated bank accounts, account
verification, deposits, withdrawals and transfers, returns, and the tester controls.

Money moves only through the ledger's services (``wallets.services.hold_place``,
``hold_capture``, ``hold_void``, ``transaction_reverse``) and its one posting primitive
(``wallets.posting.post_one``). Lock order, added in front of the ledger's own: first the
bank-network row (deposit, withdrawal, link, card payment) with ``SELECT … FOR UPDATE``,
then the ledger's hold, then its accounts.

Every state change records an event in the same transaction (``event_record``).
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from sandbox import clock
from sandbox.currencies import to_decimal_string
from sandbox.errors import ApplicationError, Conflict, Forbidden, NotFound, Unprocessable
from sandbox.events import scheduling
from sandbox.events.services import event_record
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import Actor, audit_record
from wallets import banks as wallet_banks
from wallets import services as ledger
from wallets.banknet import calendar
from wallets.banknet.models import (
    AccountLink,
    Bank,
    BankAccount,
    BankOutage,
    Deposit,
    StatementLine,
    Withdrawal,
    WithdrawalRule,
)
from wallets.locking import retrying
from wallets.models import Account, Hold, LedgerTransaction
from wallets.posting import Leg, Posting, post_one

CODE_LIFETIME = timedelta(minutes=10)
BANK_ANSWER_DEADLINE = timedelta(days=3)
MAX_TEST_DELAY = timedelta(days=3)


# --- Banks -----------------------------------------------------------------------------------


def bank_get(code: Any, field: str = "bank_code") -> Bank:
    bank = Bank.objects.filter(pk=str(code or "").strip()).first()
    if bank is None:
        message = f"Unknown bank code {code!r}."
        raise ApplicationError(message, code="unknown_bank", fields={field: [message]})
    return bank


def bank_settlement_account(bank: Bank, currency: str | None = None) -> Account:
    """The bank's settlement account in the ledger: the other side of money entering from,
    or leaving to, that bank."""
    return ledger.platform_account(
        purpose=Account.Purpose.SETTLEMENT,
        currency=currency or bank.currency,
        bank_code=bank.ledger_code,
    )


def bank_is_offline(*, tenant: Tenant, bank: Bank) -> bool:
    if not Bank.objects.filter(pk=bank.pk, is_online=True).exists():
        return True
    return BankOutage.objects.filter(tenant=tenant, bank=bank, ended_at__isnull=True).exists()


BANK_EDITABLE_FIELDS = (
    "opens_at",
    "closes_at",
    "business_days",
    "maintenance_starts_at",
    "maintenance_ends_at",
    "processing_delay_seconds",
    "daily_withdrawal_limit",
    "is_online",
)


@transaction.atomic
def bank_update(*, bank: Bank, actor: Actor, **changes: Any) -> Bank:
    """Operators edit business hours, maintenance windows, delays, limits, availability."""
    if not actor.is_operator:
        raise Forbidden("Only operators may change banks.", code="operator_only")
    unknown = set(changes) - set(BANK_EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(
            f"These fields cannot be changed: {', '.join(sorted(unknown))}.", code="read_only_field"
        )
    bank = Bank.objects.select_for_update().get(pk=bank.pk)
    for field, value in changes.items():
        setattr(bank, field, value)
    if (bank.maintenance_starts_at is None) != (bank.maintenance_ends_at is None):
        raise ApplicationError(
            "A maintenance window needs both a start and an end (or neither).",
            code="invalid_maintenance_window",
            fields={"maintenance_ends_at": ["Give both times, or neither."]},
        )
    if not bank.business_days or set(bank.business_days) - set("0123456"):
        raise ApplicationError(
            "Business days are digits 0 (Monday) to 6 (Sunday).",
            code="invalid_business_days",
            fields={"business_days": ["Digits 0 to 6."]},
        )
    if bank.daily_withdrawal_limit < 0 or bank.processing_delay_seconds > 86400:
        raise ApplicationError("Out of range.", code="invalid_bank_setting")
    bank.business_days = "".join(sorted(set(bank.business_days)))
    bank.updated_by = actor.label
    bank.save()
    audit_record(
        actor=actor,
        action="bank.updated",
        tenant=None,
        target=bank,
        data={k: str(v) for k, v in changes.items()},
    )
    if "is_online" in changes and bank.is_online:
        transaction.on_commit(lambda: _wake_waiting(bank=bank, tenant=None), robust=True)
    return bank


# --- Simulated bank accounts -----------------------------------------------------------------


def normalize_account_number(bank: Bank, number: Any, field: str = "account_number") -> str:
    digits = str(number or "").replace("-", "").replace(" ", "")
    low, high = bank.account_number_min_length, bank.account_number_max_length
    if not digits.isdigit() or not low <= len(digits) <= high:
        message = f"{bank.name} account numbers have {low} to {high} digits."
        raise ApplicationError(message, code="invalid_account_number", fields={field: [message]})
    return digits


def _same_name(a: str, b: str) -> bool:
    def fold(name: str) -> str:
        return "".join(unicodedata.normalize("NFKC", name).casefold().split())

    return fold(a) == fold(b)


def _check_currency(bank: Bank, currency: str, field: str = "currency") -> None:
    if currency != bank.currency:
        message = f"{bank.name} keeps {bank.currency} accounts, not {currency}."
        raise ApplicationError(message, code="currency_mismatch", fields={field: [message]})


@transaction.atomic
def bank_account_create(
    *,
    tenant: Tenant,
    actor: Actor,
    bank_code: str,
    account_number: str,
    holder_name: str,
    holder_type: str = BankAccount.HolderType.PERSON,
    currency: str | None = None,
) -> BankAccount:
    bank = bank_get(bank_code)
    number = normalize_account_number(bank, account_number)
    currency = currency or bank.currency
    _check_currency(bank, currency)
    holder_name = (holder_name or "").strip()
    if not holder_name or len(holder_name) > 120:
        raise ApplicationError(
            "The holder's name has 1 to 120 characters.",
            code="invalid_holder_name",
            fields={"holder_name": ["1 to 120 characters."]},
        )
    if holder_type not in BankAccount.HolderType.values:
        raise ApplicationError(f"Unknown holder type {holder_type!r}.", code="invalid_holder_type")
    if BankAccount.objects.filter(tenant=tenant, bank=bank, account_number=number).exists():
        raise Conflict("This account already exists at this bank.", code="bank_account_exists")
    account = BankAccount.objects.create(
        tenant=tenant,
        bank=bank,
        account_number=number,
        holder_name=holder_name,
        holder_type=holder_type,
        currency=currency,
    )
    audit_record(actor=actor, action="bank_account.created", tenant=tenant, target=account)
    event_record(
        tenant=tenant,
        node=None,
        type="bank_account.created",
        obj=account,
        data=bank_account_data(account),
    )
    return account


@transaction.atomic
def bank_account_close(*, bank_account: BankAccount, actor: Actor) -> BankAccount:
    updated = BankAccount.objects.filter(pk=bank_account.pk, status=BankAccount.Status.OPEN).update(
        status=BankAccount.Status.CLOSED, closed_at=timezone.now()
    )
    if updated != 1:
        raise Conflict("This account is already closed.", code="bank_account_closed")
    bank_account.refresh_from_db()
    audit_record(
        actor=actor, action="bank_account.closed", tenant=bank_account.tenant, target=bank_account
    )
    event_record(
        tenant=bank_account.tenant,
        node=None,
        type="bank_account.closed",
        obj=bank_account,
        data=bank_account_data(bank_account),
    )
    return bank_account


def bank_account_data(account: BankAccount) -> dict[str, Any]:
    return {
        "bank_code": account.bank_id,
        "account_number": account.account_number,
        "holder_name": account.holder_name,
        "currency": account.currency,
        "status": account.status,
    }


def _statement(account: BankAccount, amount: int, memo: str, reference: str = "") -> None:
    StatementLine.objects.create(
        tenant_id=account.tenant_id,
        bank_account=account,
        amount=amount,
        currency=account.currency,
        memo=memo[:200],
        reference=reference,
    )


def _external_account(tenant_id, bank: Bank, number: str) -> BankAccount | None:
    return BankAccount.objects.filter(tenant_id=tenant_id, bank=bank, account_number=number).first()


# --- Account verification (1 KRW with a code) ------------------------------------------------


def _node_now(node: Node | None) -> datetime:
    return clock.now(node_id=node.pk if node is not None else None)


@retrying
def account_link_start(
    *, node: Node, actor: Actor, bank_code: str, account_number: str, holder_name: str
) -> AccountLink:
    """Check the holder's name with the bank, then send one minor unit (1 KRW) to the
    account with a four-digit code in the memo; the holder confirms the code."""
    if not node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    bank = bank_get(bank_code)
    number = normalize_account_number(bank, account_number)
    external = _external_account(node.tenant_id, bank, number)
    if external is None:
        raise NotFound(f"{bank.name} has no account {number}.", code="bank_account_not_found")
    if not external.is_open:
        raise Conflict("The account is closed.", code="account_closed")
    if not _same_name(holder_name or "", external.holder_name):
        raise Unprocessable(
            "The holder's name does not match the bank's records.", code="holder_name_mismatch"
        )
    if bank_is_offline(tenant=node.tenant, bank=bank):
        raise Conflict(f"{bank.name} is offline; try again later.", code="bank_unavailable")
    if AccountLink.objects.filter(
        node=node,
        bank_account=external,
        status__in=[AccountLink.Status.PENDING, AccountLink.Status.VERIFIED],
    ).exists():
        raise Conflict("This account is already linked or being verified.", code="link_exists")
    code = f"{secrets.randbelow(10_000):04d}"
    link_id = uuid.uuid4()
    fees = ledger.platform_account(
        purpose=Account.Purpose.FEES, currency=bank.currency, bank_code=bank.ledger_code
    )
    result = post_one(
        Posting(
            kind="account_verification",
            legs=[
                Leg(fees.pk, -1, bank.currency),
                Leg(bank_settlement_account(bank).pk, 1, bank.currency),
            ],
            tenant_id=node.tenant_id,
            memo=f"Account verification for {external}",
            metadata={"account_link": str(link_id)},
        )
    )
    link = AccountLink.objects.create(
        id=link_id,
        tenant_id=node.tenant_id,
        node=node,
        bank_account=external,
        code=code,
        code_expires_at=_node_now(node) + CODE_LIFETIME,
        verification_transaction=result.transaction,
    )
    _statement(external, 1, f"SANDBOX {code}", reference=str(link.pk))
    audit_record(actor=actor, action="account_link.started", tenant=node.tenant, target=link)
    event_record(
        tenant=node.tenant, node=node, type="account_link.code_sent", obj=link, data=link_data(link)
    )
    return link


def link_data(link: AccountLink) -> dict[str, Any]:
    # Never the code: the node is the party that must learn it from the holder.
    return {
        "status": link.status,
        "bank_code": link.bank_account.bank_id,
        "account_number": link.bank_account.account_number,
        "failed_attempts": link.failed_attempts,
        "attempts_left": AccountLink.MAX_ATTEMPTS - link.failed_attempts,
    }


def account_link_confirm(*, link: AccountLink, code: str, actor: Actor) -> AccountLink:
    """Check the code the holder typed. A wrong code counts; the fifth locks the link.
    The count is committed even though the answer is an error."""
    link, problem = _link_confirm(link=link, code=str(code or "").strip())
    if problem is not None:
        raise problem
    return link


@transaction.atomic
def _link_confirm(*, link: AccountLink, code: str) -> tuple[AccountLink, ApplicationError | None]:
    link = (
        AccountLink.objects.select_for_update()
        .select_related("bank_account", "node")
        .get(pk=link.pk)
    )
    if link.status == AccountLink.Status.VERIFIED:
        return link, Conflict("This account is already verified.", code="link_verified")
    if link.status == AccountLink.Status.LOCKED:
        return link, Conflict(
            "Too many wrong codes: this link is locked. Start a new verification.",
            code="link_locked",
        )
    if link.status == AccountLink.Status.EXPIRED:
        return link, Conflict("The code expired. Start a new verification.", code="code_expired")
    if _node_now(link.node) > link.code_expires_at:
        link.status = AccountLink.Status.EXPIRED
        link.save(update_fields=["status"])
        event_record(
            tenant=link.node.tenant,
            node=link.node,
            type="account_link.expired",
            obj=link,
            data=link_data(link),
        )
        return link, Conflict("The code expired. Start a new verification.", code="code_expired")
    if hmac.compare_digest(code.encode(), link.code.encode()):
        link.status = AccountLink.Status.VERIFIED
        link.verified_at = timezone.now()
        link.save(update_fields=["status", "verified_at"])
        event_record(
            tenant=link.node.tenant,
            node=link.node,
            type="account_link.verified",
            obj=link,
            data=link_data(link),
        )
        return link, None
    link.failed_attempts += 1
    locked = link.failed_attempts >= AccountLink.MAX_ATTEMPTS
    if locked:
        link.status = AccountLink.Status.LOCKED
    link.save(update_fields=["failed_attempts", "status"])
    event_record(
        tenant=link.node.tenant,
        node=link.node,
        type="account_link.locked" if locked else "account_link.code_rejected",
        obj=link,
        data=link_data(link),
    )
    if locked:
        return link, Conflict(
            "Wrong code, five times: this link is locked. Start a new verification.",
            code="link_locked",
        )
    left = AccountLink.MAX_ATTEMPTS - link.failed_attempts
    return link, Unprocessable(
        f"Wrong code; {left} attempt{'s' if left != 1 else ''} left.",
        code="wrong_code",
        fields={"code": [f"Wrong code; {left} left."], "attempts_left": left},
    )


# --- Deposits --------------------------------------------------------------------------------


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
) -> Deposit:
    """Send money from a simulated bank account to a virtual account number. The wallet
    sees it as pending at once and gets it after the bank's delay; an unknown or closed
    virtual account, or one in another currency, sends it back instead."""
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
    node = account.wallet.node if account is not None else None
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
    now = _node_now(node)
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
    _statement(
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
    event_record(
        tenant=tenant, node=node, type="deposit.created", obj=deposit, data=deposit_data(deposit)
    )
    return deposit


def tester_deposit(*, tenant: Tenant, actor: Actor, **arguments: Any) -> Deposit:
    """The tester control "simulate an inbound deposit", recorded with who used it."""
    with transaction.atomic():
        deposit = deposit_create(tenant=tenant, actor=actor, **arguments)
        audit_record(
            actor=actor,
            action="test_helper.deposit",
            tenant=tenant,
            target=deposit,
            data={
                "amount": to_decimal_string(deposit.amount, deposit.currency),
                "currency": deposit.currency,
            },
        )
    return deposit


def deposit_data(deposit: Deposit) -> dict[str, Any]:
    return {
        "amount": to_decimal_string(deposit.amount, deposit.currency),
        "currency": deposit.currency,
        "status": deposit.status,
        "bank_code": deposit.bank_id,
        "account_number": deposit.account_number,
        "account_id": str(deposit.account_id) if deposit.account_id else None,
        "sender": {"bank_code": deposit.sender.bank_id, "holder_name": deposit.sender.holder_name},
        "memo": deposit.memo,
        "return_reason": deposit.return_reason or None,
        "transaction_id": str(deposit.transaction.uuid) if deposit.transaction_id else None,
    }


@retrying
def deposit_settle(*, deposit_id) -> Deposit | None:
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
    now = _node_now(node)
    if node is not None and not calendar.can_process(bank, now):
        _reschedule(
            "banknet.deposit_settle",
            node,
            deposit.tenant,
            calendar.next_processing_time(bank, now),
            {"deposit": str(deposit.pk)},
        )
        return None
    if deposit.hold is not None:
        deposit.transaction = _credit(deposit)
        deposit.status = Deposit.Status.CREDITED
        event_type = "deposit.credited"
    else:
        deposit.status = Deposit.Status.RETURNED
        _statement(
            deposit.sender,
            deposit.amount,
            f"Returned: {deposit.return_reason.replace('_', ' ')}",
            reference=str(deposit.pk),
        )
        event_type = "deposit.returned"
    deposit.resolved_at = now  # the node's time, like due_at and the event's occurred_at
    deposit.save(update_fields=["status", "transaction", "resolved_at"])
    event_record(
        tenant=deposit.tenant, node=node, type=event_type, obj=deposit, data=deposit_data(deposit)
    )
    return deposit


def _credit(deposit: Deposit) -> LedgerTransaction:
    try:
        hold = ledger.hold_capture(hold=deposit.hold, memo=f"Deposit {deposit.pk}")
        return hold.capture_transaction
    except Conflict:
        # The announcement ran out (the ledger expired the hold): the money still arrives.
        return post_one(
            Posting(
                kind=LedgerTransaction.Kind.DEPOSIT,
                legs=[
                    Leg(
                        bank_settlement_account(deposit.bank, deposit.currency).pk,
                        -deposit.amount,
                        deposit.currency,
                    ),
                    Leg(deposit.account_id, deposit.amount, deposit.currency),
                ],
                tenant_id=deposit.tenant_id,
                memo=f"Deposit {deposit.pk}",
                metadata={"deposit": str(deposit.pk)},
            )
        ).transaction


def _reschedule(
    kind: str, node: Node | None, tenant: Tenant, due_at: datetime, payload: dict
) -> None:
    scheduling.schedule(
        kind=kind,
        node=node,
        tenant=tenant,
        due_at=due_at,
        payload=payload,
        key=f"{kind}:{uuid.uuid4().hex}",
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
    transaction_ = post_one(
        Posting(
            kind=LedgerTransaction.Kind.DEPOSIT,
            legs=[
                Leg(bank_settlement_account(bank, account.currency).pk, -amount, account.currency),
                Leg(account.pk, amount, account.currency),
            ],
            tenant_id=account.tenant_id,
            memo=memo[:500],
            metadata={"opening_balance": True},
        )
    ).transaction
    audit_record(
        actor=actor,
        action="test_helper.opening_balance",
        tenant=account.tenant,
        target=account,
        data={"amount": to_decimal_string(amount, account.currency), "currency": account.currency},
    )
    return transaction_


# --- Withdrawals and transfers ---------------------------------------------------------------


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
    _check_currency(bank, currency)
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
    now = _node_now(node)
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
    audit_record(actor=actor, action=f"{kind}.created", tenant=node.tenant, target=withdrawal)
    event_record(
        tenant=node.tenant,
        node=node,
        type=f"{kind}.created",
        obj=withdrawal,
        data=withdrawal_data(withdrawal),
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


def withdrawal_data(withdrawal: Withdrawal) -> dict[str, Any]:
    return {
        "kind": withdrawal.kind,
        "amount": to_decimal_string(withdrawal.amount, withdrawal.currency),
        "currency": withdrawal.currency,
        "status": withdrawal.status,
        "account_id": str(withdrawal.account_id),
        "bank_code": withdrawal.bank_id,
        "account_number": withdrawal.account_number,
        "holder_name": withdrawal.holder_name,
        "failure_reason": withdrawal.failure_reason or None,
        "return_reason": withdrawal.return_reason or None,
        "transaction_id": str(withdrawal.transaction.uuid) if withdrawal.transaction_id else None,
    }


def _lock_pending_withdrawal(withdrawal_id) -> Withdrawal | None:
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
    external = _external_account(withdrawal.tenant_id, bank, withdrawal.account_number)
    if external is None:
        return Withdrawal.FailureReason.ACCOUNT_NOT_FOUND, None
    if not external.is_open:
        return Withdrawal.FailureReason.ACCOUNT_CLOSED, None
    if not _same_name(withdrawal.holder_name, external.holder_name):
        return Withdrawal.FailureReason.HOLDER_NAME_MISMATCH, None
    limiting = _limit_bank(withdrawal)
    local_date = calendar.local(limiting, now).date()
    if _spent_today(withdrawal, local_date) + withdrawal.amount > limiting.daily_withdrawal_limit:
        return Withdrawal.FailureReason.DAILY_LIMIT, None
    return "", local_date


@retrying
def withdrawal_process(*, withdrawal_id) -> Withdrawal | None:
    """The bank answers: pay (capture the hold) or refuse (release it). Safe to run twice."""
    withdrawal = _lock_pending_withdrawal(withdrawal_id)
    if withdrawal is None:
        return None
    node, bank = withdrawal.node, withdrawal.bank
    if bank_is_offline(tenant=withdrawal.tenant, bank=bank):
        return None  # waits for the bank, or for the deadline
    now = _node_now(node)
    if not calendar.is_business_time(bank, now):
        _reschedule(
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
    withdrawal.transaction = hold.capture_transaction
    withdrawal.status = Withdrawal.Status.SUCCEEDED
    withdrawal.local_date = local_date
    withdrawal.resolved_at = now
    withdrawal.save(update_fields=["transaction", "status", "local_date", "resolved_at"])
    external = _external_account(withdrawal.tenant_id, bank, withdrawal.account_number)
    _statement(
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
        data=withdrawal_data(withdrawal),
    )
    return withdrawal


def _withdrawal_fail(withdrawal: Withdrawal, reason: str) -> Withdrawal:
    ledger.hold_void(hold=withdrawal.hold)
    withdrawal.status = Withdrawal.Status.FAILED
    withdrawal.failure_reason = reason
    withdrawal.resolved_at = _node_now(withdrawal.node)
    withdrawal.save(update_fields=["status", "failure_reason", "resolved_at"])
    event_record(
        tenant=withdrawal.tenant,
        node=withdrawal.node,
        type=f"{withdrawal.kind}.failed",
        obj=withdrawal,
        data=withdrawal_data(withdrawal),
    )
    return withdrawal


@retrying
def withdrawal_deadline(*, withdrawal_id) -> Withdrawal | None:
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
    withdrawal.return_transaction = result.transaction
    withdrawal.save(update_fields=["status", "return_reason", "return_transaction"])
    external = _external_account(withdrawal.tenant_id, withdrawal.bank, withdrawal.account_number)
    if external is not None:
        _statement(
            external,
            -withdrawal.amount,
            f"Returned: {reason.replace('_', ' ')}",
            str(withdrawal.pk),
        )
    audit_record(
        actor=actor,
        action="test_helper.return",
        tenant=withdrawal.tenant,
        target=withdrawal,
        data={"reason": reason},
    )
    event_record(
        tenant=withdrawal.tenant,
        node=withdrawal.node,
        type=f"{withdrawal.kind}.returned",
        obj=withdrawal,
        data=withdrawal_data(withdrawal),
    )
    return withdrawal


# --- Tester controls -------------------------------------------------------------------------


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


@transaction.atomic
def tester_bank_offline(*, tenant: Tenant, bank: Bank, actor: Actor) -> BankOutage:
    """For this tenant, the bank stops answering: transfers wait until it is back."""
    if BankOutage.objects.filter(tenant=tenant, bank=bank, ended_at__isnull=True).exists():
        raise Conflict(f"{bank.name} is already offline.", code="bank_offline")
    outage = BankOutage.objects.create(tenant=tenant, bank=bank, started_by=actor.label)
    audit_record(actor=actor, action="test_helper.bank_offline", tenant=tenant, target=bank)
    event_record(
        tenant=tenant, node=None, type="bank.offline", obj=bank, data={"bank_code": bank.code}
    )
    return outage


@transaction.atomic
def tester_bank_online(*, tenant: Tenant, bank: Bank, actor: Actor) -> int:
    """The bank answers again: what waited for it is processed now. Returns how many."""
    ended = BankOutage.objects.filter(tenant=tenant, bank=bank, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )
    if not ended:
        raise Conflict(f"{bank.name} is not offline.", code="bank_online")
    audit_record(actor=actor, action="test_helper.bank_online", tenant=tenant, target=bank)
    event_record(
        tenant=tenant, node=None, type="bank.online", obj=bank, data={"bank_code": bank.code}
    )
    return _wake_waiting(bank=bank, tenant=tenant)


def _wake_waiting(*, bank: Bank, tenant: Tenant | None) -> int:
    """Schedule, due now, the pending deposits and withdrawals at ``bank`` (of one tenant,
    or of every tenant)."""
    scope = Q(tenant=tenant) if tenant is not None else Q()
    woken = 0
    with transaction.atomic():
        for withdrawal in Withdrawal.objects.filter(
            scope, bank=bank, status="pending"
        ).select_related("node"):
            _reschedule(
                "banknet.withdrawal_process",
                withdrawal.node,
                withdrawal.tenant,
                max(_node_now(withdrawal.node), withdrawal.due_at),  # delays still count
                {"withdrawal": str(withdrawal.pk)},
            )
            woken += 1
        for deposit in Deposit.objects.filter(scope, bank=bank, status="pending").select_related(
            "node"
        ):
            _reschedule(
                "banknet.deposit_settle",
                deposit.node,
                deposit.tenant,
                max(_node_now(deposit.node), deposit.due_at),
                {"deposit": str(deposit.pk)},
            )
            woken += 1
    return woken
