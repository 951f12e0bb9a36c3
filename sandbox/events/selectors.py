"""Reads for events, deliveries and clocks, always scoped to one tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from sandbox.events.models import (
    ClockAttachment,
    Event,
    ScheduledAction,
    TestClock,
    WebhookDelivery,
)
from sandbox.tenants.models import Node, Tenant


def event_list(*, tenant: Tenant, filters: dict[str, str]) -> QuerySet[Event]:
    """Filters: ``type`` (exact, or a prefix ending in ``.*`` such as ``deposit.*``),
    ``node``, ``object_id``."""
    events = Event.objects.for_tenant(tenant)
    event_type = (filters.get("type") or "").strip()
    if event_type.endswith(".*"):
        events = events.filter(type__startswith=event_type[:-1])
    elif event_type:
        events = events.filter(type=event_type)
    if node_id := (filters.get("node") or "").strip():
        events = events.filter(node=Node.objects.get_for_tenant(tenant, node_id))
    if object_id := (filters.get("object_id") or "").strip():
        events = events.filter(object_id=object_id)
    return events


def event_types(*, tenant: Tenant) -> list[str]:
    return list(
        Event.objects.for_tenant(tenant).order_by("type").values_list("type", flat=True).distinct()
    )


def delivery_list(*, tenant: Tenant, filters: dict[str, str]) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.for_tenant(tenant).select_related("event", "node")
    if event_id := (filters.get("event") or "").strip():
        deliveries = deliveries.filter(event=Event.objects.get_for_tenant(tenant, event_id))
    if node_id := (filters.get("node") or "").strip():
        deliveries = deliveries.filter(node=Node.objects.get_for_tenant(tenant, node_id))
    if (status := (filters.get("status") or "").strip()) in WebhookDelivery.Status.values:
        deliveries = deliveries.filter(status=status)
    return deliveries


def clock_nodes(*, clock: TestClock) -> list[Node]:
    return [
        a.node
        for a in ClockAttachment.objects.filter(clock=clock)
        .select_related("node")
        .order_by("attached_at")
    ]


def clock_upcoming(*, clock: TestClock, limit: int = 50) -> QuerySet[ScheduledAction]:
    return (
        ScheduledAction.objects.filter(
            node__clock_attachment__clock=clock, status=ScheduledAction.Status.PENDING
        )
        .select_related("node")
        .order_by("due_at", "pk")[:limit]
    )


def node_upcoming(*, tenant: Tenant, limit: int = 50) -> QuerySet[ScheduledAction]:
    return (
        ScheduledAction.objects.for_tenant(tenant)
        .filter(status__in=[ScheduledAction.Status.PENDING, ScheduledAction.Status.RUNNING])
        .select_related("node")
        .order_by("due_at", "pk")[:limit]
    )
