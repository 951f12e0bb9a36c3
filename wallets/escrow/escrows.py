"""Escrow contracts: create (the payer's money goes on a ledger hold bound to the terms'
hash), release in full or in parts (to the payee, less the fee), refund (what remains, to
the payer), and the timeout, which settles what remains by the contract's rule.

Each settlement happens exactly once, under concurrent calls too. Lock order, in front of
the ledger's own (``wallets.locking``): the escrow row (``SELECT … FOR UPDATE``), then
its dispute row if any, then the ledger's hold (its conditional UPDATE), then the
accounts. Under the escrow's lock the state is checked again, and the escrow row is
changed with a conditional UPDATE on the state that was checked: a second caller waits
for the first to commit and then finds the escrow changed (``escrow_released``,
``escrow_refunded``, ``amount_exceeds_remaining``, …) with no money moved.

Money moves only through the ledger's services. A hold is settled once, so a partial
release captures the hold for the released amount (the rest is released with it) and,
in the same database transaction, places a new hold for what remains, bound to the same
terms hash. The fee goes from the payee to the platform's fee account in a second
ledger transaction, posted with the release.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Model

from sandbox import clock
from sandbox.currencies import to_decimal_string
from sandbox.errors import ApplicationError, Conflict, NotFound, Unprocessable
from sandbox.events import scheduling
from sandbox.events.services import action_record, event_record
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import Actor
from wallets import services as ledger
from wallets.escrow import presenters
from wallets.escrow.models import Escrow, EscrowMovement
from wallets.escrow.terms import escrow_terms, release_fee, terms_hash
from wallets.locking import retrying
from wallets.models import Account, Hold, LedgerTransaction
from wallets.posting import Leg, Posting, post_one

TIMEOUT = "escrow.timeout"  # the scheduled action that settles an escrow on its timeout
MIN_TIMEOUT = timedelta(minutes=1)
MAX_TIMEOUT = timedelta(days=14)
# Longer than the timeout plus a dispute's decision period (``disputes.DECISION_PERIOD``),
# so that the ledger never lets an escrow's hold lapse before the escrow is settled; and
# within the ledger's 30 days.
HOLD_LIFETIME = timedelta(days=29)
MAX_DESCRIPTION = 200

# Event types (docs/escrow.md).
CREATED = "escrow.created"
PARTIALLY_RELEASED = "escrow.partially_released"
RELEASED = "escrow.released"
REFUNDED = "escrow.refunded"
TIMED_OUT = "escrow.timed_out"


def _invalid(field: str, message: str, code: str) -> ApplicationError:
    return ApplicationError(message, code=code, fields={field: [message]})


def _node_of(account: Account) -> Node:
    return Node.objects.select_related("tenant").get(wallet=account.wallet_id)


def _check_accounts(tenant: Tenant, payer: Account, payee: Account, currency: str) -> None:
    if payer.pk == payee.pk:
        raise _invalid("payee_account_id", "The payer and the payee differ.", "same_account")
    for account in (payer, payee):
        if account.tenant_id != tenant.pk or account.kind != Account.Kind.CUSTOMER:
            raise NotFound(f"No account with id {account.pk}.", code="account_not_found")
        if not account.is_open:
            raise Conflict(f"Account {account.pk} is closed.", code="account_closed")
        if account.currency != currency:
            raise _invalid(
                "currency",
                f"Account {account.pk} holds {account.currency}, not {currency}.",
                "currency_mismatch",
            )


def _check_schedule(
    amount: int, release_condition: str, timeout_seconds: int, dispute_window_seconds: int
) -> None:
    if amount <= 0:
        raise _invalid("amount", "The amount must be greater than zero.", "invalid_amount")
    if release_condition not in Escrow.ReleaseCondition.values:
        raise _invalid(
            "release_condition",
            f"Unknown release condition {release_condition!r}; use manual or deadline.",
            "invalid_release_condition",
        )
    low, high = int(MIN_TIMEOUT.total_seconds()), int(MAX_TIMEOUT.total_seconds())
    if not low <= timeout_seconds <= high:
        raise _invalid(
            "timeout_seconds", f"The timeout is {low} to {high} seconds.", "invalid_timeout"
        )
    if not 0 <= dispute_window_seconds <= timeout_seconds:
        raise _invalid(
            "dispute_window_seconds",
            "The dispute window is 0 seconds to the timeout.",
            "invalid_dispute_window",
        )


def _check_fees(amount: int, currency: str, fee_rate_bps: int, fixed_fee: int) -> None:
    if not 0 <= fee_rate_bps <= 10_000:
        raise _invalid("fee_rate_bps", "The fee rate is 0 to 10000 bps.", "invalid_fee_rate")
    if not 0 <= fixed_fee <= amount:
        raise _invalid(
            "fixed_fee",
            f"The fixed fee is at most the amount ({to_decimal_string(amount, currency)}).",
            "invalid_fixed_fee",
        )


@retrying
def escrow_create(
    *,
    tenant: Tenant,
    actor: Actor,
    payer_account: Account,
    payee_account: Account,
    amount: int,
    currency: str,
    release_condition: str,
    timeout_seconds: int,
    dispute_window_seconds: int,
    fee_rate_bps: int = 0,
    fixed_fee: int = 0,
    description: str = "",
) -> Escrow:
    """Hold ``amount`` on the payer's account under the terms, until released, refunded,
    timed out or decided by a dispute."""
    _check_accounts(tenant, payer_account, payee_account, currency)
    _check_schedule(amount, release_condition, timeout_seconds, dispute_window_seconds)
    _check_fees(amount, currency, fee_rate_bps, fixed_fee)
    if len(description) > MAX_DESCRIPTION:
        raise _invalid("description", "At most 200 characters.", "invalid_description")
    payer_node, payee_node = _node_of(payer_account), _node_of(payee_account)
    if not (payer_node.is_active and payee_node.is_active):
        raise Conflict("A deactivated node takes no part in escrows.", code="node_inactive")
    now = clock.now(node_id=payer_node.pk)
    # The terms' times are whole seconds, and the row keeps the times the terms say.
    start = now.replace(microsecond=0)
    escrow_id = uuid.uuid4()
    escrow = Escrow(
        id=escrow_id,
        tenant=tenant,
        payer_node=payer_node,
        payee_node=payee_node,
        payer_account=payer_account,
        payee_account=payee_account,
        amount=amount,
        currency=currency,
        fee_rate_bps=fee_rate_bps,
        fixed_fee=fixed_fee,
        release_condition=release_condition,
        timeout_at=start + timedelta(seconds=timeout_seconds),
        dispute_window_ends_at=start + timedelta(seconds=dispute_window_seconds),
        description=description,
        created_at=now,
    )
    escrow.terms = escrow_terms(
        escrow_id=str(escrow_id),
        payer_account_id=str(payer_account.pk),
        payee_account_id=str(payee_account.pk),
        amount=amount,
        currency=currency,
        release_condition=release_condition,
        on_timeout=escrow.on_timeout,
        created_at=start,
        timeout_at=escrow.timeout_at,
        dispute_window_ends_at=escrow.dispute_window_ends_at,
        fee_rate_bps=fee_rate_bps,
        fixed_fee=fixed_fee,
        description=description,
    )
    escrow.terms_hash = terms_hash(escrow.terms)
    escrow.hold = _hold(escrow, amount, expires_at=start + HOLD_LIFETIME)
    escrow.save(force_insert=True)
    scheduling.schedule(
        kind=TIMEOUT,
        node=payer_node,
        due_at=escrow.timeout_at,
        payload={"escrow": str(escrow.pk)},
        key=_timeout_key(escrow),
    )
    record(escrow, CREATED, actor=actor)
    return escrow


def _hold(escrow: Escrow, amount: int, *, expires_at: datetime) -> Hold:
    """A debit hold on the payer's account, payable to the payee, bound to the terms."""
    return ledger.hold_place(
        tenant=None,
        account=escrow.payer_account,
        counterparty=escrow.payee_account,
        amount=amount,
        currency=escrow.currency,
        direction=Hold.Direction.DEBIT,
        expires_at=expires_at,
        memo=f"Escrow {escrow.pk}",
        metadata={"escrow_id": str(escrow.pk), "terms_hash": escrow.terms_hash},
    )


