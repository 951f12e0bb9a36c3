"""FX: the operator-editable rate table (pairs and their rate events), quotes, conversions,
and the desk (the platform's FX desk node). docs/fx.md.

Amounts are integers of minor units (``sandbox.currencies``); rates are ``Decimal`` with
``rates.SIGNIFICANT_DIGITS`` significant digits, stored exactly (38 digits, 18 after the
point: a BTC→KRW rate has 9 digits before it, a KRW→BTC rate its first one at the 9th
place after it).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet
from wallets.models import Account, LedgerTransaction


def rate_field(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=38, decimal_places=18, **kwargs)  # type: ignore[arg-type]


class Pair(models.Model):
    """A currency pair of the rate table: ``mid`` units of ``quote`` per one ``base``
    (major units) at ``anchored_at``, from which the seeded walk moves (``rates``)."""

    code = models.CharField(max_length=7, primary_key=True, help_text='"USD/KRW"')
    base = models.CharField(max_length=3, choices=CurrencyCode.choices)
    quote = models.CharField(max_length=3, choices=CurrencyCode.choices)
    mid = rate_field(help_text="Quote currency per one base currency, at the anchor.")
    anchored_at = models.DateTimeField(help_text="When the mid was set: step 0 of the walk.")
    seed = models.BigIntegerField(default=0)
    volatility_bps = models.PositiveIntegerField(help_text="Annualised, in basis points.")
    spread_bps = models.PositiveIntegerField(help_text="The customer's rate is mid less this.")
    fee_bps = models.PositiveIntegerField(help_text="Of the amount sold, in its currency.")
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["base", "quote"], name="fx_pair_unique"),
            models.CheckConstraint(condition=~Q(base=F("quote")), name="fx_pair_two_currencies"),
            models.CheckConstraint(condition=Q(mid__gt=0), name="fx_pair_mid_positive"),
            models.CheckConstraint(
                condition=Q(spread_bps__lt=10_000, fee_bps__lt=10_000, volatility_bps__lte=50_000),
                name="fx_pair_bps_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class RateEvent(models.Model):
    """An operator's change of a pair's course at a moment of the platform clock: a pin (the
    rate holds ``value`` until unpinned), an unpin, or a jump (``value`` basis points,
    signed). Kept, so a day with them replays the same."""

    class Kind(models.TextChoices):
        PIN = "pin", "Pin"
        UNPIN = "unpin", "Unpin"
        JUMP = "jump", "Jump"

    id = models.BigAutoField(primary_key=True)
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    value = rate_field(default=0)
    at = models.DateTimeField()
    created_by = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="pin", value__gt=0)
                | Q(kind="unpin", value=0)
                | Q(kind="jump", value__gt=-10_000, value__lt=100_000) & ~Q(value=0),
                name="fx_rate_event_value_valid",
            ),
        ]
        indexes = [models.Index(fields=["pair", "at"], name="fx_rate_event_pair_at")]

    def __str__(self) -> str:
        return f"{self.kind} {self.pair_id} at {self.at}"


class Quote(models.Model):
    """A locked price: sell ``sell_amount`` of ``source_currency`` for ``buy_amount`` of
    ``target_currency``, until ``expires_at`` (the node's clock), at most once.

    ``status`` is ``open`` or ``used``; an open quote past its ``expires_at`` is expired
    (``is_expired``): the clock, not a job, decides."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        USED = "used", "Used"

    class Side(models.TextChoices):
        SELL = "sell", "Sell amount fixed"
        BUY = "buy", "Buy amount fixed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="fx_quotes")
    pair = models.ForeignKey(Pair, on_delete=models.PROTECT, related_name="+")
    source_currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    target_currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    fixed_side = models.CharField(max_length=4, choices=Side.choices)
    sell_amount = models.BigIntegerField(help_text="Debited from the source account.")
    buy_amount = models.BigIntegerField(help_text="Credited to the target account.")
    fee = models.BigIntegerField(help_text="Of sell_amount, to the desk's revenue.")
    mid_amount = models.BigIntegerField(
        help_text="What sell_amount less the fee is worth at the reference rate (target)."
    )
    rate = rate_field(help_text="Target per source (major units), the customer's.")
    reference_rate = rate_field(help_text="Target per source (major units), the mid.")
    spread_bps = models.PositiveIntegerField()
    fee_bps = models.PositiveIntegerField()
    lock_seconds = models.PositiveIntegerField()
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(source_currency=F("target_currency")), name="fx_quote_two_currencies"
            ),
            models.CheckConstraint(
                condition=Q(sell_amount__gt=0, buy_amount__gt=0, mid_amount__gt=0),
                name="fx_quote_amounts_positive",
            ),
            models.CheckConstraint(
                condition=Q(fee__gte=0, fee__lt=F("sell_amount")), name="fx_quote_fee_within"
            ),
            models.CheckConstraint(
                condition=Q(rate__gt=0, reference_rate__gt=0), name="fx_quote_rates_positive"
            ),
            models.CheckConstraint(
                condition=Q(status="open", used_at__isnull=True)
                | Q(status="used", used_at__isnull=False),
                name="fx_quote_used_has_time",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="fx_quote_expires_after"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="fx_quote_tenant_recent")]

    def __str__(self) -> str:
        return f"Quote {self.pk} {self.source_currency}→{self.target_currency}"

    @property
    def spread_amount(self) -> int:
        """The spread the desk keeps, in the target currency (the mid value less what the
        customer gets; it may be -1 in a buy quote, the rounding of the source amount)."""
        return self.mid_amount - self.buy_amount

    @property
    def desk_source_amount(self) -> int:
        """What the desk's liquidity receives in the source currency."""
        return self.sell_amount - self.fee


class Conversion(models.Model):
    """A quote executed: one ledger transaction through the desk's liquidity accounts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="fx_conversions")
    # One conversion per quote: the backstop of "a quote is used at most once".
    quote = models.OneToOneField(Quote, on_delete=models.PROTECT, related_name="conversion")
    source_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    target_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="fx_conversion"
    )
    description = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(source_account=F("target_account")),
                name="fx_conversion_two_accounts",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="fx_conversion_tenant_recent")
        ]

    def __str__(self) -> str:
        return f"Conversion {self.pk}"


class Desk(models.Model):
    """The platform's FX desk: one row (id=1) naming its node, made on first use."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    node = models.OneToOneField(Node, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="fx_desk_singleton")]

    def __str__(self) -> str:
        return "FX desk"
