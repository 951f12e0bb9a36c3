"""Writes of remittances: create one, run its legs, fail and unwind it.

A remittance moves money from a sender's account at one node to a beneficiary account at a
node in another country, over bitcoin (docs/fx.md, "Remittance"). Five legs, each one ledger
transaction recorded with its ``RemittanceLeg`` row in one database transaction:

1. ``debit_sender``: the sender's account -> the sending node's transit account (source ccy)
2. ``buy_btc``: an FX quote executed from that transit account into the sending node's BTC
   transit account; on chain, the FX desk's address pays the sending node's address
3. ``send_btc``: the sending node's BTC transit account -> the receiving node's; on chain,
   the sending node's address pays the receiving node's address, mined into the next block
4. ``sell_btc``: an FX quote executed from the receiving node's BTC transit account into its
   transit account in the destination currency
5. ``credit_beneficiary``: that transit account -> the beneficiary's account

``remittance_step`` does the next thing a remittance needs, once, under its row lock: a
worker that crashes after a commit finds the leg done and moves on; one that crashes before
it finds nothing done. A failure after the first leg marks the remittance ``bounced_back``
with the failed leg, then each posted leg is reversed (newest first; the bitcoin ones by a
transaction back on chain) and the remittance ends ``funds_refunded``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from clearing.chain import mined_transaction
from clearing.remittance import bitcoin, presenters
from clearing.remittance.models import Remittance, RemittanceLeg
from sandbox import clock
from sandbox.errors import ApplicationError, Conflict, NotFound, Unprocessable
from sandbox.events.queue import enqueue
from sandbox.events.services import action_record, event_record
from sandbox.keyring import Keyring
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import SYSTEM, Actor, audit_record
from wallets import services as wallet_services
from wallets.fx import services as fx
from wallets.locking import run_retrying
from wallets.models import Account, LedgerTransaction
from wallets.posting import Leg, Posting, post_one

RUN_TASK = "clearing.remittance.tasks.run"
TRAVEL_RULE_PURPOSE = "remittance-travel-rule"
TRANSACTION_KIND = "remittance"
TRANSIT_REFERENCE = "remittance-transit"
RETURN_FEE_BPS = 100  # 1% of the source amount, at least one minor unit
STATES = Remittance.Status
LEG = RemittanceLeg.Kind
FORWARD_LEGS = [
    LEG.DEBIT_SENDER,
    LEG.BUY_BTC,
    LEG.SEND_BTC,
    LEG.SELL_BTC,
    LEG.CREDIT_BENEFICIARY,
]

# Magic values (docs/fx.md, "Remittance"): in the memo or the beneficiary reference.
MAGIC_FAIL_AT = {f"FAIL_AT_{kind.upper()}": kind for kind in FORWARD_LEGS[1:]}
MAGIC_INVALID_BENEFICIARY = "INVALID_BENEFICIARY"
MAGIC_DELAYED = "DELAYED"
MAGIC_RETURNED = "RETURNED"


class LegFailed(ApplicationError):
    """A leg the remittance cannot complete: it bounces back at that leg."""


def _magic(remittance: Remittance) -> str:
    return f"{remittance.memo} {remittance.reference}".upper()


# --- Travel rule --------------------------------------------------------------------------


def _travel_keyring() -> Keyring:
    return Keyring.from_secrets(
        purpose=TRAVEL_RULE_PURPOSE,
        secrets=settings.CLEARING_MASTER_KEY,
        legacy_secret=str(settings.SECRET_KEY),
    )


def _travel_aad(remittance: Remittance) -> bytes:
    return (
        f"remittance:{remittance.pk}:{remittance.sender_node_id}:{remittance.beneficiary_node_id}"
    ).encode()


def travel_rule_open(remittance: Remittance) -> dict[str, Any]:
    """The originator and beneficiary data, for the two nodes' tenant and operators (the
    selectors decide who may ask)."""
    plain = _travel_keyring().open(
        remittance.travel_rule_key_id,
        bytes(remittance.travel_rule_sealed),
        aad=_travel_aad(remittance),
    )
    data: dict[str, Any] = json.loads(plain)
    return data


# --- Create -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemittanceRequest:
    sender_account: Account
    beneficiary_account: Account
    amount: int  # minor units of the sender's currency
    originator: dict[str, str]
    beneficiary: dict[str, str]
    memo: str = ""
    reference: str = ""


def _check_accounts(tenant: Tenant, request: RemittanceRequest) -> tuple[Node, Node]:
    sender, beneficiary = request.sender_account, request.beneficiary_account
    for account, field in ((sender, "sender_account_id"), (beneficiary, "beneficiary_account_id")):
        if account.tenant_id != tenant.pk or account.is_platform:
            raise NotFound(f"No account with id {account.pk}.", code="account_not_found")
        if not account.is_open:
            raise Conflict(f"Account {account.pk} is closed.", code="account_closed")
        if account.currency == "BTC":
            raise ApplicationError(
                "Remittances send fiat: the accounts hold KRW, USD or JPY.",
                code="unsupported_currency",
                fields={field: ["Holds BTC."]},
            )
    assert sender.wallet_id is not None and beneficiary.wallet_id is not None  # not platform
    sender_node = Node.objects.get(wallet__id=sender.wallet_id)
    beneficiary_node = Node.objects.get(wallet__id=beneficiary.wallet_id)
    if sender_node.country == beneficiary_node.country:
        raise Unprocessable(
            "The beneficiary's node is in the sender's country; a remittance crosses a border.",
            code="same_country",
            fields={"beneficiary_account_id": ["At a node in the sender's country."]},
        )
    if not (sender_node.is_active and beneficiary_node.is_active):
        raise Conflict("A deactivated node cannot take part.", code="node_inactive")
    return sender_node, beneficiary_node


def _check_party(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict) or not str(value.get("name", "")).strip():
        raise ApplicationError(
            f"{field} needs at least a name.", code="invalid_travel_rule", fields={field: ["Name."]}
        )
    if any(not isinstance(v, str) or len(v) > 200 for v in value.values()) or len(value) > 10:
        raise ApplicationError(
            f"{field}: at most 10 text fields of 200 characters.",
            code="invalid_travel_rule",
            fields={field: ["Text fields only."]},
        )
    return {str(k): v for k, v in value.items()}


class _Probe(Exception):
    """Rolls back the quote that only checked the amount against the desk's limits."""


