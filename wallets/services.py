"""Writes for wallets, accounts, transfers, holds and reversals.

Every balance change goes through ``wallets.posting.post``; every write runs in a
transaction that ``wallets.locking.retrying`` retries on the rare conflict. Services take
model instances the caller has already scoped to its tenant (``selectors``), and check
again what a client could get wrong, so that the refusal is clear.

Every change records its event in the same transaction (``wallets.events``), for the
webhooks of the nodes it touches. The Main account opened with a node is part of the
node's creation and records none.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q

from sandbox import clock, writebehind
from sandbox.currencies import AmountError, get_currency, to_decimal_string
from sandbox.errors import ApplicationError, Conflict, NotFound, Unprocessable
from sandbox.events import scheduling
from sandbox.events.services import action_record
from sandbox.gcpause import pausing_collection
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import SYSTEM, Actor, audit_record
from wallets import banks, presenters
from wallets import events as ledger_events
from wallets.locking import lock_accounts, retrying
from wallets.models import Account, Hold, LedgerTransaction, Wallet
from wallets.posting import (
    Condition,
    Leg,
    Mode,
    Posting,
    PostingRefused,
    Result,
    post,
    post_one,
)

DEFAULT_HOLD_LIFETIME = timedelta(days=7)
MAX_HOLD_LIFETIME = timedelta(days=30)
MAX_BULK_TRANSFERS = 8000
MAX_METADATA_BYTES = 4096
HOLD_EXPIRY = "wallets.hold_expiry"  # the scheduled action that expires one hold (handlers.py)


# --- Wallets and accounts ------------------------------------------------------------------


def wallet_create(*, node: Node) -> Wallet:
    """The node's wallet and a first account in its base currency. Called by
    ``node_create`` inside its transaction, so a node never exists without its wallet."""
    wallet = Wallet.objects.create(tenant_id=node.tenant_id, node=node, created_at=clock.now())
    _account_insert(
        wallet=wallet,
        currency=node.base_currency,
        name="Main",
        customer_reference="",
        bank_code=banks.DEFAULT_BANK_CODE,
    )
    return wallet


def _account_insert(
    *, wallet: Wallet, currency: str, name: str, customer_reference: str, bank_code: str
) -> Account:
    for _attempt in range(5):
        account = Account(
            tenant_id=wallet.tenant_id,
            wallet=wallet,
            kind=Account.Kind.CUSTOMER,
            currency=currency,
            name=name,
            customer_reference=customer_reference,
            bank_code=bank_code,
            account_number=banks.new_account_number(),
            created_at=clock.now(),
        )
        try:
            with transaction.atomic():  # a savepoint: a taken number is simply drawn again
                account.save(force_insert=True)
        except IntegrityError:
            continue
        return account
    raise Conflict("Could not draw a free account number; try again.", code="account_number_busy")


def _check_currency(code: str, field: str = "currency") -> str:
    try:
        return get_currency(code).code
    except AmountError as error:
        raise ApplicationError(
            error.message, code=error.code, fields={field: [error.message]}
        ) from None


@retrying
def account_create(
    *,
    wallet: Wallet,
    actor: Actor,
    currency: str,
    name: str,
    customer_reference: str = "",
    bank_code: str = banks.DEFAULT_BANK_CODE,
) -> Account:
    currency = _check_currency(currency)
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ApplicationError(
            "An account needs a name of at most 120 characters.",
            code="invalid_name",
            fields={"name": ["Give a name of 1 to 120 characters."]},
        )
    if len(customer_reference) > 120:
        raise ApplicationError(
            "The customer reference has at most 120 characters.",
            code="invalid_customer_reference",
            fields={"customer_reference": ["At most 120 characters."]},
        )
    if bank_code not in banks.BANKS:
        raise ApplicationError(
            f"Unknown bank code {bank_code!r}; use one of {', '.join(banks.BANKS)}.",
            code="unknown_bank",
            fields={"bank_code": ["Unknown bank code."]},
        )
    if not Node.objects.filter(pk=wallet.node_id, is_active=True).exists():
        raise Conflict("A deactivated node cannot open accounts.", code="node_inactive")
    account = _account_insert(
        wallet=wallet,
        currency=currency,
        name=name,
        customer_reference=customer_reference,
        bank_code=bank_code,
    )
    action_record(
        actor=actor,
        action=ledger_events.ACCOUNT_CREATED,
        tenant=wallet.tenant,
        obj=account,
        node=Node.objects.get(pk=wallet.node_id),
        data=presenters.account_data(account),
        audit_data={
            "currency": currency,
            "bank_code": bank_code,
            "account_number": account.account_number,
        },
    )
    return account


@retrying
def account_close(*, account: Account, actor: Actor) -> Account:
    """Close an empty account. Closed accounts take no more entries or holds."""
    state = lock_accounts([account.id])[account.id]
    if state["status"] != Account.Status.OPEN:
        raise Conflict("This account is already closed.", code="account_closed")
    if state["posted_balance"] or state["pending_balance"] or state["held_balance"]:
        raise Conflict(
            "Only an empty account can be closed: move its money out and settle its holds first.",
            code="account_not_empty",
        )
    now = clock.now()
    Account.objects.filter(pk=account.pk).update(status=Account.Status.CLOSED, closed_at=now)
    account.refresh_from_db()
    action_record(
        actor=actor,
        action=ledger_events.ACCOUNT_CLOSED,
        tenant=account.tenant,
        obj=account,
        node=Node.objects.get(wallet=account.wallet_id),
        data=presenters.account_data(account),
    )
    return account


def platform_account(
    *, purpose: str, currency: str, bank_code: str = banks.DEFAULT_BANK_CODE
) -> Account:
    """The platform's account for ``purpose`` (a bank's settlement account, fees, FX,
    suspense) in ``currency``, created on first use. Platform accounts may go negative:
    they are the other side of money entering or leaving the sandbox."""
    currency = _check_currency(currency)
    if purpose not in Account.Purpose.values or not purpose:
        raise ValueError(f"Unknown platform account purpose {purpose!r}.")
    bank_name = banks.settlement_bank_name(bank_code)
    if bank_name is None:
        raise ValueError(f"Unknown bank code {bank_code!r}.")
    lookup = {
        "kind": Account.Kind.PLATFORM,
        "purpose": purpose,
        "bank_code": bank_code,
        "currency": currency,
    }
    account = Account.objects.filter(**lookup).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return Account.objects.create(
                **lookup,
                name=f"{bank_name} {Account.Purpose(purpose).label} {currency}",
                account_number=banks.new_account_number(),
                allow_overdraft=True,
                created_at=clock.now(),
            )
    except IntegrityError:
        return Account.objects.get(**lookup)  # created concurrently


# --- Transfers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)  # slots: built faster, 8,000 times per bulk
class TransferRequest:
    source: Account
    destination: Account
    amount: int
    currency: str
    memo: str = ""
    metadata: Mapping[str, Any] | None = None
    available_at_least: int | None = None
    lock_version: int | None = None


def _check_metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ApplicationError(
            "metadata must be a JSON object.",
            code="invalid_metadata",
            fields={"metadata": ["Must be a JSON object."]},
        )
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise ApplicationError(
            f"metadata is limited to {MAX_METADATA_BYTES} bytes of JSON.",
            code="invalid_metadata",
            fields={"metadata": ["Too large."]},
        )
    return metadata


_TRANSFER = LedgerTransaction.Kind.TRANSFER
_OPEN = Account.Status.OPEN


def _transfer_posting(tenant_id: UUID | None, request: TransferRequest) -> Posting:
    """Check what can be checked without locks, and build the posting. ``tenant_id``: the
    tenant whose accounts these must be (None: any). Accounts are read by their columns
    (``id``, not the ``pk`` property): a bulk builds 8,000 postings."""
    source, destination = request.source, request.destination
    source_id, currency, amount = source.id, request.currency, request.amount
    if source_id == destination.id:
        raise ApplicationError(
            "The source and the destination are the same account.",
            code="same_account",
            fields={"destination_account_id": ["Must differ from the source account."]},
        )
    for account in (source, destination):
        if tenant_id is not None and account.tenant_id != tenant_id:
            raise NotFound(f"No account with id {account.pk}.", code="account_not_found")
        if account.status != _OPEN:  # ``Account.is_open``
            raise Conflict(f"Account {account.pk} is closed.", code="account_closed")
        if account.currency != currency:
            raise ApplicationError(
                f"Account {account.pk} holds {account.currency}, not {currency}.",
                code="currency_mismatch",
                fields={"currency": [f"Account {account.pk} holds {account.currency}."]},
            )
    if len(request.memo) > 500:
        raise ApplicationError("The memo has at most 500 characters.", code="invalid_memo")
    conditions: tuple[Condition, ...] = ()
    if request.available_at_least is not None or request.lock_version is not None:
        conditions = (
            Condition(
                account_id=source_id,
                available_at_least=request.available_at_least,
                lock_version=request.lock_version,
            ),
        )
    return Posting(
        kind=_TRANSFER,
        legs=[Leg(source_id, -amount, currency), Leg(destination.id, amount, currency)],
        tenant_id=source.tenant_id,
        memo=request.memo,
        metadata=_check_metadata(request.metadata),
        is_inter_node=source.wallet_id != destination.wallet_id,
        conditions=conditions,
    )


@retrying
def transfer_create(*, tenant: Tenant | None, request: TransferRequest) -> Result:
    """Move money between two accounts of one tenant (inter-node when the wallets differ).
    Its accounts are locked late, with the COMMIT (``wallets.locking``, "Late locks"): a
    merchant account credited by many is held for that last message only."""
    tenant_id = tenant.pk if tenant is not None else None
    result = post_one(_transfer_posting(tenant_id, request), lock_late=True)
    ledger_events.transaction_recorded(ledger_events.TRANSFER_POSTED, result)
    return result


@pausing_collection  # 8,000 transfers: sandbox.gcpause
@retrying
def transfer_bulk_create(
    *, tenant: Tenant | None, requests: Sequence[TransferRequest | ApplicationError], mode: Mode
) -> list[Result]:
    """Post up to 8,000 transfers in one database transaction. Items the caller could not
    parse arrive as their ApplicationError and are reported as such."""
    if len(requests) > MAX_BULK_TRANSFERS:
        raise ApplicationError(
            f"At most {MAX_BULK_TRANSFERS} transfers per request.", code="too_many_items"
        )
    if not requests:
        raise ApplicationError("Give at least one transfer.", code="no_items")
    postings: list[Posting | None] = []
    early: dict[int, ApplicationError] = {}
    tenant_id = tenant.pk if tenant is not None else None
    for index, item in enumerate(requests):
        if isinstance(item, ApplicationError):
            early[index] = item
            postings.append(None)
            continue
        try:
            postings.append(_transfer_posting(tenant_id, item))
        except ApplicationError as error:
            early[index] = error
            postings.append(None)
    if early and mode == "atomic":
        first = min(early)
        raise PostingRefused(early[first], first, early)
    ready = [(i, p) for i, p in enumerate(postings) if p is not None]
    with _checks_at_statement_end():
        posted = post([p for _, p in ready], mode=mode) if ready else []
    results = [Result(error=early.get(i)) for i in range(len(requests))]
    pairs = []
    for (index, _), result in zip(ready, posted, strict=True):
        results[index] = result
        request = requests[index]
        assert isinstance(request, TransferRequest)
        pairs.append((request.source, request.destination))
    ledger_events.transfers_recorded(pairs, posted)
    return results


@contextlib.contextmanager
def _checks_at_statement_end() -> Iterator[None]:
    """Inside, the deferred checks (foreign keys, each ledger transaction's zero sum) run at
    the end of each statement instead of at COMMIT. For a bulk in atomic mode the 8,000
    transactions' checks (some 56,000) then run with their INSERT, before the posting locks
    the accounts, instead of at COMMIT while it holds them: a concurrent bulk over the same
    accounts waits that much less. The same checks; the two statements ride with the
    transaction's next ones (``sandbox.writebehind``). After an error nothing is restored:
    the transaction, or the savepoint, and the mode with it, is rolled back."""
    if connection.vendor != "postgresql":
        yield
        return
    writebehind.write("SET CONSTRAINTS ALL IMMEDIATE")
    yield
    writebehind.write("SET CONSTRAINTS ALL DEFERRED")  # none is initially immediate


# --- Holds ---------------------------------------------------------------------------------


@retrying
def hold_place(
    *,
    tenant: Tenant | None,
    account: Account,
    counterparty: Account,
    amount: int,
    currency: str,
    direction: str = Hold.Direction.DEBIT,
    expires_at: datetime | None = None,
    memo: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> Hold:
    """Reserve ``amount`` on ``account`` (debit: outgoing, lowers its available balance) or
    announce it as incoming (credit: its pending balance), to be captured or voided."""
    if direction not in Hold.Direction.values:
        raise ApplicationError(f"Unknown hold direction {direction!r}.", code="invalid_direction")
    if account.pk == counterparty.pk:
        raise ApplicationError(
            "A hold's account and counterparty must differ.",
            code="same_account",
            fields={"counterparty_account_id": ["Must differ from the account."]},
        )
    for acct in (account, counterparty):
        if tenant is not None and acct.tenant_id != tenant.pk:
            raise NotFound(f"No account with id {acct.pk}.", code="account_not_found")
        if not acct.is_open:
            raise Conflict(f"Account {acct.pk} is closed.", code="account_closed")
        if acct.currency != currency:
            raise ApplicationError(
                f"Account {acct.pk} holds {acct.currency}, not {currency}.",
                code="currency_mismatch",
            )
    if amount <= 0:
        raise ApplicationError("The amount must be greater than zero.", code="invalid_amount")
    # A hold lives in its node's time: on a test clock it expires when that clock passes
    # expires_at, not when real time does.
    node = None
    if account.wallet_id is not None:  # platform accounts belong to no node
        node = Node.objects.select_related("tenant").filter(wallet=account.wallet_id).first()
    now = clock.now(node_id=node.pk if node is not None else None)
    expires_at = expires_at or now + DEFAULT_HOLD_LIFETIME
    if expires_at <= now or expires_at > now + MAX_HOLD_LIFETIME:
        raise ApplicationError(
            f"A hold expires in the future, within {MAX_HOLD_LIFETIME.days} days.",
            code="invalid_expiry",
            fields={"expires_at": ["Out of range."]},
        )
    hold = Hold.objects.create(
        tenant_id=account.tenant_id,
        account=account,
        counterparty=counterparty,
        direction=direction,
        amount=amount,
        currency=currency,
        memo=memo[:500],
        metadata=_check_metadata(metadata),
        created_at=now,
        expires_at=expires_at,
    )
    scheduling.schedule(
        kind=HOLD_EXPIRY,
        node=node,
        due_at=expires_at,
        payload={"hold": str(hold.pk)},
        key=_expiry_key(hold),
    )
    change = {account.pk: amount}
    if direction == Hold.Direction.DEBIT:
        result = post_one(Posting(kind="hold", legs=[], tenant_id=account.tenant_id, held=change))
    else:
        result = post_one(
            Posting(kind="hold", legs=[], tenant_id=account.tenant_id, pending=change)
        )
    ledger_events.hold_recorded(ledger_events.HOLD_PLACED, hold, result)
    return hold


def _expiry_key(hold: Hold) -> str:
    return f"hold:{hold.pk}:expiry"


def _hold_now(hold: Hold) -> datetime:
    """The time of the hold's node (its test clock, if any); platform time for a hold on a
    platform account."""
    node_id = Account.objects.filter(pk=hold.account_id).values_list("wallet__node_id", flat=True)
    return clock.now(node_id=node_id.first())


def _hold_claim(
    hold: Hold, *, status: str, captured_amount: int = 0, due_only: bool = False
) -> Hold:
    """Move a pending hold to ``status`` exactly once: the conditional UPDATE locks the
    hold row (step 1 of the lock order) and a second claimant finds it no longer pending.
    Expiry is judged in the node's time."""
    now = _hold_now(hold)
    claim = Hold.objects.filter(pk=hold.pk, status=Hold.Status.PENDING)
    if due_only:
        claim = claim.filter(expires_at__lte=now)
    elif status != Hold.Status.VOIDED:
        claim = claim.filter(expires_at__gt=now)
    updated = claim.update(status=status, captured_amount=captured_amount, resolved_at=now)
    hold.refresh_from_db()
    if updated != 1:
        if hold.status == Hold.Status.PENDING and hold.expires_at <= now:
            raise Conflict("This hold has expired.", code="hold_expired")
        raise Conflict(f"This hold is already {hold.status}.", code="hold_not_pending")
    if status != Hold.Status.EXPIRED:
        scheduling.cancel(kind=HOLD_EXPIRY, key=_expiry_key(hold))  # nothing left to expire
    return hold


class _Release(TypedDict, total=False):
    """``Posting`` arguments that release what a hold reserved."""

    held: Mapping[UUID, int]
    pending: Mapping[UUID, int]


def _release(hold: Hold) -> _Release:
    if hold.direction == Hold.Direction.DEBIT:
        return {"held": {hold.account_id: -hold.amount}}
    return {"pending": {hold.account_id: -hold.amount}}


@retrying
def hold_capture(*, hold: Hold, amount: int | None = None, memo: str = "") -> Hold:
    """Settle a hold for ``amount`` (all of it by default); the rest is released."""
    amount = hold.amount if amount is None else amount
    if amount <= 0:
        raise ApplicationError("The amount must be greater than zero.", code="invalid_amount")
    if amount > hold.amount:
        raise ApplicationError(
            f"At most {to_decimal_string(hold.amount, hold.currency)} {hold.currency} "
            "can be captured.",
            code="capture_exceeds_hold",
            fields={"amount": ["More than the hold."]},
        )
    hold = _hold_claim(hold, status=Hold.Status.CAPTURED, captured_amount=amount)
    if hold.direction == Hold.Direction.DEBIT:
        legs = [
            Leg(hold.account_id, -amount, hold.currency),
            Leg(hold.counterparty_id, amount, hold.currency),
        ]
    else:
        legs = [
            Leg(hold.counterparty_id, -amount, hold.currency),
            Leg(hold.account_id, amount, hold.currency),
        ]
    result = post_one(
        Posting(
            kind=LedgerTransaction.Kind.HOLD_CAPTURE,
            legs=legs,
            tenant_id=hold.tenant_id,
            memo=memo[:500] or hold.memo,
            metadata={**hold.metadata, "hold_id": str(hold.pk)},
            is_inter_node=_wallet_of(hold.account_id) != _wallet_of(hold.counterparty_id),
            **_release(hold),
        )
    )
    Hold.objects.filter(pk=hold.pk).update(capture_transaction=result.transaction)
    hold.capture_transaction = result.transaction
    ledger_events.hold_recorded(ledger_events.HOLD_CAPTURED, hold, result)
    return hold


def _wallet_of(account_id: UUID) -> UUID | None:
    return Account.objects.filter(pk=account_id).values_list("wallet_id", flat=True).first()


@retrying
def hold_void(*, hold: Hold) -> Hold:
    hold = _hold_claim(hold, status=Hold.Status.VOIDED)
    result = post_one(Posting(kind="hold", legs=[], tenant_id=hold.tenant_id, **_release(hold)))
    ledger_events.hold_recorded(ledger_events.HOLD_VOIDED, hold, result)
    return hold


@retrying
def hold_expire(*, hold_id: UUID) -> bool:
    """Expire one hold if it is due by its node's time and still pending; False if there was
    nothing to do (already captured, voided or expired, or not due yet: safe to run twice).
    The hold's scheduled action (``HOLD_EXPIRY``) and the beat sweep both call this."""
    hold = Hold.objects.filter(pk=hold_id).first()
    if hold is None:
        return False
    try:
        hold = _hold_claim(hold, status=Hold.Status.EXPIRED, due_only=True)
    except Conflict:
        return False
    result = post_one(Posting(kind="hold", legs=[], tenant_id=hold.tenant_id, **_release(hold)))
    ledger_events.hold_recorded(ledger_events.HOLD_EXPIRED, hold, result)
    return True


def holds_expire_due(*, limit: int = 1000) -> int:
    """The beat sweep, a backstop for the holds' scheduled actions: expire the holds that
    are due, each in its own short transaction. A hold of a node on a test clock is due only
    once that clock has passed its expiry, whatever the platform time."""
    attachment = "account__wallet__node__clock_attachment"
    due = Hold.objects.filter(status=Hold.Status.PENDING).filter(
        Q(**{f"{attachment}__isnull": True}, expires_at__lte=clock.now())
        | Q(**{f"{attachment}__clock__frozen_time__gte": F("expires_at")})
    )
    expired = 0
    for hold_id in due.order_by("expires_at").values_list("pk", flat=True)[:limit]:
        expired += hold_expire(hold_id=hold_id)
    return expired


# --- Reversals -----------------------------------------------------------------------------


@retrying
def transaction_reverse(
    *,
    transaction_: LedgerTransaction,
    tenant: Tenant | None,
    actor: Actor = SYSTEM,
    memo: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> Result:
    """Post the exact opposite of a transaction, linked to it. A transaction is reversed at
    most once (a unique index backs this), and a reversal is not reversed again. Tenants
    reverse only transactions between their own virtual accounts; money that entered from
    a bank is returned through the bank network instead."""
    original = transaction_
    if tenant is not None and original.tenant_id != tenant.pk:
        raise NotFound(f"No transaction with id {original.uuid}.", code="transaction_not_found")
    if original.reverses_id is not None:
        raise Conflict("A reversal cannot itself be reversed.", code="cannot_reverse_reversal")
    if LedgerTransaction.objects.filter(reverses=original).exists():
        raise Conflict("This transaction is already reversed.", code="already_reversed")
    entries = list(original.entries.select_related("account").order_by("id"))
    if tenant is not None and any(
        e.account.is_platform or e.account.tenant_id != tenant.pk for e in entries
    ):
        raise Unprocessable(
            "Only transactions between your own accounts can be reversed here.",
            code="not_reversible",
        )
    try:
        with transaction.atomic():
            result = post_one(
                Posting(
                    kind=LedgerTransaction.Kind.REVERSAL,
                    legs=[Leg(e.account_id, -e.amount, e.currency) for e in entries],
                    tenant_id=original.tenant_id,
                    memo=memo[:500] or f"Reversal of {original.uuid}",
                    metadata=_check_metadata(metadata),
                    reverses_id=original.pk,
                    is_inter_node=original.is_inter_node,
                )
            )
    except IntegrityError:
        # Another request reversed it first: the unique index on reverses_id decided.
        raise Conflict("This transaction is already reversed.", code="already_reversed") from None
    ledger_events.transaction_recorded(ledger_events.TRANSACTION_REVERSED, result)
    audit_record(
        actor=actor,
        action="transaction.reversed",
        tenant=tenant,
        target=result.transaction,
        data={"reverses": str(original.uuid)},
    )
    return result