def _timeout_key(escrow: Escrow) -> str:
    return f"escrow:{escrow.pk}:timeout"


def record(
    escrow: Escrow,
    type: str,
    *,
    actor: Actor | None = None,
    obj: Model | None = None,
    data: dict[str, Any] | None = None,
    audit_action: str | None = None,
) -> None:
    """The event of a change, for the payer's node and (if another) the payee's; with an
    actor, its audit entry too (``audit_action``, the event type by default). ``obj`` and
    ``data`` default to the escrow as the API shows it."""
    obj = obj or escrow
    data = data if data is not None else presenters.escrow_json(escrow)
    nodes = [escrow.payer_node]
    if escrow.payee_node_id != escrow.payer_node_id:
        nodes.append(escrow.payee_node)
    first, *others = nodes
    if actor is not None:
        action_record(
            actor=actor,
            action=audit_action or type,
            event_type=type,
            tenant=escrow.tenant,
            node=first,
            obj=obj,
            data=data,
        )
    else:
        event_record(tenant=escrow.tenant, node=first, type=type, obj=obj, data=data)
    for node in others:
        event_record(tenant=escrow.tenant, node=node, type=type, obj=obj, data=data)


def lock(escrow_id: UUID | str) -> Escrow | None:
    """The escrow, locked for the rest of the transaction (step 1 of the lock order)."""
    locked = Escrow.objects.select_for_update().filter(pk=escrow_id).first()
    if locked is None:
        return None
    return Escrow.objects.select_related(
        "tenant", "payer_node__tenant", "payee_node__tenant", "payer_account", "payee_account"
    ).get(pk=locked.pk)