def remittance_create(*, tenant: Tenant, request: RemittanceRequest, actor: Actor) -> Remittance:
    """Check everything that can be checked before money moves (accounts, countries, the
    desk's pair and limits, the sender's balance) and record the remittance; its legs run
    in a Celery task. Bad input raises a 4xx and records nothing."""
    sender_node, beneficiary_node = _check_accounts(tenant, request)
    originator = _check_party(request.originator, "originator")
    beneficiary = _check_party(request.beneficiary, "beneficiary")
    if request.amount <= 0:
        raise ApplicationError("The amount must be positive.", code="invalid_amount")
    if len(request.memo) > 140 or len(request.reference) > 140:
        raise ApplicationError("memo and reference have at most 140 characters.", code="too_long")
    # The balance as it is now, not as the caller's copy of the account says.
    if Account.objects.get(pk=request.sender_account.pk).available_balance < request.amount:
        raise Conflict("The sender's account does not hold the amount.", code="insufficient_funds")

    def body() -> Remittance:
        try:
            with transaction.atomic():
                fx.create_quote(
                    tenant=tenant,
                    node=sender_node,
                    source_currency=request.sender_account.currency,
                    target_currency="BTC",
                    sell_amount=request.amount,
                )
                raise _Probe
        except _Probe:
            pass
        now = clock.now(node_id=sender_node.pk)
        remittance = Remittance(
            tenant=tenant,
            sender_node=sender_node,
            sender_account=request.sender_account,
            beneficiary_node=beneficiary_node,
            beneficiary_account=request.beneficiary_account,
            source_currency=request.sender_account.currency,
            target_currency=request.beneficiary_account.currency,
            source_amount=request.amount,
            memo=request.memo,
            reference=request.reference,
            delayed=MAGIC_DELAYED in f"{request.memo} {request.reference}".upper(),
            created_at=now,
            updated_at=now,
        )
        plain = json.dumps({"originator": originator, "beneficiary": beneficiary}).encode()
        key_id, sealed = _travel_keyring().seal(plain, aad=_travel_aad(remittance))
        remittance.travel_rule_key_id, remittance.travel_rule_sealed = key_id, sealed
        remittance.save(force_insert=True)
        _changed(remittance, actor)
        _enqueue(remittance)
        return remittance

    return run_retrying(body)


# --- Events -------------------------------------------------------------------------------


