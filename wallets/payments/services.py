"""Writes of push payments: create a request, authorize it (the token), redeem the token,
refund, cancel, expire.

The flow (docs/payments.md): the merchant node's request is signed by that node (JWS) and
served at a public URL that its dynamic QR carries. The payer's node fetches it, checks the
merchant's signature and signs an authorization over the request's hash, the amount, the
currency, the merchant, a salted commitment to the paying account and an expiry: the token.
The merchant presents the token; the platform checks both signatures and that they match,
and posts one ledger transaction.

Lock order (``wallets.locking``): the payment request row first (a conditional UPDATE or
``SELECT ... FOR UPDATE``, like a hold), then the accounts inside ``post``. Redeem and
refund of one request therefore queue on its row; the unique ``Redemption.request`` is the
backstop that no code path can get around.

In this version payer and merchant nodes belong to one tenant: a ledger transaction
belongs to one tenant, and a request of another tenant's node answers 404 like any other
object of theirs.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction

from sandbox import clock
from sandbox.currencies import to_decimal_string
from sandbox.errors import ApplicationError, Conflict, NotFound, Unprocessable
from sandbox.events import scheduling
from sandbox.events.services import NewEvent, action_record, event_record, events_record
from sandbox.nodekeys import jws
from sandbox.nodekeys import selectors as key_selectors
from sandbox.nodekeys.models import NodeKey
from sandbox.nodekeys.services import node_key_current, node_sign
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import Actor, audit_record_later
from wallets import presenters as ledger_presenters
from wallets.locking import retrying
from wallets.models import Account
from wallets.payments import emvco, presenters, redeeming
from wallets.payments.models import (
    PAID_STATES,
    PaymentAuthorization,
    PaymentRequest,
    Redemption,
    Refund,
)
from wallets.posting import Leg, Posting, Result, post_one

REQUEST_TYP = "fsbx.payment-request+jws"
TOKEN_TYP = redeeming.TOKEN_TYP
VERSION = 1
REQUEST_EXPIRY = "payments.request_expiry"  # the scheduled action (handlers.py)
DEFAULT_REQUEST_LIFETIME = timedelta(minutes=15)
MAX_REQUEST_LIFETIME = timedelta(days=7)
DEFAULT_TOKEN_LIFETIME = timedelta(minutes=10)
MAX_TOKEN_LIFETIME = timedelta(days=1)
MIN_LIFETIME = timedelta(seconds=30)
SALT_BYTES = 32
TRANSACTION_KIND = "payment"
REFUND_KIND = "payment_refund"
KeyOf = Callable[[str], NodeKey | None]
# The ledger event of a payment's (or refund's) transaction, for the payer's node only:
# its entries name the payer's account, which the merchant's node must not learn.
PAYER_LEDGER_EVENT = "payment_transaction.posted"


# --- Shared checks ---------------------------------------------------------------------------


def _numeric_date(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_numeric_date(value: Any, field: str) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**40:
        raise Unprocessable(f"The token's {field} is not a NumericDate.", code="malformed_token")
    return datetime.fromtimestamp(value, tz=UTC)


def account_commitment(salt: bytes, account_id: uuid.UUID) -> str:
    """What the token says of the paying account: SHA-256(salt || account id bytes),
    base64url. The salt (32 random bytes) stays with the platform and the payer's node, so
    the merchant cannot test guesses of account ids against it; the commitment still binds
    the payer's signature to one account (the platform, holding the salt, can show which)."""
    return jws.b64u(hashlib.sha256(salt + account_id.bytes).digest())


def _lifetime(seconds: int | None, default: timedelta, maximum: timedelta, field: str) -> timedelta:
    if seconds is None:
        return default
    lifetime = timedelta(seconds=seconds)
    if not MIN_LIFETIME <= lifetime <= maximum:
        raise ApplicationError(
            f"{field} must be between {int(MIN_LIFETIME.total_seconds())} and "
            f"{int(maximum.total_seconds())} seconds.",
            code="invalid_expiry",
            fields={field: ["Out of range."]},
        )
    return lifetime


