"""The words people read for the platform's internal names, in one place: transaction
kinds, scheduled tasks, event types and statuses become what a startup understands
("hold_capture" on a deposit is "Deposit credited", "banknet.deposit_settle" is "Deposit
settled"), and the events that are not obvious carry a sentence saying why they happen.

Pages use it through the ``label`` and ``explain`` template filters (the platform's
``formatting`` tag library) and ``transaction_label``; the API keeps the internal names,
which are its contract."""

from __future__ import annotations

LABELS: dict[str, str] = {
    # Ledger transaction kinds
    "transfer": "Transfer",
    "hold_capture": "Hold captured",
    "reversal": "Reversal",
    "deposit": "Deposit",
    "withdrawal": "Withdrawal",
    "adjustment": "Adjustment",
    "genesis": "Opening balance",
    "hold": "Hold",
    "release": "Released",
    "refund": "Refund",
    "card_refund": "Card refund",
    "escrow_fee": "Escrow fee",
    "order": "Order",
    "settlement": "Settlement",
    "withdrawal_return": "Withdrawal returned",
    "account_verification": "Account verification (1 KRW)",
    # Scheduled tasks (ScheduledAction.kind)
    "webhook.attempt": "Webhook delivery attempt",
    "banknet.deposit_settle": "Deposit settled",
    "banknet.deposit_credit": "Deposit credited",
    "banknet.withdrawal_process": "Withdrawal sent to the bank",
    "banknet.withdrawal_deadline": "Withdrawal deadline",
    "banknet.card_authorization_expiry": "Card authorisation expires",
    "banknet.end_of_day": "Bank end of day",
    "banknet.end_of_day_start": "Bank end of day",
    # Event types
    "test.webhook": "Test webhook",
    "deposit.created": "Deposit received by the bank",
    "deposit.credited": "Deposit credited",
    "deposit.returned": "Deposit sent back",
    "hold.placed": "Amount held",
    "hold.captured": "Held amount booked",
    "hold.released": "Hold released",
    "transfer.created": "Transfer posted",
    "account_link.code_sent": "Verification code sent (1 KRW)",
    "account_link.verified": "Bank account verified",
    "account_link.expired": "Verification expired",
    "account_link.locked": "Verification locked",
    "bank.offline": "Bank offline",
    "bank.online": "Bank back online",
    "webhook_endpoint.disabled": "Webhook endpoint disabled",
    "test_clock.advancing": "Test clock advancing",
    "test_clock.ready": "Test clock ready",
}

EXPLANATIONS: dict[str, str] = {
    "hold.placed": (
        "A deposit or payment first holds its amount: it shows as pending until the bank "
        "answers, and cannot be spent twice in the meantime."
    ),
    "hold.captured": (
        "The bank answered: the held amount is booked (a deposit is credited, a withdrawal "
        "or card payment is paid out). Expect it after hold.placed."
    ),
    "hold.released": "The held amount is back to available: the bank refused or it expired.",
    "deposit.created": (
        "The bank has the deposit; the money is held on the account until the bank settles "
        "it (deposit.credited) or sends it back (deposit.returned)."
    ),
    "test.webhook": "Sent from the dashboard to check your endpoint and signature check.",
}

# A ledger transaction of kind hold_capture says what it captured in its memo.
_CAPTURE_MEMOS = {
    "Deposit": "Deposit credited",
    "Card payment": "Card payment captured",
    "Withdrawal": "Withdrawal paid out",
    "Transfer": "Transfer paid out",
    "Escrow": "Escrow released",
}


def label(value: str) -> str:
    """The words for an internal name; an unknown name is made readable, not hidden."""
    value = str(value or "")
    if value in LABELS:
        return LABELS[value]
    return value.replace("banknet.", "").replace("_", " ").replace(".", " ").capitalize()


def explanation(value: str) -> str:
    return EXPLANATIONS.get(str(value or ""), "")


def transaction_label(kind: str, memo: str = "") -> str:
    """A ledger transaction's words: a captured hold says what it captured."""
    if kind == "hold_capture":
        for prefix, words in _CAPTURE_MEMOS.items():
            if (memo or "").startswith(prefix):
                return words
    return label(kind)