def _changed(remittance: Remittance, actor: Actor | None = None) -> None:
    """The remittance's new state, to both nodes: ``remittance.<status>``."""
    data = presenters.remittance_json(remittance)
    type_ = f"remittance.{remittance.status}"
    for node in (remittance.sender_node, remittance.beneficiary_node):
        if actor is not None and node == remittance.sender_node:
            action_record(
                actor=actor,
                action=type_,
                tenant=remittance.tenant,
                node=node,
                obj=remittance,
                data=data,
            )
        else:
            event_record(tenant=None, node=node, type=type_, obj=remittance, data=data)


def _enqueue(remittance: Remittance) -> None:
    """Run the legs in a worker once the caller commits; the task is named, not imported
    (it imports this module)."""
    remittance_id = str(remittance.pk)
    transaction.on_commit(lambda: enqueue(RUN_TASK, remittance_id))


# --- Accounts -----------------------------------------------------------------------------


def transit_account(node: Node, currency: str) -> Account:
    """The node's account that holds a remittance's money between legs, made on first use."""
    wallet = node.wallet
    found = Account.objects.filter(
        wallet=wallet, currency=currency, customer_reference=TRANSIT_REFERENCE
    ).first()
    if found is not None:
        return found
    return wallet_services.account_create(
        wallet=wallet,
        actor=SYSTEM,
        currency=currency,
        name=f"Remittance transit {currency}",
        customer_reference=TRANSIT_REFERENCE,
    )


# --- Legs ---------------------------------------------------------------------------------


def _lock(remittance_id: Any) -> Remittance:
    Remittance.objects.select_for_update().filter(pk=remittance_id).values_list("pk").get()
    return Remittance.objects.select_related(
        "sender_node__tenant", "beneficiary_node__tenant", "tenant"
    ).get(pk=remittance_id)


def _metadata(remittance: Remittance, kind: str, **extra: Any) -> dict[str, Any]:
    return {"remittance": str(remittance.pk), "leg": kind, **extra}


def _transfer(
    remittance: Remittance, kind: str, source: Account, destination: Account, amount: int
) -> LedgerTransaction:
    result = post_one(
        Posting(
            kind=TRANSACTION_KIND,
            legs=[
                Leg(source.pk, -amount, source.currency),
                Leg(destination.pk, amount, destination.currency),
            ],
            tenant_id=remittance.tenant_id,
            memo=f"Remittance {remittance.pk}: {RemittanceLeg.Kind(kind).label}",
            metadata=_metadata(remittance, kind),
            is_inter_node=source.wallet_id != destination.wallet_id,
        )
    )
    return result.transaction


def _leg(
    remittance: Remittance,
    kind: str,
    txn: LedgerTransaction,
    *,
    amount_in: int,
    currency_in: str,
    amount_out: int,
    currency_out: str,
    **extra: Any,
) -> RemittanceLeg:
    position = FORWARD_LEGS.index(RemittanceLeg.Kind(kind)) + 1 if kind in FORWARD_LEGS else 6
    return RemittanceLeg.objects.create(
        remittance=remittance,
        kind=kind,
        position=position,
        transaction=txn,
        amount_in=amount_in,
        currency_in=currency_in,
        amount_out=amount_out,
        currency_out=currency_out,
        created_at=clock.now(node_id=remittance.sender_node_id),
        **extra,
    )


def _convert(
    remittance: Remittance, kind: str, node: Node, source: Account, target: Account, amount: int
) -> RemittanceLeg:
    quote = fx.create_quote(
        tenant=remittance.tenant,
        node=node,
        source_currency=source.currency,
        target_currency=target.currency,
        sell_amount=amount,
    )
    conversion = fx.execute_quote(
        quote,
        source_account=source,
        target_account=target,
        description=f"Remittance {remittance.pk}: {RemittanceLeg.Kind(kind).label}",
        metadata=_metadata(remittance, kind),
    )
    return _leg(
        remittance,
        kind,
        conversion.ledger_transaction,
        amount_in=quote.sell_amount,
        currency_in=source.currency,
        amount_out=quote.buy_amount,
        currency_out=target.currency,
        rate=quote.rate,
        reference_rate=quote.reference_rate,
        spread_bps=quote.spread_bps,
        fee=quote.fee,
        fee_currency=source.currency,
        quote_id=quote.pk,
    )


