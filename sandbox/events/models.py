"""Events (the outbox), webhook secrets, deliveries and attempts, scheduled actions, and
the clocks that decide when scheduled actions are due."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import NodeScopedQuerySet, TenantQuerySet


def new_event_id(created_us: int | None = None) -> uuid.UUID:
    """A version 7 uuid (RFC 9562, method 3) of ``created_us`` (microseconds since the Unix
    epoch; now if None): what ``events_event_id`` (migration 0006) makes in PostgreSQL from
    an event's ``created_at``. Time-ordered, so new events land on the right edge of the
    primary key's index, not on a random page of it."""
    us = time.time_ns() // 1000 if created_us is None else created_us
    high = (us // 1000) << 16 | 0x7000 | (us % 1000) * 4096 // 1000
    low = int.from_bytes(os.urandom(8)) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000
    return uuid.UUID(int=high << 64 | low)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_microseconds(moment: datetime) -> int:
    """``moment`` (aware) in whole microseconds since the Unix epoch, exactly: what the
    recording INSERTs give ``events_event_id`` with the ``created_at`` they write."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


class Event(models.Model):
    """Something that happened to a tenant's object. Written in the same transaction as
    the change itself; ``relayed_at`` stays empty until the relay has turned the event into
    webhook deliveries (the transactional outbox)."""

    id = models.UUIDField(primary_key=True, default=new_event_id, editable=False)
    # Both checked once per INSERT by a statement-level trigger (migration 0005), not per
    # row; event_tenant_recent serves the lookups by tenant.
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    node = models.ForeignKey(
        Node,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
        db_constraint=False,
    )
    type = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField(help_text="The node's time (its test clock, if any).")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    relayed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="event_tenant_recent"),
            # The type filter (and the loose scan of the types) with the list's order: a
            # rare type's newest events are read straight from the index, not sorted.
            models.Index(fields=["tenant", "type", "-created_at"], name="event_tenant_type_recent"),
            models.Index(
                fields=["created_at"],
                condition=models.Q(relayed_at__isnull=True),
                name="event_outbox_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.pk}"


class WebhookSecret(models.Model):
    """A node's signing secret. While one rotates, the old one stays valid until
    ``expires_at`` and deliveries carry a signature for each live secret."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="webhook_secrets")
    # Kept readable on purpose: signing needs the secret itself, not a hash of it.
    secret = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = NodeScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["node"],
                condition=models.Q(expires_at__isnull=True),
                name="webhook_secret_one_current_per_node",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.secret[:10]}… for {self.node_id}"

    @property
    def is_current(self) -> bool:
        return self.expires_at is None


class WebhookDelivery(models.Model):
    """One event on its way to one node's webhook URL, over one or more attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    url = models.CharField(max_length=500, help_text="The URL when the delivery was created.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    is_manual = models.BooleanField(
        default=False, help_text="A resend asked for by a person: one attempt, no retries."
    )
    triggered_by = models.CharField(max_length=200, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Node time.")
    expires_at = models.DateTimeField(help_text="Node time after which no retry is made.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "succeeded", "failed"]),
                name="webhook_delivery_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="delivery_tenant_recent"),
            # A node's first delivery its receiver accepted (the onboarding checklist),
            # without reading the node's every attempt.
            models.Index(
                fields=["node", "created_at"],
                condition=models.Q(status="succeeded"),
                name="delivery_node_succeeded",
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} of {self.event_id}"


class WebhookEndpoint(models.Model):
    """A node's webhook URL seen as a receiver: since when (node time) every attempt has
    failed, and whether it is disabled for failing too long (no deliveries until enabled
    again, from the dashboard or the API). No row: it never failed."""

    node = models.OneToOneField(
        Node, on_delete=models.CASCADE, primary_key=True, related_name="webhook_endpoint"
    )
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="Node time of the first failure since the last success."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)

    objects = NodeScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Webhook endpoint of {self.node_id}"


class WebhookAttemptQuerySet(TenantQuerySet["WebhookAttempt"]):
    tenant_path = "delivery__tenant"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, kept for the dashboard: what came back and when."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField(default=timezone.now)
    clock_time = models.DateTimeField(help_text="The node's time at the attempt.")
    url = models.CharField(max_length=500)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)

    objects = WebhookAttemptQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhook_attempt_unique_number"
            ),
        ]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.delivery_id}"


class ScheduledAction(models.Model):
    """Work due at a time on a node's clock (or the platform clock when there is no node):
    webhook retries, delayed deposits, hold expiry, end of day. A handler registered under
    ``kind`` runs it once the node's time passes ``due_at``."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    node = models.ForeignKey(
        Node, on_delete=models.CASCADE, null=True, blank=True, related_name="scheduled_actions"
    )
    kind = models.CharField(max_length=64)
    key = models.CharField(
        max_length=200, blank=True, help_text="Registering the same kind and key twice is a no-op."
    )
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    run_count = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"],
                condition=~models.Q(key=""),
                name="scheduled_action_unique_key",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["pending", "running", "done", "failed", "cancelled"]
                ),
                name="scheduled_action_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="scheduled_action_due"),
            # A node's next waiting actions (a webhook endpoint's next batch,
            # sandbox.events.webhook_batches), beside other nodes' backlogs and its own
            # finished actions.
            models.Index(
                fields=["node", "kind", "due_at"],
                condition=models.Q(status="pending"),
                name="scheduled_action_node_next",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} due {self.due_at:%Y-%m-%d %H:%M:%S}"


class TestClock(models.Model):
    """A tenant's simulated time. Attached nodes live at ``frozen_time``, which moves only
    when the tenant advances it; whatever falls due on the way runs in order."""

    __test__ = False  # not a pytest test class, despite the name

    class Status(models.TextChoices):
        READY = "ready", "Ready"
        ADVANCING = "advancing", "Advancing"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="test_clocks")
    name = models.CharField(max_length=80)
    frozen_time = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    advance_to = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["ready", "advancing"]),
                name="test_clock_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status="ready") | models.Q(advance_to__isnull=False),
                name="test_clock_advancing_has_target",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ClockAttachment(models.Model):
    """A node following a test clock. A node follows at most one clock."""

    node = models.OneToOneField(
        Node, on_delete=models.CASCADE, primary_key=True, related_name="clock_attachment"
    )
    clock = models.ForeignKey(TestClock, on_delete=models.CASCADE, related_name="attachments")
    attached_at = models.DateTimeField(default=timezone.now)

    objects = NodeScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.node_id} on {self.clock_id}"


class PlatformClock(models.Model):
    """The operators' clock for every node not on a test clock: real time, shifted by
    ``offset_seconds``, or stopped at ``frozen_time``. A single row (id=1)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    offset_seconds = models.BigIntegerField(default=0)
    frozen_time = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="platform_clock_singleton")
        ]

    def __str__(self) -> str:
        return "Platform clock"
