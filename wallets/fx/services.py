"""Writes of FX: quotes, conversions, the desk, and the operators' rate table edits.

The contract other apps build on (remittance, docs/fx.md): ``create_quote``,
``execute_quote`` and ``desk_node``.

Lock order (``wallets.locking``): a conversion claims its quote first, with a conditional
UPDATE (``... WHERE status = 'open' AND expires_at > now``), like a hold, then ``post``
locks the accounts. Two executions of one quote: one claims it, the other is refused
(409 ``quote_used``); the unique ``Conversion.quote`` is the backstop.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from sandbox import clock
from sandbox.currencies import MAX_MINOR_UNITS, AmountError, get_currency, to_decimal_string
from sandbox.errors import ApplicationError, Conflict, NotFound, Unprocessable
from sandbox.events.services import event_record
from sandbox.tenants import services as tenant_services
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import SYSTEM, Actor, audit_record
from wallets import banks
from wallets import services as ledger
from wallets.fx import presenters, pricing, selectors, table
from wallets.fx.models import Conversion, Desk, Pair, Quote, RateEvent
from wallets.fx.rates import significant
from wallets.locking import retrying
from wallets.models import Account
from wallets.posting import Leg, Posting, post_one

# How long a quote holds its price, in seconds of the node's clock (docs/fx.md).
LOCK_DURATIONS = (30, 300, 1800)
DEFAULT_LOCK_SECONDS = 300
# The desk's limits on one quote, on the amount sold, in minor units of its currency.
LIMITS: dict[str, tuple[int, int]] = {
    "KRW": (1_000, 100_000_000),  # 1,000 to 100,000,000 won
    "USD": (100, 10_000_000),  # 1.00 to 100,000.00 dollars
    "JPY": (100, 15_000_000),  # 100 to 15,000,000 yen
    "BTC": (1_000, 200_000_000),  # 0.00001 to 2 bitcoin
}
CONVERSION_KIND = "fx_conversion"
DESK_TENANT_NAME = "Sandbox platform"
DESK_NODE_NAME = "FX desk"

QUOTE_CREATED = "fx.quote.created"
QUOTE_USED = "fx.quote.used"
CONVERSION_COMPLETED = "fx.conversion.completed"


# --- The desk ----------------------------------------------------------------------------------


def desk_node() -> Node:
    """The platform's FX desk node (of the platform's own tenant), made on first use. Its
    money sits in platform accounts (``desk_account``): out of every tenant's reach, and
    allowed to go negative like the other sides of the books."""
    desk = Desk.objects.select_related("node__tenant").filter(pk=1).first()
    if desk is not None:
        return desk.node
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(name=DESK_TENANT_NAME, status=Tenant.Status.ACTIVE)
            node = tenant_services.node_create(
                tenant=tenant,
                actor=SYSTEM,
                name=DESK_NODE_NAME,
                country="KR",
                base_currency="KRW",
            )
            Desk.objects.create(pk=1, node=node, created_at=clock.now())
    except IntegrityError:
        pass  # made concurrently: ours rolled back
    return Desk.objects.select_related("node__tenant").get(pk=1).node


def desk_account(currency: str, *, revenue: bool = False) -> Account:
    """The desk's liquidity account (``Purpose.FX``) or revenue account (``Purpose.FEES``)
    in ``currency``, under the desk's ledger code, made on first use."""
    return ledger.platform_account(
        purpose=Account.Purpose.FEES if revenue else Account.Purpose.FX,
        currency=currency,
        bank_code=banks.FX_DESK_LEDGER_CODE,
    )


# --- Quotes ----------------------------------------------------------------------------------


def _currency(code: Any, field: str) -> str:
    try:
        return get_currency(code).code
    except AmountError as error:
        raise ApplicationError(
            error.message, code=error.code, fields={field: [error.message]}
        ) from None


def pair_for(source: str, target: str) -> tuple[Pair, bool]:
    """The enabled pair quoting ``source`` against ``target`` and whether it is inverted
    (its base is the target), or 400 ``unknown_pair``."""
    for pair in Pair.objects.filter(enabled=True, base__in=[source, target]):
        if (pair.base, pair.quote) == (source, target):
            return pair, False
        if (pair.base, pair.quote) == (target, source):
            return pair, True
    raise ApplicationError(
        f"The desk does not quote {source} to {target}.",
        code="unknown_pair",
        fields={"target_currency": ["No such pair."]},
    )