def _run_leg(remittance: Remittance, kind: str) -> RemittanceLeg:
    """Post leg ``kind`` (with its on-chain transaction for the bitcoin legs)."""
    magic = _magic(remittance)
    if any(value in magic and leg == kind for value, leg in MAGIC_FAIL_AT.items()):
        raise LegFailed(f"Failed at {kind} by a magic value.", code="simulated_failure")
    if kind == LEG.CREDIT_BENEFICIARY and MAGIC_INVALID_BENEFICIARY in magic:
        raise LegFailed(
            "The receiving node does not know the beneficiary account.",
            code="invalid_beneficiary",
        )
    sender, receiver = remittance.sender_node, remittance.beneficiary_node
    if kind == LEG.DEBIT_SENDER:
        account = Account.objects.get(pk=remittance.sender_account_id)
        if account.available_balance < remittance.source_amount:
            raise LegFailed(
                "The sender's account does not hold the amount.", code="insufficient_funds"
            )
        txn = _transfer(
            remittance,
            kind,
            account,
            transit_account(sender, remittance.source_currency),
            remittance.source_amount,
        )
        return _leg(
            remittance,
            kind,
            txn,
            amount_in=remittance.source_amount,
            currency_in=remittance.source_currency,
            amount_out=remittance.source_amount,
            currency_out=remittance.source_currency,
        )
    if kind == LEG.BUY_BTC:
        leg = _convert(
            remittance,
            kind,
            sender,
            transit_account(sender, remittance.source_currency),
            transit_account(sender, "BTC"),
            remittance.source_amount,
        )
        desk = bitcoin.node_key(fx.desk_node())
        bitcoin.fund(desk, at_least=leg.amount_out + 2 * bitcoin.NETWORK_FEE)
        tx = bitcoin.pay(sender=desk, to=bitcoin.node_key(sender), amount=leg.amount_out)
        leg.bitcoin_txid = tx.GetTxid()[::-1].hex()
        leg.save(update_fields=["bitcoin_txid"])
        remittance.btc_amount = leg.amount_out
        return leg
    if kind == LEG.SEND_BTC:
        amount = remittance.btc_amount or 0
        txn = _transfer(
            remittance,
            kind,
            transit_account(sender, "BTC"),
            transit_account(receiver, "BTC"),
            amount,
        )
        desk = bitcoin.node_key(fx.desk_node())
        bitcoin.fund(desk, at_least=bitcoin.NETWORK_FEE)
        tx = bitcoin.pay(
            sender=bitcoin.node_key(sender),
            to=bitcoin.node_key(receiver),
            amount=amount,
            fee_payer=desk,
        )
        txid = tx.GetTxid()[::-1].hex()
        remittance.bitcoin_txid = txid
        return _leg(
            remittance,
            kind,
            txn,
            amount_in=amount,
            currency_in="BTC",
            amount_out=amount,
            currency_out="BTC",
            bitcoin_txid=txid,
        )
    if kind == LEG.SELL_BTC:
        leg = _convert(
            remittance,
            kind,
            receiver,
            transit_account(receiver, "BTC"),
            transit_account(receiver, remittance.target_currency),
            remittance.btc_amount or 0,
        )
        remittance.target_amount = leg.amount_out
        return leg
    # credit_beneficiary
    amount = remittance.target_amount or 0
    txn = _transfer(
        remittance,
        kind,
        transit_account(receiver, remittance.target_currency),
        Account.objects.get(pk=remittance.beneficiary_account_id),
        amount,
    )
    return _leg(
        remittance,
        kind,
        txn,
        amount_in=amount,
        currency_in=remittance.target_currency,
        amount_out=amount,
        currency_out=remittance.target_currency,
    )


def _bitcoin_confirmed(remittance: Remittance) -> bool:
    """Mine the remittance's bitcoin transaction now if it still waits in the mempool (a
    block of its own, labelled ``R/<id>``): the receiving node sells only what it holds."""
    txid = remittance.bitcoin_txid
    if not txid or mined_transaction(txid) is not None:
        return True
    bitcoin.mine(
        label=f"R/{remittance.pk.hex}",
        root=bytes.fromhex(txid)[::-1],
        miner=bitcoin.node_key(fx.desk_node()),
    )
    return mined_transaction(txid) is not None


def _next_leg(remittance: Remittance) -> str | None:
    done = set(remittance.legs.values_list("kind", flat=True))
    return next((k for k in FORWARD_LEGS if k not in done), None)


STATUS_AFTER = {
    LEG.DEBIT_SENDER: STATES.PROCESSING,
    LEG.BUY_BTC: STATES.PROCESSING,
    LEG.SEND_BTC: STATES.PROCESSING,
    LEG.SELL_BTC: STATES.FUNDS_CONVERTED,
    LEG.CREDIT_BENEFICIARY: STATES.OUTGOING_PAYMENT_SENT,
}