def node_now(escrow: Escrow) -> datetime:
    """The escrow's time: its payer node's (a test clock's, if the node follows one)."""
    return clock.now(node_id=escrow.payer_node_id)


def settle(escrow: Escrow, *, release: int, refund: int, cause: str) -> Escrow:
    """Release ``release`` to the payee (less the fee) and give ``refund`` back to the payer,
    out of the locked, open escrow; what remains stays held on a new hold. The caller has
    checked the state and the amounts under the lock."""
    remaining = escrow.remaining_amount - release - refund
    assert release >= 0 and refund >= 0 and release + refund > 0 and remaining >= 0
    assert escrow.hold_id is not None  # an open escrow always has its hold (a constraint)
    hold = Hold.objects.get(pk=escrow.hold_id)
    fee = 0
    if release:
        hold = ledger.hold_capture(hold=hold, amount=release, memo=f"Escrow {escrow.pk} release")
        fee = release_fee(
            amount=release,
            fee_rate_bps=escrow.fee_rate_bps,
            fixed_fee=escrow.fixed_fee,
            first_release=escrow.released_amount == 0,
        )
        EscrowMovement.objects.create(
            tenant_id=escrow.tenant_id,
            escrow=escrow,
            kind=EscrowMovement.Kind.RELEASE,
            amount=release,
            fee=fee,
            cause=cause,
            transaction=hold.capture_transaction,
            fee_transaction=_charge_fee(escrow, fee) if fee else None,
            created_at=node_now(escrow),
        )
    else:
        ledger.hold_void(hold=hold)
    if refund:
        EscrowMovement.objects.create(
            tenant_id=escrow.tenant_id,
            escrow=escrow,
            kind=EscrowMovement.Kind.REFUND,
            amount=refund,
            cause=cause,
            created_at=node_now(escrow),
        )
    new_hold = _hold(escrow, remaining, expires_at=hold.expires_at) if remaining else None
    if remaining:
        status = (
            Escrow.Status.DISPUTED
            if escrow.status == Escrow.Status.DISPUTED
            else Escrow.Status.PARTIALLY_RELEASED
        )
    else:
        status = Escrow.Status.REFUNDED if refund else Escrow.Status.RELEASED
    changes: dict[str, Any] = {
        "released_amount": escrow.released_amount + release,
        "refunded_amount": escrow.refunded_amount + refund,
        "fee_amount": escrow.fee_amount + fee,
        "hold": new_hold,
        "status": status,
    }
    if not remaining:
        changes.update(resolution=cause, closed_at=node_now(escrow))
        scheduling.cancel(kind=TIMEOUT, key=_timeout_key(escrow))
    # The backstop of the lock: the row changes only from the state checked under it.
    updated = Escrow.objects.filter(
        pk=escrow.pk,
        status=escrow.status,
        released_amount=escrow.released_amount,
        refunded_amount=escrow.refunded_amount,
    ).update(**changes)
    if updated != 1:
        raise Conflict("The escrow changed meanwhile; try again.", code="escrow_changed")
    for name, value in changes.items():
        setattr(escrow, name, value)
    return escrow


def _charge_fee(escrow: Escrow, fee: int) -> LedgerTransaction:
    fees = ledger.platform_account(purpose=Account.Purpose.FEES, currency=escrow.currency)
    result = post_one(
        Posting(
            kind="escrow_fee",
            legs=[
                Leg(escrow.payee_account_id, -fee, escrow.currency),
                Leg(fees.pk, fee, escrow.currency),
            ],
            tenant_id=escrow.tenant_id,
            memo=f"Escrow {escrow.pk} fee",
            metadata={"escrow_id": str(escrow.pk), "terms_hash": escrow.terms_hash},
        )
    )
    return result.transaction


