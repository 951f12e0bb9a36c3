"""A merchant node's settlement contract, its batches, and the orders and refunds each
batch settled (each in exactly one batch: unique constraints, whatever the code above)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet
from wallets.banknet.models import AccountLink, Withdrawal
from wallets.models import Account, LedgerTransaction
from wallets.payments.models import PaymentRequest, Refund

MAX_DELAY_DAYS = 10
MAX_FEE_RATE_BPS = 10_000


class SettlementContract(models.Model):
    """How a merchant node is settled: one contract per node, paying out of one account."""

    class Cycle(models.TextChoices):
        DAILY = "daily", "Daily, T+n Korean business days"
        WEEKLY = "weekly", "Weekly (Monday to Sunday)"
        MONTHLY = "monthly", "Monthly"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.OneToOneField(
        Node, on_delete=models.CASCADE, related_name="merchant_settlement_contract"
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", help_text="The orders' account."
    )
    link = models.ForeignKey(
        AccountLink, on_delete=models.PROTECT, related_name="+", help_text="Paid out to."
    )
    currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    cycle = models.CharField(max_length=8, choices=Cycle.choices)
    delay_days = models.PositiveSmallIntegerField(default=1, help_text="n of T+n (daily).")
    fee_rate_bps = models.PositiveIntegerField(help_text="Basis points of each order.")
    fixed_fee = models.BigIntegerField(default=0, help_text="Minor units per order.")
    minimum_payout = models.BigIntegerField(default=0, help_text="Minor units.")
    effective_from = models.DateTimeField(help_text="Orders paid from then on are settled.")
    next_run_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(cycle__in=["daily", "weekly", "monthly"]), name="msc_cycle_valid"
            ),
            models.CheckConstraint(
                condition=Q(delay_days__gte=1, delay_days__lte=MAX_DELAY_DAYS),
                name="msc_delay_range",
            ),
            models.CheckConstraint(
                condition=Q(fee_rate_bps__gte=0, fee_rate_bps__lte=MAX_FEE_RATE_BPS),
                name="msc_fee_rate_range",
            ),
            models.CheckConstraint(condition=Q(fixed_fee__gte=0), name="msc_fixed_fee_positive"),
            models.CheckConstraint(
                condition=Q(minimum_payout__gte=0), name="msc_minimum_payout_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Settlement contract of {self.node_id} ({self.cycle})"


class SettlementBatch(models.Model):
    """One cycle's settlement. ``net = gross - refunds - fees - vat + carried_in``; a net at
    or above the minimum (and above zero) is paid out, anything else is carried to the
    next batch, as is a payout that failed or came back."""

    class Status(models.TextChoices):
        POSTED = "posted", "Fees posted, payout sent"
        CARRIED_OVER = "carried_over", "Below the minimum: carried over"
        PAID_OUT = "paid_out", "Paid out"
        PAYOUT_FAILED = "payout_failed", "Payout failed: carried over"
        PAYOUT_RETURNED = "payout_returned", "Payout returned: carried over"

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled cycle"
        MANUAL = "manual", "Test helper"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    contract = models.ForeignKey(
        SettlementContract, on_delete=models.PROTECT, related_name="batches"
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    run_date = models.DateField(null=True, blank=True, help_text="The cycle's (scheduled).")
    cutoff = models.DateTimeField(help_text="Orders paid and refunds made before it.")
    status = models.CharField(max_length=16, choices=Status.choices)
    fee_rate_bps = models.PositiveIntegerField()
    fixed_fee = models.BigIntegerField()
    minimum_payout = models.BigIntegerField()
    order_count = models.PositiveIntegerField(default=0)
    refund_count = models.PositiveIntegerField(default=0)
    gross = models.BigIntegerField(default=0)
    refunds = models.BigIntegerField(default=0)
    fees = models.BigIntegerField(default=0)
    vat = models.BigIntegerField(default=0)
    carried_in = models.BigIntegerField(default=0)
    net = models.BigIntegerField(default=0)
    payout_amount = models.BigIntegerField(default=0)
    carried_out = models.BigIntegerField(default=0)
    carried_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="carried_from"
    )
    fee_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdrawal = models.OneToOneField(
        Withdrawal, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    failure_reason = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(help_text="On the node's clock.")
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="On the node's clock.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "run_date"],
                condition=Q(run_date__isnull=False),
                name="msb_one_batch_per_run_date",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "posted",
                        "carried_over",
                        "paid_out",
                        "payout_failed",
                        "payout_returned",
                    ]
                ),
                name="msb_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(gross__gte=0, refunds__gte=0, fees__gte=0, vat__gte=0),
                name="msb_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(net=F("gross") - F("refunds") - F("fees") - F("vat") + F("carried_in")),
                name="msb_net_adds_up",
            ),
            # What is not paid out is carried: never both, never neither (but for zero).
            models.CheckConstraint(
                condition=Q(payout_amount=0, carried_out=F("net")) & Q(status="carried_over")
                | Q(payout_amount=F("net"), payout_amount__gt=0, carried_out=0)
                & Q(status__in=["posted", "paid_out"])
                | Q(payout_amount=F("net"), payout_amount__gt=0, carried_out=F("net"))
                & Q(status__in=["payout_failed", "payout_returned"]),
                name="msb_payout_or_carry",
            ),
            models.CheckConstraint(
                condition=Q(run_date__isnull=False, trigger="scheduled")
                | Q(run_date__isnull=True, trigger="manual"),
                name="msb_run_date_when_scheduled",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="msb_tenant_recent"),
            models.Index(fields=["contract", "-created_at"], name="msb_contract_recent"),
        ]

    def __str__(self) -> str:
        return f"Settlement batch {self.pk} ({self.status})"


class SettlementItem(models.Model):
    """An order (``amount`` > 0, with its fee and VAT) or a refund (``amount`` < 0) that a
    batch settled."""

    class Kind(models.TextChoices):
        ORDER = "order", "Order"
        REFUND = "refund", "Refund"

    id = models.BigAutoField(primary_key=True)
    batch = models.ForeignKey(SettlementBatch, on_delete=models.PROTECT, related_name="items")
    kind = models.CharField(max_length=6, choices=Kind.choices)
    payment_request = models.ForeignKey(PaymentRequest, on_delete=models.PROTECT, related_name="+")
    refund = models.OneToOneField(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = models.BigIntegerField()
    fee = models.BigIntegerField(default=0)
    vat = models.BigIntegerField(default=0)
    occurred_at = models.DateTimeField(help_text="Paid, or refunded (the node's clock).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["payment_request"],
                condition=Q(kind="order"),
                name="msi_order_in_one_batch",
            ),
            models.CheckConstraint(
                condition=Q(kind="order", refund__isnull=True, amount__gt=0)
                | Q(kind="refund", refund__isnull=False, amount__lt=0, fee=0, vat=0),
                name="msi_kind_consistent",
            ),
            models.CheckConstraint(condition=Q(fee__gte=0, vat__gte=0), name="msi_fee_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.payment_request_id}"