def _set_status(remittance: Remittance, status: str, **fields: Any) -> None:
    changed = remittance.status != status
    remittance.status = status
    for name, value in fields.items():
        setattr(remittance, name, value)
    remittance.updated_at = clock.now(node_id=remittance.sender_node_id)
    remittance.save()
    if changed:
        _changed(remittance)


def _fail(remittance_id: Any, kind: str, error: ApplicationError) -> None:
    def body() -> None:
        remittance = _lock(remittance_id)
        if remittance.status in (STATES.BOUNCED_BACK, STATES.FUNDS_REFUNDED):
            return
        _set_status(
            remittance,
            STATES.BOUNCED_BACK,
            failed_leg=kind,
            failure_code=error.code,
            failure_message=error.message[:300],
        )

    run_retrying(body)


def _forward(remittance_id: Any, *, force: bool) -> bool:
    """Post the next forward leg; False when there is none to post now."""
    kind_failed: list[tuple[str, ApplicationError]] = []

    def body() -> bool:
        remittance = _lock(remittance_id)
        if remittance.status in (
            STATES.BOUNCED_BACK,
            STATES.FUNDS_REFUNDED,
            STATES.OUTGOING_PAYMENT_SENT,
        ):
            return False
        kind = _next_leg(remittance)
        if kind is None:
            return False
        if remittance.delayed and not force and kind != LEG.DEBIT_SENDER:
            return False  # held in processing until the test helper moves it
        try:
            with transaction.atomic():
                leg = _run_leg(remittance, kind)
        except ApplicationError as error:
            kind_failed.append((kind, error))
            return False
        _set_status(remittance, STATUS_AFTER[RemittanceLeg.Kind(leg.kind)])
        return True

    moved = run_retrying(body)
    if kind_failed:
        kind, error = kind_failed[0]
        _fail(remittance_id, kind, error)
        return True
    return moved