def _amount(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_MINOR_UNITS:
        raise ApplicationError(
            f"{field} is a positive whole number of minor units.",
            code="invalid_amount",
            fields={field: ["A positive integer of minor units."]},
        )
    return value


def _check_limits(sell: int, currency: str) -> None:
    low, high = LIMITS[currency]
    if sell < low:
        raise Unprocessable(
            f"The desk converts at least {to_decimal_string(low, currency)} {currency}.",
            code="amount_below_minimum",
            fields={"amount": [f"At least {to_decimal_string(low, currency)} {currency}."]},
        )
    if sell > high:
        raise Unprocessable(
            f"The desk converts at most {to_decimal_string(high, currency)} {currency} at once.",
            code="amount_above_limit",
            fields={"amount": [f"At most {to_decimal_string(high, currency)} {currency}."]},
        )


@transaction.atomic
def create_quote(
    *,
    tenant: Tenant,
    node: Node,
    source_currency: str,
    target_currency: str,
    sell_amount: int | None = None,
    buy_amount: int | None = None,
    lock_seconds: int | None = None,
) -> Quote:
    """Lock a price for ``node`` to sell ``sell_amount`` of the source currency, or to buy
    ``buy_amount`` of the target currency (exactly one; minor units), for ``lock_seconds``
    (one of ``LOCK_DURATIONS``) of the node's clock."""
    if node.tenant_id != tenant.pk:
        raise NotFound(f"No node with id {node.pk}.", code="node_not_found")
    if not node.is_active:
        raise Conflict("A deactivated node cannot trade.", code="node_inactive")
    source = _currency(source_currency, "source_currency")
    target = _currency(target_currency, "target_currency")
    if source == target:
        raise ApplicationError(
            "The source and target currencies are the same.",
            code="same_currency",
            fields={"target_currency": ["Must differ from the source currency."]},
        )
    if (sell_amount is None) == (buy_amount is None):
        raise ApplicationError(
            "Give exactly one of sell_amount and buy_amount.",
            code="one_amount_required",
            fields={"sell_amount": ["Give this or buy_amount, not both."]},
        )
    lock = DEFAULT_LOCK_SECONDS if lock_seconds is None else lock_seconds
    if lock not in LOCK_DURATIONS:
        raise ApplicationError(
            f"lock_seconds is one of {', '.join(map(str, LOCK_DURATIONS))}.",
            code="invalid_lock_duration",
            fields={"lock_seconds": [f"One of {', '.join(map(str, LOCK_DURATIONS))}."]},
        )
    pair, inverted = pair_for(source, target)
    now = clock.now(node_id=node.pk)
    price = pricing.price(
        pricing.oriented(selectors.pair_mid(pair, now), inverted=inverted), pair.spread_bps
    )
    if sell_amount is not None:
        _check_limits(_amount(sell_amount, "sell_amount"), source)
        amounts = pricing.amounts_selling(
            sell_amount, source=source, target=target, price=price, fee_bps=pair.fee_bps
        )
    else:
        _amount(buy_amount, "buy_amount")
        assert buy_amount is not None
        amounts = pricing.amounts_buying(
            buy_amount, source=source, target=target, price=price, fee_bps=pair.fee_bps
        )
        _check_limits(amounts.sell, source)
    if amounts.buy <= 0 or amounts.mid <= 0 or amounts.sell - amounts.fee <= 0:
        raise Unprocessable(
            "The amount is too small to convert.",
            code="amount_below_minimum",
            fields={"amount": ["Too small to convert."]},
        )
    quote = Quote.objects.create(
        tenant=tenant,
        node=node,
        pair=pair,
        source_currency=source,
        target_currency=target,
        fixed_side=Quote.Side.SELL if sell_amount is not None else Quote.Side.BUY,
        sell_amount=amounts.sell,
        buy_amount=amounts.buy,
        fee=amounts.fee,
        mid_amount=amounts.mid,
        rate=price.rate,
        reference_rate=price.reference_rate,
        spread_bps=pair.spread_bps,
        fee_bps=pair.fee_bps,
        lock_seconds=lock,
        created_at=now,
        expires_at=now + timedelta(seconds=lock),
    )
    event_record(
        tenant=tenant,
        node=node,
        type=QUOTE_CREATED,
        obj=quote,
        data=presenters.quote_data(quote, now=now),
    )
    return quote


# --- Conversions -----------------------------------------------------------------------------


def _check_account(account: Account, quote: Quote, currency: str, field: str) -> None:
    if account.tenant_id != quote.tenant_id or account.wallet_id is None:
        raise NotFound(f"No account with id {account.pk}.", code="account_not_found")
    if account.currency != currency:
        raise ApplicationError(
            f"Account {account.pk} holds {account.currency}; the quote needs {currency}.",
            code="currency_mismatch",
            fields={field: [f"Must hold {currency}."]},
        )


def _refuse_claimed(quote: Quote, now: datetime) -> ApplicationError:
    current = Quote.objects.filter(pk=quote.pk).values_list("status", "expires_at").get()
    if current[0] == Quote.Status.USED:
        return Conflict("This quote was already used.", code="quote_used")
    return ApplicationError(
        f"This quote expired at {current[1].isoformat()}.", code="quote_expired", status_code=410
    )


@retrying
def execute_quote(
    quote: Quote,
    *,
    source_account: Account,
    target_account: Account,
    description: str = "",
    metadata: dict[str, Any] | None = None,
) -> Conversion:
    """Convert as quoted: one ledger transaction from ``source_account`` (the quote's node's,
    in the source currency) through the desk's liquidity accounts to ``target_account`` (of
    the same tenant, in the target currency); fee and spread to the desk's revenue. Refused
    with nothing changed: ``quote_used`` (409), ``quote_expired`` (410),
    ``insufficient_funds`` (422), an account of another tenant (404) or currency (400)."""
    _check_account(source_account, quote, quote.source_currency, "source_account_id")
    _check_account(target_account, quote, quote.target_currency, "target_account_id")
    wallet_node = (
        Account.objects.filter(pk=source_account.pk).values_list("wallet__node_id", flat=True).get()
    )
    if wallet_node != quote.node_id:
        raise ApplicationError(
            "The source account is not in the wallet of the quote's node.",
            code="account_not_in_node",
            fields={"source_account_id": ["Must be an account of the quote's node."]},
        )
    if len(description) > 200:
        raise ApplicationError(
            "The description has at most 200 characters.",
            code="invalid_description",
            fields={"description": ["At most 200 characters."]},
        )
    metadata = ledger._check_metadata(metadata)
    now = clock.now(node_id=quote.node_id)
    claimed = Quote.objects.filter(
        pk=quote.pk, status=Quote.Status.OPEN, expires_at__gt=now
    ).update(status=Quote.Status.USED, used_at=now)
    if claimed != 1:
        raise _refuse_claimed(quote, now)
    quote.refresh_from_db()
    source, target = quote.source_currency, quote.target_currency
    legs = [
        Leg(source_account.pk, -quote.sell_amount, source),
        Leg(desk_account(source).pk, quote.desk_source_amount, source),
        Leg(desk_account(target).pk, -quote.mid_amount, target),
        Leg(target_account.pk, quote.buy_amount, target),
    ]
    if quote.fee:
        legs.append(Leg(desk_account(source, revenue=True).pk, quote.fee, source))
    if quote.spread_amount:
        legs.append(Leg(desk_account(target, revenue=True).pk, quote.spread_amount, target))
    result = post_one(
        Posting(
            kind=CONVERSION_KIND,
            legs=legs,
            tenant_id=quote.tenant_id,
            memo=(description or f"FX {source}→{target}, quote {quote.pk}")[:500],
            metadata={"fx_quote": str(quote.pk), **metadata},
        )
    )
    conversion = Conversion.objects.create(
        tenant_id=quote.tenant_id,
        node_id=quote.node_id,
        quote=quote,
        source_account=source_account,
        target_account=target_account,
        ledger_transaction=result.transaction,
        description=description,
        metadata=metadata,
        created_at=now,
    )
    node = Node.objects.select_related("tenant").get(pk=quote.node_id)
    event_record(
        tenant=node.tenant,
        node=node,
        type=QUOTE_USED,
        obj=quote,
        data=presenters.quote_data(quote, now=now),
    )
    event_record(
        tenant=node.tenant,
        node=node,
        type=CONVERSION_COMPLETED,
        obj=conversion,
        data=presenters.conversion_data(conversion, now=now),
    )
    return conversion


# --- The rate table (operators) ------------------------------------------------------------


def pairs_seed() -> int:
    """Create the pairs of the first table (``table.PAIRS``) that have no row, leaving
    edited ones alone; returns how many were created."""
    created = 0
    for code, base, quote, mid, volatility, spread, fee in table.PAIRS:
        _, made = Pair.objects.get_or_create(
            code=code,
            defaults={
                "base": base,
                "quote": quote,
                "mid": Decimal(mid),
                "anchored_at": table.ANCHOR,
                "seed": table.SEED,
                "volatility_bps": volatility,
                "spread_bps": spread,
                "fee_bps": fee,
                "updated_at": table.ANCHOR,
            },
        )
        created += made
    return created


def _bps(value: Any, field: str, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < maximum:
        raise ApplicationError(
            f"{field} is a whole number of basis points from 0 to {maximum - 1}.",
            code="invalid_bps",
            fields={field: ["Out of range."]},
        )
    return value


def _positive_rate(value: Any, field: str) -> Decimal:
    try:
        rate = Decimal(str(value))
    except ArithmeticError:
        rate = Decimal(0)
    if not rate.is_finite() or rate <= 0 or rate >= Decimal(10) ** 19:
        raise ApplicationError(
            f"{field} is a positive decimal rate.",
            code="invalid_rate",
            fields={field: ["A positive decimal."]},
        )
    return significant(rate)


@transaction.atomic
def pair_update(
    *,
    pair: Pair,
    actor: Actor,
    mid: Any = None,
    spread_bps: Any = None,
    fee_bps: Any = None,
    volatility_bps: Any = None,
    seed: Any = None,
    enabled: bool | None = None,
) -> Pair:
    """Edit a pair. A new ``mid`` (or ``seed``) re-anchors the walk at the platform clock's
    now: rates before that moment are no longer replayable from the table."""
    pair = Pair.objects.select_for_update().get(pk=pair.pk)
    now = clock.now()
    changes: dict[str, str] = {}
    if mid is not None:
        pair.mid = _positive_rate(mid, "mid")
        changes["mid"] = str(pair.mid)
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool) or abs(seed) >= 2**62:
            raise ApplicationError("seed is an integer.", code="invalid_seed")
        pair.seed = seed
        changes["seed"] = str(seed)
    if mid is not None or seed is not None:
        pair.anchored_at = now
    if spread_bps is not None:
        pair.spread_bps = _bps(spread_bps, "spread_bps", pricing.BPS)
        changes["spread_bps"] = str(spread_bps)
    if fee_bps is not None:
        pair.fee_bps = _bps(fee_bps, "fee_bps", pricing.BPS)
        changes["fee_bps"] = str(fee_bps)
    if volatility_bps is not None:
        pair.volatility_bps = _bps(volatility_bps, "volatility_bps", 50_001)
        changes["volatility_bps"] = str(volatility_bps)
    if enabled is not None:
        pair.enabled = bool(enabled)
        changes["enabled"] = str(pair.enabled)
    pair.updated_at = now
    pair.save()
    audit_record(actor=actor, action="fx.pair.updated", tenant=None, target=pair, data=changes)
    return pair


@transaction.atomic
def rate_event_create(*, pair: Pair, actor: Actor, kind: str, value: Any = None) -> RateEvent:
    """Pin the pair's rate at ``value``, unpin it, or make it jump by ``value`` basis points
    (signed, above -10000), from the platform clock's now on."""
    if kind == RateEvent.Kind.PIN:
        amount = _positive_rate(value, "value")
    elif kind == RateEvent.Kind.UNPIN:
        amount = Decimal(0)
    elif kind == RateEvent.Kind.JUMP:
        if not isinstance(value, int) or isinstance(value, bool) or not -10_000 < value < 100_000:
            raise ApplicationError(
                "A jump is a non-zero whole number of basis points above -10000.",
                code="invalid_jump",
                fields={"value": ["Basis points, non-zero, above -10000."]},
            )
        if value == 0:
            raise ApplicationError(
                "A jump of zero changes nothing.", code="invalid_jump", fields={"value": ["0"]}
            )
        amount = Decimal(value)
    else:
        raise ApplicationError(
            "kind is pin, unpin or jump.", code="invalid_kind", fields={"kind": ["Unknown."]}
        )
    event = RateEvent.objects.create(
        pair=pair, kind=kind, value=amount, at=clock.now(), created_by=actor.label[:254]
    )
    audit_record(
        actor=actor,
        action=f"fx.rate.{kind}",
        tenant=None,
        target=pair,
        data={"value": str(amount), "at": event.at.isoformat()},
    )
    return event
