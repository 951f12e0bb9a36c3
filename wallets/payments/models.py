"""Token-based push payments: a merchant node's signed payment request, the payer node's
signed authorization (the token), its one redemption, and refunds.

Settlement (issue 10, item 7) selects a merchant node's orders by ``paid_at`` (the node's
clock) and its refunds by ``created_at``: both are indexed per node.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet
from wallets.models import Account, LedgerTransaction

PAID_STATES = ("paid", "partially_refunded", "refunded")


class RefundQuerySet(TenantQuerySet["Refund"]):
    tenant_path = "request__tenant"


class PaymentRequest(models.Model):
    """A merchant node asks to be paid for one order; signed by the node as a JWS."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        AUTHORIZED = "authorized", "Authorized"
        PAID = "paid", "Paid"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        EXPIRED = "expired", "Expired"
        CANCELED = "canceled", "Canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="payment_requests")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    order_id = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    description = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REQUESTED)
    jws = models.TextField(help_text="The request as signed by the merchant node.")
    request_hash = models.CharField(max_length=43, unique=True, help_text="SHA-256 of the JWS.")
    qr_payload = models.TextField()
    refunded_amount = models.BigIntegerField(default=0)
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    authorized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True, help_text="On the node's clock.")
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Canceled or expired.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "order_id"], name="payreq_order_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payreq_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("amount")),
                name="payreq_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "requested",
                        "authorized",
                        "paid",
                        "partially_refunded",
                        "refunded",
                        "expired",
                        "canceled",
                    ]
                ),
                name="payreq_status_valid",
            ),
            # Paid exactly when a transaction is linked; the refund states follow the sum.
            models.CheckConstraint(
                condition=Q(
                    status__in=PAID_STATES, transaction__isnull=False, paid_at__isnull=False
                )
                | (~Q(status__in=PAID_STATES) & Q(transaction__isnull=True, refunded_amount=0)),
                name="payreq_paid_has_transaction",
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(refunded_amount=0),
                name="payreq_paid_not_refunded",
            ),
            models.CheckConstraint(
                condition=~Q(status="partially_refunded")
                | Q(refunded_amount__gt=0, refunded_amount__lt=F("amount")),
                name="payreq_partial_refund_between",
            ),
            models.CheckConstraint(
                condition=~Q(status="refunded") | Q(refunded_amount=F("amount")),
                name="payreq_refunded_in_full",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="payreq_tenant_recent"),
            models.Index(fields=["node", "paid_at"], name="payreq_node_paid"),
        ]

    def __str__(self) -> str:
        return f"Order {self.order_id} ({self.status})"

    @property
    def is_paid(self) -> bool:
        return self.status in PAID_STATES

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.REQUESTED, self.Status.AUTHORIZED)


class PaymentAuthorization(models.Model):
    """The payer node's signed authorization of one request: the token. The payer's account
    is kept here, for the platform only; the token carries a salted commitment to it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(
        PaymentRequest, on_delete=models.CASCADE, related_name="authorizations"
    )
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    salt = models.BinaryField(help_text="Opens the token's account commitment.")
    jws = models.TextField()
    token_hash = models.CharField(max_length=43, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Authorization {self.pk}"


class Redemption(models.Model):
    """The one redemption of a request. The unique request and authorization are the real
    guard against paying twice, whatever the code above them does."""

    id = models.BigAutoField(primary_key=True)
    request = models.OneToOneField(
        PaymentRequest, on_delete=models.PROTECT, related_name="redemption"
    )
    authorization = models.OneToOneField(
        PaymentAuthorization, on_delete=models.PROTECT, related_name="redemption"
    )
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Redemption of {self.request_id}"


class Refund(models.Model):
    """Money returned from the merchant's account to the payer's, never above what was paid
    (the request's ``refunded_amount`` constraint)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(PaymentRequest, on_delete=models.PROTECT, related_name="refunds")
    node = models.ForeignKey(
        Node, on_delete=models.CASCADE, related_name="+", help_text="The merchant node."
    )
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=200, blank=True)
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(help_text="On the merchant node's clock.")

    objects = RefundQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]
        indexes = [models.Index(fields=["node", "created_at"], name="refund_node_created")]

    def __str__(self) -> str:
        return f"Refund {self.pk}"