def _refuse_closed(request: PaymentRequest, now: datetime) -> None:
    """Refuse a request that can no longer be authorized or redeemed: paid (409, naming the
    transaction), canceled (409), expired (410)."""
    if request.is_paid:
        txn = request.transaction
        assert txn is not None  # a paid request links its transaction (a constraint)
        raise Conflict(
            f"This order is already paid, by transaction {txn.uuid}.",
            code="already_paid",
            fields={"transaction_id": [str(txn.uuid)]},
        )
    if request.status == PaymentRequest.Status.CANCELED:
        raise Conflict("This payment request was canceled.", code="request_canceled")
    if request.status == PaymentRequest.Status.EXPIRED or request.expires_at <= now:
        raise ApplicationError(
            "This payment request has expired.", code="request_expired", status_code=410
        )


def _forged(code: str, message: str) -> Unprocessable:
    return Unprocessable(message, code=code)


def _verify(
    compact: Any, typ: str, what: str, key_of: KeyOf = key_selectors.key_by_kid
) -> tuple[jws.Parsed, NodeKey]:
    """The JWS and its key, or 422 with the reason (``malformed_token``, ``bad_signature``,
    ``unknown_key``, ``key_retired``...). ``key_of``: the key of a kid, if already read."""
    try:
        parsed, key = key_selectors.verify(compact, typ=typ, key_of=key_of)
    except jws.JwsError as error:
        code = "malformed_token" if error.code in ("malformed_jws", "wrong_type") else error.code
        raise _forged(code, f"The {what} is not acceptable: {error.message}") from None
    iat = parsed.payload.get("iat")
    if key.retired_at is not None and isinstance(iat, int) and iat > key.retired_at.timestamp():
        raise _forged("key_retired", f"The {what} was signed after its key was retired.")
    return parsed, key


# --- Requests --------------------------------------------------------------------------------


def _request_claims(request: PaymentRequest) -> dict[str, Any]:
    """What a request JWS says of the payment (besides its id and times)."""
    return {
        "merchant": str(request.node_id),
        "account": str(request.account_id),
        "order_id": request.order_id,
        "amount": to_decimal_string(request.amount, request.currency),
        "currency": request.currency,
        "description": request.description,
    }


def _request_payload(request: PaymentRequest) -> dict[str, Any]:
    return {
        "ver": VERSION,
        "rid": str(request.pk),
        **_request_claims(request),
        "iat": _numeric_date(request.created_at),
        "exp": _numeric_date(request.expires_at),
    }


@retrying
def payment_request_create(
    *,
    actor: Actor,
    account: Account,
    order_id: str,
    amount: int,
    currency: str,
    description: str = "",
    expires_in: int | None = None,
    signed: str | None = None,
) -> PaymentRequest:
    """A merchant node's request to be paid ``amount`` into ``account`` for ``order_id``
    (unique per node), signed by the node, with its dynamic QR payload. A node that signs
    outside the sandbox sends the JWS it signed (``signed``): its claims must be these."""
    wallet = account.wallet
    if wallet is None or account.tenant_id is None:
        raise NotFound(f"No account with id {account.pk}.", code="account_not_found")
    node = Node.objects.select_related("tenant").get(pk=wallet.node_id)
    if not node.is_active:
        raise Conflict("A deactivated node cannot request payments.", code="node_inactive")
    if not account.is_open:
        raise Conflict(f"Account {account.pk} is closed.", code="account_closed")
    if account.currency != currency:
        raise ApplicationError(
            f"Account {account.pk} holds {account.currency}, not {currency}.",
            code="currency_mismatch",
            fields={"currency": [f"The account holds {account.currency}."]},
        )
    if currency not in emvco.NUMERIC_CURRENCY:
        raise ApplicationError(
            f"{currency} has no ISO 4217 numeric code: a QR payment cannot carry it.",
            code="currency_not_supported",
            fields={"currency": [f"Use one of {', '.join(emvco.NUMERIC_CURRENCY)}."]},
        )
    now = clock.now(node_id=node.pk)
    request = PaymentRequest(
        id=uuid.uuid4(),
        tenant_id=node.tenant_id,
        node=node,
        account=account,
        order_id=order_id,
        amount=amount,
        currency=currency,
        description=description,
        created_at=now,
    )
    if signed is None:
        lifetime = _lifetime(
            expires_in, DEFAULT_REQUEST_LIFETIME, MAX_REQUEST_LIFETIME, "expires_in"
        )
        # Whole seconds: the JWS says it as a NumericDate, and both must agree.
        request.expires_at = (now + lifetime).replace(microsecond=0)
        request.jws = node_sign(node=node, typ=REQUEST_TYP, payload=_request_payload(request))
    else:
        _outside_request(request, signed, now)
    request.request_hash = jws.digest(request.jws)
    try:
        request.qr_payload = emvco.payload(
            url=presenters.request_url(request.pk),
            currency=currency,
            amount=to_decimal_string(amount, currency),
            country=str(node.country),
            merchant_name=node.name,
            reference=order_id,
        )
    except emvco.QrError as error:
        raise ApplicationError(error.message, code=error.code) from None
    try:
        with transaction.atomic():
            request.save(force_insert=True)
    except IntegrityError:
        raise Conflict(
            f"This node already has a payment request for order {order_id!r}.",
            code="duplicate_order_id",
            fields={"order_id": ["Already used by this node."]},
        ) from None
    scheduling.schedule(
        kind=REQUEST_EXPIRY,
        node=node,
        due_at=request.expires_at,
        payload={"request": str(request.pk)},
        key=f"payreq:{request.pk}",
    )
    _changed(request, actor, "payment_request.created")
    return request


def _outside_request(request: PaymentRequest, signed: str, now: datetime) -> None:
    """Take the request a node signed outside the sandbox: its key, its claims (they must
    be the request's fields), its id (``rid``, a new UUID) and its expiry (``exp``)."""
    if node_key_current(node=request.node).origin != NodeKey.Origin.TENANT:
        raise ApplicationError(
            "The sandbox signs for this node: leave jws out.", code="node_signs_here"
        )
    parsed, key = _verify(signed, REQUEST_TYP, "payment request")
    if key.node_id != request.node_id:
        raise _forged("bad_signature", "The request is not signed by the merchant node.")
    claims = parsed.payload
    if claims.get("ver") != VERSION:
        raise _forged("malformed_token", "The request is not a version 1 payment request.")
    for name, expected in _request_claims(request).items():
        if claims.get(name) != expected:
            raise _forged("request_mismatch", f"The signed request's {name} is not the one sent.")
    try:
        request.id = uuid.UUID(str(claims.get("rid")))
    except ValueError:
        raise _forged("malformed_token", "rid must be a UUID.") from None
    if PaymentRequest.objects.filter(pk=request.id).exists():
        raise Conflict("A payment request with this rid exists.", code="duplicate_request_id")
    request.expires_at = _from_numeric_date(claims.get("exp"), "exp")
    if not MIN_LIFETIME <= request.expires_at - now <= MAX_REQUEST_LIFETIME:
        raise ApplicationError(
            "The signed request's exp must lie 30 seconds to 7 days ahead (the node's clock).",
            code="invalid_expiry",
        )
    request.jws = signed


def _changed(
    request: PaymentRequest,
    actor: Actor | None,
    event_type: str,
    merchant_now: datetime | None = None,
) -> None:
    """Record the request's new state: the merchant node's webhook event (with the audit
    entry when someone acted). ``merchant_now``: the merchant node's time, if the caller
    read it in this transaction (else the event reads it)."""
    data = presenters.request_json(request)
    if actor is None:
        event_record(
            tenant=None,
            node=request.node,
            type=event_type,
            obj=request,
            data=data,
            occurred_at=merchant_now,
        )
    else:
        action_record(
            actor=actor,
            action=event_type,
            tenant=request.node.tenant,
            node=request.node,
            obj=request,
            data=data,
            occurred_at=merchant_now,
        )


def _payer_heard(payer_node: Node, result: Result) -> None:
    """The payer's node hears of the money leaving (or, refunded, coming back to) its
    account, as the ledger's own events tell every balance change (docs/webhooks.md)."""
    events_record([_payer_event(payer_node.pk, payer_node.tenant_id, result)])


def _payer_event(
    node_id: Any, tenant_id: Any, result: Result, occurred_at: datetime | None = None
) -> NewEvent:
    """``_payer_heard``'s event. ``occurred_at``: the payer node's time, if the caller read
    it in this transaction (else it is read when recorded)."""
    txn = result.transaction
    return NewEvent(
        node_id=node_id,
        tenant_id=tenant_id,
        type=PAYER_LEDGER_EVENT,
        obj=txn,
        data=ledger_presenters.result_data(result),
        object_id=str(txn.uuid),
        occurred_at=occurred_at,
    )


def _lock(request: PaymentRequest) -> PaymentRequest:
    """Lock the request's row, then read it with its relations in a new statement: a row
    lock that waited for another transaction returns the row as it committed, but the
    rows joined to it as the waiting statement's snapshot saw them (PostgreSQL's
    EvalPlanQual), so a join in the locking query could miss the transaction just paid."""
    PaymentRequest.objects.select_for_update().filter(pk=request.pk).values_list("pk").get()
    return PaymentRequest.objects.select_related("node__tenant", "transaction").get(pk=request.pk)


@retrying
def payment_request_cancel(*, request: PaymentRequest, actor: Actor) -> PaymentRequest:
    """The merchant withdraws an unpaid request; its tokens can no longer be redeemed."""
    request = _lock(request)
    _refuse_closed(request, clock.now(node_id=request.node_id))
    request.status = PaymentRequest.Status.CANCELED
    request.closed_at = clock.now(node_id=request.node_id)
    request.save(update_fields=["status", "closed_at"])
    scheduling.cancel(kind=REQUEST_EXPIRY, key=f"payreq:{request.pk}")
    _changed(request, actor, "payment_request.canceled")
    return request


@retrying
def payment_request_expire(*, request_id: Any) -> bool:
    """Mark an unpaid request expired once its node's clock passed its expiry (the
    scheduled action); False when it was paid or closed meanwhile, or is not due."""
    request = PaymentRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None or not request.is_open:
        return False
    now = clock.now(node_id=request.node_id)
    if request.expires_at > now:
        return False
    request.status = PaymentRequest.Status.EXPIRED
    request.closed_at = now
    request.save(update_fields=["status", "closed_at"])
    _changed(request, None, "payment_request.expired")
    return True


# --- Authorization (the token) ---------------------------------------------------------------


@dataclass(frozen=True)
class SignedToken:
    """A token the payer's node signed outside the sandbox, with the salt of its commitment."""

    jws: str
    salt: str  # base64url


def _token_payload(
    *, authorization_id: uuid.UUID, request: PaymentRequest, payer: Node, commitment: str,
    issued: datetime, expires: datetime,
) -> dict[str, Any]:  # fmt: skip
    return {
        "ver": VERSION,
        "jti": str(authorization_id),
        "req": request.request_hash,
        "rid": str(request.pk),
        "merchant": str(request.node_id),
        "amount": to_decimal_string(request.amount, request.currency),
        "currency": request.currency,
        "payer": str(payer.pk),
        "account": commitment,
        "iat": _numeric_date(issued),
        "exp": _numeric_date(expires),
    }


def _check_token_matches(payload: dict[str, Any], request: PaymentRequest) -> None:
    """The token is for this request: its hash, merchant, amount and currency (422)."""
    if payload.get("ver") != VERSION:
        raise _forged("malformed_token", "The token is not a version 1 payment token.")
    if payload.get("req") != request.request_hash or payload.get("rid") != str(request.pk):
        raise _forged("token_request_mismatch", "The token authorizes another payment request.")
    if payload.get("merchant") != str(request.node_id):
        raise _forged(
            "token_merchant_mismatch", "The token authorizes a payment to another merchant."
        )
    if payload.get("amount") != to_decimal_string(request.amount, request.currency):
        raise _forged("amount_mismatch", "The token's amount is not the request's.")
    if payload.get("currency") != request.currency:
        raise _forged("currency_mismatch", "The token's currency is not the request's.")


def request_verify(
    compact: Any, key_of: KeyOf = key_selectors.key_by_kid
) -> tuple[jws.Parsed, NodeKey]:
    """A request JWS as the payer's node checks it: the merchant node's signature."""
    parsed, key = _verify(compact, REQUEST_TYP, "payment request", key_of)
    if parsed.payload.get("merchant") != str(key.node_id):
        raise _forged("bad_signature", "The request is not signed by its merchant node.")
    return parsed, key


@retrying
def payment_authorize(
    *,
    tenant: Tenant,
    actor: Actor,
    payer_node: Node,
    account: Account,
    request_jws: Any,
    expires_in: int | None = None,
    signed: SignedToken | None = None,
) -> PaymentAuthorization:
    """The payer's node authorizes paying a request from ``account``: it checks the
    merchant's signature on the request it fetched and signs the token (or, for a node that
    signs outside the sandbox, hands in the token it signed, with its commitment's salt)."""
    parsed, _ = request_verify(request_jws)
    request = PaymentRequest.objects.get_for_tenant(tenant, parsed.payload.get("rid"))
    if request.jws != request_jws:
        raise _forged("request_mismatch", "This is not the request the merchant node issued.")
    request = _lock(request)
    _refuse_closed(request, clock.now(node_id=request.node_id))
    if account.wallet is None or account.wallet.node_id != payer_node.pk:
        raise ApplicationError(
            "The account is not in the payer node's wallet.",
            code="account_not_in_node",
            fields={"account_id": ["Must be an account of the payer node."]},
        )
    if account.currency != request.currency:
        raise ApplicationError(
            f"The account holds {account.currency}; the request is in {request.currency}.",
            code="currency_mismatch",
            fields={"account_id": [f"Must hold {request.currency}."]},
        )
    if account.pk == request.account_id:
        raise ApplicationError("An account cannot pay itself.", code="same_account")
    if not account.is_open or not payer_node.is_active:
        raise Conflict("The paying account or node is closed.", code="account_closed")
    now = clock.now(node_id=payer_node.pk).replace(microsecond=0)
    authorization_id = uuid.uuid4()
    if signed is None:
        lifetime = _lifetime(expires_in, DEFAULT_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME, "expires_in")
        salt = os.urandom(SALT_BYTES)
        payload = _token_payload(
            authorization_id=authorization_id,
            request=request,
            payer=payer_node,
            commitment=account_commitment(salt, account.pk),
            issued=now,
            expires=now + lifetime,
        )
        token = node_sign(node=payer_node, typ=TOKEN_TYP, payload=payload)
        expires_at = now + lifetime
    else:
        token, salt, expires_at = _outside_token(signed, request, payer_node, account, now)
    authorization = PaymentAuthorization(
        id=authorization_id,
        tenant=tenant,
        request=request,
        node=payer_node,
        account=account,
        salt=salt,
        jws=token,
        token_hash=jws.digest(token),
        created_at=now,
        expires_at=expires_at,
    )
    try:
        with transaction.atomic():
            authorization.save(force_insert=True)
    except IntegrityError:
        raise Conflict(
            "This token is already registered.", code="token_already_registered"
        ) from None
    if request.status == PaymentRequest.Status.REQUESTED:
        request.status = PaymentRequest.Status.AUTHORIZED
        request.authorized_at = clock.now(node_id=request.node_id)
        request.save(update_fields=["status", "authorized_at"])
        _changed(request, actor, "payment_request.authorized")
    return authorization


