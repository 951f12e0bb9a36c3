"""Reads for events, deliveries and clocks, always scoped to one tenant."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from django.db import connection
from django.db.models import F, Model, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan

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


# A loose index scan over (tenant, type, ...): each step jumps to the next type in the index,
# so the cost is one probe per distinct type, not a pass over every event of the tenant (a
# DISTINCT over a million events took 240 ms). Same answer, same order as
# ``.order_by("type").values_list("type").distinct()``.
_EVENT_TYPES_SQL = """
    WITH RECURSIVE seen(type) AS (
        SELECT min(type) FROM {table} WHERE tenant_id = %s
      UNION ALL
        SELECT (SELECT min(e.type) FROM {table} e WHERE e.tenant_id = %s AND e.type > seen.type)
          FROM seen WHERE seen.type IS NOT NULL
    )
    SELECT type FROM seen WHERE type IS NOT NULL
"""


def event_types(*, tenant: Tenant) -> list[str]:
    """The types of the tenant's events, sorted, each once."""
    tenant_id = Event._meta.get_field("tenant").get_db_prep_value(tenant.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(_EVENT_TYPES_SQL.format(table=Event._meta.db_table), [tenant_id] * 2)
        return [row[0] for row in cursor.fetchall()]


_M = TypeVar("_M", bound=Model)


@dataclass(frozen=True)
class KeysetPage(Generic[_M]):
    """One page of a list, newest first, and the cursor of the next (older) page."""

    rows: list[_M]
    next_cursor: str | None
    is_first: bool

    def __iter__(self) -> Iterator[_M]:
        return iter(self.rows)


def _encode_cursor(created_at: datetime, pk: Any) -> str:
    raw = f"{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, pk = raw.partition("|")
        return datetime.fromisoformat(moment), UUID(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def keyset_page(
    queryset: QuerySet[_M], *, cursor: str | None = None, limit: int = 50
) -> KeysetPage[_M]:
    """The page of ``queryset`` (rows with ``created_at`` and a UUID ``id``) after
    ``cursor``, by ``(created_at, id)`` descending: the dashboard's lists of events and
    deliveries. No COUNT(*) and no OFFSET, so a page costs the same at any depth and size
    (a count of a million events took 185 ms, on every 5-second refresh). A cursor that
    cannot be read shows the newest page."""
    queryset = queryset.order_by("-created_at", "-id")
    key = _decode_cursor(cursor) if cursor else None
    if key is not None:
        # (created_at, id) < (…, …): the index walks straight to the page.
        queryset = queryset.filter(TupleLessThan(Tuple(F("created_at"), F("id")), key))
    rows = list(queryset[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor(last.created_at, last.pk)  # type: ignore[attr-defined]
    return KeysetPage(rows=rows, next_cursor=next_cursor, is_first=key is None)


def delivery_list(
    *, tenant: Tenant, filters: dict[str, str], with_node: bool = True
) -> QuerySet[WebhookDelivery]:
    """Filters: ``event``, ``node``, ``status``. Each delivery comes with its event, and
    with its node unless ``with_node`` is false (the API shows the node's id only)."""
    related = ("event", "node") if with_node else ("event",)
    deliveries = WebhookDelivery.objects.for_tenant(tenant).select_related(*related)
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
