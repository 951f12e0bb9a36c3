"""Escrow contracts and their disputes (docs/escrow.md).

An escrow holds a payer's money on a ledger hold (``wallets.models.Hold``) until it is
released to the payee (in one go or in parts), refunded to the payer, or settled by its
timeout or a dispute's decision. The money itself only moves through the ledger's
services; these rows say why, and each ``EscrowMovement`` links to the ledger
transactions that moved it.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet
from wallets.models import Account, Hold, LedgerTransaction


class Escrow(models.Model):
    class ReleaseCondition(models.TextChoices):
        MANUAL = "manual", "Released by the payer; refunded on timeout"
        DEADLINE = "deadline", "Released on its deadline unless disputed"

    class Status(models.TextChoices):
        HELD = "held", "Held"
        PARTIALLY_RELEASED = "partially_released", "Partially released"
        DISPUTED = "disputed", "Disputed"
        RELEASED = "released", "Released"
        REFUNDED = "refunded", "Refunded"

    class Resolution(models.TextChoices):
        NONE = "", "—"
        MANUAL = "manual", "By a party"
        TIMEOUT = "timeout", "On its timeout"
        DISPUTE = "dispute", "By a dispute's decision"

    OPEN_STATUSES = (Status.HELD, Status.PARTIALLY_RELEASED, Status.DISPUTED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    payer_node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="+")
    payee_node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="+")
    payer_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    payee_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    released_amount = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    fee_amount = models.BigIntegerField(default=0, help_text="Fees charged so far, to the payee.")
    fee_rate_bps = models.PositiveIntegerField(default=0)
    fixed_fee = models.BigIntegerField(default=0)
    release_condition = models.CharField(max_length=10, choices=ReleaseCondition.choices)
    timeout_at = models.DateTimeField(help_text="The payer node's time.")
    dispute_window_ends_at = models.DateTimeField(help_text="The payer node's time.")
    description = models.CharField(max_length=200, blank=True)
    terms = models.JSONField(help_text="The canonical terms that terms_hash hashes.")
    terms_hash = models.CharField(max_length=64, unique=True)
    hold = models.ForeignKey(
        Hold,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The hold that holds what remains; none once nothing remains.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.HELD)
    resolution = models.CharField(max_length=10, choices=Resolution.choices, blank=True, default="")
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="escrow_amount_positive"),
            models.CheckConstraint(
                condition=Q(released_amount__gte=0, refunded_amount__gte=0, fee_amount__gte=0)
                & Q(released_amount__lte=F("amount") - F("refunded_amount")),
                name="escrow_moved_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(fee_amount__lte=F("released_amount")),
                name="escrow_fee_within_released",
            ),
            models.CheckConstraint(
                condition=Q(fee_rate_bps__lte=10_000, fixed_fee__gte=0),
                name="escrow_fee_schedule_valid",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["held", "partially_released", "disputed"], hold__isnull=False
                )
                | Q(
                    status__in=["released", "refunded"],
                    hold__isnull=True,
                    released_amount=F("amount") - F("refunded_amount"),
                ),
                name="escrow_status_consistent",
            ),
            models.CheckConstraint(
                condition=Q(release_condition__in=["manual", "deadline"]),
                name="escrow_release_condition_valid",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="escrow_tenant_recent")]

    def __str__(self) -> str:
        return f"Escrow {self.pk} ({self.status})"

    @property
    def remaining_amount(self) -> int:
        return self.amount - self.released_amount - self.refunded_amount

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def on_timeout(self) -> str:
        """What the timeout does with what remains: a manual escrow goes back to the payer,
        a deadline escrow to the payee."""
        return "release" if self.release_condition == self.ReleaseCondition.DEADLINE else "refund"


class EscrowMovement(models.Model):
    """One release or refund of an escrow: what moved, the fee, and the ledger's record."""

    class Kind(models.TextChoices):
        RELEASE = "release", "Release to the payee"
        REFUND = "refund", "Refund to the payer"

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    escrow = models.ForeignKey(Escrow, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = models.BigIntegerField()
    fee = models.BigIntegerField(default=0)
    cause = models.CharField(max_length=10, choices=Escrow.Resolution.choices)
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    fee_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="escrow_movement_positive"),
            models.CheckConstraint(
                condition=Q(fee__gte=0, fee__lte=F("amount")), name="escrow_movement_fee_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind="release", transaction__isnull=False)
                | Q(kind="refund", fee=0, transaction__isnull=True),
                name="escrow_movement_kind_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} of {self.escrow_id}"


class EscrowDispute(models.Model):
    """The payer's dispute of an escrow: opened → evidence_submitted → won or lost.

    Won (by the payer): what is held is refunded. Lost: it is released to the payee."""

    class Status(models.TextChoices):
        OPENED = "opened", "Opened"
        EVIDENCE_SUBMITTED = "evidence_submitted", "Evidence submitted"
        WON = "won", "Won by the payer"
        LOST = "lost", "Lost by the payer"

    OPEN_STATUSES = (Status.OPENED, Status.EVIDENCE_SUBMITTED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    escrow = models.OneToOneField(Escrow, on_delete=models.PROTECT, related_name="dispute")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPENED)
    reason = models.CharField(max_length=500)
    evidence = models.TextField(blank=True, max_length=5000)
    opened_at = models.DateTimeField()
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    due_by = models.DateTimeField(help_text="Decided by the deadline rule if nobody decides.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=200, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["opened", "evidence_submitted", "won", "lost"]),
                name="escrow_dispute_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["opened", "evidence_submitted"], decided_at__isnull=True)
                | Q(status__in=["won", "lost"], decided_at__isnull=False),
                name="escrow_dispute_decision_consistent",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-opened_at"], name="escrow_dispute_tenant_recent")
        ]

    def __str__(self) -> str:
        return f"Dispute {self.pk} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES
