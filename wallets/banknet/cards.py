"""The simulated card network: magic test card numbers (docs/cards.md) that approve,
decline or ask for a challenge; authorise (a credit hold announcing the money on the
merchant node's account), capture, refund, cancel; authorisations expire after seven days
of the node's time."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sandbox import clock
from sandbox.currencies import to_decimal_string
from sandbox.errors import ApplicationError, Conflict, NotFound
from sandbox.events import scheduling
from sandbox.events.services import action_record, event_record
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor
from wallets import services as ledger
from wallets.banknet import presenters
from wallets.banknet.common import posted
from wallets.banknet.models import CardPayment, CardRefund
from wallets.banks import CARD_NETWORK_LEDGER_CODE
from wallets.locking import retrying
from wallets.models import Account, Hold
from wallets.posting import Leg, Posting, post_one

AUTHORIZATION_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class TestCard:
    __test__ = False  # not a pytest class

    number: str
    brand: str
    outcome: str  # approve, decline, challenge, challenge_then_decline
    decline_code: str = ""
    description: str = ""


TEST_CARDS: dict[str, TestCard] = {
    card.number: card
    for card in [
        TestCard("4242424242424242", "visa", "approve", description="Approved."),
        TestCard("5555555555554444", "mastercard", "approve", description="Approved."),
        TestCard("378282246310005", "amex", "approve", description="Approved (4-digit CVC)."),
        TestCard("4000000000000002", "visa", "decline", "card_declined", "Declined."),
        TestCard("4000000000009995", "visa", "decline", "insufficient_funds", "No funds."),
        TestCard("4000000000009979", "visa", "decline", "stolen_card", "Reported stolen."),
        TestCard("4000000000000069", "visa", "decline", "expired_card", "Expired."),
        TestCard("4000000000000127", "visa", "decline", "incorrect_cvc", "Wrong CVC."),
        TestCard("4000000000000119", "visa", "decline", "processing_error", "Network error."),
        TestCard(
            "4000000000003220",
            "visa",
            "challenge",
            "",
            "Needs a challenge (3-D Secure): passed → approved, failed → authentication_failed.",
        ),
        TestCard(
            "4000008400001629",
            "visa",
            "challenge_then_decline",
            "card_declined",
            "Needs a challenge; declined (card_declined) even when the challenge passes.",
        ),
    ]
}


def _luhn_ok(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_lookup(number: Any) -> TestCard:
    digits = str(number or "").replace(" ", "").replace("-", "")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not _luhn_ok(digits):
        raise ApplicationError(
            "This is not a valid card number.",
            code="invalid_card_number",
            fields={"card_number": ["Not a valid card number."]},
        )
    card = TEST_CARDS.get(digits)
    if card is None:
        raise ApplicationError(
            "Use one of the test card numbers (docs/cards.md); real cards never work here.",
            code="unknown_test_card",
            fields={"card_number": ["Not a test card."]},
        )
    return card


def _settlement(currency: str) -> Account:
    return ledger.platform_account(
        purpose=Account.Purpose.SETTLEMENT, currency=currency, bank_code=CARD_NETWORK_LEDGER_CODE
    )


def _changed(payment: CardPayment, actor: Actor | None = None) -> CardPayment:
    """Save the payment and record its new status: an action of ``actor``, or (without one)
    the network's own doing, an event alone."""
    payment.save()
    data = presenters.card_payment_json(payment)
    event_type = f"card_payment.{payment.status}"
    if actor is None:
        event_record(
            tenant=payment.tenant, node=payment.node, type=event_type, obj=payment, data=data
        )
    else:
        action_record(
            actor=actor,
            action=event_type,
            tenant=payment.tenant,
            node=payment.node,
            obj=payment,
            data=data,
        )
    return payment


def _lock(payment: CardPayment) -> CardPayment:
    locked = CardPayment.objects.select_for_update().filter(pk=payment.pk).first()
    if locked is None:
        raise NotFound(f"No card payment with id {payment.pk}.", code="cardpayment_not_found")
    return CardPayment.objects.select_related("node__tenant", "hold", "tenant").get(pk=locked.pk)


def _authorize(payment: CardPayment) -> None:
    payment.hold = ledger.hold_place(
        tenant=None,
        account=payment.account,
        counterparty=_settlement(payment.currency),
        amount=payment.amount,
        currency=payment.currency,
        direction=Hold.Direction.CREDIT,
        memo=f"Card payment {payment.card_brand} •••• {payment.card_last4}",
        metadata={"card_payment": str(payment.pk)},
    )
    expires = clock.now(node_id=payment.node_id) + AUTHORIZATION_LIFETIME
    payment.status = CardPayment.Status.AUTHORIZED
    payment.authorization_expires_at = expires
    scheduling.schedule(
        kind="banknet.card_authorization_expiry",
        node=payment.node,
        due_at=expires,
        payload={"payment": str(payment.pk)},
        key=f"card:{payment.pk}:expiry",
    )


def _decline(payment: CardPayment, code: str) -> None:
    payment.status = CardPayment.Status.DECLINED
    payment.decline_code = code


@retrying
def card_authorize(
    *,
    actor: Actor,
    account: Account,
    amount: int,
    currency: str,
    card_number: str,
    exp_month: int,
    exp_year: int,
    cvc: str,
    description: str = "",
) -> CardPayment:
    """A card payment to ``account``. Declines are results, not errors: the payment is
    stored with status ``declined`` and a ``decline_code``."""
    if account.kind != Account.Kind.CUSTOMER:
        raise NotFound(f"No account with id {account.pk}.", code="account_not_found")
    node = Node.objects.select_related("tenant").get(wallet__accounts=account)
    if not node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    if not account.is_open:
        raise Conflict("The account is closed.", code="account_closed")
    if account.currency != currency:
        message = f"The account holds {account.currency}, not {currency}."
        raise ApplicationError(message, code="currency_mismatch", fields={"currency": [message]})
    if amount <= 0:
        raise ApplicationError("The amount must be greater than zero.", code="invalid_amount")
    card = card_lookup(card_number)
    if not 1 <= int(exp_month) <= 12 or not 2000 <= int(exp_year) <= 2100:
        raise ApplicationError(
            "Give the expiry as a month (1-12) and a four-digit year.",
            code="invalid_expiry",
            fields={"exp_month": ["1 to 12."], "exp_year": ["Four digits."]},
        )
    cvc_length = 4 if card.brand == "amex" else 3
    if not (str(cvc).isdigit() and len(str(cvc)) == cvc_length):
        raise ApplicationError(
            f"The CVC has {cvc_length} digits.",
            code="invalid_cvc",
            fields={"cvc": ["Wrong length."]},
        )
    payment = CardPayment(
        id=uuid.uuid4(),
        tenant=node.tenant,
        node=node,
        account=account,
        amount=amount,
        currency=currency,
        card_brand=card.brand,
        card_last4=card.number[-4:],
        card_outcome=card.outcome,
        description=description[:200],
    )
    now = clock.now(node_id=node.pk)
    if (int(exp_year), int(exp_month)) < (now.year, now.month):
        _decline(payment, "expired_card")
    elif card.outcome == "decline":
        _decline(payment, card.decline_code)
    elif card.outcome.startswith("challenge"):
        payment.status = CardPayment.Status.REQUIRES_CHALLENGE
    else:
        _authorize(payment)
    return _changed(payment, actor)


@retrying
def card_challenge(*, payment: CardPayment, passed: bool, actor: Actor) -> CardPayment:
    """The cardholder's answer to the challenge (3-D Secure)."""
    payment = _lock(payment)
    if payment.status != CardPayment.Status.REQUIRES_CHALLENGE:
        raise Conflict(
            f"This payment is {payment.status}, not waiting for a challenge.", code="no_challenge"
        )
    if not passed:
        _decline(payment, "authentication_failed")
    elif payment.card_outcome == "challenge_then_decline":
        _decline(payment, "card_declined")
    else:
        _authorize(payment)
    return _changed(payment, actor)