def _unwind(remittance_id: Any) -> bool:
    """Reverse the newest unreversed leg (bitcoin back on chain too), or, all reversed,
    charge the return fee if the receiving node returned it, and end ``funds_refunded``."""

    def body() -> bool:
        remittance = _lock(remittance_id)
        if remittance.status != STATES.BOUNCED_BACK:
            return False
        leg = (
            remittance.legs.filter(reversal__isnull=True)
            .exclude(kind=LEG.RETURN_FEE)
            .order_by("-position")
            .first()
        )
        if leg is not None:
            _reverse(remittance, leg)
            return True
        if (
            remittance.failure_code == "returned_by_receiving_node"
            and not remittance.legs.filter(kind=LEG.RETURN_FEE).exists()
        ):
            fee = max(remittance.source_amount * RETURN_FEE_BPS // 10_000, 1)
            account = Account.objects.get(pk=remittance.sender_account_id)
            txn = _transfer(
                remittance,
                LEG.RETURN_FEE,
                account,
                transit_account(remittance.beneficiary_node, remittance.source_currency),
                fee,
            )
            _leg(
                remittance,
                LEG.RETURN_FEE,
                txn,
                amount_in=fee,
                currency_in=remittance.source_currency,
                amount_out=fee,
                currency_out=remittance.source_currency,
                fee=fee,
                fee_currency=remittance.source_currency,
            )
        _set_status(remittance, STATES.FUNDS_REFUNDED)
        return True

    moved = run_retrying(body)
    return moved


def _reverse(remittance: Remittance, leg: RemittanceLeg) -> None:
    metadata = _metadata(remittance, leg.kind, reverses_leg=leg.kind)
    sender, receiver = remittance.sender_node, remittance.beneficiary_node
    if leg.kind in (LEG.BUY_BTC, LEG.SEND_BTC):
        desk = bitcoin.node_key(fx.desk_node())
        bitcoin.fund(desk, at_least=bitcoin.NETWORK_FEE)
        payer, payee = (receiver, sender) if leg.kind == LEG.SEND_BTC else (sender, fx.desk_node())
        tx = bitcoin.pay(
            sender=bitcoin.node_key(payer),
            to=bitcoin.node_key(payee),
            amount=leg.amount_out,
            fee_payer=desk,
        )
        metadata["bitcoin_txid"] = tx.GetTxid()[::-1].hex()
    result = wallet_services.transaction_reverse(
        transaction_=leg.transaction,
        tenant=None,
        memo=f"Remittance {remittance.pk}: reversal of {RemittanceLeg.Kind(leg.kind).label}",
        metadata=metadata,
    )
    leg.reversal = result.transaction
    leg.save(update_fields=["reversal"])


def remittance_step(*, remittance_id: Any, force: bool = False) -> bool:
    """Do the next thing the remittance needs; False when it waits (delayed) or is done.
    Safe to run twice and from two workers: each step runs under the row lock and checks
    what is already recorded."""
    remittance = Remittance.objects.get(pk=remittance_id)
    if remittance.status == STATES.BOUNCED_BACK:
        moved = _unwind(remittance_id)
        if moved:
            _mine_if_waiting(remittance_id)
        return moved
    if remittance.status == STATES.OUTGOING_PAYMENT_SENT:
        if MAGIC_RETURNED in _magic(remittance):
            _fail(
                remittance_id,
                LEG.CREDIT_BENEFICIARY,
                LegFailed(
                    "The receiving node returned the payment (a return fee applies).",
                    code="returned_by_receiving_node",
                ),
            )
            return True
        return False
    if remittance.status == STATES.FUNDS_REFUNDED:
        return False
    if _next_leg(remittance) == LEG.SELL_BTC:
        _bitcoin_confirmed(remittance)
    return _forward(remittance_id, force=force)


def _mine_if_waiting(remittance_id: Any) -> None:
    """After an unwinding leg put a bitcoin transaction back on chain, mine it."""
    remittance = Remittance.objects.get(pk=remittance_id)
    txids = [
        str(t.metadata.get("bitcoin_txid"))
        for t in LedgerTransaction.objects.filter(
            metadata__remittance=str(remittance.pk), reverses__isnull=False
        )
        if t.metadata.get("bitcoin_txid")
    ]
    for txid in txids:
        if mined_transaction(txid) is None:
            bitcoin.mine(
                label=f"U/{txid[:32]}",
                root=bytes.fromhex(txid)[::-1],
                miner=bitcoin.node_key(fx.desk_node()),
            )


def remittance_run(
    *, remittance_id: Any, force: bool = False, until: Callable[[Remittance], bool] | None = None
) -> Remittance:
    """Step the remittance until it waits or is done (or ``until`` holds)."""
    for _ in range(30):
        remittance = Remittance.objects.get(pk=remittance_id)
        if until is not None and until(remittance):
            break
        if not remittance_step(remittance_id=remittance_id, force=force):
            break
    return Remittance.objects.get(pk=remittance_id)


# --- Test helper --------------------------------------------------------------------------

ORDER: list[str] = [
    STATES.INCOMING_PAYMENT_WAITING,
    STATES.PROCESSING,
    STATES.FUNDS_CONVERTED,
    STATES.OUTGOING_PAYMENT_SENT,
]


def remittance_advance(*, remittance: Remittance, status: str, actor: Actor) -> Remittance:
    """Move a remittance to ``status`` now (the test helper): forward states run the legs
    up to it, ignoring a delay; ``bounced_back`` fails it at its next leg (a returned
    payment once sent) and ``funds_refunded`` also unwinds it. A state behind it is 409."""
    if status not in STATES.values:
        raise ApplicationError(
            f"Unknown status {status!r}.", code="invalid_status", fields={"status": ["Unknown."]}
        )
    current = remittance.status
    if status == current:
        return remittance
    if status in ORDER and (current not in ORDER or ORDER.index(current) > ORDER.index(status)):
        raise Conflict(
            f"A remittance {current} cannot move to {status}.", code="invalid_transition"
        )
    if current == STATES.FUNDS_REFUNDED:
        raise Conflict(
            f"A remittance {current} cannot move to {status}.", code="invalid_transition"
        )
    with transaction.atomic():  # in the test helper log
        audit_record(
            actor=actor,
            action="test_helper.remittance_advanced",
            tenant=remittance.tenant,
            target=remittance,
            data={"from": current, "to": status},
        )
    if status in ORDER:
        return remittance_run(
            remittance_id=remittance.pk, force=True, until=lambda r: r.status == status
        )
    if current != STATES.BOUNCED_BACK:
        kind = _next_leg(remittance) or LEG.CREDIT_BENEFICIARY
        sent = current == STATES.OUTGOING_PAYMENT_SENT
        code = "returned_by_receiving_node" if sent else "simulated_failure"
        _fail(remittance.pk, kind, LegFailed(f"Failed at {kind} by the test helper.", code=code))
    if status == STATES.FUNDS_REFUNDED:
        return remittance_run(remittance_id=remittance.pk)
    return Remittance.objects.get(pk=remittance.pk)