def _outside_token(
    signed: SignedToken, request: PaymentRequest, payer: Node, account: Account, now: datetime
) -> tuple[str, bytes, datetime]:
    """Check a token signed outside the sandbox by the payer node's registered key."""
    if node_key_current(node=payer).origin != NodeKey.Origin.TENANT:
        raise ApplicationError(
            "The sandbox signs for this node: leave token and salt out.", code="node_signs_here"
        )
    parsed, key = _verify(signed.jws, TOKEN_TYP, "token")
    if key.node_id != payer.pk or parsed.payload.get("payer") != str(payer.pk):
        raise _forged("bad_signature", "The token is not signed by the payer node.")
    _check_token_matches(parsed.payload, request)
    try:
        salt = jws.b64u_decode(signed.salt)
    except ValueError:
        raise ApplicationError("salt must be base64url.", code="invalid_salt") from None
    if len(salt) < 16:
        raise ApplicationError("salt must be at least 16 bytes.", code="invalid_salt")
    if parsed.payload.get("account") != account_commitment(salt, account.pk):
        raise _forged("account_commitment_mismatch", "The token commits to another account.")
    expires_at = _from_numeric_date(parsed.payload.get("exp"), "exp")
    if expires_at <= now:
        raise ApplicationError("The token has expired.", code="token_expired", status_code=410)
    if expires_at - now > MAX_TOKEN_LIFETIME:
        raise ApplicationError("A token lives at most one day.", code="invalid_expiry")
    return signed.jws, salt, expires_at


# --- Redemption ------------------------------------------------------------------------------


@retrying
def payment_redeem(
    *,
    request: PaymentRequest,
    token: Any,
    actor: Actor,
    read: redeeming.RedeemRead | None = None,
) -> PaymentRequest:
    """The merchant presents the token for its request: both signatures, the match, the
    expiries (each node's clock) and the one redemption are checked, then one transaction
    moves the money. A second presentation answers 409 with the first transaction's id.

    ``read``: what ``redeeming.statements`` read for this request and token in this
    transaction (the API sends them with its idempotency claim); else it is read here, in
    one round trip on PostgreSQL (``redeeming``), or through the ORM."""
    if read is None or read.request is None or read.request.pk != request.pk:
        read = redeeming.read(tenant_id=request.tenant_id, request_id=request.pk, token=token)
    if read is None:  # SQLite: the ORM, one query at a time
        return _redeem(request, token, actor, redeeming.RedeemRead(), orm=True)
    return _redeem(request, token, actor, read, orm=False)


def _redeem(
    request: PaymentRequest, token: Any, actor: Actor, read: redeeming.RedeemRead, *, orm: bool
) -> PaymentRequest:
    def key_of(kid: str) -> NodeKey | None:
        if kid in read.keys:
            return read.keys[kid]
        return key_selectors.key_by_kid(kid)

    parsed, key = _verify(token, TOKEN_TYP, "token", key_of)
    if orm:
        request = _lock(request)
        merchant_now = clock.now(node_id=request.node_id)
    else:
        assert read.request is not None
        request = read.request  # locked
        merchant_now = read.merchant_clock or clock.now()
    if request.is_paid:
        if not orm:  # the transaction, for the answer (a refusal: no hurry)
            request = PaymentRequest.objects.select_related("transaction").get(pk=request.pk)
        _refuse_closed(request, merchant_now)  # 409 already_paid, naming the transaction
    _check_token_matches(parsed.payload, request)
    request_verify(request.jws, key_of)  # the merchant's own signature, as issued
    if orm or not read.authorization_read:
        authorization = (
            PaymentAuthorization.objects.select_related("account__wallet", "node__tenant")
            .filter(token_hash=jws.digest(token), request=request)
            .first()
        )
    else:
        authorization = read.authorization
    if authorization is None or key.node_id != authorization.node_id:
        raise _forged("unknown_token", "No payer node authorized this payment with this token.")
    _refuse_closed(request, merchant_now)
    payer_tenant_id: UUID | None
    if orm or not read.authorization_read:
        payer_now = clock.now(node_id=authorization.node_id)
        wallet = authorization.account.wallet
        payer_wallet_node_id = wallet.node_id if wallet is not None else None
        payer_tenant_id = authorization.node.tenant_id
    else:
        payer_now = read.payer_clock or clock.now()
        payer_wallet_node_id = read.payer_wallet_node_id
        payer_tenant_id = read.payer_tenant_id
    if _from_numeric_date(parsed.payload.get("exp"), "exp") <= payer_now:
        raise ApplicationError("The token has expired.", code="token_expired", status_code=410)
    if parsed.payload.get("account") != account_commitment(
        bytes(authorization.salt), authorization.account_id
    ):
        raise _forged("account_commitment_mismatch", "The token commits to another account.")
    # Nothing else is posted in this transaction and no error of it is caught: the
    # accounts may be locked late, with the COMMIT (``wallets.locking``, "Late locks"), so
    # a merchant's account paid by many is held for that last message only.
    result = post_one(
        Posting(
            kind=TRANSACTION_KIND,
            legs=[
                Leg(authorization.account_id, -request.amount, request.currency),
                Leg(request.account_id, request.amount, request.currency),
            ],
            tenant_id=request.tenant_id,
            memo=f"Payment of order {request.order_id}"[:500],
            metadata={"payment_request": str(request.pk), "token": authorization.token_hash},
            is_inter_node=payer_wallet_node_id is not None
            and payer_wallet_node_id != request.node_id,
        ),
        lock_late=True,
    )
    txn = result.transaction
    request.status = PaymentRequest.Status.PAID
    request.transaction = txn
    request.paid_at = merchant_now
    redeeming.paid_write(request, authorization)
    scheduling.cancel_later(kind=REQUEST_EXPIRY, key=f"payreq:{request.pk}")
    merchant_tenant_id = read.merchant_tenant_id if not orm else request.node.tenant_id
    audit_record_later(
        actor=actor, action="payment_request.paid", tenant_id=merchant_tenant_id, target=request
    )
    # The events carry the nodes' times read above, in this transaction: the payer's node
    # hears of the money leaving its account (``_payer_heard``), the merchant's of the
    # request paid (``_changed``), in that order, with one INSERT.
    events_record(
        [
            _payer_event(authorization.node_id, payer_tenant_id, result, payer_now),
            NewEvent(
                node_id=request.node_id,
                tenant_id=merchant_tenant_id,
                type="payment_request.paid",
                obj=request,
                data=presenters.request_json(request),
                occurred_at=merchant_now,
            ),
        ]
    )
    return request