def _refuse_unless_open(escrow: Escrow, now: datetime) -> None:
    """The parties' actions (release, refund) need an open, undisputed escrow whose
    timeout has not come."""
    if escrow.status == Escrow.Status.REFUNDED:
        raise Conflict("This escrow was refunded; nothing can be released.", code="escrow_refunded")
    if escrow.status == Escrow.Status.RELEASED:
        raise Conflict("This escrow was released in full.", code="escrow_released")
    if escrow.status == Escrow.Status.DISPUTED:
        raise Conflict(
            "This escrow is disputed: the dispute's decision settles it.", code="escrow_disputed"
        )
    if now >= escrow.timeout_at:
        raise Conflict(
            "This escrow's timeout has come: it is settled by its timeout rule.",
            code="escrow_timed_out",
        )


def _locked(escrow: Escrow) -> Escrow:
    locked = lock(escrow.pk)
    if locked is None:
        raise NotFound(f"No escrow with id {escrow.pk}.", code="escrow_not_found")
    return locked


@retrying
def escrow_release(*, escrow: Escrow, actor: Actor, amount: int | None = None) -> Escrow:
    """Release ``amount`` (all that remains by default) to the payee, less the fee."""
    escrow = _locked(escrow)
    _refuse_unless_open(escrow, node_now(escrow))
    remaining = escrow.remaining_amount
    amount = remaining if amount is None else amount
    if amount <= 0:
        raise _invalid("amount", "The amount must be greater than zero.", "invalid_amount")
    if amount > remaining:
        raise Unprocessable(
            f"At most {to_decimal_string(remaining, escrow.currency)} {escrow.currency} "
            "remains to release.",
            code="amount_exceeds_remaining",
            fields={"amount": ["More than what remains."]},
        )
    escrow = settle(escrow, release=amount, refund=0, cause=Escrow.Resolution.MANUAL)
    record(escrow, RELEASED if amount == remaining else PARTIALLY_RELEASED, actor=actor)
    return escrow


@retrying
def escrow_refund(*, escrow: Escrow, actor: Actor) -> Escrow:
    """Give what remains back to the payer; the escrow is then closed."""
    escrow = _locked(escrow)
    _refuse_unless_open(escrow, node_now(escrow))
    escrow = settle(escrow, release=0, refund=escrow.remaining_amount, cause="manual")
    record(escrow, REFUNDED, actor=actor)
    return escrow


@retrying
def escrow_timeout(*, escrow_id: UUID | str) -> bool:
    """Settle what remains by the contract's rule (``Escrow.on_timeout``) once the payer
    node's time has reached the timeout. False when there is nothing to do: settled
    already, disputed (the dispute decides) or not due yet. Safe to run twice."""
    escrow = lock(escrow_id)
    if escrow is None or escrow.status not in (
        Escrow.Status.HELD,
        Escrow.Status.PARTIALLY_RELEASED,
    ):
        return False
    if node_now(escrow) < escrow.timeout_at:
        return False
    remaining = escrow.remaining_amount
    if escrow.on_timeout == "release":
        escrow = settle(escrow, release=remaining, refund=0, cause=Escrow.Resolution.TIMEOUT)
    else:
        escrow = settle(escrow, release=0, refund=remaining, cause=Escrow.Resolution.TIMEOUT)
    record(escrow, TIMED_OUT)
    return True


def escrow_verify(escrow: Escrow) -> list[str]:
    """What is wrong between the escrow, its terms and its holds (nothing: ``[]``): the
    stored hash is the terms' hash, every hold of the escrow carries that hash, and the
    open escrow's hold holds exactly what remains."""
    problems = []
    if terms_hash(escrow.terms) != escrow.terms_hash:
        problems.append("the terms do not hash to terms_hash")
    holds = Hold.objects.filter(metadata__escrow_id=str(escrow.pk))
    for hold in holds:
        if hold.metadata.get("terms_hash") != escrow.terms_hash:
            problems.append(f"hold {hold.pk} carries another terms hash")
    if escrow.is_open:
        current = Hold.objects.filter(pk=escrow.hold_id).first() if escrow.hold_id else None
        if current is None or not current.is_pending or current.amount != escrow.remaining_amount:
            problems.append("the escrow's hold does not hold what remains")
    elif holds.filter(status=Hold.Status.PENDING).exists():
        problems.append("a closed escrow still has a pending hold")
    return problems