@retrying
def card_capture(*, payment: CardPayment, actor: Actor, amount: int | None = None) -> CardPayment:
    """Take the authorised money (all of it, or less: the rest is released)."""
    payment = _lock(payment)
    if payment.status != CardPayment.Status.AUTHORIZED:
        raise Conflict(
            f"Only an authorised payment can be captured; this one is {payment.status}.",
            code="not_capturable",
        )
    try:
        hold = ledger.hold_capture(
            hold=payment.hold, amount=amount, memo=f"Card payment {payment.pk}"
        )
    except Conflict as error:
        if error.code == "hold_expired":
            _expire(payment)
            raise Conflict("The authorisation has expired.", code="authorization_expired") from None
        raise
    payment.captured_amount = hold.captured_amount
    payment.capture_transaction = hold.capture_transaction
    payment.status = CardPayment.Status.CAPTURED
    scheduling.cancel(kind="banknet.card_authorization_expiry", key=f"card:{payment.pk}:expiry")
    return _changed(payment, actor)


@retrying
def card_refund(*, payment: CardPayment, actor: Actor, amount: int | None = None) -> CardRefund:
    """Give captured money back to the cardholder, from the merchant's account."""
    payment = _lock(payment)
    if payment.status not in (CardPayment.Status.CAPTURED, CardPayment.Status.PARTIALLY_REFUNDED):
        raise Conflict(
            f"Only a captured payment can be refunded; this one is {payment.status}.",
            code="not_refundable",
        )
    left = payment.captured_amount - payment.refunded_amount
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise ApplicationError(
            f"At most {to_decimal_string(left, payment.currency)} {payment.currency} "
            "can be refunded.",
            code="refund_exceeds_capture",
            fields={"amount": ["More than what is left to refund."]},
        )
    result = post_one(
        Posting(
            kind="card_refund",
            legs=[
                Leg(payment.account_id, -amount, payment.currency),
                Leg(_settlement(payment.currency).pk, amount, payment.currency),
            ],
            tenant_id=payment.tenant_id,
            memo=f"Refund of card payment {payment.pk}",
            metadata={"card_payment": str(payment.pk)},
        )
    )
    refund = CardRefund.objects.create(
        tenant=payment.tenant, payment=payment, amount=amount, transaction=posted(result)
    )
    payment.refunded_amount += amount
    payment.status = (
        CardPayment.Status.REFUNDED
        if payment.refunded_amount == payment.captured_amount
        else CardPayment.Status.PARTIALLY_REFUNDED
    )
    _changed(payment, actor)
    return refund


@retrying
def card_cancel(*, payment: CardPayment, actor: Actor) -> CardPayment:
    """Drop an authorisation (or a payment still waiting for its challenge)."""
    payment = _lock(payment)
    if payment.status == CardPayment.Status.AUTHORIZED:
        # A Conflict means the ledger already let the hold expire: nothing is held any more.
        with contextlib.suppress(Conflict):
            ledger.hold_void(hold=payment.hold)
        scheduling.cancel(kind="banknet.card_authorization_expiry", key=f"card:{payment.pk}:expiry")
    elif payment.status != CardPayment.Status.REQUIRES_CHALLENGE:
        raise Conflict(f"A {payment.status} payment cannot be cancelled.", code="not_cancelable")
    payment.status = CardPayment.Status.CANCELED
    return _changed(payment, actor)


def _expire(payment: CardPayment) -> None:
    with contextlib.suppress(Conflict):  # expired by the ledger's own sweep already
        ledger.hold_void(hold=payment.hold)
    payment.status = CardPayment.Status.EXPIRED
    _changed(payment)


@retrying
def card_authorization_expire(*, payment_id: UUID | str) -> bool:
    """Seven days (node time) after authorisation an uncaptured payment lapses."""
    locked = (
        CardPayment.objects.select_for_update()
        .filter(pk=payment_id, status=CardPayment.Status.AUTHORIZED)
        .first()
    )
    if locked is None:
        return False
    _expire(_lock(locked))
    return True