# --- Refunds ---------------------------------------------------------------------------------


@retrying
def payment_refund(
    *, request: PaymentRequest, actor: Actor, amount: int | None = None, reason: str = ""
) -> Refund:
    """Return money from the merchant's account to the payer's: all that is left by
    default, never more than what was paid (422 ``refund_exceeds_payment``)."""
    request = _lock(request)
    if request.status not in PAID_STATES or request.status == PaymentRequest.Status.REFUNDED:
        raise Conflict(
            f"Only a paid order can be refunded; this one is {request.status}.",
            code="not_refundable",
        )
    left = request.amount - request.refunded_amount
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise Unprocessable(
            f"At most {to_decimal_string(left, request.currency)} {request.currency} can be "
            "refunded.",
            code="refund_exceeds_payment",
            fields={"amount": ["More than what is left to refund."]},
        )
    redemption = Redemption.objects.select_related(
        "authorization__node__tenant", "transaction"
    ).get(request=request)
    payer_account_id = redemption.authorization.account_id
    result = post_one(
        Posting(
            kind=REFUND_KIND,
            legs=[
                Leg(request.account_id, -amount, request.currency),
                Leg(payer_account_id, amount, request.currency),
            ],
            tenant_id=request.tenant_id,
            memo=f"Refund of order {request.order_id}"[:500],
            metadata={"payment_request": str(request.pk)},
            is_inter_node=redemption.transaction.is_inter_node,
        )
    )
    _payer_heard(redemption.authorization.node, result)
    now = clock.now(node_id=request.node_id)
    refund = Refund.objects.create(
        request=request,
        node_id=request.node_id,
        amount=amount,
        reason=reason,
        transaction=result.transaction,
        created_at=now,
    )
    # The row is locked: the sum and the status change in one statement, as the
    # constraints (refunded within the amount, status following the sum) require.
    request.refunded_amount += amount
    request.status = (
        PaymentRequest.Status.REFUNDED
        if request.refunded_amount == request.amount
        else PaymentRequest.Status.PARTIALLY_REFUNDED
    )
    request.save(update_fields=["status", "refunded_amount"])
    _changed(request, actor, f"payment_request.{request.status}")
    return refund
